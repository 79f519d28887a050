//===- RowCheckTest.cpp - the row-by-row check catches what it must -------===//
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>

using namespace sieve::testing;
using sieve::runtime::DType;

namespace {

constexpr int64_t B = 2, H = 4, S = 512, D = 64;

/// A reference and a copy of it carrying f32 rounding only.
struct Pair {
  std::vector<double> ref;
  std::vector<float> got;
};
Pair makePair(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Pair p;
  for (int64_t i = 0; i < B * H * S * D; ++i) {
    p.ref.push_back(normal(rng) * 0.05); // attention outputs are small averages
    p.got.push_back(static_cast<float>(p.ref.back()));
  }
  return p;
}

TEST(RowCheck, PassesRoundingAndFailsOneZeroedRow) {
  Pair p = makePair(maskSeed("RowCheck"));
  EXPECT_TRUE(compareRows(p.got.data(), p.ref, B, H, S, D, rowTolerance(DType::F32)).ok());
  // One (batch, head, row) of 4096 left zero: the whole tensor's relative
  // error would move by 1.6%, under a 2% tolerance; the row check names it.
  const int64_t b = 1, h = 2, i = 300;
  for (int64_t d = 0; d < D; ++d)
    p.got[((b * H + h) * S + i) * D + d] = 0.0f;
  RowComparison c = compareRows(p.got.data(), p.ref, B, H, S, D, rowTolerance(DType::BF16));
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.badRows, 1);
  EXPECT_EQ(c.worstBatch, b);
  EXPECT_EQ(c.worstHead, h);
  EXPECT_EQ(c.worstRow, i);
  EXPECT_NE(c.report.find("(b 1, h 2, row 300)"), std::string::npos) << c.report;
}

TEST(RowCheck, EmptyRowsMustBeExactZerosAndNaNNeverPasses) {
  Pair p = makePair(maskSeed("RowCheck/empty"));
  for (int64_t d = 0; d < D; ++d)
    p.ref[d] = 0.0, p.got[d] = 0.0f; // row (0, 0, 0) has no kept key
  EXPECT_TRUE(compareRows(p.got.data(), p.ref, B, H, S, D, 1e-5).ok());
  p.got[3] = 1e-30f; // anything written into an empty row
  EXPECT_FALSE(compareRows(p.got.data(), p.ref, B, H, S, D, 1.0).ok());
  p.got[3] = 0.0f;
  p.got[D * 7 + 5] = std::numeric_limits<float>::quiet_NaN();
  RowComparison c = compareRows(p.got.data(), p.ref, B, H, S, D, 1.0);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.worstRow, 7);
}

TEST(RowCheck, ToleranceIsPerDtype) {
  EXPECT_LT(rowTolerance(DType::F32), rowTolerance(DType::F16));
  EXPECT_LT(rowTolerance(DType::F16), rowTolerance(DType::BF16));
  EXPECT_LT(rowTolerance(DType::BF16), 0.05);
}

TEST(Seeds, MasksNeverVaryInputsFollowTheRunSeed) {
  const uint64_t mask = maskSeed("a.case"), inputs = inputSeed("a.case");
  EXPECT_NE(mask, maskSeed("another.case"));
  ::setenv("SIEVE_TEST_SEED", "12345", 1);
  EXPECT_EQ(maskSeed("a.case"), mask);
  EXPECT_NE(inputSeed("a.case"), inputs);
  EXPECT_NE(seedTrace("a.case").find("SIEVE_TEST_SEED=12345"), std::string::npos);
  ::unsetenv("SIEVE_TEST_SEED");
  EXPECT_EQ(inputSeed("a.case"), inputs);
}

} // namespace
