//===- GenerationTest.cpp - one kernel for every step of generation -------===//
//
// A generation kernel (docs/generation.md) is compiled once for a mask over
// M positions; each step gives q_pos and seq_k_live at launch. Each case
// compiles one kernel and runs it over many steps (a prompt's end, steps
// inside a position block, across block boundaries, the last position) on
// fresh random inputs into NaN-poisoned outputs, with the KV cache's rows
// past seq_k_live NaN (a kernel that read them would fail) or, every other
// step, holding only the live keys (a grown cache), and compares
// each step with the float64 reference of the whole sequence: attention
// over positions with the position mask, from which a step's queries are
// rows q_pos .. q_pos + Sq - 1 over the keys below seq_k_live. Decode
// cases with grouped query heads run GQA-packed (the default) and, as
// `<case>_unpacked`, with packing off; the test checks which ran.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Session.h"
#include "sieve/testing/CpuSessionTest.h"
#include "sieve/testing/Reference.h"
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
  int64_t batch, headsQ, headsKv, seqQ, positions, headDim, blockQ, blockK;
  bool causal, bshd;
  /// Steps as (q_pos, seq_k_live); seq_k_live 0 is q_pos + Sq.
  std::vector<std::pair<int64_t, int64_t>> steps;
  /// KernelOptions::packGqa: "auto" packs a decode step's query heads
  /// (Hq > Hkv, Sq = 1), "off" runs a row per query head.
  std::string packGqa = "auto";
  /// KernelOptions::splitWorkers: > 0 runs a GPU's split schedule over
  /// that many workers, which cuts a decode step's rows into parts (the
  /// cases that set it have rows long enough to be cut).
  int64_t splitWorkers = 0;
  /// Whether the compiler is expected to pack.
  bool packs() const { return packGqa == "auto" && headsQ > headsKv && seqQ == 1; }
};

/// The same case with GQA packing off.
Case unpacked(Case c, const char *name) {
  c.name = name;
  c.packGqa = "off";
  return c;
}

/// The same case with its decode steps split over `workers` (the GPU's
/// split schedule, run on the CPU backend).
Case split(Case c, const char *name, int64_t workers) {
  c.name = name;
  c.splitWorkers = workers;
  return c;
}

std::ostream &operator<<(std::ostream &os, const Case &c) { return os << c.name; }

class Generation : public CpuSessionTest<Case> {};

KernelSpec generationSpec(const Case &c, uint64_t seed) {
  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.positions, c.headDim, runtime::DType::F32};
  spec.causal = c.causal;
  spec.generation = true;
  spec.options.packGqa = c.packGqa;
  spec.options.splitWorkers = c.splitWorkers;
  const int64_t qBlocks = (c.positions + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.positions + c.blockK - 1) / c.blockK;
  spec.mask = runtime::BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, 0.5, seed,
                                         /*keepDiagonal=*/true);
  return spec;
}

/// The float64 reference of a step: the sequence's attention over the
/// positions [0, live) of the mask (cropped to those keys' blocks), rows
/// [qPos, qPos + Sq) of it, contiguous BHSD.
std::vector<double> stepReference(const Case &c, const KernelSpec &spec, const float *qAll,
                                  const float *kAll, const float *vAll, int64_t qPos,
                                  int64_t live) {
  const int64_t M = c.positions, D = c.headDim;
  const int64_t kBlocks = (live + c.blockK - 1) / c.blockK;
  auto cropped =
      runtime::BlockMask::create(c.headsQ, spec.mask.queryBlocks(), kBlocks, c.blockQ, c.blockK);
  EXPECT_TRUE(cropped);
  for (int64_t h = 0; h < c.headsQ; ++h)
    for (int64_t qb = 0; qb < spec.mask.queryBlocks(); ++qb)
      for (int64_t kb = 0; kb < kBlocks; ++kb)
        cropped->set(h, qb, kb, spec.mask.get(h, qb, kb));
  std::vector<float> k, v; // the first `live` keys, BHSD
  for (int64_t bh = 0; bh < c.batch * c.headsKv; ++bh) {
    k.insert(k.end(), kAll + bh * M * D, kAll + (bh * M + live) * D);
    v.insert(v.end(), vAll + bh * M * D, vAll + (bh * M + live) * D);
  }
  runtime::ProblemShape shape = spec.shape;
  shape.seqQ = M;
  shape.seqK = live;
  // Over positions, causal is top-left: position x sees keys j <= x.
  std::vector<double> full = referenceAttention(shape, *cropped, CausalMode(c.causal),
                                                spec.effectiveScale(), qAll, k.data(), v.data());
  std::vector<double> rows;
  for (int64_t bh = 0; bh < c.batch * c.headsQ; ++bh)
    rows.insert(rows.end(), full.begin() + (bh * M + qPos) * D,
                full.begin() + (bh * M + qPos + c.seqQ) * D);
  return rows;
}

