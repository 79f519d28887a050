//===- TargetLimits.h - a kernel's resources against its chip's -*- C++ -*-===//
//
// The checks every GPU body makes of what it needs (shared memory, a grid)
// against the target it is generated for (runtime::TargetInfo), so that a
// body declines with the chip's own figures instead of one chip's constants.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CONVERSIONS_TARGETLIMITS_H
#define SIEVE_PASSES_CONVERSIONS_TARGETLIMITS_H

#include "sieve/runtime/TargetInfo.h"

#include <cstdint>
#include <string>

namespace sieve::passes {

/// Why a block taking `bytes` of dynamic shared memory cannot run on
/// `target`, or "" when it can.
std::string sharedMemoryUnsupportedReason(const runtime::TargetInfo &target, int64_t bytes);

/// Why a grid of `x` x `y` blocks exceeds `target`'s limits, or "".
std::string gridUnsupportedReason(const runtime::TargetInfo &target, int64_t x, int64_t y);

/// Why a block of `threads` threads exceeds `target`'s limit, or "".
std::string blockUnsupportedReason(const runtime::TargetInfo &target, int64_t threads);

} // namespace sieve::passes

#endif
