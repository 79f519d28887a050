//===- KernelBench.cpp - kernel time on the GPU for the peers' shapes -----===//
//
// Manual time from CUDA events around each launch (the launch alone, not the
// compile: that is CompileBench's). Reports TFLOP/s on kept tiles so rows
// compare with shared/DESIGN.md's peer table. Skips without a GPU.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"
#include "GpuKernelTiming.h"

#include <benchmark/benchmark.h>

using namespace sieve;
using bench::gpuSession;
using bench::timeKernel;

namespace {

const char *const kVariantNames[] = {"auto", "simt", "mma", "wgmma", "generic"};

void BM_Kernel(benchmark::State &state) {
  compiler::Session *session = gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  int64_t batch = state.range(0), heads = state.range(1), seq = state.range(2),
          dim = state.range(3);
  double density = state.range(4) / 100.0;
  bool causal = state.range(5);
  // density -1: the skewed mask (bench::skewedSpec) with 2 dense rows per head.
  auto spec = state.range(4) < 0
                  ? bench::skewedSpec(batch, heads, seq, dim, /*denseRows=*/2, session->target())
                  : bench::peerSpec(batch, heads, seq, dim, density, causal, session->target());
  // Kernel options: 0 lets the compiler choose.
  spec.options.variant = kVariantNames[state.range(6)];
  spec.options.queryTile = state.range(7);
  spec.options.stages = state.range(8);
  timeKernel(state, session, spec);
}

// Split-KV against whole rows on the masks it is for, side by side:
// {B, H, Sq, Sk, D, dense rows (-1: every tile kept), variant, split (0 off,
// 1 auto)}. Dense rows >= 0 is bench::skewedSpec (Sq = Sk); -1 with Sq << Sk
// is the few-rows case (fewer work rows than SMs).
void BM_SplitKv(benchmark::State &state) {
  compiler::Session *session = gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  const int64_t batch = state.range(0), heads = state.range(1), seqQ = state.range(2),
                seqK = state.range(3), dim = state.range(4), denseRows = state.range(5);
  compiler::KernelSpec spec;
  if (denseRows >= 0) {
    spec = bench::skewedSpec(batch, heads, seqQ, dim, denseRows, session->target());
  } else {
    spec = bench::peerSpec(batch, heads, seqQ, dim, 1.0, false, session->target());
    spec.shape.seqK = seqK;
    spec.mask =
        *runtime::BlockMask::create(heads, (seqQ + 127) / 128, (seqK + 127) / 128, 128, 128);
    for (int64_t h = 0; h < heads; ++h)
      spec.mask.setHead(h, true);
  }
  spec.options.variant = kVariantNames[state.range(6)];
  spec.options.splitKv = state.range(7) ? "auto" : "off";
  timeKernel(state, session, spec);
}

void splitRows(benchmark::internal::Benchmark *b) {
  b->ArgNames({"B", "H", "Sq", "Sk", "D", "dense", "variant", "split"});
  for (int64_t variant : {0, 2})
    for (int64_t split : {0, 1}) {
      b->Args({1, 8, 16384, 16384, 128, 2, variant, split});
      b->Args({1, 8, 16384, 16384, 128, 4, variant, split});
      b->Args({1, 8, 16384, 16384, 128, 8, variant, split});
      b->Args({4, 16, 8192, 8192, 64, 2, variant, split});
      b->Args({1, 8, 128, 32768, 128, -1, variant, split});
    }
}

// The rows of DESIGN.md's peer table: {B, H, S, D, density %, causal}.
const int64_t kPeerRows[][6] = {
    {32, 12, 512, 64, 100, 0},   {32, 12, 512, 64, 50, 0},   {32, 12, 512, 64, 10, 0},
    {4, 16, 8192, 64, 100, 0},   {4, 16, 8192, 64, 50, 0},   {4, 16, 8192, 64, 10, 0},
    {1, 32, 16384, 128, 100, 0}, {1, 32, 16384, 128, 50, 0}, {1, 32, 16384, 128, 10, 0},
    {1, 32, 16384, 128, 100, 1},
};

// Appended args: {variant (0 auto, 1 simt, 2 mma, 3 wgmma, 4 generic), query
// tile, stages}; 0 = the compiler's choice. The compiler's choice on every
// row (wgmma on an H100 where rows are long), the sm_80 kernel and the
// generic (run-time mask) kernel beside it, then the configurations worth
// comparing on the two large shapes.
void peerRows(benchmark::internal::Benchmark *b) {
  b->ArgNames({"B", "H", "S", "D", "dens", "causal", "variant", "qtile", "stages"});
  for (int64_t variant : {0, 2, 4})
    for (const auto &r : kPeerRows)
      b->Args({r[0], r[1], r[2], r[3], r[4], r[5], variant, 0, 0});
  // The skewed mask (dens -1): rows of 1 tile and 2 rows per head of S/128
  // tiles; the schedule, not the body, decides its time (split-KV's case).
  for (int64_t variant : {0, 4})
    b->Args({1, 8, 16384, 128, -1, 0, variant, 0, 0});
  for (const auto &r : kPeerRows)
    if (r[2] >= 8192 && r[5] == 0)
      for (auto [qtile, stages] : {std::pair<int64_t, int64_t>{64, 2}, {128, 3}})
        b->Args({r[0], r[1], r[2], r[3], r[4], r[5], 3, qtile, stages});
}

BENCHMARK(BM_Kernel)->Apply(peerRows)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.2);
BENCHMARK(BM_SplitKv)
    ->Apply(splitRows)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.2);

} // namespace
