//===- CausalMask.h - where a causal mask's diagonal sits -------*- C++ -*-===//
//
// A causal mask drops the keys after a query's position. With Sq == Sk the
// position of query i is i; with a KV cache (Sq < Sk) the queries are the
// last Sq of the sequence, so query i sits at Sk - Sq + i. Both conventions
// are in use: PyTorch's `is_causal` aligns the mask top-left (query i sees
// keys j <= i), FlashAttention bottom-right (j <= i + Sk - Sq). Everything
// that applies the rule -- the tables' tile rule and the kernels' element
// mask -- takes it as one offset, so both alignments share one code path.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_CAUSALMASK_H
#define SIEVE_RUNTIME_CAUSALMASK_H

#include "sieve/Error.h"

#include <cstdint>
#include <string>

namespace sieve::runtime {

enum class CausalAlign {
  TopLeft,     // query i sees keys j <= i (PyTorch's is_causal)
  BottomRight, // query i sees keys j <= i + Sk - Sq (FlashAttention; KV-cache prefill, decode)
};

const char *causalAlignName(CausalAlign align); // "top_left", "bottom_right"
/// "top_left" or "bottom_right" (a '-' for the '_' is accepted too).
Expected<CausalAlign> parseCausalAlign(const std::string &name);

/// The causal rule as the tables and kernels apply it: off, or query i
/// sees the keys j <= i + offset. A negative offset (bottom-right with
/// Sq > Sk) leaves the first -offset queries without keys: their rows are
/// zeros.
struct CausalRule {
  bool enabled = false;
  int64_t offset = 0;

  static CausalRule none() { return {}; }
  static CausalRule of(bool causal, CausalAlign align, int64_t seqQ, int64_t seqK) {
    if (!causal)
      return {};
    return {true, align == CausalAlign::BottomRight ? seqK - seqQ : 0};
  }
  bool operator==(const CausalRule &o) const { return enabled == o.enabled && offset == o.offset; }
  bool operator!=(const CausalRule &o) const { return !(*this == o); }
};

} // namespace sieve::runtime

#endif
