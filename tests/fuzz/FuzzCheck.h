//===- FuzzCheck.h - invariants a fuzz target asserts ------------*- C++ -*-===//
//
// A broken invariant must crash the target so that libFuzzer records the
// input. assert() would vanish in the Release build the fuzzers use, hence
// this check that always runs.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTS_FUZZ_FUZZCHECK_H
#define SIEVE_TESTS_FUZZ_FUZZCHECK_H

#include "sieve/Error.h"

#include <cstdio>
#include <cstdlib>

#define SIEVE_FUZZ_CHECK(cond, ...)                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n  ", __FILE__, __LINE__, #cond);   \
      std::fprintf(stderr, __VA_ARGS__);                                                           \
      std::fputc('\n', stderr);                                                                    \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

namespace sieve::fuzz {

/// Every failure a reader reports must say what went wrong.
inline void checkReported(const Error &e) {
  SIEVE_FUZZ_CHECK(e && !e.message().empty(), "error code %d with message '%s'",
                   static_cast<int>(e.code()), e.message().c_str());
}

} // namespace sieve::fuzz

#endif
