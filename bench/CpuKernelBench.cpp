//===- CpuKernelBench.cpp - the CPU backend's kernels ---------------------===//
//
// Time per call of the CPU backend (f32 on the host) on random inputs, so a
// change to sieve-lower-to-cpu or the executor shows up as a number:
//
// - BM_CpuAttention: the problem (B=1, H=8, S=1024, 128x128 tiles)
//   at exact densities (round(density x tiles) kept per head, at random),
//   on 1 and 2 threads: set side by side with BM_EigenDenseAttention
//   (EigenDenseBench.cpp, one thread) for docs/perf-notes.md's CPU table.
//   GFLOP counts the kept tiles' multiply-adds of the two products.
// - BM_CpuBackward: the same problems' gradients (five products per tile).
// - BM_CpuKernel: the peers' masks (diagonal kept) on the default threads.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Session.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

using namespace sieve;
using bench::normalTensor;

namespace {

compiler::Session *cpuSession() {
  static std::unique_ptr<compiler::Session> session = [] {
    auto s = compiler::Session::create(compiler::BackendChoice::Cpu);
    return s ? std::move(*s) : nullptr;
  }();
  return session.get();
}

/// f32, B=1, `heads` x S x D with 128x128 tiles, exactly round(density x
/// tiles) of each head's tiles kept, at random (seeded: runs compare).
compiler::KernelSpec exactDensitySpec(int64_t heads, int64_t seq, int64_t dim, double density,
                                      const compiler::Target &target) {
  constexpr int64_t kTile = 128;
  const int64_t blocks = (seq + kTile - 1) / kTile, tiles = blocks * blocks;
  compiler::KernelSpec spec;
  spec.shape = {1, heads, heads, seq, seq, dim, runtime::DType::F32};
  spec.mask = *runtime::BlockMask::create(heads, blocks, blocks, kTile, kTile);
  std::mt19937_64 rng(20261206);
  std::vector<int64_t> order(static_cast<size_t>(tiles));
  for (int64_t h = 0; h < heads; ++h) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const auto kept = static_cast<int64_t>(std::llround(density * static_cast<double>(tiles)));
    for (int64_t t = 0; t < kept; ++t)
      spec.mask.set(h, order[t] / blocks, order[t] % blocks, true);
  }
  spec.target = target;
  return spec;
}

runtime::TensorView view(std::vector<float> &t, const runtime::ProblemShape &s, bool kv) {
  return runtime::TensorView::contiguous(
      t.data(), runtime::DType::F32,
      {s.batch, kv ? s.headsKv : s.headsQ, kv ? s.seqK : s.seqQ, s.headDim},
      runtime::DeviceKind::Host);
}

