//===- EigenDenseBench.cpp - dense attention on Eigen's GEMM --------------===//
//
// The yardstick of the CPU backend (docs/perf-notes.md, "CPU"): the dense
// attention a user writes in twenty lines of Eigen, one thread, f32: per
// head one GEMM for Q K^T, a row softmax (Eigen's vectorized exp), one GEMM
// for P V. It lives in sieve-bench-cpu-kernels so sieve's kernels and this
// run side by side in one process, on the same random inputs' shapes.
//
// This file alone is compiled for the host's instruction set
// (-march=native, bench/CMakeLists.txt): Eigen picks its GEMM kernels at
// compile time, and the JIT compiles sieve's kernels for the host too, so
// neither side is held to SSE2. No other file of the binary uses Eigen.
//
//===----------------------------------------------------------------------===//
#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor>;
using Map = Eigen::Map<RowMajor>;

/// out = softmax(scale q k^T) v for one head: q [S, D], k and v [S, D].
void denseHead(ConstMap q, ConstMap k, ConstMap v, Map out, float scale, RowMajor &scores) {
  scores.noalias() = (q * k.transpose()) * scale;
  for (Eigen::Index i = 0; i < scores.rows(); ++i) {
    auto row = scores.row(i).array();
    row = (row - row.maxCoeff()).exp();
    row /= row.sum();
  }
  out.noalias() = scores * v;
}

/// Dense attention, B=1, H heads of S x D, one thread.
void BM_EigenDenseAttention(benchmark::State &state) {
  Eigen::setNbThreads(1);
  const int64_t heads = state.range(0), seq = state.range(1), dim = state.range(2);
  const size_t elems = static_cast<size_t>(heads * seq * dim);
  std::vector<float> q(elems), k(elems), v(elems), out(elems);
  std::mt19937 rng(20261124);
  std::normal_distribution<float> normal;
  for (auto *t : {&q, &k, &v})
    for (float &x : *t)
      x = normal(rng);
  RowMajor scores(seq, seq);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  for (auto _ : state) {
    for (int64_t h = 0; h < heads; ++h) {
      const size_t at = static_cast<size_t>(h * seq * dim);
      denseHead(ConstMap(q.data() + at, seq, dim), ConstMap(k.data() + at, seq, dim),
                ConstMap(v.data() + at, seq, dim), Map(out.data() + at, seq, dim), scale, scores);
    }
    benchmark::DoNotOptimize(out.data());
  }
  // The two products' multiply-adds, as sieve's kernels count theirs.
  state.counters["GFLOP"] = benchmark::Counter(4.0 * heads * seq * seq * dim / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = 1.0;
  state.SetLabel("eigen dense, 1 thread");
}

/// Eigen's single-thread sgemm alone at the attention's shape (S x D times
/// D x S): the rate its GEMM reaches here, the floor's denominator.
void BM_EigenSgemm(benchmark::State &state) {
  Eigen::setNbThreads(1);
  const int64_t seq = state.range(0), dim = state.range(1);
  RowMajor a = RowMajor::Random(seq, dim), b = RowMajor::Random(seq, dim), c(seq, seq);
  for (auto _ : state) {
    c.noalias() = a * b.transpose();
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP"] = benchmark::Counter(2.0 * seq * seq * dim / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// {H, S, D}: the shape (B=1, H=8, S=1024) at both head dimensions.
BENCHMARK(BM_EigenDenseAttention)
    ->ArgNames({"H", "S", "D"})
    ->Args({8, 1024, 64})
    ->Args({8, 1024, 128})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_EigenSgemm)->ArgNames({"S", "D"})->Args({1024, 64})->Args({1024, 128})->UseRealTime();

} // namespace
