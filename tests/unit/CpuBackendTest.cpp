//===- CpuBackendTest.cpp - CPU kernels against the float64 reference -----===//
//
// Each case compiles a kernel for its mask through the whole sieve-to-cpu
// pipeline, runs it on random inputs into a NaN-poisoned output, and
// compares with referenceAttention row by row. Cases cover head dims 64 and
// 128, Sq != Sk, partial tiles, causal and not, GQA, BSHD strides, empty
// heads and rows. Seeds come from the case's name (tests/support/Seeds.h)
// and are printed on failure.
//
// The split-KV cases run the GPU's schedule on the host: long rows cut into
// parts as for a GPU of 132 SMs, each part's partial output and
// log-sum-exp, and the combine step's merge, against float64.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/Session.h"
#include "sieve/testing/CpuSessionTest.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace sieve;
using namespace sieve::compiler;
using sieve::testing::HostTensor;
using namespace sieve::testing;

namespace {

struct Case {
  const char *name;
  int64_t batch, headsQ, headsKv, seqQ, seqK, headDim, blockQ, blockK;
  double density;
  bool causal, bshd;
  int64_t emptyHeads; // the last N heads have no kept tile
};

std::ostream &operator<<(std::ostream &os, const Case &c) { return os << c.name; }

class CpuBackend : public CpuSessionTest<Case> {};

TEST_P(CpuBackend, MatchesFloat64Reference) {
  const Case &c = GetParam();
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));

  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, c.headDim, runtime::DType::F32};
  spec.causal = c.causal;
  int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
          kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
  spec.mask = runtime::BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, c.density,
                                         maskSeed(name), /*keepDiagonal=*/false);
  for (int64_t h = c.headsQ - c.emptyHeads; h < c.headsQ; ++h)
    spec.mask.setHead(h, false);
  // An empty row inside a live head: query block 1 of head 0 keeps nothing.
  if (qBlocks > 1)
    for (int64_t kb = 0; kb < kBlocks; ++kb)
      spec.mask.set(0, 1, kb, false);

  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();

  HostTensor q({c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd);
  HostTensor k({c.batch, c.headsKv, c.seqK, c.headDim}, c.bshd);
  HostTensor v({c.batch, c.headsKv, c.seqK, c.headDim}, c.bshd);
  HostTensor out({c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd);
  q.fillNormal(rng);
  k.fillNormal(rng);
  v.fillNormal(rng);
  out.poison();

  ASSERT_FALSE(session_->run(**artifact, q.view, k.view, v.view, out.view));

  std::vector<float> got = out.gather();
  std::vector<double> ref =
      referenceAttention(spec.shape, spec.mask, c.causal, spec.effectiveScale(), q.gather().data(),
                         k.gather().data(), v.gather().data());
  // Row by row: poison left, NaN, a zeroed or wrong row all fail; rows the
  // mask empties must be exact zeros.
  RowComparison rows = compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, c.headDim,
                                   rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
  EXPECT_TRUE(out.guardsIntact()) << "kernel wrote outside the output";
  EXPECT_TRUE(q.guardsIntact() && k.guardsIntact() && v.guardsIntact());

  // Empty rows and empty heads are exact zeros, not NaN and not stale data.
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.headsQ; ++h)
      for (int64_t i = 0; i < c.seqQ; ++i) {
        bool empty = h >= c.headsQ - c.emptyHeads || (h == 0 && i / c.blockQ == 1);
        if (!empty)
          continue;
        for (int64_t d = 0; d < c.headDim; ++d)
          ASSERT_EQ(out.at(b, h, i, d), 0.0f) << "b" << b << " h" << h << " row " << i;
      }
}

