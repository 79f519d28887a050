//===- GenerationBench.cpp - per-step cost of a generation kernel ---------===//
//
// A generation kernel (docs/generation.md) is compiled once and launched per
// decode step with the step's q_pos; the target is under 10 us of host work
// per step. On the CPU backend a step runs the kernel too, so:
//
// - BM_GenerationStepCheck: the step's check and positions (what every
//   executor does per step before the kernel), alone;
// - BM_GenerationStepCpu/M: a whole decode step on the CPU backend (check,
//   descriptors, the phases on the caller's thread) of a tiny problem
//   (B=1, Hq=2, Hkv=1, D=16, 16x16 tiles) over a cache of M positions, the
//   step walking positions from M/2 to M-1: an upper bound of the host
//   path, kernel included, with no compile (the kernel comes from the
//   session's cache, compiled before the timed loop);
// - BM_GenerationCompilePerStep: what a compile per step would cost instead
//   (a new kernel per sequence length, memory cache off by distinct
//   lengths), for scale.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/Session.h"
#include "sieve/runtime/Generation.h"
#include "sieve/runtime/TensorView.h"

#include <benchmark/benchmark.h>

#include <vector>

using namespace sieve;

namespace {

constexpr int64_t kHeadsQ = 2, kHeadsKv = 1, kDim = 16, kBlock = 16;

compiler::Session *session() {
  static std::unique_ptr<compiler::Session> s = [] {
    auto made = compiler::Session::create(compiler::BackendChoice::Cpu);
    return made ? std::move(*made) : nullptr;
  }();
  return s.get();
}

compiler::KernelSpec generationSpec(int64_t positions) {
  compiler::KernelSpec spec;
  spec.shape = {1, kHeadsQ, kHeadsKv, 1, positions, kDim, runtime::DType::F32};
  const int64_t blocks = (positions + kBlock - 1) / kBlock;
  spec.mask = runtime::BlockMask::random(kHeadsQ, blocks, blocks, kBlock, kBlock, 0.5, 20261206,
                                         /*keepDiagonal=*/true);
  spec.causal = true;
  spec.generation = true;
  return spec;
}

void BM_GenerationStepCheck(benchmark::State &state) {
  runtime::Artifact a;
  a.generation = true;
  a.shape = {1, kHeadsQ, kHeadsKv, 1, 4096, kDim, runtime::DType::F32};
  int64_t qPos = 0;
  for (auto _ : state) {
    auto positions = runtime::generationPositions(a, {qPos, 0});
    benchmark::DoNotOptimize(positions);
    qPos = (qPos + 1) % 4096;
  }
}
BENCHMARK(BM_GenerationStepCheck);

// The host checks a GPU step makes before its parameters and launch (the
// step's, then the four tensors' shapes, strides and layout), on views
// marked as device memory that nothing dereferences: the part of a GPU
// step's host cost that runs without a GPU (GenerationGpuBench.cpp times
// the whole step on one).
void BM_GenerationStepChecksCuda(benchmark::State &state) {
  runtime::Artifact a;
  a.generation = true;
  a.shape = {1, 32, 8, 1, 32768, 128, runtime::DType::BF16};
  auto view = [](int64_t heads, int64_t seq) {
    return runtime::TensorView::contiguous(reinterpret_cast<void *>(uintptr_t(1) << 40),
                                           runtime::DType::BF16, {1, heads, seq, 128},
                                           runtime::DeviceKind::Cuda);
  };
  const runtime::TensorView q = view(32, 1), k = view(8, 32768), v = k, out = q;
  int64_t qPos = 0;
  for (auto _ : state) {
    auto positions = runtime::generationPositions(a, {qPos, 0});
    Error e = runtime::checkAttentionTensors(a.shape, q, k, v, out, runtime::DeviceKind::Cuda);
    for (const runtime::TensorView *t : {&q, &k, &v, &out})
      if (!e)
        e = runtime::checkTensorLayout(*t, "tensor", true, 16);
    if (!positions || e) {
      state.SkipWithError("a check failed");
      return;
    }
    benchmark::DoNotOptimize(positions);
    qPos = (qPos + 1) % 32767;
  }
}
BENCHMARK(BM_GenerationStepChecksCuda);

void BM_GenerationStepCpu(benchmark::State &state) {
  const int64_t positions = state.range(0);
  compiler::Session *s = session();
  if (!s) {
    state.SkipWithError("no CPU session");
    return;
  }
  s->cpu()->setThreads(1); // the caller's thread: host cost, not a pool's wake-up
  auto artifact = s->compile(generationSpec(positions));
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return;
  }
  std::vector<float> q = bench::normalTensor(kHeadsQ * kDim, 7), out(kHeadsQ * kDim),
                     k = bench::normalTensor(kHeadsKv * positions * kDim, 8), v = k;
  auto qv = runtime::TensorView::contiguous(q.data(), runtime::DType::F32, {1, kHeadsQ, 1, kDim},
                                            runtime::DeviceKind::Host);
  auto ov = runtime::TensorView::contiguous(out.data(), runtime::DType::F32, {1, kHeadsQ, 1, kDim},
                                            runtime::DeviceKind::Host);
  auto kv = runtime::TensorView::contiguous(
      k.data(), runtime::DType::F32, {1, kHeadsKv, positions, kDim}, runtime::DeviceKind::Host);
  auto vv = runtime::TensorView::contiguous(
      v.data(), runtime::DType::F32, {1, kHeadsKv, positions, kDim}, runtime::DeviceKind::Host);
  int64_t qPos = positions / 2;
  for (auto _ : state) {
    if (Error e = s->generate(**artifact, qv, kv, vv, ov, {qPos, 0})) {
      state.SkipWithError(e.str().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
    qPos = qPos + 1 < positions ? qPos + 1 : positions / 2;
  }
  s->cpu()->setThreads(0);
}
BENCHMARK(BM_GenerationStepCpu)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond);

void BM_GenerationCompilePerStep(benchmark::State &state) {
  int64_t positions = 256;
  for (auto _ : state) {
    compiler::KernelSpec spec = generationSpec(positions++);
    spec.target = compiler::Target::cpu();
    auto artifact = compiler::compile(spec);
    if (!artifact) {
      state.SkipWithError(artifact.error().str().c_str());
      return;
    }
    benchmark::DoNotOptimize(artifact);
  }
}
BENCHMARK(BM_GenerationCompilePerStep)->Unit(benchmark::kMillisecond)->Iterations(5);

} // namespace
