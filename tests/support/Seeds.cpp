//===- Seeds.cpp ----------------------------------------------------------===//
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace sieve::testing {

namespace {

uint64_t fnv1a(const std::string &text, uint64_t hash = 0xcbf29ce484222325ull) {
  for (unsigned char c : text)
    hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

/// SIEVE_TEST_SEED as a string ("" when unset).
std::string runSeed() {
  const char *env = std::getenv("SIEVE_TEST_SEED");
  return env ? env : "";
}

} // namespace

uint64_t maskSeed(const std::string &caseName) { return fnv1a("mask:" + caseName); }

uint64_t inputSeed(const std::string &caseName) {
  return fnv1a("inputs:" + caseName + ":" + runSeed());
}

std::string seedTrace(const std::string &caseName) {
  std::string run = runSeed();
  return "mask seed " + std::to_string(maskSeed(caseName)) + ", input seed " +
         std::to_string(inputSeed(caseName)) +
         (run.empty() ? " (SIEVE_TEST_SEED unset)" : " (SIEVE_TEST_SEED=" + run + ")");
}

std::string currentCaseName() {
  const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (!info)
    return "(outside a test)";
  return std::string(info->test_suite_name()) + "." + info->name();
}

} // namespace sieve::testing