TEST_P(Generation, EveryStepOfOneKernelMatchesFloat64Reference) {
  const Case &c = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  KernelSpec spec = generationSpec(c, rng());
  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  ASSERT_TRUE((*artifact)->generation);
  const std::string packing = "pack-gqa g=" + std::to_string(c.headsQ / c.headsKv);
  EXPECT_EQ((*artifact)->config.find(packing) != std::string::npos, c.packs())
      << (*artifact)->config;
  EXPECT_EQ((*artifact)->config.find("key blocks (generation)") != std::string::npos,
            c.splitWorkers > 0)
      << (*artifact)->config;

  // The whole sequence's queries, keys and values (the reference's).
  const int64_t M = c.positions;
  HostTensor qAll({c.batch, c.headsQ, M, c.headDim}, false),
      kAll({c.batch, c.headsKv, M, c.headDim}, false),
      vAll({c.batch, c.headsKv, M, c.headDim}, false);
  for (HostTensor *t : {&qAll, &kAll, &vAll})
    t->fillNormal(rng);
  const std::vector<float> qf = qAll.gather(), kf = kAll.gather(), vf = vAll.gather();

  for (size_t step = 0; step < c.steps.size(); ++step) {
    auto [qPos, liveGiven] = c.steps[step];
    const int64_t live = liveGiven ? liveGiven : qPos + c.seqQ;
    // The cache as generation holds it: allocated for M positions, the live
    // keys then NaN; or, every other step, grown to exactly the live keys (a
    // framework's dynamic cache: a read past them leaves the allocation).
    const bool grown = step % 2 == 1;
    const int64_t cached = grown ? live : M;
    SCOPED_TRACE("q_pos " + std::to_string(qPos) + " seq_k_live " + std::to_string(live) +
                 " cache of " + std::to_string(cached));
    HostTensor q({c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd),
        out({c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd),
        k({c.batch, c.headsKv, cached, c.headDim}, c.bshd),
        v({c.batch, c.headsKv, cached, c.headDim}, c.bshd);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t d = 0; d < c.headDim; ++d) {
        for (int64_t h = 0; h < c.headsQ; ++h)
          for (int64_t i = 0; i < c.seqQ; ++i)
            q.at(b, h, i, d) = qAll.at(b, h, qPos + i, d);
        for (int64_t h = 0; h < c.headsKv; ++h)
          for (int64_t j = 0; j < cached; ++j) {
            const float nan = std::numeric_limits<float>::quiet_NaN();
            k.at(b, h, j, d) = j < live ? kAll.at(b, h, j, d) : nan;
            v.at(b, h, j, d) = j < live ? vAll.at(b, h, j, d) : nan;
          }
      }
    out.poison();
    Error e = session_->generate(**artifact, q.view, k.view, v.view, out.view, {qPos, liveGiven});
    ASSERT_FALSE(e) << e.str();
    EXPECT_TRUE(out.guardsIntact()) << "kernel wrote outside the output";
    std::vector<float> got = out.gather();
    std::vector<double> ref = stepReference(c, spec, qf.data(), kf.data(), vf.data(), qPos, live);
    RowComparison rows = compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, c.headDim,
                                     rowTolerance(runtime::DType::F32));
    EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
  }
}

