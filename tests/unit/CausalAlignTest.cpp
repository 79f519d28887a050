//===- CausalAlignTest.cpp - bottom-right causal masks on the CPU backend -===//
//
// A bottom-right causal mask puts query i at position Sk - Sq + i (a KV
// cache's queries are the last Sq positions). Each case compiles the
// forward (plain and with its log-sum-exp) and the backward through the
// whole sieve-to-cpu pipeline, runs them on fresh random inputs into
// NaN-poisoned outputs and compares with the float64 references, whose
// causal rule is written apart from the kernels' (sieve/testing/
// CausalMode.h). Cases: Sq < Sk (decode's single query, a few queries,
// prefill chunks, ragged tiles, GQA, BSHD), Sq > Sk (the first Sq - Sk rows
// see no key: zeros, lse -inf, no gradient), and split-KV. Each case also
// checks that the top-left answer differs, so a kernel that ignored the
// alignment could not pass.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/Session.h"
#include "sieve/testing/CpuSessionTest.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/ReferenceBackward.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::testing;

namespace {

struct Case {
  const char *name;
  int64_t batch, headsQ, headsKv, seqQ, seqK, headDim, blockQ, blockK;
  double density;
  bool bshd;
  int64_t splitWorkers; // 0: whole rows; else the schedule of that many workers
};

std::ostream &operator<<(std::ostream &os, const Case &c) { return os << c.name; }

class CausalAlign : public CpuSessionTest<Case> {};

/// A random mask that also keeps, in every head, each query block's tile on
/// the shifted diagonal (the one holding the last key its last query
/// sees), so every case masks tiles element-wise.
KernelSpec bottomRightSpec(const Case &c, std::mt19937_64 &rng) {
  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, c.headDim, runtime::DType::F32};
  spec.causal = true;
  spec.causalAlign = runtime::CausalAlign::BottomRight;
  spec.options.splitWorkers = c.splitWorkers;
  const int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
  spec.mask = runtime::BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, c.density,
                                         rng(), /*keepDiagonal=*/false);
  for (int64_t qb = 0; qb < qBlocks; ++qb) {
    const int64_t lastKey = std::min((qb + 1) * c.blockQ, c.seqQ) - 1 + c.seqK - c.seqQ;
    if (lastKey >= 0)
      for (int64_t h = 0; h < c.headsQ; ++h)
        spec.mask.set(h, qb, std::min(lastKey, c.seqK - 1) / c.blockK, true);
  }
  return spec;
}

/// Largest |a - b| over the largest |b|; infinite when `a` holds a NaN or
/// Inf (a poisoned element never written).
double maxRelativeError(const std::vector<float> &a, const std::vector<double> &b) {
  double worst = 0, norm = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i]))
      return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    norm = std::max(norm, std::fabs(b[i]));
  }
  return worst / std::max(norm, 1e-30);
}

/// Rows [0, Sq - Sk) of every (batch, head) see no key: they must be
/// exactly zero.
void expectLeadingRowsZero(const Case &c, const std::vector<float> &out) {
  const int64_t empty = std::max<int64_t>(0, c.seqQ - c.seqK);
  int64_t nonzero = 0;
  for (int64_t bh = 0; bh < c.batch * c.headsQ; ++bh)
    for (int64_t i = 0; i < empty; ++i)
      for (int64_t d = 0; d < c.headDim; ++d)
        nonzero += out[(bh * c.seqQ + i) * c.headDim + d] != 0.0f;
  EXPECT_EQ(nonzero, 0) << "rows before the first key are not zeros";
}

