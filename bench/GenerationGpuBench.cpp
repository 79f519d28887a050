//===- GenerationGpuBench.cpp - per-step cost of a GPU generation kernel --===//
//
// A generation kernel (docs/generation.md) compiled once for a cache of M
// positions, launched per decode step with the step's q_pos (by value: no
// device write, no allocation, no compile per step). Decode shape of the
// issue: Hq = 32, Hkv = 8, D = 128, bf16, 64 x 128 blocks, a causal mask
// over positions of density 0.5, the step walking from M/2 to M - 1.
// Arguments M / packed / B: packed 1 is GQA packing on (a key head's 4
// query heads share a tile, K and V read once), 0 packing off (a row per
// query head), side by side; batch B = 1 or 8. (The default, "auto", picks
// one of the two by KernelSpec::packsGqa's rule.)
//
// - BM_GenerationStepGpuHost/M/packed/B: the caller's host time per step, wall time
//   around Session::generate alone (the step's check, the tensors' checks,
//   the parameters, the tensor maps of the Hopper body, cuLaunchKernel);
//   the stream drained outside the timing every few hundred steps. The
//   target is under 10 us.
// - BM_GenerationStepGpuLatency/M/packed/B: a step to completion (generate, then
//   synchronize): what one token's attention costs a decoder that waits.
//
// Skips without a GPU.
//
//===----------------------------------------------------------------------===//
#include "GpuKernelTiming.h"

#include "sieve/runtime/CudaDriver.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

using namespace sieve;

namespace {

constexpr int64_t kHeadsQ = 32, kHeadsKv = 8, kDim = 128, kBlockQ = 64, kBlockK = 128;
constexpr int kDrainEvery = 256;

compiler::KernelSpec generationSpec(int64_t positions, bool packed, int64_t batch) {
  compiler::KernelSpec spec;
  spec.options.packGqa = packed ? "on" : "off";
  spec.shape = {batch, kHeadsQ, kHeadsKv, 1, positions, kDim, runtime::DType::BF16};
  spec.mask = runtime::BlockMask::random(kHeadsQ, (positions + kBlockQ - 1) / kBlockQ,
                                         (positions + kBlockK - 1) / kBlockK, kBlockQ, kBlockK, 0.5,
                                         20261206, /*keepDiagonal=*/true);
  spec.causal = true;
  spec.generation = true;
  return spec;
}

/// q, k, v, out on the device, finite values (1.0 in bf16 halves).
struct StepBuffers {
  const runtime::CudaDriver *drv = nullptr;
  std::vector<runtime::CuDevicePtr> ptrs;
  runtime::TensorView q, k, v, out;
  ~StepBuffers() {
    for (auto p : ptrs)
      (void)drv->free(p);
  }
  bool allocate(const runtime::CudaDriver &driver, int64_t positions, int64_t batch) {
    drv = &driver;
    const int64_t sizes[4] = {batch * kHeadsQ * kDim, batch * kHeadsKv * positions * kDim,
                              batch * kHeadsKv * positions * kDim, batch * kHeadsQ * kDim};
    for (int64_t n : sizes) {
      auto p = driver.alloc(n * 2);
      if (!p || driver.memset8(*p, 0x3c, n * 2))
        return false;
      ptrs.push_back(*p);
    }
    auto view = [&](int t, int64_t heads, int64_t seq) {
      return runtime::TensorView::contiguous(reinterpret_cast<void *>(ptrs[t]),
                                             runtime::DType::BF16, {batch, heads, seq, kDim},
                                             runtime::DeviceKind::Cuda);
    };
    q = view(0, kHeadsQ, 1), k = view(1, kHeadsKv, positions), v = view(2, kHeadsKv, positions),
    out = view(3, kHeadsQ, 1);
    return true;
  }
};

void runSteps(benchmark::State &state, bool waitForEach) {
  const int64_t positions = state.range(0);
  compiler::Session *session = bench::gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  const int64_t batch = state.range(2);
  auto artifact = session->compile(generationSpec(positions, state.range(1) != 0, batch));
  const runtime::CudaDriver &drv = session->gpu()->driver();
  StepBuffers b;
  if (!artifact || !b.allocate(drv, positions, batch)) {
    state.SkipWithError(artifact ? "allocation failed" : artifact.error().str().c_str());
    return;
  }
  int64_t qPos = positions / 2;
  // The first launch loads the module.
  if (Error e = session->generate(**artifact, b.q, b.k, b.v, b.out, {qPos, 0})) {
    state.SkipWithError(e.str().c_str());
    return;
  }
  (void)drv.synchronize(nullptr);
  int steps = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    Error e = session->generate(**artifact, b.q, b.k, b.v, b.out, {qPos, 0});
    if (waitForEach && !e)
      e = drv.synchronize(nullptr);
    auto t1 = std::chrono::steady_clock::now();
    if (e) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    qPos = qPos + 1 < positions ? qPos + 1 : positions / 2;
    if (!waitForEach && ++steps % kDrainEvery == 0)
      (void)drv.synchronize(nullptr);
  }
  (void)drv.synchronize(nullptr);
  state.SetLabel((*artifact)->config);
}

void BM_GenerationStepGpuHost(benchmark::State &state) { runSteps(state, false); }
void BM_GenerationStepGpuLatency(benchmark::State &state) { runSteps(state, true); }

BENCHMARK(BM_GenerationStepGpuHost)
    ->ArgsProduct({{4096, 32768}, {1, 0}, {1, 8}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.5);
BENCHMARK(BM_GenerationStepGpuLatency)
    ->ArgsProduct({{4096, 32768}, {1, 0}, {1, 8}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.5);

} // namespace
