//===- Float64Check.h - the consumers' own float64 attention ----*- C++ -*-===//
//
// The installed package ships no reference attention (the project's float64
// references are test code, in tests/support), so the consumers check their
// outputs against this one: the same semantics (kept tiles, top-left causal,
// a row with no kept key gives zeros), one element at a time in double
// precision, using only the installed runtime headers.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CONSUMER_FLOAT64CHECK_H
#define SIEVE_CONSUMER_FLOAT64CHECK_H

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/BlockMask.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

/// ||out - ref|| / ||ref|| over all elements, where ref is block-sparse
/// attention of q, k, v in float64. q, k, v and out: contiguous BHSD host
/// arrays. A NaN in `out` gives NaN, so it can never pass a threshold.
inline double relativeErrorAgainstFloat64(const sieve::runtime::ProblemShape &s,
                                          const sieve::runtime::BlockMask &mask, bool causal,
                                          double scale, const float *q, const float *k,
                                          const float *v, const float *out) {
  const double negInf = -std::numeric_limits<double>::infinity();
  const int64_t D = s.headDim, group = s.headsQ / s.headsKv;
  std::vector<double> p(static_cast<size_t>(s.seqK));
  double num = 0, den = 0;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.headsQ; ++h)
      for (int64_t i = 0; i < s.seqQ; ++i) {
        const float *qi = q + ((b * s.headsQ + h) * s.seqQ + i) * D;
        const float *kh = k + (b * s.headsKv + h / group) * s.seqK * D;
        const float *vh = v + (b * s.headsKv + h / group) * s.seqK * D;
        double mx = negInf;
        for (int64_t j = 0; j < s.seqK; ++j) {
          p[j] = negInf;
          if (!mask.get(h, i / mask.blockQ(), j / mask.blockK()) || (causal && j > i))
            continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += double(qi[d]) * double(kh[j * D + d]);
          p[j] = scale * dot;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        if (mx != negInf)
          for (double &x : p)
            sum += (x = std::exp(x - mx));
        const float *got = out + ((b * s.headsQ + h) * s.seqQ + i) * D;
        for (int64_t d = 0; d < D; ++d) {
          double want = 0;
          if (sum > 0) {
            for (int64_t j = 0; j < s.seqK; ++j)
              want += p[j] * double(vh[j * D + d]);
            want /= sum;
          }
          if (std::isnan(got[d]))
            return std::numeric_limits<double>::quiet_NaN();
          num += (double(got[d]) - want) * (double(got[d]) - want);
          den += want * want;
        }
      }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

#endif
