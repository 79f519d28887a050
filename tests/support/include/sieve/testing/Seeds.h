//===- Seeds.h - reproducible random cases ----------------------*- C++ -*-===//
//
// A kernel test draws its mask and its inputs from seeds derived from the
// case's name. The mask seed never varies: the mask is compiled into the
// kernel, so a case builds the same kernels on every machine (the GPU
// attestation compares them; tests/device/KernelLedger.h). The input seed
// is the same on every run too, so a CI failure reproduces, unless
// SIEVE_TEST_SEED is set: its value is mixed into every input seed, and
// tests/device/run.sh sets a fresh one per GPU run. Tests print both seeds
// on failure (SCOPED_TRACE(seedTrace(...))).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_SEEDS_H
#define SIEVE_TESTING_SEEDS_H

#include <cstdint>
#include <string>

namespace sieve::testing {

/// The seed of a case's mask: a hash of its name, the same everywhere.
uint64_t maskSeed(const std::string &caseName);
/// The seed of a case's inputs: a hash of its name, mixed with
/// SIEVE_TEST_SEED when that is set.
uint64_t inputSeed(const std::string &caseName);
/// "mask seed M, input seed I (SIEVE_TEST_SEED=S)" for failure messages.
std::string seedTrace(const std::string &caseName);
/// The running gtest case's full name, "Suite/Test.Name/param": what the
/// seeds above take.
std::string currentCaseName();

} // namespace sieve::testing

#endif
