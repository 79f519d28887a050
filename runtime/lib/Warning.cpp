//===- Warning.cpp --------------------------------------------------------===//
#include "sieve/runtime/Warning.h"

#include <cstdio>

namespace sieve::runtime {

void warnOnStderr(const std::string &message) {
  // One fprintf per line: lines from several threads do not interleave.
  std::fprintf(stderr, "sieve: warning: %s\n", message.c_str());
}

} // namespace sieve::runtime
