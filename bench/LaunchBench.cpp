//===- LaunchBench.cpp - host time of one launch of a cached kernel -------===//
//
// What a caller pays on the CPU per attention call once the kernel is
// compiled and its module loaded: argument checks, parameter packing, the
// tensor maps of the Hopper kernels, cuLaunchKernel. Wall time around
// Session::run alone (CApiLaunchBench.cpp times the C API's
// sieve_attention on the same problem); the stream is drained outside the
// timing every few hundred launches so the queue never fills. Skips
// without a GPU.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

using namespace sieve;

namespace {

constexpr int64_t B = 1, H = 8, S = 1024, D = 128;
constexpr int kDrainEvery = 256;

/// CApiLaunchBench.cpp builds the same mask (seed and density) without the compiler.
compiler::KernelSpec launchSpec(const compiler::Target &target) {
  compiler::KernelSpec spec = bench::peerSpec(B, H, S, D, 0.25, /*causal=*/false, target);
  spec.mask = runtime::BlockMask::random(H, S / 128, S / 128, 128, 128, 0.25, 20261202, true);
  return spec;
}

/// Device buffers for q, k, v, out of launchSpec's shape.
struct Buffers {
  const runtime::CudaDriver *drv = nullptr;
  std::vector<runtime::CuDevicePtr> ptrs;
  ~Buffers() {
    for (auto p : ptrs)
      (void)drv->free(p);
  }
  bool allocate(const runtime::CudaDriver &driver) {
    drv = &driver;
    for (int t = 0; t < 4; ++t) {
      auto p = driver.alloc(B * H * S * D * 2);
      if (!p || driver.memset8(*p, 0x3c, B * H * S * D * 2)) // 1.0 in bf16 halves: finite data
        return false;
      ptrs.push_back(*p);
    }
    return true;
  }
};

void BM_LaunchHostSession(benchmark::State &state) {
  auto session = compiler::Session::create(compiler::BackendChoice::Cuda);
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  auto artifact = (*session)->compile(launchSpec((*session)->target()));
  const runtime::CudaDriver &drv = (*session)->gpu()->driver();
  Buffers buffers;
  if (!artifact || !buffers.allocate(drv)) {
    state.SkipWithError("compile or allocation failed");
    return;
  }
  runtime::TensorView views[4];
  for (int t = 0; t < 4; ++t)
    views[t] = runtime::TensorView::contiguous(reinterpret_cast<void *>(buffers.ptrs[t]),
                                               runtime::DType::BF16, {B, H, S, D},
                                               runtime::DeviceKind::Cuda);
  // The first launch loads the module.
  (void)(*session)->run(**artifact, views[0], views[1], views[2], views[3]);
  (void)drv.synchronize(nullptr);
  int launches = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    Error e = (*session)->run(**artifact, views[0], views[1], views[2], views[3]);
    auto t1 = std::chrono::steady_clock::now();
    if (e) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    if (++launches % kDrainEvery == 0)
      (void)drv.synchronize(nullptr);
  }
  (void)drv.synchronize(nullptr);
  state.SetLabel((*artifact)->variant);
}

BENCHMARK(BM_LaunchHostSession)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.5);

} // namespace