// clang-format off
std::vector<Case> generationCases() {
  // Decode after a prompt of 37: inside a block, its last position, the
  // next block's first, the ragged last key block, the last position.
  Case decodeGqa{"decode_gqa", 2, 4, 2, 1, 100, 16, 16, 8, true, false,
                 {{37, 0}, {38, 0}, {47, 0}, {48, 0}, {63, 0}, {64, 0}, {81, 0}, {99, 0}, {0, 0}}};
  Case decodeBshd{"decode_bshd_blocks_32x16", 1, 3, 1, 1, 90, 24, 32, 16, true, true,
                  {{10, 0}, {31, 0}, {32, 0}, {33, 0}, {70, 0}, {89, 0}}};
  // Eight query heads a key head, two key heads: a packed row's segment
  // words carry eight heads' different key blocks.
  Case decodeGroupOf8{"decode_group_of_8", 2, 16, 2, 1, 75, 16, 8, 8, true, false,
                      {{0, 0}, {7, 0}, {8, 0}, {40, 0}, {74, 0}}};
  // Not causal: seq_k_live alone bounds the keys (here past q_pos + Sq).
  Case noncausal{"noncausal_live_keys", 1, 2, 1, 1, 64, 16, 8, 8, false, false,
                 {{5, 0}, {5, 13}, {20, 40}, {63, 64}, {0, 1}}};
  // Rows long enough to split (32 key blocks of 64, parts of at least 512
  // keys): an early step whose live keys reach only the first part, a
  // block's last and next positions, a part boundary, the last position.
  Case decodeLong{"decode_long_gqa", 2, 4, 2, 1, 2000, 16, 64, 64, true, false,
                  {{100, 0}, {511, 0}, {512, 0}, {1023, 0}, {1500, 0}, {1999, 0}}};
  Case noncausalLong{"noncausal_long", 1, 2, 1, 1, 1500, 16, 64, 64, false, false,
                     {{5, 0}, {5, 900}, {700, 1500}, {1499, 0}}};
  return {
      decodeGqa,
      unpacked(decodeGqa, "decode_gqa_unpacked"),
      decodeBshd,
      unpacked(decodeBshd, "decode_bshd_blocks_32x16_unpacked"),
      decodeGroupOf8,
      // A prefill chunk of 5: within one block, across a block boundary
      // (a chunk is never packed).
      Case{"chunk_across_blocks", 1, 2, 2, 5, 70, 16, 16, 16, true, false,
           {{0, 0}, {16, 0}, {30, 0}, {45, 0}, {65, 0}}},
      Case{"chunk_gqa_not_packed", 1, 4, 2, 3, 40, 16, 16, 16, true, false,
           {{0, 0}, {14, 0}, {37, 0}}},
      noncausal,
      unpacked(noncausal, "noncausal_live_keys_unpacked"),
      // Split-KV over generation rows (parts of each row's key blocks, the
      // combine merging them), packed and not, causal and not.
      split(decodeLong, "decode_long_gqa_split", 8),
      split(unpacked(decodeLong, ""), "decode_long_gqa_unpacked_split", 16),
      split(noncausalLong, "noncausal_long_split", 8),
  };
}
// clang-format on

INSTANTIATE_TEST_SUITE_P(Cpu, Generation, ::testing::ValuesIn(generationCases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return std::string(info.param.name);
                         });

