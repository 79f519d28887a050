//===- BenchMasks.h - the peers' benchmark problems ------------*- C++ -*-===//
//
// shared/DESIGN.md's peer table: random 128x128 tiles per head at a density,
// diagonal kept, bf16. One definition for every suite so their numbers line
// up with the peers'.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_BENCH_BENCHMASKS_H
#define SIEVE_BENCH_BENCHMASKS_H

#include "sieve/compiler/KernelSpec.h"

#include <cstdint>
#include <vector>

namespace sieve::bench {

/// A bf16 spec of batch x heads x seq x headDim with 128x128 tiles kept at
/// `density` (diagonal always kept), seeded so runs compare.
compiler::KernelSpec peerSpec(int64_t batch, int64_t heads, int64_t seq, int64_t headDim,
                              double density, bool causal, const compiler::Target &target);

/// A skewed mask, the case split-KV is for: in every head the diagonal
/// tile of each query block, plus `denseRows` query blocks (spread evenly)
/// that keep every key block. Most rows are 1 tile long, a few S/128.
compiler::KernelSpec skewedSpec(int64_t batch, int64_t heads, int64_t seq, int64_t headDim,
                                int64_t denseRows, const compiler::Target &target);

/// 4 * kept tiles * 128 * 128 * D * B: the multiply-adds of QK^T and PV.
double keptFlops(const compiler::KernelSpec &spec);

/// A ragged batch's lengths (bench/RaggedBench.cpp, RaggedGpuBench.cpp):
/// `batch` sequences from longest / batch to longest, evenly, in a fixed
/// shuffled order.
std::vector<int32_t> raggedLengths(int64_t batch, int64_t longest);

/// The ragged benchmarks' spec: `shape` (seq_q = seq_k = the longest
/// sequence) under `block` x `block` tiles at half density (diagonal
/// kept, seeded), bottom-right causal; a ragged kernel when `ragged`, and
/// paged with `pageSize`.
compiler::KernelSpec raggedBatchSpec(const runtime::ProblemShape &shape, int64_t block, bool ragged,
                                     int64_t pageSize);

/// `elems` draws of N(0, 1) from a generator seeded with `seed`: host
/// inputs for the CPU benchmarks, the same on every run.
std::vector<float> normalTensor(size_t elems, uint32_t seed);

} // namespace sieve::bench

#endif
