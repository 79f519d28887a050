//===- KernelBench.cpp - kernel time on the GPU for the peers' shapes -----===//
//
// Manual time from CUDA events around each launch (the launch alone, not the
// compile: that is CompileBench's). Reports TFLOP/s on kept tiles so rows
// compare with shared/DESIGN.md's peer table. Skips without a GPU.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

using namespace sieve;

namespace {

compiler::Session *gpuSession() {
  static std::unique_ptr<compiler::Session> session = [] {
    auto s = compiler::Session::create(compiler::BackendChoice::Cuda);
    return s ? std::move(*s) : nullptr;
  }();
  return session.get();
}

const char *const kVariantNames[] = {"auto", "simt", "mma", "wgmma", "generic"};

/// Compiles `spec`, then times its launches (CUDA events around each, the
/// combine kernel of split rows included) on standard-normal inputs.
void timeKernel(benchmark::State &state, compiler::Session *session,
                const compiler::KernelSpec &spec) {
  const int64_t batch = spec.shape.batch;
  const bool causal = spec.causal;
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
  std::vector<runtime::CuDevicePtr> buffers;
  runtime::TensorView views[4];
  // Standard-normal inputs, as the peers get (bench/peers): on an H100 the
  // tensor cores draw less power on constant data and then hold higher
  // clocks, so constant inputs flatter the kernel by ~10% on dense rows.
  std::mt19937 rng(20261124);
  std::normal_distribution<float> normal;
  for (int t = 0; t < 4; ++t) {
    const bool isKv = t == 1 || t == 2;
    const int64_t heads = isKv ? shape.headsKv : shape.headsQ;
    const int64_t seq = isKv ? shape.seqK : shape.seqQ;
    const size_t elems = static_cast<size_t>(batch * heads * seq * shape.headDim);
    std::vector<uint16_t> host(elems);
    auto p = drv.alloc(elems * 2);
    if (!p) {
      state.SkipWithError(p.error().str().c_str());
      return;
    }
    buffers.push_back(*p);
    for (uint16_t &x : host)
      x = runtime::floatToBFloat16Bits(normal(rng));
    if (Error e = drv.copyToDevice(*p, host.data(), elems * 2)) {
      state.SkipWithError(e.str().c_str());
      return;
    }
    views[t] = runtime::TensorView::contiguous(reinterpret_cast<void *>(*p), runtime::DType::BF16,
                                               {batch, heads, seq, shape.headDim},
                                               runtime::DeviceKind::Cuda);
  }
  auto start = drv.createEvent(), stop = drv.createEvent();
  for (auto _ : state) {
    (void)drv.recordEvent(*start, nullptr);
    if (Error e = session->run(**artifact, views[0], views[1], views[2], views[3], nullptr,
                               tables.get())) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    (void)drv.recordEvent(*stop, nullptr);
    auto ms = drv.elapsedMs(*start, *stop);
    state.SetIterationTime(ms ? *ms / 1e3 : 0);
  }
  state.counters["TFLOP"] = benchmark::Counter(bench::keptFlops(spec) / 1e12,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = spec.mask.density();
  state.SetLabel((*artifact)->config);
  (void)drv.destroyEvent(*start);
  (void)drv.destroyEvent(*stop);
  for (auto p : buffers)
    (void)drv.free(p);
}

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
