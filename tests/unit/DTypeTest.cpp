//===- DTypeTest.cpp - f16/bf16 conversions --------------------------------===//
#include "sieve/runtime/DType.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace sieve;
using namespace sieve::runtime;

TEST(DType, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(*parseDType("f16"), DType::F16);
  EXPECT_EQ(*parseDType("bf16"), DType::BF16);
  EXPECT_EQ(*parseDType("f32"), DType::F32);
  auto bad = parseDType("float8");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::InvalidArgument);
  EXPECT_NE(bad.error().message().find("float8"), std::string::npos);
  EXPECT_EQ(dtypeSize(DType::F16), 2u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
}

TEST(DType, HalfKnownBitPatterns) {
  EXPECT_EQ(floatToHalfBits(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalfBits(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalfBits(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalfBits(1e6f), 0x7c00);                  // overflow -> inf
  EXPECT_EQ(floatToHalfBits(std::ldexp(1.0f, -24)), 0x0001); // smallest subnormal
  EXPECT_TRUE(std::isnan(halfBitsToFloat(floatToHalfBits(std::nanf("")))));
  EXPECT_EQ(halfBitsToFloat(0x3555), 0.333251953125f);
}

TEST(DType, BFloat16KnownBitPatterns) {
  EXPECT_EQ(floatToBFloat16Bits(1.0f), 0x3f80);
  EXPECT_EQ(floatToBFloat16Bits(-3.0f), 0xc040);
  // Round to nearest even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(floatToBFloat16Bits(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(floatToBFloat16Bits(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bfloat16BitsToFloat(floatToBFloat16Bits(std::nanf("")))));
}

// Round trip on random values: the error is within half an ulp of the format.
TEST(DType, RoundTripErrorWithinHalfUlp) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> values(4096), back(4096);
  for (float &v : values)
    v = normal(rng);
  struct Case {
    DType dtype;
    int mantissaBits;
  };
  for (Case c : {Case{DType::F16, 10}, Case{DType::BF16, 7}, Case{DType::F32, 23}}) {
    std::vector<uint8_t> encoded(values.size() * dtypeSize(c.dtype));
    encodeFloats(c.dtype, values.data(), encoded.data(), values.size());
    decodeFloats(c.dtype, encoded.data(), back.data(), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      if (std::fabs(values[i]) < 1e-4f)
        continue; // f16 subnormals have coarser relative precision
      float bound = std::fabs(values[i]) * std::ldexp(1.0f, -(c.mantissaBits + 1));
      EXPECT_LE(std::fabs(back[i] - values[i]), bound) << dtypeName(c.dtype) << " " << values[i];
    }
  }
}