TEST_P(CausalAlign, ForwardMatchesFloat64Reference) {
  const Case &c = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  KernelSpec spec = bottomRightSpec(c, rng);
  if (c.splitWorkers) { // the long rows were cut into parts a combine merges
    auto stages = compileStages(spec);
    ASSERT_TRUE(stages) << stages.error().str();
    bool split = false;
    for (const auto &[stage, text] : *stages)
      split |= stage.find("SplitRows") != std::string::npos &&
               text.find("split_groups") != std::string::npos;
    ASSERT_TRUE(split) << "no row was split";
  }
  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  EXPECT_EQ((*artifact)->causalAlign, runtime::CausalAlign::BottomRight);

  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, c.headDim},
      kvShape{c.batch, c.headsKv, c.seqK, c.headDim};
  HostTensor q(qShape, c.bshd), k(kvShape, c.bshd), v(kvShape, c.bshd), out(qShape, c.bshd);
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  out.poison();
  ASSERT_FALSE(session_->run(**artifact, q.view, k.view, v.view, out.view));
  EXPECT_TRUE(out.guardsIntact()) << "kernel wrote outside the output";

  std::vector<float> got = out.gather(), qf = q.gather(), kf = k.gather(), vf = v.gather();
  std::vector<double> ref =
      referenceAttention(spec.shape, spec.mask, CausalMode::bottomRightAligned(),
                         spec.effectiveScale(), qf.data(), kf.data(), vf.data());
  RowComparison rows = compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, c.headDim,
                                   rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
  expectLeadingRowsZero(c, got);
  // Top-left is a different answer here: the check above could fail.
  std::vector<double> topLeft = referenceAttention(
      spec.shape, spec.mask, true, spec.effectiveScale(), qf.data(), kf.data(), vf.data());
  EXPECT_GT(maxRelativeError(got, topLeft), 1e-2) << "bottom-right gave the top-left answer";
}

