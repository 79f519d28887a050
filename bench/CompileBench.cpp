//===- CompileBench.cpp - wall time of one mask's compile -----------------===//
//
// Everything `sieve compile` does for a new mask: build the IR, specialize,
// lower, and (for CUDA) run NVPTX to PTX text. No cache: each iteration
// compiles from scratch.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/runtime/CpuExecutor.h"

#include <chrono>

#include <benchmark/benchmark.h>

using namespace sieve;

namespace {

void compileOnce(benchmark::State &state, const compiler::Target &target) {
  int64_t seq = state.range(0);
  double density = state.range(1) / 100.0;
  auto spec = bench::peerSpec(1, 32, seq, 128, density, false, target);
  if (target.backend == runtime::Backend::Cpu)
    spec.shape.dtype = runtime::DType::F32;
  for (auto _ : state) {
    auto artifact = compiler::compile(spec);
    if (!artifact) {
      state.SkipWithError(artifact.error().str().c_str());
      return;
    }
    benchmark::DoNotOptimize(artifact->code.data());
    state.counters["code_bytes"] = static_cast<double>(artifact->code.size());
  }
  state.counters["kept_tiles"] = static_cast<double>(spec.mask.countKept());
}

void BM_CompilePtxSm90a(benchmark::State &state) {
  compileOnce(state, compiler::Target::cuda("sm_90a"));
}
void BM_CompileCpu(benchmark::State &state) { compileOnce(state, compiler::Target::cpu()); }

/// What a CPU kernel costs before its first run: the compile, then the
/// execution engine's JIT of its host code (per process: the disk cache
/// keeps the artifact, not the machine code). The MiniLM demo pays it for
/// every (sequence length, mask) it meets: 12 heads, 8x8 tiles, D = 32,
/// each iteration another mask and length, one executor throughout (so
/// the kernel library, shared by all of them, is compiled in the first).
void BM_CpuCompileAndJit(benchmark::State &state) {
  const int64_t heads = 12, dim = 32, tile = 8;
  runtime::CpuExecutor executor;
  double compileSeconds = 0, jitSeconds = 0;
  uint64_t seed = 0;
  for (auto _ : state) {
    const int64_t seq = state.range(0) - static_cast<int64_t>(seed % 8);
    const int64_t blocks = (seq + tile - 1) / tile;
    compiler::KernelSpec spec;
    spec.shape = {1, heads, heads, seq, seq, dim, runtime::DType::F32};
    spec.mask = runtime::BlockMask::random(heads, blocks, blocks, tile, tile, 0.5, ++seed, true);
    spec.calibrate = state.range(1) != 0;
    auto start = std::chrono::steady_clock::now();
    auto artifact = compiler::compile(spec);
    auto compiled = std::chrono::steady_clock::now();
    if (!artifact) {
      state.SkipWithError(artifact.error().str().c_str());
      return;
    }
    auto kernel = executor.load(*artifact);
    auto loaded = std::chrono::steady_clock::now();
    if (!kernel) {
      state.SkipWithError(kernel.error().str().c_str());
      return;
    }
    compileSeconds += std::chrono::duration<double>(compiled - start).count();
    jitSeconds += std::chrono::duration<double>(loaded - compiled).count();
  }
  state.counters["compile_ms"] = benchmark::Counter(1e3 * compileSeconds / state.iterations());
  state.counters["jit_ms"] = benchmark::Counter(1e3 * jitSeconds / state.iterations());
}

// Args: {S, density in percent}; 32 heads, 128x128 tiles, D = 128.
BENCHMARK(BM_CompilePtxSm90a)
    ->Args({2048, 10})
    ->Args({8192, 10})
    ->Args({16384, 10})
    ->Args({16384, 50})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_CompileCpu)
    ->Args({2048, 10})
    ->Args({16384, 10})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// Args: {S, calibrate}.
BENCHMARK(BM_CpuCompileAndJit)
    ->ArgNames({"S", "calibrate"})
    ->Args({48, 0})
    ->Args({48, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace
