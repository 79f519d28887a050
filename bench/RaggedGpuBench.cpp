//===- RaggedGpuBench.cpp - a ragged batch on the GPU against padding -----===//
//
// The GPU side of bench/RaggedBench.cpp (docs/ragged-paged.md): a ragged
// kernel runs a batch of sequences of different lengths as they are,
// packed with cu_seqlens; without it the batch is padded to its longest
// sequence and every sequence pays for that length. One compiled kernel
// each (no compile in the timed loop); B = 8 sequences whose lengths
// spread from an eighth of the longest to all of it (mean 56% of it),
// Hq = 32, Hkv = 8, D = 128, bf16, 128 x 128 tiles at half density,
// bottom-right causal (a chunk of queries after its keys' prefix).
//
// - BM_RaggedBatchGpu/S: the ragged kernel over the packed tokens;
// - BM_PagedBatchGpu/S: the same, K and V read from 128-key pages in
//   shuffled order through the page table;
// - BM_PaddedBatchGpu/S: the same mask's ordinary kernel over
//   [B, H, S, D], every sequence padded to S (the baseline).
//
// Times are CUDA events around each call (runBatch includes the copy of
// the offsets and page table to the device, on the stream), medians of
// Google Benchmark's repetitions. Counter `tokens`: the batch's real
// query tokens per second. Skips without a GPU.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"
#include "GpuKernelTiming.h"

#include "sieve/runtime/BatchLayout.h"
#include "sieve/runtime/CudaDriver.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

using namespace sieve;