TEST_P(CausalAlign, ForwardLseAndBackwardMatchFloat64Reference) {
  const Case &c = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  KernelSpec spec = bottomRightSpec(c, rng);
  KernelSpec forwardSpec = spec, backwardSpec = spec;
  forwardSpec.saveLse = true;
  backwardSpec.backward = true;
  auto forward = session_->compile(forwardSpec);
  ASSERT_TRUE(forward) << forward.error().str();
  auto backward = session_->compile(backwardSpec);
  ASSERT_TRUE(backward) << backward.error().str();

  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, c.headDim},
      kvShape{c.batch, c.headsKv, c.seqK, c.headDim};
  HostTensor q(qShape, c.bshd), k(kvShape, c.bshd), v(kvShape, c.bshd), out(qShape, c.bshd),
      dout(qShape, c.bshd), dq(qShape, c.bshd), dk(kvShape, c.bshd), dv(kvShape, c.bshd);
  for (HostTensor *t : {&q, &k, &v, &dout})
    t->fillNormal(rng);
  for (HostTensor *t : {&out, &dq, &dk, &dv})
    t->poison();
  std::vector<float> lse(c.batch * c.headsQ * c.seqQ, std::numeric_limits<float>::quiet_NaN());
  ASSERT_FALSE(session_->forward(**forward, q.view, k.view, v.view, out.view, lse.data()));
  runtime::BackwardTensors t{q.view,  k.view,  v.view,  out.view,  dout.view,
                             dq.view, dk.view, dv.view, lse.data()};
  ASSERT_FALSE(session_->backward(**backward, t));

  std::vector<float> qf = q.gather(), kf = k.gather(), vf = v.gather(), df = dout.gather();
  const AttentionGradients ref =
      referenceAttentionBackward(spec.shape, spec.mask, CausalMode::bottomRightAligned(),
                                 spec.effectiveScale(), qf.data(), kf.data(), vf.data(), df.data());
  // lse: -inf exactly where the reference has -inf (rows without keys).
  int64_t lseWrong = 0;
  for (size_t i = 0; i < lse.size(); ++i)
    lseWrong +=
        std::isinf(ref.lse[i])
            ? !(std::isinf(lse[i]) && lse[i] < 0)
            : !(std::fabs(lse[i] - ref.lse[i]) <= 1e-5 * std::max(1.0, std::fabs(ref.lse[i])));
  EXPECT_EQ(lseWrong, 0) << "rows with a wrong log-sum-exp";
  std::vector<double> refOut =
      referenceAttention(spec.shape, spec.mask, CausalMode::bottomRightAligned(),
                         spec.effectiveScale(), qf.data(), kf.data(), vf.data());
  std::vector<float> got = out.gather();
  EXPECT_LT(maxRelativeError(got, refOut), 1e-5);
  expectLeadingRowsZero(c, got);
  EXPECT_LT(maxRelativeError(dq.gather(), ref.dq), 1e-5);
  EXPECT_LT(maxRelativeError(dk.gather(), ref.dk), 1e-5);
  EXPECT_LT(maxRelativeError(dv.gather(), ref.dv), 1e-5);
  // The top-left gradients differ: the checks above could fail.
  const AttentionGradients topLeft =
      referenceAttentionBackward(spec.shape, spec.mask, true, spec.effectiveScale(), qf.data(),
                                 kf.data(), vf.data(), df.data());
  EXPECT_GT(maxRelativeError(dk.gather(), topLeft.dk), 1e-2);
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, CausalAlign,
    // clang-format off
    ::testing::Values(
        //   name                   B  Hq Hkv  Sq   Sk   D  bq  bk  dens  bshd  split
        Case{"decode_sq1",          2, 4, 2,    1, 456, 32, 16, 32, 0.6,  false, 0},
        Case{"sq7_gqa_bshd",        1, 4, 2,    7, 456, 32, 16, 32, 0.6,  true,  0},
        Case{"sq64",                1, 2, 2,   64, 456, 64, 32, 64, 0.7,  false, 0},
        Case{"sq200_ragged",        1, 2, 1,  200, 456, 32, 32, 48, 0.7,  false, 0},
        Case{"sq200_bq_gt_bk",      1, 2, 2,  200, 456, 32, 64, 16, 0.7,  false, 0},
        Case{"sq_gt_sk",            2, 2, 1,  200,  77, 32, 32, 16, 0.8,  false, 0},
        Case{"sq_gt_sk_bq_lt_bk",   1, 3, 3,   90,  40, 16, 16, 32, 0.9,  true,  0},
        Case{"split_kv",            1, 2, 2,   64, 4000, 64, 64, 64, 1.0, false, 132}),
    // clang-format on
    [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

TEST(CausalAlignSpec, IsPartOfTheCacheKeyAndTheArtifact) {
  KernelSpec spec;
  spec.shape = {1, 2, 2, 8, 40, 16, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 1, 3, 8, 16, 1.0, 1, /*keepDiagonal=*/false);
  spec.causal = true;
  auto topLeft = cacheKey(spec);
  ASSERT_TRUE(topLeft) << topLeft.error().str();
  spec.causalAlign = runtime::CausalAlign::BottomRight;
  auto bottomRight = cacheKey(spec);
  ASSERT_TRUE(bottomRight) << bottomRight.error().str();
  EXPECT_NE(*topLeft, *bottomRight);
  auto ir = buildAttentionIR(spec);
  ASSERT_TRUE(ir) << ir.error().str();
  EXPECT_NE(ir->find("causal_align = #sieve.causal_align<bottom_right>"), std::string::npos) << *ir;

  auto artifact = compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  EXPECT_EQ(artifact->causalAlign, runtime::CausalAlign::BottomRight);
  EXPECT_EQ(artifact->causalRule(), (runtime::CausalRule{true, 32}));
  std::string json = artifact->metadataJson();
  EXPECT_NE(json.find("\"causal_align\": \"bottom_right\""), std::string::npos) << json;
  auto back = runtime::Artifact::fromMetadataJson(json, artifact->code);
  ASSERT_TRUE(back) << back.error().str();
  EXPECT_EQ(back->causalAlign, runtime::CausalAlign::BottomRight);
}

TEST(CausalAlignSpec, TopLeftLeavesTheIrAsBefore) {
  KernelSpec spec;
  spec.shape = {1, 2, 2, 8, 40, 16, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 1, 3, 8, 16, 1.0, 1, /*keepDiagonal=*/false);
  spec.causal = true;
  auto ir = buildAttentionIR(spec);
  ASSERT_TRUE(ir) << ir.error().str();
  EXPECT_EQ(ir->find("causal_align"), std::string::npos) << *ir;
}

TEST(CausalAlignSpec, RejectsAnAlignmentWithoutCausalOrOutOfRange) {
  KernelSpec spec;
  spec.shape = {1, 2, 2, 8, 40, 16, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 1, 3, 8, 16, 1.0, 1, /*keepDiagonal=*/false);
  spec.causalAlign = runtime::CausalAlign::BottomRight;
  Error e = spec.validate();
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  EXPECT_NE(e.message().find("causalAlign bottom_right needs causal"), std::string::npos)
      << e.message();
  spec.causal = true;
  spec.causalAlign = static_cast<runtime::CausalAlign>(7);
  e = spec.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("neither top_left nor bottom_right"), std::string::npos)
      << e.message();
}

TEST(CausalAlignSpec, ParsesAlignmentNames) {
  EXPECT_EQ(*runtime::parseCausalAlign("bottom_right"), runtime::CausalAlign::BottomRight);
  EXPECT_EQ(*runtime::parseCausalAlign("bottom-right"), runtime::CausalAlign::BottomRight);
  EXPECT_EQ(*runtime::parseCausalAlign("top_left"), runtime::CausalAlign::TopLeft);
  auto bad = runtime::parseCausalAlign("diagonal");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("expected top_left or bottom_right"), std::string::npos);
}

} // namespace
