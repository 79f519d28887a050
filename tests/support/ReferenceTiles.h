//===- ReferenceTiles.h - what the float64 references share -----*- C++ -*-===//
//
// The forward and backward references (Reference.cpp, ReferenceBackward.cpp)
// compute one query block at a time over the keys of its kept tiles, and
// spread independent slices over the cores. Both do it here, so the
// gradients are of exactly the attention the forward reference computes.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_REFERENCETILES_H
#define SIEVE_TESTING_REFERENCETILES_H

#include "sieve/runtime/BlockMask.h"
#include "sieve/testing/CausalMode.h"

#include <Eigen/Dense>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace sieve::testing::reference {

using runtime::BlockMask;

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstFloatMap =
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// The keys of head h's kept tiles in query block qb, ascending (a sparse
/// mask costs its kept tiles, not S x S).
inline std::vector<int64_t> keptKeys(const BlockMask &mask, int64_t h, int64_t qb, int64_t seqK) {
  std::vector<int64_t> keys;
  for (int64_t kb = 0; kb < mask.keyBlocks(); ++kb)
    if (mask.get(h, qb, kb))
      for (int64_t j = kb * mask.blockK(); j < std::min(seqK, (kb + 1) * mask.blockK()); ++j)
        keys.push_back(j);
  return keys;
}

/// Scores of queries [i0, i0 + S.rows()) of seqQ against `keys` of seqK:
/// those of keys the causal mode hides from their query become -inf.
inline void maskCausal(Matrix &S, int64_t i0, const std::vector<int64_t> &keys, CausalMode causal,
                       int64_t seqQ, int64_t seqK) {
  const double negInf = -std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < S.rows(); ++r)
    for (size_t c = 0; c < keys.size(); ++c)
      if (causal.hides(i0 + r, keys[c], seqQ, seqK))
        S(r, static_cast<int64_t>(c)) = negInf;
}

/// Softmax of each row in place; a row whose every score is -inf (no key
/// it may see) becomes zeros. With `lse`, each row's natural-log
/// log-sum-exp goes there (-inf for such a row).
inline void softmaxRows(Matrix &S, double *lse = nullptr) {
  const double negInf = -std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < S.rows(); ++r) {
    double m = S.row(r).maxCoeff();
    if (m == negInf) {
      S.row(r).setZero();
      if (lse)
        lse[r] = negInf;
      continue;
    }
    S.row(r) = (S.row(r).array() - m).exp();
    double sum = S.row(r).sum();
    S.row(r) /= sum;
    if (lse)
      lse[r] = m + std::log(sum);
  }
}

/// Runs work(n) for n in [0, slices) on up to one thread per core (the
/// reference is the slow part of every kernel check at long sequences).
template <typename Work> void forEachSlice(int64_t slices, Work work) {
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t n; (n = next.fetch_add(1)) < slices;)
      work(n);
  };
  int64_t threads = std::min<int64_t>(slices, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread &t : pool)
    t.join();
}

} // namespace sieve::testing::reference

#endif
