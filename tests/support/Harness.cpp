//===- Harness.cpp --------------------------------------------------------===//
#include "sieve/testing/Harness.h"

#include <fmt/format.h>

#include "sieve/testing/Reference.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace sieve::testing {

using namespace runtime;
using compiler::KernelSpec;
using compiler::Session;

namespace {

/// A logical [B, H, S, D] tensor stored as BHSD or BSHD.
struct HostTensor {
  std::array<int64_t, 4> sizes;
  bool bshd;
  std::vector<uint8_t> storage; // dtype-encoded
  DType dtype;

  int64_t count() const { return sizes[0] * sizes[1] * sizes[2] * sizes[3]; }
  std::array<int64_t, 4> strides() const {
    auto [B, H, S, D] = sizes;
    (void)B;
    if (bshd)
      return {S * H * D, D, H * D, 1};
    return {H * S * D, S * D, D, 1};
  }
  TensorView view(void *data, DeviceKind device) const {
    TensorView t;
    t.data = data;
    t.dtype = dtype;
    t.sizes = sizes;
    t.strides = strides();
    t.device = device;
    return t;
  }
  /// Logical BHSD floats (decoded) from storage.
  std::vector<float> toBhsd() const {
    std::vector<float> flat(count());
    decodeFloats(dtype, storage.data(), flat.data(), flat.size());
    if (!bshd)
      return flat;
    std::vector<float> out(count());
    auto st = strides();
    auto [B, H, S, D] = sizes;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t s = 0; s < S; ++s)
          std::memcpy(&out[((b * H + h) * S + s) * D], &flat[b * st[0] + h * st[1] + s * st[2]],
                      D * sizeof(float));
    return out;
  }
};

HostTensor randomTensor(std::array<int64_t, 4> sizes, DType dtype, bool bshd,
                        std::mt19937_64 &rng) {
  HostTensor t{sizes, bshd, {}, dtype};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(t.count());
  for (float &x : values)
    x = normal(rng);
  t.storage.resize(values.size() * dtypeSize(dtype));
  encodeFloats(dtype, values.data(), t.storage.data(), values.size());
  return t;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Every byte 0xFF: a NaN in f16, bf16 and f32 alike, so an element the
/// kernel never wrote cannot pass the comparison.
constexpr uint8_t kPoisonByte = 0xFF;

struct DeviceBuffers {
  const CudaDriver *driver = nullptr;
  std::vector<CuDevicePtr> ptrs;
  ~DeviceBuffers() {
    for (CuDevicePtr p : ptrs)
      (void)driver->free(p);
  }
  Expected<CuDevicePtr> add(size_t bytes) {
    auto p = driver->alloc(bytes);
    if (p)
      ptrs.push_back(*p);
    return p;
  }
};

} // namespace

// The four tensors in their dtype, and to check them float copies of q, k,
// v, out and the float64 reference output.
Error checkHostBytes(const ProblemShape &s, const HarnessOptions &options) {
  // Sizes are within runtime/Limits.h's, so these products fit in double
  // exactly enough and cannot overflow.
  double q = double(s.batch) * double(s.headsQ) * double(s.seqQ) * double(s.headDim);
  double kv = double(s.batch) * double(s.headsKv) * double(s.seqK) * double(s.headDim);
  double bytes = (2 * q + 2 * kv) * double(dtypeSize(s.dtype));
  if (options.check)
    bytes += (2 * q + 2 * kv) * sizeof(float) + q * sizeof(double);
  if (bytes <= double(options.maxHostBytes))
    return Error::success();
  return Error(ErrorCode::InvalidArgument,
               fmt::format("{}: the run needs {:.1f} GiB of host memory for q, k, v and out{}, "
                           "over the limit of {:.1f} GiB",
                           s.str(), bytes / double(1 << 30),
                           options.check ? " and the float64 check" : "",
                           double(options.maxHostBytes) / double(1 << 30)));
}

