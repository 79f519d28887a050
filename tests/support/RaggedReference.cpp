//===- RaggedReference.cpp - float64 attention of a ragged batch ----------===//
//
// The definition of a ragged batch (docs/ragged-paged.md) written plainly:
// each sequence is its own problem, of its own lengths, under the mask's
// top-left crop to them and the causal rule of those lengths; the packed
// tensors are only where its rows are. Built on referenceAttention.
//
//===----------------------------------------------------------------------===//
#include "sieve/testing/Reference.h"

namespace sieve::testing {

std::vector<double> referenceRaggedAttention(const runtime::ProblemShape &shape,
                                             const runtime::BlockMask &mask, CausalMode causal,
                                             double scale, const int32_t *cuQ, const int32_t *cuK,
                                             const float *q, const float *k, const float *v,
                                             const float *thresholds) {
  const int64_t hq = shape.headsQ, hkv = shape.headsKv, d = shape.headDim;
  std::vector<double> out(static_cast<size_t>(cuQ[shape.batch]) * hq * d, 0.0);
  for (int64_t b = 0; b < shape.batch; ++b) {
    const int64_t lq = cuQ[b + 1] - cuQ[b], lk = cuK[b + 1] - cuK[b];
    if (lq == 0 || lk == 0) // no queries, or no keys: zero rows
      continue;
    // The sequence as its own BHSD problem of batch 1.
    std::vector<float> sq(lq * hq * d), sk(lk * hkv * d), sv(lk * hkv * d);
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < lq; ++i)
        for (int64_t x = 0; x < d; ++x)
          sq[(h * lq + i) * d + x] = q[((cuQ[b] + i) * hq + h) * d + x];
    for (int64_t h = 0; h < hkv; ++h)
      for (int64_t j = 0; j < lk; ++j)
        for (int64_t x = 0; x < d; ++x) {
          sk[(h * lk + j) * d + x] = k[((cuK[b] + j) * hkv + h) * d + x];
          sv[(h * lk + j) * d + x] = v[((cuK[b] + j) * hkv + h) * d + x];
        }
    const int64_t qBlocks = (lq + mask.blockQ() - 1) / mask.blockQ(),
                  kBlocks = (lk + mask.blockK() - 1) / mask.blockK();
    auto cropped = runtime::BlockMask::create(hq, qBlocks, kBlocks, mask.blockQ(), mask.blockK());
    if (!cropped)
      return {}; // a sequence beyond the mask's grid: nothing to compare with
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t qb = 0; qb < qBlocks; ++qb)
        for (int64_t kb = 0; kb < kBlocks; ++kb)
          cropped->set(h, qb, kb, mask.get(h, qb, kb));
    runtime::ProblemShape one = shape;
    one.batch = 1;
    one.seqQ = lq;
    one.seqK = lk;
    std::vector<double> got = referenceAttention(one, *cropped, causal, scale, sq.data(), sk.data(),
                                                 sv.data(), thresholds);
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < lq; ++i)
        for (int64_t x = 0; x < d; ++x)
          out[((cuQ[b] + i) * hq + h) * d + x] = got[(h * lq + i) * d + x];
  }
  return out;
}

} // namespace sieve::testing
