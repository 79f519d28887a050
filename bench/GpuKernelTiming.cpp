//===- GpuKernelTiming.cpp ------------------------------------------------===//
#include "GpuKernelTiming.h"
#include "BenchMasks.h"

#include "sieve/runtime/CudaDriver.h"

#include <random>

namespace sieve::bench {

compiler::Session *gpuSession() {
  static std::unique_ptr<compiler::Session> session = [] {
    auto s = compiler::Session::create(compiler::BackendChoice::Cuda);
    return s ? std::move(*s) : nullptr;
  }();
  return session.get();
}

void standardNormalInputs(int which, const std::array<int64_t, 4> &, std::vector<float> &values) {
  // One stream over q, k and v in turn, restarted at q: every kernel timed
  // sees the same inputs.
  static thread_local std::mt19937 rng;
  if (which == 0)
    rng.seed(20261124);
  std::normal_distribution<float> normal;
  for (float &x : values)
    x = normal(rng);
}

namespace {

/// Device buffers that are freed when the timing ends, however it ends.
struct DeviceBuffers {
  const runtime::CudaDriver &drv;
  std::vector<runtime::CuDevicePtr> owned;
  ~DeviceBuffers() {
    for (auto p : owned)
      (void)drv.free(p);
  }
  Expected<runtime::CuDevicePtr> upload(const void *host, size_t bytes) {
    auto p = drv.alloc(bytes);
    if (!p)
      return p.error();
    owned.push_back(*p);
    if (Error e = drv.copyToDevice(*p, host, bytes))
      return e;
    return *p;
  }
};

} // namespace

void timeKernel(benchmark::State &state, compiler::Session *session,
                const compiler::KernelSpec &spec, const InputFill &fill,
                const std::vector<float> &thresholds) {
  auto artifact = session->compile(spec);
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return;
  }
  // The generic kernel gets the mask at launch (uploaded once, outside the timing).
  std::unique_ptr<runtime::DeviceRowTables> tables;
  if ((*artifact)->maskAtLaunch()) {
    auto uploaded = session->uploadMask(spec.mask, spec.shape.seqQ, spec.causalRule());
    if (!uploaded) {
      state.SkipWithError(uploaded.error().str().c_str());
      return;
    }
    tables = std::move(*uploaded);
  }
  const runtime::CudaDriver &drv = session->gpu()->driver();
  const runtime::ProblemShape &shape = spec.shape;
  DeviceBuffers buffers{drv, {}};
  runtime::TensorView views[4];
  for (int t = 0; t < 4; ++t) {
    const bool isKv = t == 1 || t == 2;
    const std::array<int64_t, 4> sizes = {shape.batch, isKv ? shape.headsKv : shape.headsQ,
                                          isKv ? shape.seqK : shape.seqQ, shape.headDim};
    const size_t elems = static_cast<size_t>(sizes[0] * sizes[1] * sizes[2] * sizes[3]);
    std::vector<float> values(elems, 0.f);
    if (t < 3)
      fill(t, sizes, values);
    std::vector<uint16_t> host(elems);
    runtime::encodeFloats(shape.dtype, values.data(), host.data(), elems);
    auto p = buffers.upload(host.data(), elems * 2);
    if (!p) {
      state.SkipWithError(p.error().str().c_str());
      return;
    }
    views[t] = runtime::TensorView::contiguous(reinterpret_cast<void *>(*p), shape.dtype, sizes,
                                               runtime::DeviceKind::Cuda);
  }
  const float *deviceThresholds = nullptr;
  if (!thresholds.empty()) {
    auto p = buffers.upload(thresholds.data(), thresholds.size() * sizeof(float));
    if (!p) {
      state.SkipWithError(p.error().str().c_str());
      return;
    }
    deviceThresholds = reinterpret_cast<const float *>(*p);
  }
  // A calibration kernel adds into a stats table (its sums grow over the
  // iterations; only the time matters here).
  float *stats = nullptr;
  if ((*artifact)->calibrate) {
    const auto &m = spec.mask;
    std::vector<float> zeros(static_cast<size_t>(m.heads() * m.queryBlocks() * m.keyBlocks()));
    auto p = buffers.upload(zeros.data(), zeros.size() * sizeof(float));
    if (!p) {
      state.SkipWithError(p.error().str().c_str());
      return;
    }
    stats = reinterpret_cast<float *>(*p);
  }
  auto launch = [&]() -> Error {
    if (stats)
      return session->calibrate(**artifact, views[0], views[1], views[2], views[3], stats);
    return session->run(**artifact, views[0], views[1], views[2], views[3], nullptr, tables.get(),
                        deviceThresholds);
  };
  auto start = drv.createEvent(), stop = drv.createEvent();
  for (auto _ : state) {
    (void)drv.recordEvent(*start, nullptr);
    if (Error e = launch()) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    (void)drv.recordEvent(*stop, nullptr);
    auto ms = drv.elapsedMs(*start, *stop);
    state.SetIterationTime(ms ? *ms / 1e3 : 0);
  }
  state.counters["TFLOP"] =
      benchmark::Counter(keptFlops(spec) / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = spec.mask.density();
  state.SetLabel((*artifact)->config);
  (void)drv.destroyEvent(*start);
  (void)drv.destroyEvent(*stop);
}

} // namespace sieve::bench
