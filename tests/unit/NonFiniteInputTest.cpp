//===- NonFiniteInputTest.cpp - NaN and Inf inputs on the CPU backend -----===//
//
// A NaN or Inf in q, k or v must reach exactly the outputs that dense
// attention under the same mask would give as NaN or Inf (the float64
// reference: masked keys are absent, kept keys take part in the softmax
// and in P.V), leave every other output finite and right, and never hang
// or leave an output unwritten. The output starts as a finite sentinel, so
// an unwritten element cannot pass for a propagated NaN.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Session.h"
#include "sieve/testing/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace sieve;
using namespace sieve::compiler;
using sieve::testing::HostTensor;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kUnwritten = 7777.0f; // no attention output of N(0,1) values

class NonFiniteInput : public ::testing::TestWithParam<bool /*causal*/> {};

TEST_P(NonFiniteInput, PropagatesLikeDenseAttention) {
  const bool causal = GetParam();
  const int64_t B = 1, Hq = 4, Hkv = 2, Sq = 100, Sk = 90, D = 32, bq = 16, bk = 16;
  const int64_t QB = (Sq + bq - 1) / bq, KB = (Sk + bk - 1) / bk;
  uint64_t seed = sieve::testing::freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session) << session.error().str();

  KernelSpec spec;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, runtime::DType::F32};
  spec.causal = causal;
  spec.mask = runtime::BlockMask::random(Hq, QB, KB, bq, bk, 0.4, rng(), /*keepDiagonal=*/true);
  // The last query block sees the key blocks that hold the planted values.
  for (int64_t h = 0; h < Hq; ++h)
    for (int64_t kb : {2, 3, 4})
      spec.mask.set(h, QB - 1, kb, true);
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();

  HostTensor q({B, Hq, Sq, D}, false), k({B, Hkv, Sk, D}, false), v({B, Hkv, Sk, D}, false),
      out({B, Hq, Sq, D}, false);
  q.fillNormal(rng);
  k.fillNormal(rng);
  v.fillNormal(rng);
  q.at(0, 0, 5, 3) = kNaN;   // one query row of head 0
  q.at(0, 2, 60, 0) = -kInf; // scores of +-Inf: NaN wherever one is +Inf
  k.at(0, 1, 37, 0) = kNaN;  // a key of heads 2 and 3 (GQA)
  k.at(0, 0, 50, 1) = kInf;  // a key of heads 0 and 1
  // Under causal masking, keys after a query still enter dense attention's
  // P.V with p = 0 (0 * NaN is NaN) where a kernel that skips tiles past
  // the diagonal does not read them at all: the two definitions differ, so
  // a NaN value is planted only without causal masking.
  if (!causal)
    v.at(0, 1, 70, 2) = kNaN;
  float *o = static_cast<float *>(out.view.data);
  for (int64_t i = 0; i < B * Hq * Sq * D; ++i)
    o[i] = kUnwritten;

  ASSERT_FALSE((*session)->run(**artifact, q.view, k.view, v.view, out.view));

  std::vector<float> got = out.gather();
  int64_t unwritten = 0;
  for (float x : got)
    unwritten += x == kUnwritten;
  EXPECT_EQ(unwritten, 0) << "output elements left unwritten";
  std::vector<double> ref =
      sieve::testing::referenceAttention(spec.shape, spec.mask, causal, spec.effectiveScale(),
                                         q.gather().data(), k.gather().data(), v.gather().data());
  sieve::testing::NonFiniteComparison c = sieve::testing::compareNonFinite(got.data(), ref);
  EXPECT_EQ(c.mismatched, 0) << "first at element " << c.firstMismatch << ": got "
                             << (c.firstMismatch >= 0 ? got[c.firstMismatch] : 0.f)
                             << ", reference " << (c.firstMismatch >= 0 ? ref[c.firstMismatch] : 0);
  EXPECT_GT(c.nonFiniteInReference, 0) << "the planted values reached no output";
  // Where it may not spread is what the comparison above checks: rows that
  // do not read a planted value are finite in the reference.
  EXPECT_GT(c.finite, 0) << "every output is non-finite";
  EXPECT_LT(c.finiteRelativeError, 1e-5);
  EXPECT_TRUE(out.guardsIntact());
}

INSTANTIATE_TEST_SUITE_P(CpuBackend, NonFiniteInput, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "causal" : "full"; });

} // namespace
