//===- CausalMode.h - the causal mask as the references apply it -*- C++ -*-===//
//
// Written apart from the kernels' rule (runtime::CausalRule and the
// lowerings' offsets), from the definitions: top-left puts query i at
// position i (PyTorch's is_causal); bottom-right puts it at Sk - Sq + i,
// the last Sq positions of the keys' sequence (FlashAttention's causal).
// A query sees the keys at or before its position.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_CAUSALMODE_H
#define SIEVE_TESTING_CAUSALMODE_H

#include "sieve/runtime/CausalMask.h"

#include <cstdint>

namespace sieve::testing {

struct CausalMode {
  bool causal = false;
  bool bottomRight = false;
  /// A bool is PyTorch's is_causal: true is top-left.
  CausalMode(bool causal) : causal(causal) {} // NOLINT(google-explicit-constructor)
  CausalMode(bool causal, runtime::CausalAlign align)
      : causal(causal), bottomRight(causal && align == runtime::CausalAlign::BottomRight) {}
  static CausalMode bottomRightAligned() { return {true, runtime::CausalAlign::BottomRight}; }

  /// Whether query i of seqQ may not see key j of seqK.
  bool hides(int64_t i, int64_t j, int64_t seqQ, int64_t seqK) const {
    if (!causal)
      return false;
    const int64_t position = bottomRight ? seqK - seqQ + i : i;
    return j > position;
  }
};

} // namespace sieve::testing

#endif
