//===- TargetLimits.cpp ---------------------------------------------------===//
#include "conversions/TargetLimits.h"

namespace sieve::passes {

std::string sharedMemoryUnsupportedReason(const runtime::TargetInfo &target, int64_t bytes) {
  if (bytes <= target.sharedBytesPerBlock)
    return "";
  return "needs " + std::to_string(bytes) + " bytes of shared memory, more than a " + target.chip +
         " block has (" + std::to_string(target.sharedBytesPerBlock) + ")";
}

std::string gridUnsupportedReason(const runtime::TargetInfo &target, int64_t x, int64_t y) {
  if (x <= target.maxGrid[0] && y <= target.maxGrid[1])
    return "";
  return "needs a grid of " + std::to_string(x) + " x " + std::to_string(y) + " blocks, beyond a " +
         target.chip + "'s " + std::to_string(target.maxGrid[0]) + " x " +
         std::to_string(target.maxGrid[1]);
}

std::string blockUnsupportedReason(const runtime::TargetInfo &target, int64_t threads) {
  if (threads <= target.maxThreadsPerBlock)
    return "";
  return "needs " + std::to_string(threads) + " threads a block, more than a " + target.chip +
         " block has (" + std::to_string(target.maxThreadsPerBlock) + ")";
}

} // namespace sieve::passes
