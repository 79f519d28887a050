//===- HostCpu.h - what the CPU backend compiles for ------------*- C++ -*-===//
//
// The CPU backend's kernels are generated for this machine's processor:
// their vectors are as wide as its widest f32 vectors, and the execution
// engine compiles them for its CPU and features. Both are part of the
// kernel's identity (its cache key): an artifact from a machine with other
// vectors is compiled again rather than run at the wrong width.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_COMPILER_HOSTCPU_H
#define SIEVE_COMPILER_HOSTCPU_H

#include <cstdint>
#include <string>

namespace sieve::compiler {

struct HostCpu {
  std::string name;        // LLVM's name of the processor, e.g. "znver4"
  std::string features;    // its enabled features, sorted: "+avx,+avx2,..."
  int64_t vectorWidth = 4; // f32 lanes: 16 with AVX-512, 8 with AVX, else 4
  /// This machine's, from LLVM's host detection (computed once).
  static const HostCpu &get();
};

} // namespace sieve::compiler

#endif