/// Runs `spec` forward on `threads` threads (0: the process's default).
void runForward(benchmark::State &state, const compiler::KernelSpec &spec, int threads) {
  compiler::Session *session = cpuSession();
  if (!session) {
    state.SkipWithError("no CPU session");
    return;
  }
  auto artifact = session->compile(spec);
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return;
  }
  const runtime::ProblemShape &s = spec.shape;
  const size_t qElems = static_cast<size_t>(s.batch * s.headsQ * s.seqQ * s.headDim),
               kvElems = static_cast<size_t>(s.batch * s.headsKv * s.seqK * s.headDim);
  std::vector<float> q = normalTensor(qElems, 1), k = normalTensor(kvElems, 2),
                     v = normalTensor(kvElems, 3), out(qElems);
  session->cpu()->setThreads(threads);
  for (auto _ : state) {
    if (Error e = session->run(**artifact, view(q, s, false), view(k, s, true), view(v, s, true),
                               view(out, s, false))) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  session->cpu()->setThreads(0);
  state.counters["GFLOP"] = benchmark::Counter(bench::keptFlops(spec) / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = spec.mask.density();
  state.counters["threads"] = threads;
  state.SetLabel((*artifact)->variant);
}

// {H, S, D, density %, threads}
void BM_CpuAttention(benchmark::State &state) {
  compiler::Session *session = cpuSession();
  if (!session) {
    state.SkipWithError("no CPU session");
    return;
  }
  runForward(state,
             exactDensitySpec(state.range(0), state.range(1), state.range(2),
                              state.range(3) / 100.0, session->target()),
             static_cast<int>(state.range(4)));
}

void BM_CpuBackward(benchmark::State &state) {
  compiler::Session *session = cpuSession();
  if (!session) {
    state.SkipWithError("no CPU session");
    return;
  }
  compiler::KernelSpec forward = exactDensitySpec(state.range(0), state.range(1), state.range(2),
                                                  state.range(3) / 100.0, session->target());
  forward.saveLse = true;
  compiler::KernelSpec backward = forward;
  backward.saveLse = false;
  backward.backward = true;
  auto fwd = session->compile(forward);
  auto bwd = session->compile(backward);
  if (!fwd || !bwd) {
    state.SkipWithError((fwd ? bwd.error() : fwd.error()).str().c_str());
    return;
  }
  const runtime::ProblemShape &s = forward.shape;
  const size_t qElems = static_cast<size_t>(s.batch * s.headsQ * s.seqQ * s.headDim),
               kvElems = static_cast<size_t>(s.batch * s.headsKv * s.seqK * s.headDim);
  std::vector<float> q = normalTensor(qElems, 1), k = normalTensor(kvElems, 2),
                     v = normalTensor(kvElems, 3), out(qElems), dout = normalTensor(qElems, 4),
                     dq(qElems), dk(kvElems), dv(kvElems),
                     lse(static_cast<size_t>(s.batch * s.headsQ * s.seqQ));
  if (Error e = session->forward(**fwd, view(q, s, false), view(k, s, true), view(v, s, true),
                                 view(out, s, false), lse.data())) {
    state.SkipWithError(e.str().c_str());
    return;
  }
  runtime::BackwardTensors t{view(q, s, false),   view(k, s, true),     view(v, s, true),
                             view(out, s, false), view(dout, s, false), view(dq, s, false),
                             view(dk, s, true),   view(dv, s, true),    lse.data()};
  const int threads = static_cast<int>(state.range(4));
  session->cpu()->setThreads(threads);
  for (auto _ : state) {
    if (Error e = session->backward(**bwd, t)) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    benchmark::DoNotOptimize(dq.data());
  }
  session->cpu()->setThreads(0);
  // Five products per kept tile: S, dP, dV, dK, dQ (2.5 forwards).
  state.counters["GFLOP"] = benchmark::Counter(2.5 * bench::keptFlops(forward) / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = forward.mask.density();
  state.counters["threads"] = threads;
  state.SetLabel((*bwd)->variant);
}

void BM_CpuKernel(benchmark::State &state) {
  compiler::Session *session = cpuSession();
  if (!session) {
    state.SkipWithError("no CPU session");
    return;
  }
  auto spec = bench::peerSpec(state.range(0), state.range(1), state.range(2), state.range(3),
                              state.range(4) / 100.0, state.range(5), session->target());
  spec.shape.dtype = runtime::DType::F32;
  runForward(state, spec, 0);
}

void attentionArgs(benchmark::internal::Benchmark *b) {
  b->ArgNames({"H", "S", "D", "dens", "threads"});
  for (int64_t dim : {64, 128})
    for (int64_t density : {100, 50, 10})
      for (int64_t threads : {1, 2})
        b->Args({8, 1024, dim, density, threads});
}

BENCHMARK(BM_CpuAttention)->Apply(attentionArgs)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CpuBackward)->Apply(attentionArgs)->UseRealTime()->Unit(benchmark::kMillisecond);

// Real time throughout: the work is spread over threads, and the
// calling thread's CPU time would count only its share.
// {B, H, S, D, density %, causal}
BENCHMARK(BM_CpuKernel)
    ->ArgNames({"B", "H", "S", "D", "dens", "causal"})
    ->Args({1, 4, 1024, 64, 100, 0})
    ->Args({1, 4, 1024, 64, 50, 0})
    ->Args({1, 4, 1024, 64, 10, 0})
    ->Args({1, 4, 1024, 64, 100, 1})
    ->Args({1, 4, 1024, 128, 50, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

} // namespace
