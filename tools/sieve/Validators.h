//===- Validators.h - flag checks the subcommands share ---------*- C++ -*-===//
//
// A flag's value is checked where it is parsed, so a bad one ends the run
// before any work, with the flag's name, the value and the allowed range
// in the message (and the range in --help).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TOOLS_VALIDATORS_H
#define SIEVE_TOOLS_VALIDATORS_H

#include <CLI/CLI.hpp>

#include <cstdint>

namespace sieve::tools {

/// An integer in [1, limit]; `what` says what the limit is ("query heads").
CLI::Validator sizeUpTo(int64_t limit, const char *what);

/// A finite number above zero (CLI::PositiveNumber lets NaN through).
CLI::Validator positiveFinite();

/// A fraction in [0, 1], also written as a percent with its sign ("90%"):
/// rewrites the value to the fraction. A bare number above 1 is refused,
/// so that 90 meant as a percent is not taken as anything else.
CLI::Validator fractionOrPercent();

} // namespace sieve::tools

#endif
