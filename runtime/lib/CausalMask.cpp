//===- CausalMask.cpp -----------------------------------------------------===//
#include "sieve/runtime/CausalMask.h"

namespace sieve::runtime {

const char *causalAlignName(CausalAlign align) {
  return align == CausalAlign::BottomRight ? "bottom_right" : "top_left";
}

Expected<CausalAlign> parseCausalAlign(const std::string &name) {
  if (name == "top_left" || name == "top-left")
    return CausalAlign::TopLeft;
  if (name == "bottom_right" || name == "bottom-right")
    return CausalAlign::BottomRight;
  return Error(ErrorCode::InvalidArgument,
               "unknown causal alignment '" + name + "' (expected top_left or bottom_right)");
}

} // namespace sieve::runtime
