//===- OverlapBench.cpp - the Hopper kernel's overlapped schedule, side by side -===//
//
// The wgmma body with and without intra-warp-group overlap (each tile's
// softmax beside the previous tile's P·V; KernelOptions::overlap), on the
// same mask and inputs per row, so the two times compare directly. Rows:
// the large peer shapes at every head dim the overlapped schedule takes
// (docs/perf-notes.md, o1), dense and sparse, causal and not. The plain
// schedule runs at its default 2 stages and at 3 (the overlapped one's),
// so the schedule, not the ring depth, is what the rows compare.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"
#include "GpuKernelTiming.h"

#include <benchmark/benchmark.h>

using namespace sieve;

namespace {

// {B, H, S, D, density %, causal, schedule (0 plain, 1 plain at 3 stages,
// 2 overlapped)}.
void BM_Overlap(benchmark::State &state) {
  compiler::Session *session = bench::gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  compiler::KernelSpec spec =
      bench::peerSpec(state.range(0), state.range(1), state.range(2), state.range(3),
                      state.range(4) / 100.0, state.range(5) != 0, session->target());
  spec.options.variant = "wgmma";
  const int64_t schedule = state.range(6);
  spec.options.stages = schedule == 0 ? 0 : 3;
  spec.options.overlap = schedule == 2;
  bench::timeKernel(state, session, spec);
}

void overlapRows(benchmark::internal::Benchmark *b) {
  b->ArgNames({"B", "H", "S", "D", "dens", "causal", "schedule"});
  const int64_t rows[][6] = {
      {1, 32, 16384, 128, 100, 0}, {1, 32, 16384, 128, 100, 1}, {1, 32, 16384, 128, 10, 0},
      {4, 16, 8192, 64, 100, 0},   {4, 16, 8192, 64, 10, 0},    {4, 16, 8192, 32, 100, 0},
      {4, 16, 8192, 96, 100, 0},   {4, 16, 8192, 192, 100, 0},  {32, 12, 512, 64, 100, 0},
  };
  for (const auto &r : rows)
    for (int64_t schedule : {0, 1, 2})
      b->Args({r[0], r[1], r[2], r[3], r[4], r[5], schedule});
}

BENCHMARK(BM_Overlap)
    ->Apply(overlapRows)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.2);

} // namespace