namespace {

constexpr int64_t kBatch = 8, kHeadsQ = 32, kHeadsKv = 8, kDim = 128, kBlock = 128, kPage = 128;

std::vector<int32_t> lengthsUpTo(int64_t longest) { return bench::raggedLengths(kBatch, longest); }

compiler::KernelSpec batchSpec(int64_t longest, bool ragged, int64_t pageSize) {
  return bench::raggedBatchSpec(
      {kBatch, kHeadsQ, kHeadsKv, longest, longest, kDim, runtime::DType::BF16}, kBlock, ragged,
      pageSize);
}

/// Device buffers of finite bf16 values, freed at the end of the run.
struct Buffers {
  const runtime::CudaDriver &drv;
  std::vector<runtime::CuDevicePtr> ptrs;
  explicit Buffers(const runtime::CudaDriver &drv) : drv(drv) {}
  ~Buffers() {
    for (auto p : ptrs)
      (void)drv.free(p);
  }
  void *add(int64_t elements) {
    auto p = drv.alloc(elements * 2);
    if (!p || drv.memset8(*p, 0x3c, elements * 2))
      return nullptr;
    ptrs.push_back(*p);
    return reinterpret_cast<void *>(*p);
  }
};

/// [B, H, S, D] over tokens laid out [B * S, H, D] (a ragged batch's
/// [1, H, total, D]; a pool's [pages, H, page, D]).
runtime::TensorView tokens(void *data, int64_t batch, int64_t heads, int64_t seq) {
  return {data,
          runtime::DType::BF16,
          {batch, heads, seq, kDim},
          {seq * heads * kDim, kDim, heads * kDim, 1},
          runtime::DeviceKind::Cuda};
}

/// Times `call` with CUDA events around each iteration (manual time).
template <typename Call>
void timeCalls(benchmark::State &state, const runtime::CudaDriver &drv, Call call) {
  auto start = drv.createEvent(), end = drv.createEvent();
  if (!start || !end) {
    state.SkipWithError("cannot create CUDA events");
    return;
  }
  if (Error e = call()) { // warm-up: loads the module
    state.SkipWithError(e.str().c_str());
    return;
  }
  for (auto _ : state) {
    (void)drv.recordEvent(*start, nullptr);
    Error e = call();
    (void)drv.recordEvent(*end, nullptr);
    auto ms = drv.elapsedMs(*start, *end);
    if (e || !ms) {
      state.SkipWithError(e ? e.str().c_str() : "event timing failed");
      break;
    }
    state.SetIterationTime(*ms / 1e3);
  }
  (void)drv.destroyEvent(*start);
  (void)drv.destroyEvent(*end);
}

void runBatchKernel(benchmark::State &state, int64_t pageSize, bool ragged) {
  const int64_t longest = state.range(0);
  compiler::Session *s = bench::gpuSession();
  if (!s) {
    state.SkipWithError("no GPU");
    return;
  }
  auto artifact = s->compile(batchSpec(longest, ragged, pageSize));
  if (!artifact) {
    state.SkipWithError(artifact.error().str().c_str());
    return;
  }
  state.SetLabel((*artifact)->config);
  const runtime::CudaDriver &drv = s->gpu()->driver();
  std::vector<int32_t> lengths = lengthsUpTo(longest), cu(kBatch + 1, 0);
  std::partial_sum(lengths.begin(), lengths.end(), cu.begin() + 1);
  const int64_t total = cu.back();
  Buffers device(drv);
  if (!ragged) { // every sequence padded to the longest
    void *q = device.add(kBatch * kHeadsQ * longest * kDim),
         *k = device.add(kBatch * kHeadsKv * longest * kDim),
         *v = device.add(kBatch * kHeadsKv * longest * kDim),
         *out = device.add(kBatch * kHeadsQ * longest * kDim);
    if (!q || !k || !v || !out) {
      state.SkipWithError("out of GPU memory");
      return;
    }
    timeCalls(state, drv, [&] {
      return s->run(**artifact, tokens(q, kBatch, kHeadsQ, longest),
                    tokens(k, kBatch, kHeadsKv, longest), tokens(v, kBatch, kHeadsKv, longest),
                    tokens(out, kBatch, kHeadsQ, longest));
    });
  } else {
    void *q = device.add(total * kHeadsQ * kDim), *out = device.add(total * kHeadsQ * kDim);
    runtime::TensorView kv, vv;
    std::vector<int32_t> table;
    if (pageSize) {
      // Every sequence's keys on pages of its own, the pages shuffled.
      const int64_t columns = (*artifact)->pagesPerSequence();
      table.resize(kBatch * columns);
      std::iota(table.begin(), table.end(), 0);
      std::shuffle(table.begin(), table.end(), std::mt19937_64(5));
      const int64_t pages = static_cast<int64_t>(table.size());
      void *k = device.add(pages * pageSize * kHeadsKv * kDim),
           *v = device.add(pages * pageSize * kHeadsKv * kDim);
      kv = tokens(k, pages, kHeadsKv, pageSize);
      vv = tokens(v, pages, kHeadsKv, pageSize);
    } else {
      kv = tokens(device.add(total * kHeadsKv * kDim), 1, kHeadsKv, total);
      vv = tokens(device.add(total * kHeadsKv * kDim), 1, kHeadsKv, total);
    }
    if (!q || !out || !kv.data || !vv.data) {
      state.SkipWithError("out of GPU memory");
      return;
    }
    runtime::BatchLayout layout{cu.data(), cu.data(), pageSize ? table.data() : nullptr};
    timeCalls(state, drv, [&] {
      return s->runBatch(**artifact, tokens(q, 1, kHeadsQ, total), kv, vv,
                         tokens(out, 1, kHeadsQ, total), layout);
    });
  }
  state.counters["tokens"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_RaggedBatchGpu(benchmark::State &state) { runBatchKernel(state, 0, true); }
void BM_PagedBatchGpu(benchmark::State &state) { runBatchKernel(state, kPage, true); }
void BM_PaddedBatchGpu(benchmark::State &state) { runBatchKernel(state, 0, false); }
BENCHMARK(BM_RaggedBatchGpu)->Arg(2048)->Arg(8192)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PagedBatchGpu)->Arg(2048)->Arg(8192)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PaddedBatchGpu)->Arg(2048)->Arg(8192)->UseManualTime()->Unit(benchmark::kMillisecond);

} // namespace
