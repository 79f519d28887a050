//===- RaggedBench.cpp - a ragged batch against padding to the longest ----===//
//
// A ragged kernel (docs/ragged-paged.md) runs a batch of sequences of
// different lengths as they are, packed with cu_seqlens; without it a batch
// is padded to its longest sequence and every sequence pays for that
// length. On the CPU backend, one compiled kernel each (no compile in the
// timed loop), B = 8 self-attention sequences whose lengths spread from an
// eighth of the longest to all of it (mean about 56% of it), Hq = Hkv = 4,
// D = 64, 64 x 64 tiles at half density, bottom-right causal:
//
// - BM_RaggedBatchCpu/S: the ragged kernel over the packed tokens;
// - BM_PaddedBatchCpu/S: the same mask's ordinary kernel over [B, H, S, D],
//   every sequence padded to S (the baseline the ragged kernel replaces);
// - BM_PagedBatchCpu/S: the ragged kernel reading K and V from 64-key
//   pages in shuffled order (the page table's cost).
//
// Counters: `tokens` is the batch's real query tokens per second.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Session.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <random>
#include <vector>

using namespace sieve;

namespace {

constexpr int64_t kBatch = 8, kHeads = 4, kDim = 64, kBlock = 64, kPage = 64;

compiler::Session *session() {
  static std::unique_ptr<compiler::Session> s = [] {
    auto made = compiler::Session::create(compiler::BackendChoice::Cpu);
    return made ? std::move(*made) : nullptr;
  }();
  return s.get();
}

std::vector<int32_t> lengthsUpTo(int64_t longest) { return bench::raggedLengths(kBatch, longest); }

compiler::KernelSpec batchSpec(int64_t longest, bool ragged, int64_t pageSize) {
  return bench::raggedBatchSpec(
      {kBatch, kHeads, kHeads, longest, longest, kDim, runtime::DType::F32}, kBlock, ragged,
      pageSize);
}

/// [1, H, total, D] view of tokens packed [total, H, D].
runtime::TensorView packed(std::vector<float> &data, int64_t total) {
  return {data.data(),
          runtime::DType::F32,
          {1, kHeads, total, kDim},
          {total * kHeads * kDim, kDim, kHeads * kDim, 1},
          runtime::DeviceKind::Host};
}

void runRaggedOrPaged(benchmark::State &state, int64_t pageSize) {
  const int64_t longest = state.range(0);
  compiler::Session *s = session();
  if (!s) {
    state.SkipWithError("no CPU session");
    return;
  }
  auto artifact = s->compile(batchSpec(longest, true, pageSize));
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return;
  }
  std::vector<int32_t> lengths = lengthsUpTo(longest), cu(kBatch + 1, 0);
  std::partial_sum(lengths.begin(), lengths.end(), cu.begin() + 1);
  const int64_t total = cu.back();
  std::vector<float> q = bench::normalTensor(total * kHeads * kDim, 7), k = q, v = q, out(q.size());
  runtime::TensorView qv = packed(q, total), kv = packed(k, total), vv = packed(v, total),
                      ov = packed(out, total);
  runtime::BatchLayout layout{cu.data(), cu.data(), nullptr};
  std::vector<float> kPool, vPool;
  std::vector<int32_t> table;
  if (pageSize) {
    // Every sequence's keys on its own pages, the pages shuffled.
    const int64_t columns = (*artifact)->pagesPerSequence();
    std::vector<int32_t> order(kBatch * columns);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(5));
    table.assign(order.begin(), order.end());
    kPool = bench::normalTensor(order.size() * pageSize * kHeads * kDim, 8);
    vPool = kPool;
    auto pool = [&](std::vector<float> &data) {
      return runtime::TensorView{data.data(),
                                 runtime::DType::F32,
                                 {static_cast<int64_t>(order.size()), kHeads, pageSize, kDim},
                                 {pageSize * kHeads * kDim, kDim, kHeads * kDim, 1},
                                 runtime::DeviceKind::Host};
    };
    kv = pool(kPool);
    vv = pool(vPool);
    layout.pageTable = table.data();
  }
  for (auto _ : state) {
    if (Error e = s->runBatch(**artifact, qv, kv, vv, ov, layout)) {
      state.SkipWithError(e.str().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tokens"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_RaggedBatchCpu(benchmark::State &state) { runRaggedOrPaged(state, 0); }
BENCHMARK(BM_RaggedBatchCpu)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond);

void BM_PagedBatchCpu(benchmark::State &state) { runRaggedOrPaged(state, kPage); }
BENCHMARK(BM_PagedBatchCpu)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond);

void BM_PaddedBatchCpu(benchmark::State &state) {
  const int64_t longest = state.range(0);
  compiler::Session *s = session();
  if (!s) {
    state.SkipWithError("no CPU session");
    return;
  }
  auto artifact = s->compile(batchSpec(longest, false, 0));
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return;
  }
  const std::array<int64_t, 4> shape{kBatch, kHeads, longest, kDim};
  std::vector<float> q = bench::normalTensor(kBatch * kHeads * longest * kDim, 7), k = q, v = q,
                     out(q.size());
  auto view = [&](std::vector<float> &data) {
    return runtime::TensorView::contiguous(data.data(), runtime::DType::F32, shape,
                                           runtime::DeviceKind::Host);
  };
  for (auto _ : state) {
    if (Error e = s->run(**artifact, view(q), view(k), view(v), view(out))) {
      state.SkipWithError(e.str().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  std::vector<int32_t> lengths = lengthsUpTo(longest);
  state.counters["tokens"] =
      benchmark::Counter(static_cast<double>(std::accumulate(lengths.begin(), lengths.end(), 0)),
                         benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PaddedBatchCpu)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond);

} // namespace