// The GPU's rule for a generation step with whole rows (KernelOptions
// ::packGqa "auto" and splitKv "off", generationPackingPays): packing pays only
// where B x Hkv packed blocks (each walking the union of its g heads' key
// blocks) take fewer waves x walk than B x Hq unpacked ones. On an
// H100-class part (132 SMs), with Hq = 32, Hkv = 8 and a mask of density
// 0.5 (a group's union ~0.94 of the live blocks): one wave either way at
// B = 1, so not packed; four waves unpacked against one at B = 16, so
// packed; a group whose heads share their blocks packs at any B.
TEST(GenerationPackingRule, PacksAGpuStepOnlyWhereItPays) {
  KernelSpec spec;
  spec.target = Target::cuda("sm_90a");
  spec.shape = {1, 32, 8, 1, 4096, 128, runtime::DType::BF16};
  spec.causal = true;
  spec.generation = true;
  spec.mask = runtime::BlockMask::random(32, 64, 32, 64, 128, 0.5, 7, /*keepDiagonal=*/true);
  ASSERT_FALSE(spec.validate());
  EXPECT_FALSE(generationPackingPays(spec, 132))
      << "B = 1: 8 packed blocks walk twice as far as 32 unpacked";
  spec.shape.batch = 16;
  EXPECT_TRUE(generationPackingPays(spec, 132)) << "B = 16: one packed wave against four";
  spec.shape.batch = 1;
  for (int64_t h = 1; h < 32; ++h)
    for (int64_t qb = 0; qb < 64; ++qb)
      for (int64_t kb = 0; kb < 32; ++kb)
        spec.mask.set(h, qb, kb, spec.mask.get(0, qb, kb));
  EXPECT_TRUE(generationPackingPays(spec, 132))
      << "shared blocks: packing reads less and walks no further";
}

// Which generation kernels pack: the CPU backend's decode steps under
// "auto" and "on"; a GPU's under "on", under "auto" where split-KV cuts the
// packed rows into parts (the default, at rows of two parts of 512 keys or
// more: cut over the SMs either way, packed ones read less), and under
// "auto" with whole rows where the rule above says packing pays (B = 16
// here, not B = 1); none under "off"; no chunk.
TEST(GenerationPackingRule, WhichGenerationKernelsPack) {
  KernelSpec spec;
  spec.shape = {16, 32, 8, 1, 4096, 128, runtime::DType::F32};
  spec.causal = true;
  spec.generation = true;
  spec.mask = runtime::BlockMask::random(32, 64, 32, 64, 128, 0.5, 7, /*keepDiagonal=*/true);
  EXPECT_TRUE(spec.packsGqa());
  spec.options.packGqa = "on";
  EXPECT_TRUE(spec.packsGqa());
  spec.options.packGqa = "off";
  EXPECT_FALSE(spec.packsGqa());
  spec.options.packGqa = "auto";
  spec.shape.seqQ = 2;
  EXPECT_FALSE(spec.packsGqa()) << "a chunk may straddle two position blocks";
  spec.shape.seqQ = 1;

  spec.target = Target::cuda("sm_90a");
  spec.shape.dtype = runtime::DType::BF16;
  ASSERT_FALSE(spec.validate());
  spec.shape.batch = 1;
  EXPECT_TRUE(spec.packsGqa()) << "B = 1 on sm_90a, split-KV: parts fill the GPU either way";
  {
    // Rows too short to cut (4 key blocks of 128, under two parts of 512
    // keys) stay whole even with split-KV: the walk rule decides.
    KernelSpec shortRows = spec;
    shortRows.shape.seqK = 512;
    shortRows.mask = runtime::BlockMask::random(32, 8, 4, 64, 128, 0.5, 7, /*keepDiagonal=*/true);
    ASSERT_FALSE(shortRows.validate());
    EXPECT_FALSE(shortRows.packsGqa()) << "B = 1, M = 512: whole rows, the packed walk is longer";
    EXPECT_EQ(shortRows.packsGqa(), generationPackingPays(shortRows, 132));
  }
  spec.options.splitKv = "off";
  spec.shape.batch = 16;
  EXPECT_TRUE(spec.packsGqa()) << "B = 16 on sm_90a, whole rows: one packed wave against four";
  spec.shape.batch = 1;
  EXPECT_FALSE(spec.packsGqa()) << "B = 1 on sm_90a, whole rows: the packed walk is the longer";
  spec.options.splitKv = "auto";
  spec.options.packGqa = "on";
  ASSERT_FALSE(spec.validate());
  EXPECT_TRUE(spec.packsGqa());
  spec.options.packGqa = "off";
  spec.shape.batch = 16;
  EXPECT_FALSE(spec.packsGqa());
  spec.options.packGqa = "yes";
  Error e = spec.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("pack-gqa must be auto, on or off, got 'yes'"), std::string::npos)
      << e.message();
}

