//===- KernelModesBench.cpp - threshold mode's tile skip, calibration's cost -===//
//
// Learned-threshold pruning exists to save time: a key tile whose every
// score in a query tile falls under the head's threshold skips the
// exponentials and P·V, while S = Q·Kᵀ still runs to find that out. This
// suite times the threshold-mode kernel against the fraction of key tiles
// so skipped, beside the same dense mask without threshold mode, on the
// same inputs in one process. At 100% skipped the floor is the Q·Kᵀ half
// of the work: about 0.5x the dense time.
//
// The inputs make the skipped tiles exact: q and the kept tiles' keys are
// non-negative (every score >= 0), the skipped tiles' keys non-positive
// (every score <= 0, and almost surely < 0), and every head's threshold is
// 0. Key block kb is skipped when floor((kb+1) f) > floor(kb f), which
// spreads a fraction f evenly over each row.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"
#include "GpuKernelTiming.h"

#include <array>
#include <cmath>
#include <random>

using namespace sieve;

namespace {

bool keyBlockSkipped(int64_t kb, double fraction) {
  return std::floor((kb + 1) * fraction) > std::floor(kb * fraction);
}

/// |N(0,1)| for q and v's magnitudes, keys signed by their block.
bench::InputFill signedKeyInputs(int64_t blockK, double skippedFraction) {
  return [=](int which, const std::array<int64_t, 4> &sizes, std::vector<float> &values) {
    std::mt19937 rng(20261206 + which);
    std::normal_distribution<float> normal;
    const int64_t seq = sizes[2], dim = sizes[3];
    for (size_t i = 0; i < values.size(); ++i) {
      float x = normal(rng);
      if (which == 2) { // v: any sign
        values[i] = x;
        continue;
      }
      const int64_t position = static_cast<int64_t>(i / dim) % seq;
      const bool negative = which == 1 && keyBlockSkipped(position / blockK, skippedFraction);
      values[i] = negative ? -std::fabs(x) : std::fabs(x);
    }
  };
}

// {B, H, S, D, skipped %, thresholds (0: the plain kernel, 1: threshold mode)}
void BM_ThresholdSkip(benchmark::State &state) {
  compiler::Session *session = bench::gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  const int64_t batch = state.range(0), heads = state.range(1), seq = state.range(2),
                dim = state.range(3);
  const double skipped = state.range(4) / 100.0;
  const bool thresholds = state.range(5) != 0;
  compiler::KernelSpec spec =
      bench::peerSpec(batch, heads, seq, dim, 1.0, /*causal=*/false, session->target());
  spec.thresholds = thresholds;
  const int64_t blockK = spec.mask.blockK();
  int64_t keyBlocks = spec.mask.keyBlocks(), skippedBlocks = 0;
  for (int64_t kb = 0; kb < keyBlocks; ++kb)
    skippedBlocks += keyBlockSkipped(kb, skipped);
  bench::timeKernel(state, session, spec, signedKeyInputs(blockK, skipped),
                    thresholds ? std::vector<float>(heads, 0.f) : std::vector<float>{});
  state.counters["skipped"] = static_cast<double>(skippedBlocks) / keyBlocks;
}

void skipRows(benchmark::internal::Benchmark *b) {
  b->ArgNames({"B", "H", "S", "D", "skip%", "thr"});
  b->Args({1, 32, 16384, 128, 0, 0}); // the plain dense kernel: the yardstick
  for (int64_t skipped : {0, 25, 50, 75, 100})
    b->Args({1, 32, 16384, 128, skipped, 1});
}

BENCHMARK(BM_ThresholdSkip)
    ->Apply(skipRows)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.2);

// Calibration's cost (the stats kernel: the forward plus a second Q·Kᵀ pass
// that adds each tile's probability mass) beside the plain forward, on the
// same standard-normal inputs: {B, H, S, D, density %, calibrate}. The
// issue's bound is 2x the forward.
void BM_Calibration(benchmark::State &state) {
  compiler::Session *session = bench::gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  compiler::KernelSpec spec =
      bench::peerSpec(state.range(0), state.range(1), state.range(2), state.range(3),
                      state.range(4) / 100.0, /*causal=*/false, session->target());
  spec.calibrate = state.range(5) != 0;
  bench::timeKernel(state, session, spec);
}

void calibrationRows(benchmark::internal::Benchmark *b) {
  b->ArgNames({"B", "H", "S", "D", "dens", "cal"});
  for (auto [batch, heads, seq, dim] :
       {std::array<int64_t, 4>{1, 32, 16384, 128}, std::array<int64_t, 4>{4, 16, 8192, 64}})
    for (int64_t density : {100, 10})
      for (int64_t calibrate : {0, 1})
        b->Args({batch, heads, seq, dim, density, calibrate});
}

BENCHMARK(BM_Calibration)
    ->Apply(calibrationRows)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.2);

} // namespace
