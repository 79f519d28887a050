//===- Throughput.cpp -----------------------------------------------------===//
#include "Throughput.h"

#include <fmt/format.h>

#include <algorithm>

namespace sieve::tools {

int64_t scoredPairs(const compiler::KernelSpec &spec) {
  const runtime::BlockMask &m = spec.mask;
  const int64_t seqQ = spec.shape.seqQ, seqK = spec.shape.seqK;
  // Query i sees the keys up to i + offset (0 top-left, Sk - Sq bottom-right).
  const int64_t offset = spec.causalRule().offset;
  int64_t pairs = 0;
  for (int64_t h = 0; h < m.heads(); ++h)
    for (int64_t qb = 0; qb < m.queryBlocks(); ++qb) {
      const int64_t i0 = qb * m.blockQ(), i1 = std::min(seqQ, i0 + m.blockQ());
      for (int64_t kb = 0; kb < m.keyBlocks(); ++kb) {
        if (!m.get(h, qb, kb))
          continue;
        const int64_t j0 = kb * m.blockK(), j1 = std::min(seqK, j0 + m.blockK());
        if (!spec.causal) {
          pairs += (i1 - i0) * (j1 - j0);
          continue;
        }
        for (int64_t i = i0; i < i1; ++i) // keys j0..min(i + offset, j1 - 1)
          pairs += std::clamp<int64_t>(i + offset - j0 + 1, 0, j1 - j0);
      }
    }
  return pairs;
}

std::string formatFlopRate(double flops, double milliseconds) {
  if (!(milliseconds > 0))
    return "no time measured";
  double giga = flops / (milliseconds * 1e-3) / 1e9;
  if (giga >= 1000)
    return fmt::format("{:.2f} TFLOP/s", giga / 1000);
  return fmt::format("{:.2f} GFLOP/s", giga);
}

} // namespace sieve::tools
