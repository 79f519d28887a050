//===- CpuKernelBench.cpp - the CPU backend's kernels ---------------------===//
//
// Time per call of the CPU backend (f32, the host-code lowering of the same
// IR) on random inputs, across densities and causal masks, so a change to
// sieve-lower-to-cpu shows up as a number. Shapes are small: the CPU
// backend serves tests, calibration and machines without a GPU.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Session.h"

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

using namespace sieve;

namespace {

compiler::Session *cpuSession() {
  static std::unique_ptr<compiler::Session> session = [] {
    auto s = compiler::Session::create(compiler::BackendChoice::Cpu);
    return s ? std::move(*s) : nullptr;
  }();
  return session.get();
}

void BM_CpuKernel(benchmark::State &state) {
  compiler::Session *session = cpuSession();
  if (!session) {
    state.SkipWithError("no CPU session");
    return;
  }
  int64_t batch = state.range(0), heads = state.range(1), seq = state.range(2),
          dim = state.range(3);
  double density = state.range(4) / 100.0;
  bool causal = state.range(5);
  auto spec = bench::peerSpec(batch, heads, seq, dim, density, causal, session->target());
  spec.shape.dtype = runtime::DType::F32;
  auto artifact = session->compile(spec);
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return;
  }
  size_t elems = static_cast<size_t>(batch * heads * seq * dim);
  std::vector<float> q(elems), k(elems), v(elems), out(elems);
  std::mt19937 rng(20261124);
  std::normal_distribution<float> normal;
  for (auto *t : {&q, &k, &v})
    for (float &x : *t)
      x = normal(rng);
  auto view = [&](std::vector<float> &t) {
    return runtime::TensorView::contiguous(t.data(), runtime::DType::F32, {batch, heads, seq, dim},
                                           runtime::DeviceKind::Host);
  };
  for (auto _ : state) {
    if (Error e = session->run(**artifact, view(q), view(k), view(v), view(out))) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP"] = benchmark::Counter(bench::keptFlops(spec) / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = spec.mask.density();
  state.SetLabel((*artifact)->variant);
}

// {B, H, S, D, density %, causal}
BENCHMARK(BM_CpuKernel)
    ->ArgNames({"B", "H", "S", "D", "dens", "causal"})
    ->Args({1, 4, 1024, 64, 100, 0})
    ->Args({1, 4, 1024, 64, 50, 0})
    ->Args({1, 4, 1024, 64, 10, 0})
    ->Args({1, 4, 1024, 64, 100, 1})
    ->Args({1, 4, 1024, 128, 50, 0})
    ->Unit(benchmark::kMillisecond);

} // namespace