INSTANTIATE_TEST_SUITE_P(
    Masks, CpuBackend,
    // clang-format off
    ::testing::Values(
        //   name                batch Hq Hkv  Sq   Sk   D   bq  bk  dens causal bshd empty
        Case{"d64_square",           1, 4, 4, 256, 256, 64, 64, 64, 0.4, false, false, 1},
        Case{"d128_sq_ne_sk",        1, 3, 3, 192, 320, 128, 64, 32, 0.5, false, false, 1},
        Case{"d64_causal",           1, 4, 4, 256, 256, 64, 64, 64, 0.6, true, false, 0},
        Case{"d128_causal_partial",  1, 2, 2, 200, 328, 128, 32, 64, 0.5, true, false, 1},
        Case{"d64_gqa_batch2",       2, 8, 2, 128, 192, 64, 32, 32, 0.3, false, false, 2},
        Case{"d128_bshd_gqa_causal", 2, 4, 2, 160, 160, 128, 32, 32, 0.5, true, true, 1},
        Case{"d64_bshd_mqa",         1, 4, 1, 96, 224, 64, 32, 64, 0.5, false, true, 0},
        Case{"d64_dense",            1, 2, 2, 128, 128, 64, 64, 64, 1.0, false, false, 0},
        Case{"d64_small_odd_tiles",  1, 2, 2, 77, 45, 64, 16, 16, 0.5, false, false, 0},
        Case{"d64_all_empty",        1, 2, 2, 64, 64, 64, 32, 32, 0.0, false, false, 0}),
    // clang-format on
    [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

// ---- Split-KV: the GPU's schedule on the host ----

struct SplitCase {
  const char *name;
  int64_t batch, headsQ, headsKv, seqQ, seqK, headDim, block;
  double density;
  int64_t denseRows; // the last query blocks of every head keep every key block
  bool causal, bshd;
};

std::ostream &operator<<(std::ostream &os, const SplitCase &c) { return os << c.name; }

class CpuSplitKvCases : public CpuSessionTest<SplitCase> {};

TEST_P(CpuSplitKvCases, PartsAndCombineMatchFloat64) {
  const SplitCase &c = GetParam();
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));
  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, c.headDim, runtime::DType::F32};
  spec.causal = c.causal;
  const int64_t qBlocks = (c.seqQ + c.block - 1) / c.block,
                kBlocks = (c.seqK + c.block - 1) / c.block;
  spec.mask = runtime::BlockMask::random(c.headsQ, qBlocks, kBlocks, c.block, c.block, c.density,
                                         maskSeed(name), /*keepDiagonal=*/true);
  spec.mask.setHead(c.headsQ - 1, false); // an empty head
  for (int64_t h = 0; h + 1 < c.headsQ; ++h)
    for (int64_t qb = qBlocks - c.denseRows; qb < qBlocks; ++qb)
      for (int64_t kb = 0; kb < kBlocks; ++kb)
        spec.mask.set(h, qb, kb, true);
  // The schedule an H100 or H200 (132 SMs) runs.
  spec.options.splitWorkers = 132;
  spec.target = Target::cpu();
  // The long rows were cut: the IR after sieve-split-rows has split groups.
  auto stages = compileStages(spec);
  ASSERT_TRUE(stages) << stages.error().str();
  bool split = false;
  for (const auto &[stage, ir] : *stages)
    split |= stage.find("SplitRows") != std::string::npos &&
             ir.find("split_groups") != std::string::npos;
  ASSERT_TRUE(split) << "the mask's dense rows were not cut into parts";

  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  HostTensor q({c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd);
  HostTensor k({c.batch, c.headsKv, c.seqK, c.headDim}, c.bshd);
  HostTensor v({c.batch, c.headsKv, c.seqK, c.headDim}, c.bshd);
  HostTensor out({c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd);
  q.fillNormal(rng);
  k.fillNormal(rng);
  v.fillNormal(rng);
  out.poison();
  ASSERT_FALSE(session_->run(**artifact, q.view, k.view, v.view, out.view));
  std::vector<float> got = out.gather();
  std::vector<double> ref =
      referenceAttention(spec.shape, spec.mask, c.causal, spec.effectiveScale(), q.gather().data(),
                         k.gather().data(), v.gather().data());
  RowComparison rows = compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, c.headDim,
                                   rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
  EXPECT_TRUE(out.guardsIntact()) << "kernel wrote outside the output";
}

INSTANTIATE_TEST_SUITE_P(
    GpuSchedule, CpuSplitKvCases,
    // clang-format off
    ::testing::Values(
        //        name                 B  Hq Hkv   Sq    Sk   D  block dens dense causal bshd
        SplitCase{"skewed_d64",        1, 4, 4, 2048, 2048,  64, 128, 0.0, 2, false, false},
        SplitCase{"skewed_d128_causal", 1, 4, 4, 2048, 2048, 128, 128, 0.0, 2, true, false},
        SplitCase{"ragged_gqa_bshd",   2, 4, 2, 1500, 1900,  64,  64, 0.05, 3, false, true},
        SplitCase{"ragged_gqa_causal", 2, 4, 2, 1500, 1900, 128,  64, 0.05, 3, true, false}),
    // clang-format on
    [](const ::testing::TestParamInfo<SplitCase> &info) { return std::string(info.param.name); });

} // namespace
