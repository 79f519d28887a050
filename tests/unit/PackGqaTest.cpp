//===- PackGqaTest.cpp - GQA-packed decode rows on the CPU backend --------===//
//
// Decoding (Sq <= 64, Hq > Hkv) packs a key head's g query heads into the
// rows of one work row (sieve-pack-gqa). The CPU backend runs the packed
// tables as the GPU bodies do, so these cases check the packing's logic in
// CI: random block masks that differ per head (and per query block), some
// heads left empty, top-left and bottom-right causal, BSHD views, the lse,
// and the split-KV schedule a GPU would run on packed rows. Every case
// compiles through the whole sieve-to-cpu pipeline, checks that the
// compiler packed (the artifact's config and the IR), runs on fresh random
// inputs into NaN-poisoned outputs, and compares with the float64
// reference; rows of an emptied head must be exact zeros.
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

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::testing;

namespace {

struct Case {
  const char *name;
  int64_t batch, headsQ, headsKv, seqQ, seqK, headDim, blockQ, blockK;
  double density;
  bool causal, bottomRight, bshd;
  int64_t splitWorkers; // 0: whole rows; else the schedule of that many workers
};

std::ostream &operator<<(std::ostream &os, const Case &c) { return os << c.name; }

class PackGqa : public CpuSessionTest<Case> {};

/// A random mask per head, with the last head emptied (a pruned head: its
/// rows must be zeros while its group's other heads run).
KernelSpec packedSpec(const Case &c, std::mt19937_64 &rng) {
  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, c.headDim, runtime::DType::F32};
  spec.causal = c.causal;
  if (c.bottomRight)
    spec.causalAlign = runtime::CausalAlign::BottomRight;
  spec.options.splitWorkers = c.splitWorkers;
  const int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
  spec.mask = runtime::BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, c.density,
                                         rng(), /*keepDiagonal=*/false);
  for (int64_t qb = 0; qb < qBlocks; ++qb)
    for (int64_t kb = 0; kb < kBlocks; ++kb)
      spec.mask.set(c.headsQ - 1, qb, kb, false);
  return spec;
}

TEST_P(PackGqa, ForwardMatchesFloat64Reference) {
  const Case &c = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  KernelSpec spec = packedSpec(c, rng);
  spec.saveLse = true;
  ASSERT_TRUE(spec.packsGqa());
  auto stages = compileStages(spec);
  ASSERT_TRUE(stages) << stages.error().str();
  bool packed = false;
  for (const auto &[stage, text] : *stages)
    packed |= stage.find("PackGqa") != std::string::npos &&
              text.find("key_block_segments") != std::string::npos;
  EXPECT_TRUE(packed) << "the rows were not packed";
  // (The lse keeps rows whole; the split cases run without it below.)
  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  EXPECT_NE((*artifact)->config.find("pack-gqa g=" + std::to_string(c.headsQ / c.headsKv)),
            std::string::npos)
      << (*artifact)->config;

  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, c.headDim},
      kvShape{c.batch, c.headsKv, c.seqK, c.headDim};
  HostTensor q(qShape, c.bshd), k(kvShape, c.bshd), v(kvShape, c.bshd), out(qShape, c.bshd);
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  std::vector<float> lse(c.batch * c.headsQ * c.seqQ, std::nanf(""));
  out.poison();
  ASSERT_FALSE(session_->forward(**artifact, q.view, k.view, v.view, out.view, lse.data()));
  EXPECT_TRUE(out.guardsIntact()) << "kernel wrote outside the output";

  std::vector<float> got = out.gather(), qf = q.gather(), kf = k.gather(), vf = v.gather();
  const CausalMode causal(c.causal, spec.causalAlign);
  std::vector<double> ref = referenceAttention(spec.shape, spec.mask, causal, spec.effectiveScale(),
                                               qf.data(), kf.data(), vf.data());
  RowComparison rows = compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, c.headDim,
                                   rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
  // The emptied head: exact zeros, lse -inf.
  int64_t nonzero = 0, badLse = 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.seqQ; ++i) {
      const int64_t row = (b * c.headsQ + c.headsQ - 1) * c.seqQ + i;
      for (int64_t d = 0; d < c.headDim; ++d)
        nonzero += got[row * c.headDim + d] != 0.0f;
      badLse += !(std::isinf(lse[row]) && lse[row] < 0);
    }
  EXPECT_EQ(nonzero, 0) << "an empty head's rows are not zeros";
  EXPECT_EQ(badLse, 0) << "an empty head's lse is not -inf";
  // Every other row's lse: the float64 log-sum-exp of its kept scores.
  std::vector<float> df(got.size(), 0.0f);
  const AttentionGradients grads =
      referenceAttentionBackward(spec.shape, spec.mask, causal, spec.effectiveScale(), qf.data(),
                                 kf.data(), vf.data(), df.data());
  int64_t lseWrong = 0;
  for (size_t i = 0; i < lse.size(); ++i)
    lseWrong +=
        std::isinf(grads.lse[i])
            ? !(std::isinf(lse[i]) && lse[i] < 0)
            : !(std::fabs(lse[i] - grads.lse[i]) <= 1e-5 * std::max(1.0, std::fabs(grads.lse[i])));
  EXPECT_EQ(lseWrong, 0) << "rows with a wrong log-sum-exp";
}