Expected<HarnessResult> runAndCheck(Session &session, const Artifact &artifact,
                                    const KernelSpec &spec, const HarnessOptions &options) {
  const ProblemShape &s = artifact.shape;
  if (Error e = checkThresholdsGiven(artifact, !options.thresholds.empty()))
    return e;
  if (!options.thresholds.empty() && int64_t(options.thresholds.size()) != s.headsQ)
    return Error(ErrorCode::ShapeMismatch, fmt::format("{} thresholds for {} query heads",
                                                       options.thresholds.size(), s.headsQ));
  if (options.iterations < 1 || options.warmup < 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{} timed runs after {} warm-up runs: at least one timed run and no "
                             "negative count",
                             options.iterations, options.warmup));
  if (Error e = checkHostBytes(s, options))
    return e;
  const float *hostThresholds = options.thresholds.empty() ? nullptr : options.thresholds.data();
  std::mt19937_64 rng(options.seed);
  std::array<int64_t, 4> qSizes{s.batch, s.headsQ, s.seqQ, s.headDim};
  std::array<int64_t, 4> kvSizes{s.batch, s.headsKv, s.seqK, s.headDim};
  HostTensor q = randomTensor(qSizes, s.dtype, options.bshd, rng);
  HostTensor k = randomTensor(kvSizes, s.dtype, options.bshd, rng);
  HostTensor v = randomTensor(kvSizes, s.dtype, options.bshd, rng);
  HostTensor out{qSizes, options.bshd, std::vector<uint8_t>(q.storage.size(), kPoisonByte),
                 s.dtype};

  HarnessResult result;
  std::vector<double> times;
  int total = options.warmup + options.iterations;
  if (session.backend() == Backend::Cuda) {
    const CudaDriver &drv = session.gpu()->driver();
    DeviceBuffers buffers{&drv, {}};
    CuDevicePtr dev[4];
    HostTensor *hosts[4] = {&q, &k, &v, &out};
    for (int t = 0; t < 4; ++t) {
      auto p = buffers.add(hosts[t]->storage.size());
      if (!p)
        return p.error();
      dev[t] = *p;
      if (Error e = drv.copyToDevice(dev[t], hosts[t]->storage.data(), hosts[t]->storage.size()))
        return e;
    }
    TensorView views[4];
    for (int t = 0; t < 4; ++t)
      views[t] = hosts[t]->view(reinterpret_cast<void *>(dev[t]), DeviceKind::Cuda);
    // Threshold mode: the thresholds in device memory (uploaded once, untimed).
    const float *deviceThresholds = nullptr;
    if (hostThresholds) {
      auto p = buffers.add(options.thresholds.size() * sizeof(float));
      if (!p)
        return p.error();
      if (Error e = drv.copyToDevice(*p, hostThresholds, options.thresholds.size() * sizeof(float)))
        return e;
      deviceThresholds = reinterpret_cast<const float *>(*p);
    }
    // The generic kernel takes the mask at launch (uploaded once, untimed).
    std::unique_ptr<DeviceRowTables> tables;
    if (artifact.maskAtLaunch()) {
      auto uploaded = session.uploadMask(spec.mask, s.seqQ, spec.causalRule());
      if (!uploaded)
        return uploaded.error();
      tables = std::move(*uploaded);
    }
    auto start = drv.createEvent(), stop = drv.createEvent();
    if (!start || !stop)
      return (!start ? start.error() : stop.error());
    for (int it = 0; it < total; ++it) {
      // Poison before every run: each timed run must write everything.
      if (Error e = drv.memset8(dev[3], kPoisonByte, out.storage.size()))
        return e;
      if (Error e = drv.recordEvent(*start, nullptr))
        return e;
      if (Error e = session.run(artifact, views[0], views[1], views[2], views[3], nullptr,
                                tables.get(), deviceThresholds))
        return e;
      if (Error e = drv.recordEvent(*stop, nullptr))
        return e;
      auto ms = drv.elapsedMs(*start, *stop);
      if (!ms)
        return ms.error();
      if (it >= options.warmup)
        times.push_back(*ms);
    }
    if (Error e = drv.synchronize(nullptr))
      return e;
    if (Error e = drv.copyToHost(out.storage.data(), dev[3], out.storage.size()))
      return e;
    (void)drv.destroyEvent(*start);
    (void)drv.destroyEvent(*stop);
  } else {
    TensorView views[4] = {
        q.view(q.storage.data(), DeviceKind::Host), k.view(k.storage.data(), DeviceKind::Host),
        v.view(v.storage.data(), DeviceKind::Host), out.view(out.storage.data(), DeviceKind::Host)};
    for (int it = 0; it < total; ++it) {
      std::fill(out.storage.begin(), out.storage.end(), kPoisonByte);
      auto t0 = std::chrono::steady_clock::now();
      if (Error e = session.run(artifact, views[0], views[1], views[2], views[3], nullptr, nullptr,
                                hostThresholds))
        return e;
      auto t1 = std::chrono::steady_clock::now();
      if (it >= options.warmup)
        times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  }
  result.medianMs = median(times);
  result.minMs = times.empty() ? 0 : *std::min_element(times.begin(), times.end());

  std::vector<float> got = out.toBhsd();
  for (float x : got)
    result.poisonedLeft += std::isnan(x);
  if (options.check) {
    std::vector<float> qf = q.toBhsd(), kf = k.toBhsd(), vf = v.toBhsd();
    std::vector<double> ref =
        referenceAttention(s, spec.mask, {artifact.causal, artifact.causalAlign}, artifact.scale,
                           qf.data(), kf.data(), vf.data(), hostThresholds, &result.scoresKept);
    result.relativeError = relativeError(got.data(), ref);
    result.checked = true;
  } else {
    result.relativeError = std::numeric_limits<double>::quiet_NaN();
  }
  return result;
}

} // namespace sieve::testing
