//===- GpuKernelTiming.cpp ------------------------------------------------===//
#include "GpuKernelTiming.h"
#include "BenchMasks.h"
#include "ColdL2.h"

#include "sieve/runtime/CudaDriver.h"

#include <algorithm>
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

/// Tensors up to this many elements get `fill`'s values for all of them;
/// larger ones (the decode suite's KV caches, up to 4G elements) get the
/// values of a piece of kRepeatedElements, copied over the rest on the
/// device, so the host neither draws nor holds the whole tensor.
constexpr size_t kMaxFilledElements = size_t(1) << 27;
constexpr size_t kRepeatedElements = size_t(1) << 24;

/// Uploads tensor `which` (q, k, v; `fill` made) or the output (zeros) of
/// `sizes` in `dtype`, contiguous.
Expected<runtime::CuDevicePtr> uploadTensor(DeviceBuffers &buffers, runtime::DType dtype, int which,
                                            const std::array<int64_t, 4> &sizes,
                                            const InputFill &fill) {
  const size_t elems = static_cast<size_t>(sizes[0] * sizes[1] * sizes[2] * sizes[3]);
  const bool repeated = elems > kMaxFilledElements;
  // A repeated piece is whole rows of the head dim (the fill sees it as
  // one head's rows).
  const size_t hostElems = repeated ? kRepeatedElements : elems;
  std::vector<float> values(hostElems, 0.f);
  if (which < 3)
    fill(which,
         repeated ? std::array<int64_t, 4>{1, 1, int64_t(hostElems) / sizes[3], sizes[3]} : sizes,
         values);
  std::vector<uint16_t> host(hostElems);
  runtime::encodeFloats(dtype, values.data(), host.data(), hostElems);
  auto p = buffers.drv.alloc(elems * 2);
  if (!p)
    return p.error();
  buffers.owned.push_back(*p);
  if (Error e = buffers.drv.copyToDevice(*p, host.data(), hostElems * 2))
    return e;
  // Doubling copies of what is there already.
  for (size_t done = hostElems; done < elems;) {
    const size_t n = std::min(done, elems - done);
    if (Error e = buffers.drv.copyOnDevice(*p + done * 2, *p, n * 2, nullptr))
      return e;
    done += n;
  }
  if (Error e = buffers.drv.synchronize(nullptr))
    return e;
  return *p;
}

} // namespace

double timeDeviceCopy(compiler::Session *session, size_t bytes, TimingOptions options,
                      int iterations) {
  const runtime::CudaDriver &drv = session->gpu()->driver();
  DeviceBuffers buffers{drv, {}};
  auto src = drv.alloc(bytes), dst = drv.alloc(bytes);
  auto cold = options.coldCache ? ColdL2::get(drv) : Expected<ColdL2 *>(nullptr);
  if (!src || !dst || !cold)
    return 0;
  buffers.owned = {*src, *dst};
  if (drv.memset8(*src, 0x3c, bytes))
    return 0;
  auto start = drv.createEvent(), stop = drv.createEvent();
  if (!start || !stop)
    return 0;
  std::vector<float> ms;
  for (int i = 0; i < iterations + 2; ++i) {
    if (*cold && (*cold)->evict())
      return 0;
    (void)drv.recordEvent(*start, nullptr);
    if (drv.copyOnDevice(*dst, *src, bytes, nullptr))
      return 0;
    (void)drv.recordEvent(*stop, nullptr);
    auto t = drv.elapsedMs(*start, *stop);
    if (!t)
      return 0;
    if (i >= 2) // the first copies warm the clocks up
      ms.push_back(*t);
  }
  (void)drv.destroyEvent(*start);
  (void)drv.destroyEvent(*stop);
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

double copyBandwidth(compiler::Session *session) {
  constexpr size_t kBytes = size_t(1) << 30;
  const double ms = timeDeviceCopy(session, kBytes, TimingOptions{}, /*iterations=*/10);
  // Every byte is read once and written once.
  return ms > 0 ? 2.0 * kBytes / (ms / 1e3) : 0;
}

double timeKernel(benchmark::State &state, compiler::Session *session,
                  const compiler::KernelSpec &spec, const InputFill &fill,
                  const std::vector<float> &thresholds, TimingOptions options) {
  auto artifact = session->compile(spec);
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return 0;
  }
  // The generic kernel gets the mask at launch (uploaded once, outside the timing).
  std::unique_ptr<runtime::DeviceRowTables> tables;
  if ((*artifact)->maskAtLaunch()) {
    auto uploaded = session->uploadMask(spec.mask, spec.shape.seqQ, spec.causalRule());
    if (!uploaded) {
      state.SkipWithError(uploaded.error().str().c_str());
      return 0;
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
    auto p = uploadTensor(buffers, shape.dtype, t, sizes, fill);
    if (!p) {
      state.SkipWithError(p.error().str().c_str());
      return 0;
    }
    views[t] = runtime::TensorView::contiguous(reinterpret_cast<void *>(*p), shape.dtype, sizes,
                                               runtime::DeviceKind::Cuda);
  }
  const float *deviceThresholds = nullptr;
  if (!thresholds.empty()) {
    auto p = buffers.upload(thresholds.data(), thresholds.size() * sizeof(float));
    if (!p) {
      state.SkipWithError(p.error().str().c_str());
      return 0;
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
      return 0;
    }
    stats = reinterpret_cast<float *>(*p);
  }
  auto launch = [&]() -> Error {
    if (stats)
      return session->calibrate(**artifact, views[0], views[1], views[2], views[3], stats);
    return session->run(**artifact, views[0], views[1], views[2], views[3], nullptr, tables.get(),
                        deviceThresholds);
  };
  // One untimed launch first: the first launch of a kernel loads its
  // module (the driver compiles the PTX, ~150 ms), which a run of few
  // iterations (a short --benchmark_min_time) would otherwise report as
  // the kernel's time.
  if (Error e = launch(); e || (e = drv.synchronize(nullptr))) {
    state.SkipWithError(e.str().c_str());
    return 0;
  }
  ColdL2 *cold = nullptr;
  if (options.coldCache) {
    auto got = ColdL2::get(drv);
    if (!got) {
      state.SkipWithError(got.error().str().c_str());
      return 0;
    }
    cold = *got;
  }
  auto start = drv.createEvent(), stop = drv.createEvent();
  std::vector<double> iterationMs;
  for (auto _ : state) {
    if (cold)
      if (Error e = cold->evict()) {
        state.SkipWithError(e.str().c_str());
        break;
      }
    (void)drv.recordEvent(*start, nullptr);
    if (Error e = launch()) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    (void)drv.recordEvent(*stop, nullptr);
    auto ms = drv.elapsedMs(*start, *stop);
    state.SetIterationTime(ms ? *ms / 1e3 : 0);
    iterationMs.push_back(ms ? *ms : 0);
  }
  state.counters["TFLOP"] =
      benchmark::Counter(keptFlops(spec) / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = spec.mask.density();
  state.SetLabel((*artifact)->config);
  (void)drv.destroyEvent(*start);
  (void)drv.destroyEvent(*stop);
  if (iterationMs.empty())
    return 0;
  std::nth_element(iterationMs.begin(), iterationMs.begin() + iterationMs.size() / 2,
                   iterationMs.end());
  return iterationMs[iterationMs.size() / 2];
}

} // namespace sieve::bench