class GenerationErrors : public Generation {};

TEST_F(GenerationErrors, StepsAndCallsOutsideTheContractAreRefused) {
  Case c{"errors", 1, 2, 1, 1, 40, 16, 8, 8, true, false, {}};
  KernelSpec spec = generationSpec(c, 1);
  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  HostTensor q({1, 2, 1, 16}, false), out({1, 2, 1, 16}, false), k({1, 1, 40, 16}, false),
      v({1, 1, 40, 16}, false);
  std::mt19937_64 rng(freshSeed());
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  auto refused = [&](runtime::GenerationStep step, const char *words) {
    Error e = session_->generate(**artifact, q.view, k.view, v.view, out.view, step);
    ASSERT_TRUE(e) << "step " << step.qPos << ", " << step.seqKLive << " was accepted";
    EXPECT_NE(e.message().find(words), std::string::npos) << e.message();
  };
  refused({-1, 0}, "q_pos -1 is negative");
  refused({40, 0}, "seq_k_live 41 exceeds the kernel's 40 positions");
  refused({10, 10}, "exceeds seq_k_live 10");
  refused({3, -2}, "seq_k_live -2 is negative");
  // q_pos + Sq would overflow int64: refused before any sum.
  refused({std::numeric_limits<int64_t>::max(), 0}, "exceeds the kernel's 40 positions");
  EXPECT_FALSE(session_->generate(**artifact, q.view, k.view, v.view, out.view, {39, 0}));
  // The cache must hold every live key, and no more positions than the mask.
  HostTensor shortK({1, 1, 12, 16}, false), shortV({1, 1, 12, 16}, false),
      longK({1, 1, 41, 16}, false), longV({1, 1, 41, 16}, false);
  for (HostTensor *t : {&shortK, &shortV, &longK, &longV})
    t->fillNormal(rng);
  EXPECT_FALSE(session_->generate(**artifact, q.view, shortK.view, shortV.view, out.view, {11, 0}));
  Error shortCache =
      session_->generate(**artifact, q.view, shortK.view, shortV.view, out.view, {12, 0});
  ASSERT_TRUE(shortCache);
  EXPECT_NE(shortCache.message().find("the key cache holds 12 positions; this step reads "
                                      "seq_k_live = 13"),
            std::string::npos)
      << shortCache.message();
  Error longCache =
      session_->generate(**artifact, q.view, longK.view, longV.view, out.view, {3, 0});
  ASSERT_TRUE(longCache);
  EXPECT_NE(longCache.message().find("compiled for at most 40"), std::string::npos)
      << longCache.message();
  Error mixed = session_->generate(**artifact, q.view, k.view, shortV.view, out.view, {3, 0});
  ASSERT_TRUE(mixed);
  EXPECT_NE(mixed.message().find("value"), std::string::npos) << mixed.message();
  Error run = session_->run(**artifact, q.view, k.view, v.view, out.view);
  ASSERT_TRUE(run);
  EXPECT_NE(run.message().find("generate()"), std::string::npos) << run.message();

  KernelSpec aligned = spec;
  aligned.causalAlign = runtime::CausalAlign::BottomRight;
  Error e = aligned.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("causalAlign"), std::string::npos) << e.message();
  KernelSpec queryMask = spec; // a mask over the call's one query, not the positions
  queryMask.mask = runtime::BlockMask::random(2, 1, 5, 8, 8, 1.0, 1, false);
  e = queryMask.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("over positions"), std::string::npos) << e.message();
}

} // namespace
