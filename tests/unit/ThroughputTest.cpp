//===- ThroughputTest.cpp - the FLOP count and rate of `sieve run` --------===//
#include "Throughput.h"

#include <gtest/gtest.h>

using namespace sieve;

namespace {

compiler::KernelSpec specOf(runtime::BlockMask mask, int64_t seqQ, int64_t seqK, bool causal) {
  compiler::KernelSpec spec;
  spec.mask = std::move(mask);
  spec.shape = {1, spec.mask.heads(), spec.mask.heads(), seqQ, seqK, 64, runtime::DType::F32};
  spec.causal = causal;
  return spec;
}

} // namespace

TEST(Throughput, CountsOnlyTheUnmaskedPairsOfKeptTiles) {
  auto dense = runtime::BlockMask::randomExact(1, 2, 2, 64, 64, 1.0, 1, false);
  ASSERT_TRUE(dense);
  EXPECT_EQ(tools::scoredPairs(specOf(*dense, 128, 128, false)), 128 * 128);
  // Causal: each query row i scores keys 0..i; the tile above the diagonal
  // and the masked half of the diagonal tiles count nothing.
  EXPECT_EQ(tools::scoredPairs(specOf(*dense, 128, 128, true)), 128 * 129 / 2);
  // Ragged sequences: the last tiles are cut at Sq and Sk.
  EXPECT_EQ(tools::scoredPairs(specOf(*dense, 100, 90, false)), 100 * 90);
  // A dropped tile costs nothing: only the two diagonal tiles are left.
  runtime::BlockMask diagonal = *dense;
  diagonal.set(0, 0, 1, false);
  diagonal.set(0, 1, 0, false);
  EXPECT_EQ(tools::scoredPairs(specOf(diagonal, 128, 128, false)), 2 * 64 * 64);
  EXPECT_EQ(tools::scoredPairs(specOf(diagonal, 128, 128, true)), 2 * (64 * 65 / 2));
}

TEST(Throughput, LargeRatesAreInTeraflops) {
  EXPECT_EQ(tools::formatFlopRate(2e9, 1000), "2.00 GFLOP/s");
  EXPECT_EQ(tools::formatFlopRate(999e9, 1000), "999.00 GFLOP/s");
  EXPECT_EQ(tools::formatFlopRate(620e12, 1000), "620.00 TFLOP/s");
  EXPECT_EQ(tools::formatFlopRate(1e12, 1), "1000.00 TFLOP/s");
  EXPECT_EQ(tools::formatFlopRate(1e9, 0), "no time measured");
}