/// The cases with a split schedule (splitWorkers > 0).
class PackGqaSplit : public PackGqa {};

TEST_P(PackGqaSplit, SplitScheduleMatchesFloat64Reference) {
  const Case &c = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  KernelSpec spec = packedSpec(c, rng);
  auto stages = compileStages(spec);
  ASSERT_TRUE(stages) << stages.error().str();
  bool split = false;
  for (const auto &[stage, text] : *stages)
    split |= stage.find("SplitRows") != std::string::npos &&
             text.find("split_groups") != std::string::npos &&
             text.find("key_block_segments") != std::string::npos;
  ASSERT_TRUE(split) << "no packed row was split";
  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();

  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, c.headDim},
      kvShape{c.batch, c.headsKv, c.seqK, c.headDim};
  HostTensor q(qShape, c.bshd), k(kvShape, c.bshd), v(kvShape, c.bshd), out(qShape, c.bshd);
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  out.poison();
  ASSERT_FALSE(session_->run(**artifact, q.view, k.view, v.view, out.view));
  std::vector<float> got = out.gather(), qf = q.gather(), kf = k.gather(), vf = v.gather();
  std::vector<double> ref =
      referenceAttention(spec.shape, spec.mask, CausalMode(c.causal, spec.causalAlign),
                         spec.effectiveScale(), qf.data(), kf.data(), vf.data());
  RowComparison rows = compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, c.headDim,
                                   rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
}

// clang-format off
//   name                  B  Hq Hkv Sq  Sk    D  bq  bk  dens  causal br     bshd   split
const Case kWhole[] = {
    {"sq1_g4",             2, 8,  2, 1,  300,  64, 64, 32, 0.6, false, false, false, 0},
    {"sq1_g8_bshd",        1, 16, 2, 1,  257,  32, 64, 64, 0.5, false, false, true,  0},
    {"sq16_g4_causal_br",  2, 8,  2, 16, 200,  64, 16, 32, 0.7, true,  true,  false, 0},
    {"sq5_g4_qblocks",     1, 8,  2, 5,  130,  32, 2,  16, 0.6, true,  true,  false, 0},
    {"sq64_g8_causal_tl",  1, 16, 2, 64, 96,   32, 32, 32, 0.8, true,  false, false, 0}};
const Case kSplit[] = {
    {"sq1_g4_split",       1, 8,  2, 1,  2048, 64, 64, 64, 0.8, false, false, false, 16},
    {"sq16_g8_br_split",   1, 16, 2, 16, 1024, 32, 16, 64, 0.9, true,  true,  true,  16}};
// clang-format on
auto caseName = [](const auto &info) { return std::string(info.param.name); };
INSTANTIATE_TEST_SUITE_P(Decode, PackGqa, ::testing::ValuesIn(kWhole), caseName);
INSTANTIATE_TEST_SUITE_P(DecodeSplitSchedule, PackGqa, ::testing::ValuesIn(kSplit), caseName);
INSTANTIATE_TEST_SUITE_P(Decode, PackGqaSplit, ::testing::ValuesIn(kSplit), caseName);

} // namespace
