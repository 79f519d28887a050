//===- CompileBench.cpp - wall time of one mask's compile -----------------===//
//
// Everything `sieve compile` does for a new mask: build the IR, specialize,
// lower, and (for CUDA) run NVPTX to PTX text. No cache: each iteration
// compiles from scratch.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Compiler.h"

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

} // namespace
