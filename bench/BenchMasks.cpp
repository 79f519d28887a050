//===- BenchMasks.cpp -----------------------------------------------------===//
#include "BenchMasks.h"

#include <algorithm>
#include <random>

namespace sieve::bench {

compiler::KernelSpec peerSpec(int64_t batch, int64_t heads, int64_t seq, int64_t headDim,
                              double density, bool causal, const compiler::Target &target) {
  constexpr int64_t kTile = 128;
  int64_t blocks = (seq + kTile - 1) / kTile;
  compiler::KernelSpec spec;
  spec.shape = {batch, heads, heads, seq, seq, headDim, runtime::DType::BF16};
  spec.mask = runtime::BlockMask::random(heads, blocks, blocks, kTile, kTile, density,
                                         /*seed=*/20261122, /*keepDiagonal=*/true);
  spec.causal = causal;
  spec.target = target;
  return spec;
}

compiler::KernelSpec skewedSpec(int64_t batch, int64_t heads, int64_t seq, int64_t headDim,
                                int64_t denseRows, const compiler::Target &target) {
  constexpr int64_t kTile = 128;
  int64_t blocks = (seq + kTile - 1) / kTile;
  compiler::KernelSpec spec;
  spec.shape = {batch, heads, heads, seq, seq, headDim, runtime::DType::BF16};
  spec.mask = *runtime::BlockMask::create(heads, blocks, blocks, kTile, kTile);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t qb = 0; qb < blocks; ++qb) {
      bool dense = denseRows > 0 && qb % std::max<int64_t>(1, blocks / denseRows) == 0 &&
                   qb / std::max<int64_t>(1, blocks / denseRows) < denseRows;
      for (int64_t kb = 0; kb < blocks; ++kb)
        spec.mask.set(h, qb, kb, dense || kb == qb);
    }
  spec.target = target;
  return spec;
}

double keptFlops(const compiler::KernelSpec &spec) {
  const auto &m = spec.mask;
  return 4.0 * spec.shape.batch * m.countKept() * m.blockQ() * m.blockK() * spec.shape.headDim;
}

std::vector<float> normalTensor(size_t elems, uint32_t seed) {
  std::vector<float> t(elems);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (float &x : t)
    x = normal(rng);
  return t;
}

std::vector<int32_t> raggedLengths(int64_t batch, int64_t longest) {
  std::vector<int32_t> lengths(batch);
  for (int64_t b = 0; b < batch; ++b)
    lengths[b] = static_cast<int32_t>(longest * (b + 1) / batch);
  std::shuffle(lengths.begin(), lengths.end(), std::mt19937_64(3));
  return lengths;
}

compiler::KernelSpec raggedBatchSpec(const runtime::ProblemShape &shape, int64_t block, bool ragged,
                                     int64_t pageSize) {
  compiler::KernelSpec spec;
  spec.shape = shape;
  const int64_t blocks = (shape.seqQ + block - 1) / block;
  spec.mask = runtime::BlockMask::random(shape.headsQ, blocks, blocks, block, block, 0.5, 20261206,
                                         /*keepDiagonal=*/true);
  spec.causal = true;
  spec.causalAlign = runtime::CausalAlign::BottomRight;
  spec.ragged = ragged;
  spec.pageSize = pageSize;
  return spec;
}

} // namespace sieve::bench
