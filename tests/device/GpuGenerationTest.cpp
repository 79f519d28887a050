//===- GpuGenerationTest.cpp - GPU generation kernels over many steps -----===//
//
// A generation kernel (docs/generation.md) is compiled once, through the
// kernel ledger, for a mask over M positions; each case runs it over a
// sequence of steps: decode steps after a prompt whose length is not a
// multiple of the blocks, steps on both sides of a mask-row boundary, the
// last position, chunks of Sq > 1 queries that straddle two mask rows, and
// (not causal) seq_k_live past the step's queries. Each step's KV cache
// holds the sequence's keys and values below seq_k_live and NaN (0xFF
// bytes) past them (every other step, only the live keys: a grown cache),
// the output is poisoned (0xFF) between guard bytes, and
// the step's rows are compared with the float64 reference of the
// sequence: the queries at positions [x0, seq_k_live) (x0 the first
// position of the step's first mask row) bottom-right causal against the
// keys [0, seq_k_live), under the mask's rows from x0's on, of which the
// step's queries are rows q_pos - x0 .. q_pos - x0 + Sq - 1. Fresh random
// inputs per step; masks seeded from the case's name. Decode steps with
// grouped query heads run GQA-packed (packing on: a key head's query heads
// share a tile, K and V read once) and, as the `-unpacked` variants, with
// packing off; each case checks which ran. Decode steps over rows long
// enough run split-KV (parts merged by the last to finish), packed and
// unpacked, and check that they did. (Under "auto" a GPU generation step
// with whole rows packs only where it pays, a compile-time rule tests/unit
// checks.)
//
//===----------------------------------------------------------------------===//
#include "KernelLedger.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::runtime;
using namespace sieve::testing;

namespace {

struct GenerationCase {
  const char *name;
  int64_t batch, headsQ, headsKv, seqQ, positions, blockQ, blockK;
  bool causal, bshd;
  /// Steps as (q_pos, seq_k_live); seq_k_live 0 is q_pos + Sq.
  std::vector<std::pair<int64_t, int64_t>> steps;
  /// Whether its rows are long enough for split-KV on any GPU sieve
  /// targets (docs/generation.md, "With split-KV"): then every variant
  /// must run them in parts.
  bool splits = false;
};

// clang-format off
const GenerationCase kCases[] = {
    // Decode after a prompt of 137 (64-blocks, GQA g = 4): inside mask row
    // 2, its last position, the first two of row 3, row 4's first, the last
    // position (its key block ragged: M = 300), and position 0.
    {"decode_gqa_p137", 2, 8, 2, 1, 300, 64, 64, true, false,
     {{137, 0}, {191, 0}, {192, 0}, {193, 0}, {256, 0}, {299, 0}, {0, 0}}},
    // MQA, BSHD, 128-blocks: a prompt of 200, across row 2's start, the end.
    {"decode_mqa_bshd_b128", 1, 4, 1, 1, 400, 128, 128, true, true,
     {{200, 0}, {255, 0}, {256, 0}, {257, 0}, {383, 0}, {399, 0}}},
    // Chunks of 16 queries (GQA g = 2): aligned, straddling rows 0/1 and
    // 1/2, inside a row, and the last 16 positions.
    {"chunk16_straddle", 1, 4, 2, 16, 320, 64, 64, true, false,
     {{0, 0}, {56, 0}, {120, 0}, {200, 0}, {304, 0}}},
    // Chunks of 64 (a whole block's worth) at unaligned q_pos: every step
    // but the aligned one straddles two rows; M = 260 ragged.
    {"chunk64_straddle_bshd", 1, 2, 1, 64, 260, 64, 64, true, true,
     {{0, 0}, {37, 0}, {64, 0}, {100, 0}, {196, 0}}},
    // Not causal: seq_k_live alone bounds the keys (past q_pos + Sq too).
    {"noncausal_live_keys", 1, 4, 2, 1, 256, 64, 64, false, false,
     {{10, 100}, {70, 256}, {255, 0}, {0, 1}, {130, 131}}},
    // Eight query heads a key head (a packed tile's eight rows carry eight
    // heads' key blocks): rows 0, 1 and 3 (the last). 64-key blocks: the
    // wgmma body's key tile is 64 keys.
    {"decode_group8", 2, 16, 2, 1, 230, 64, 64, true, false,
     {{0, 0}, {63, 0}, {64, 0}, {200, 0}, {229, 0}}},
    // Rows long enough to be cut into parts (split-KV; parts of at least
    // 512 keys): the first position (every part but the first empty), the
    // empty row of head 0 (position block 1), a row's last position and the
    // next's first, and the last position (M = 4000 ragged). GQA g = 4.
    {"decode_split_gqa", 1, 8, 2, 1, 4000, 64, 64, true, false,
     {{0, 0}, {100, 0}, {1023, 0}, {1024, 0}, {2500, 0}, {3999, 0}}, true},
    // Split, not causal, MQA, BSHD, 128-key blocks, two sequences:
    // seq_k_live alone bounds the parts (one live key; a live end inside a
    // part; every key).
    {"decode_split_mqa_live", 2, 4, 1, 1, 3000, 128, 128, false, true,
     {{10, 2900}, {0, 1}, {1500, 1777}, {2999, 0}}, true},
};
constexpr int kCaseCount = sizeof(kCases) / sizeof(kCases[0]);
// clang-format on

struct GenerationVariant {
  const char *name;
  KernelOptions options;
};
const GenerationVariant kGenerationVariants[] = {
    {"mma", {.variant = "mma", .packGqa = "on"}},
    {"wgmma", {.variant = "wgmma", .packGqa = "on"}},
    {"mma-unpacked", {.variant = "mma", .packGqa = "off"}},
    {"wgmma-unpacked", {.variant = "wgmma", .packGqa = "off"}},
};
constexpr int kVariantCount = sizeof(kGenerationVariants) / sizeof(kGenerationVariants[0]);

/// Whether the compiler packs case `c`'s query heads under `options`
/// (packing on or off): a decode step (Sq = 1) with grouped query heads.
bool packs(const GenerationCase &c, const KernelOptions &options) {
  return options.packGqa == "on" && c.headsQ > c.headsKv && c.seqQ == 1;
}

using GenerationParam =
    std::tuple<DType, int64_t /*headDim*/, int /*case index*/, int /*variant index*/>;

std::string generationParamName(const ::testing::TestParamInfo<GenerationParam> &info) {
  auto [dtype, headDim, caseIndex, variant] = info.param;
  std::string variantName = kGenerationVariants[variant].name;
  std::replace(variantName.begin(), variantName.end(), '-', '_'); // gtest names
  return variantName + "_" + dtypeName(dtype) + "_d" + std::to_string(headDim) + "_" +
         kCases[caseIndex].name;
}

/// "generation/mma/bf16/d128/causal": what a case attests.
std::string generationConfig(const GenerationParam &p) {
  auto [dtype, headDim, caseIndex, variant] = p;
  return std::string("generation/") + kGenerationVariants[variant].name + "/" + dtypeName(dtype) +
         "/d" + std::to_string(headDim) + (kCases[caseIndex].causal ? "/causal" : "/full");
}

/// The mask over positions: random tiles (diagonal kept), and position
/// block 1 of head 0 empty (its queries see no key: zeros).
BlockMask positionMask(const GenerationCase &c, uint64_t seed) {
  const int64_t qBlocks = (c.positions + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.positions + c.blockK - 1) / c.blockK;
  BlockMask mask = BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, 0.5, seed,
                                     /*keepDiagonal=*/true);
  for (int64_t kb = 0; kb < kBlocks; ++kb)
    mask.set(0, 1, kb, false);
  return mask;
}

constexpr size_t kGuardBytes = 256;
constexpr uint8_t kGuardByte = 0x5A, kPoisonByte = 0xFF;

/// [B, H, S, D] strides, BSHD or BHSD.
std::array<int64_t, 4> stridesOf(std::array<int64_t, 4> sizes, bool bshd) {
  auto [b, h, s, d] = sizes;
  (void)b;
  return bshd ? std::array<int64_t, 4>{s * h * d, d, h * d, 1}
              : std::array<int64_t, 4>{h * s * d, s * d, d, 1};
}

/// Contiguous BHSD floats of `sizes` laid out as `strides` in `bytes` of
/// `dtype`; elements of sequence rows at or past `rows` are left as they
/// are (the caller's poison).
void encodeRows(const std::vector<float> &bhsd, std::array<int64_t, 4> sizes,
                std::array<int64_t, 4> strides, int64_t rows, DType dtype,
                std::vector<uint8_t> &bytes) {
  const size_t width = dtypeSize(dtype);
  int64_t i = 0;
  for (int64_t b = 0; b < sizes[0]; ++b)
    for (int64_t h = 0; h < sizes[1]; ++h)
      for (int64_t s = 0; s < sizes[2]; ++s)
        for (int64_t d = 0; d < sizes[3]; ++d, ++i)
          if (s < rows)
            encodeFloats(
                dtype, &bhsd[i],
                bytes.data() + (b * strides[0] + h * strides[1] + s * strides[2] + d) * width, 1);
}

/// The first `rows` positions of each of `heads` [positions, D] slabs of a
/// contiguous BHSD tensor, contiguous.
std::vector<float> firstRows(const std::vector<float> &bhsd, int64_t heads, int64_t positions,
                             int64_t rows, int64_t headDim) {
  std::vector<float> kept;
  kept.reserve(heads * rows * headDim);
  for (int64_t bh = 0; bh < heads; ++bh)
    kept.insert(kept.end(), bhsd.begin() + bh * positions * headDim,
                bhsd.begin() + (bh * positions + rows) * headDim);
  return kept;
}

/// Random normal values rounded to `dtype`, contiguous BHSD.
std::vector<float> randomRounded(size_t count, DType dtype, std::mt19937_64 &rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(count);
  for (float &x : v)
    x = normal(rng);
  std::vector<uint8_t> bytes(count * dtypeSize(dtype));
  encodeFloats(dtype, v.data(), bytes.data(), count);
  decodeFloats(dtype, bytes.data(), v.data(), count);
  return v;
}

/// The float64 reference of one step (see the file comment), its Sq rows
/// per (batch entry, head), contiguous BHSD.
std::vector<double> stepReference(const GenerationCase &c, const KernelSpec &spec,
                                  const std::vector<float> &qAll, const std::vector<float> &kAll,
                                  const std::vector<float> &vAll, int64_t qPos, int64_t live) {
  const int64_t M = c.positions, D = spec.shape.headDim;
  const int64_t firstBlock = qPos / c.blockQ, x0 = firstBlock * c.blockQ;
  const int64_t rows = live - x0;
  const int64_t qBlocks = (rows + c.blockQ - 1) / c.blockQ,
                kBlocks = (live + c.blockK - 1) / c.blockK;
  auto window = BlockMask::create(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK);
  EXPECT_TRUE(window);
  for (int64_t h = 0; h < c.headsQ; ++h)
    for (int64_t qb = 0; qb < qBlocks; ++qb)
      for (int64_t kb = 0; kb < kBlocks; ++kb)
        window->set(h, qb, kb, spec.mask.get(h, firstBlock + qb, kb));
  std::vector<float> q, k, v;
  for (int64_t bh = 0; bh < c.batch * c.headsQ; ++bh)
    q.insert(q.end(), qAll.begin() + (bh * M + x0) * D, qAll.begin() + (bh * M + live) * D);
  for (int64_t bh = 0; bh < c.batch * c.headsKv; ++bh) {
    k.insert(k.end(), kAll.begin() + bh * M * D, kAll.begin() + (bh * M + live) * D);
    v.insert(v.end(), vAll.begin() + bh * M * D, vAll.begin() + (bh * M + live) * D);
  }
  ProblemShape shape = spec.shape;
  shape.seqQ = rows;
  shape.seqK = live;
  // Bottom-right: query i of the window is position live - rows + i = x0 + i.
  CausalMode causal = c.causal ? CausalMode::bottomRightAligned() : CausalMode(false);
  std::vector<double> full = referenceAttention(shape, *window, causal, spec.effectiveScale(),
                                                q.data(), k.data(), v.data());
  std::vector<double> out;
  for (int64_t bh = 0; bh < c.batch * c.headsQ; ++bh)
    out.insert(out.end(), full.begin() + (bh * rows + qPos - x0) * D,
               full.begin() + (bh * rows + qPos - x0 + c.seqQ) * D);
  return out;
}

class GpuGeneration : public ::testing::TestWithParam<GenerationParam> {};

TEST_P(GpuGeneration, EveryStepMatchesFloat64Reference) {
  auto [dtype, headDim, caseIndex, variantIndex] = GetParam();
  if (kGenerationVariants[variantIndex].options.variant == "wgmma" && ledger().chip() != "sm_90a")
    GTEST_SKIP() << kChipCannotRun << "the wgmma kernel needs sm_90a, this GPU is "
                 << ledger().chip();
  const GenerationCase &c = kCases[caseIndex];
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));

  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.positions, headDim, dtype};
  spec.causal = c.causal;
  spec.generation = true;
  spec.options = kGenerationVariants[variantIndex].options;
  spec.mask = positionMask(c, maskSeed(name));
  SIEVE_DEVICE_KERNELS(kernels, generationConfig(GetParam()), {spec});
  ASSERT_TRUE(kernels[0]) << kernels[0].error().str();
  const Artifact &artifact = **kernels[0];
  ASSERT_TRUE(artifact.generation);
  ASSERT_EQ(artifact.variant, spec.options.variant) << artifact.config;
  const std::string packing = "pack-gqa g=" + std::to_string(c.headsQ / c.headsKv);
  ASSERT_EQ(artifact.config.find(packing) != std::string::npos, packs(c, spec.options))
      << artifact.config;
  ASSERT_EQ(artifact.config.find("key blocks (generation)") != std::string::npos, c.splits)
      << "split-KV: " << artifact.config;
  ASSERT_EQ(artifact.splitsKv(), c.splits) << artifact.config;

  Session &session = *ledger().session();
  const CudaDriver &drv = session.gpu()->driver();
  const int64_t M = c.positions;
  const std::array<int64_t, 4> qSizes{c.batch, c.headsQ, c.seqQ, headDim};
  const auto qStrides = stridesOf(qSizes, c.bshd);
  const size_t qBytes = c.batch * c.headsQ * c.seqQ * headDim * dtypeSize(dtype),
               cacheBytes = c.batch * c.headsKv * M * headDim * dtypeSize(dtype);
  // q, k, v and out, each between guard bytes.
  const size_t sizes[4] = {qBytes, cacheBytes, cacheBytes, qBytes};
  CuDevicePtr base[4] = {};
  for (int t = 0; t < 4; ++t) {
    auto p = drv.alloc(sizes[t] + 2 * kGuardBytes);
    ASSERT_TRUE(p) << p.error().str();
    base[t] = *p;
  }
  auto freeAll = [&] {
    for (CuDevicePtr p : base)
      (void)drv.free(p);
  };
  auto view = [&](int t, std::array<int64_t, 4> s, std::array<int64_t, 4> st) {
    return TensorView{reinterpret_cast<void *>(base[t] + kGuardBytes), dtype, s, st,
                      DeviceKind::Cuda};
  };
  const TensorView q = view(0, qSizes, qStrides), out = view(3, qSizes, qStrides);

  for (size_t step = 0; step < c.steps.size(); ++step) {
    auto [qPos, liveGiven] = c.steps[step];
    const int64_t live = liveGiven ? liveGiven : qPos + c.seqQ;
    // Every other step the cache is grown to exactly the live keys (a
    // framework's dynamic cache), laid out from the buffer's start with the
    // strides of that size: past it lie poison (NaN) and the guard bytes,
    // so a read past the live keys shows in the output.
    const bool grown = step % 2 == 1;
    const std::array<int64_t, 4> kvSizes{c.batch, c.headsKv, grown ? live : M, headDim};
    const auto kvStrides = stridesOf(kvSizes, c.bshd);
    const TensorView k = view(1, kvSizes, kvStrides), v = view(2, kvSizes, kvStrides);
    SCOPED_TRACE("q_pos " + std::to_string(qPos) + " seq_k_live " + std::to_string(live) +
                 " cache of " + std::to_string(kvSizes[2]));
    // The sequence (fresh per step), as the reference sees it.
    std::vector<float> qAll = randomRounded(c.batch * c.headsQ * M * headDim, dtype, rng),
                       kAll = randomRounded(c.batch * c.headsKv * M * headDim, dtype, rng),
                       vAll = randomRounded(c.batch * c.headsKv * M * headDim, dtype, rng);
    // The step's queries, and the cache: live rows, NaN past them.
    std::vector<float> qStep;
    for (int64_t bh = 0; bh < c.batch * c.headsQ; ++bh)
      qStep.insert(qStep.end(), qAll.begin() + (bh * M + qPos) * headDim,
                   qAll.begin() + (bh * M + qPos + c.seqQ) * headDim);
    std::vector<uint8_t> qHost(qBytes), kHost(cacheBytes, kPoisonByte),
        vHost(cacheBytes, kPoisonByte);
    encodeRows(qStep, qSizes, qStrides, c.seqQ, dtype, qHost);
    encodeRows(firstRows(kAll, c.batch * c.headsKv, M, kvSizes[2], headDim), kvSizes, kvStrides,
               live, dtype, kHost);
    encodeRows(firstRows(vAll, c.batch * c.headsKv, M, kvSizes[2], headDim), kvSizes, kvStrides,
               live, dtype, vHost);
    const std::vector<uint8_t> *hosts[3] = {&qHost, &kHost, &vHost};
    for (int t = 0; t < 4; ++t) {
      ASSERT_FALSE(drv.memset8(base[t], kGuardByte, sizes[t] + 2 * kGuardBytes));
      if (t < 3)
        ASSERT_FALSE(drv.copyToDevice(base[t] + kGuardBytes, hosts[t]->data(), sizes[t]));
      else
        ASSERT_FALSE(drv.memset8(base[t] + kGuardBytes, kPoisonByte, sizes[t]));
    }

    Error launched = session.generate(artifact, q, k, v, out, {qPos, liveGiven});
    Error synced = drv.synchronize(nullptr);
    std::vector<uint8_t> outBytes(qBytes + 2 * kGuardBytes);
    Error copied = drv.copyToHost(outBytes.data(), base[3], outBytes.size());
    if (launched || synced || copied)
      freeAll();
    ASSERT_FALSE(launched) << launched.str();
    ASSERT_FALSE(synced) << synced.str();
    ASSERT_FALSE(copied) << copied.str();
    for (size_t i = 0; i < kGuardBytes; ++i) {
      ASSERT_EQ(outBytes[i], kGuardByte) << "kernel wrote before the output, byte " << i;
      ASSERT_EQ(outBytes[outBytes.size() - 1 - i], kGuardByte) << "kernel wrote past the output";
    }
    std::vector<float> storage(qBytes / dtypeSize(dtype));
    decodeFloats(dtype, outBytes.data() + kGuardBytes, storage.data(), storage.size());
    std::vector<float> got;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t h = 0; h < c.headsQ; ++h)
        for (int64_t s = 0; s < c.seqQ; ++s)
          for (int64_t d = 0; d < headDim; ++d)
            got.push_back(
                storage[b * qStrides[0] + h * qStrides[1] + s * qStrides[2] + d * qStrides[3]]);
    std::vector<double> ref = stepReference(c, spec, qAll, kAll, vAll, qPos, live);
    RowComparison rows =
        compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, headDim, rowTolerance(dtype));
    EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
  }
  freeAll();
}

/// Every case on the mma body (sm_80 and later) and the Hopper body
/// (sm_90a), f16 and bf16, head dims 64 and 128; the unpacked variants on
/// the cases that pack by default (elsewhere they would be the same kernel).
std::vector<GenerationParam> generationParams() {
  std::vector<GenerationParam> params;
  for (DType dtype : {DType::F16, DType::BF16})
    for (int64_t headDim : {64, 128})
      for (int caseIndex = 0; caseIndex < kCaseCount; ++caseIndex)
        for (int variant = 0; variant < kVariantCount; ++variant) {
          const KernelOptions &options = kGenerationVariants[variant].options;
          const bool unpacked = options.packGqa == "off";
          if (!unpacked || packs(kCases[caseIndex], KernelOptions{.packGqa = "on"}))
            params.emplace_back(dtype, headDim, caseIndex, variant);
        }
  return params;
}
INSTANTIATE_TEST_SUITE_P(Steps, GpuGeneration, ::testing::ValuesIn(generationParams()),
                         generationParamName);

// The launch refuses a step outside the kernel's contract, in the caller's
// terms, before anything runs.
TEST(GpuGenerationContract, StepsOutsideTheContractAreRefused) {
  const GenerationCase &c = kCases[0];
  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.positions, 64, DType::BF16};
  spec.causal = true;
  spec.generation = true;
  spec.options = kGenerationVariants[0].options;
  spec.mask = positionMask(c, maskSeed("generation-contract"));
  SIEVE_DEVICE_KERNELS(kernels, "generation/mma/bf16/d64/causal", {spec});
  ASSERT_TRUE(kernels[0]) << kernels[0].error().str();
  Session &session = *ledger().session();
  const std::array<int64_t, 4> qSizes{c.batch, c.headsQ, 1, 64},
      kSizes{c.batch, c.headsKv, c.positions, 64};
  // Never dereferenced: every step below is refused before the launch.
  auto fake = [](std::array<int64_t, 4> s) {
    return TensorView::contiguous(reinterpret_cast<void *>(uintptr_t(1) << 40), DType::BF16, s,
                                  DeviceKind::Cuda);
  };
  const TensorView q = fake(qSizes), k = fake(kSizes), v = fake(kSizes), out = fake(qSizes);
  Error e = session.generate(**kernels[0], q, k, v, out, {c.positions, 0});
  EXPECT_NE(e.message().find("exceeds the kernel's 300 positions"), std::string::npos) << e.str();
  e = session.generate(**kernels[0], q, k, v, out, {-1, 0});
  EXPECT_NE(e.message().find("negative"), std::string::npos) << e.str();
  e = session.generate(**kernels[0], q, k, v, out, {10, 10});
  EXPECT_NE(e.message().find("a query's own key must be live"), std::string::npos) << e.str();
  e = session.run(**kernels[0], q, k, v, out);
  EXPECT_NE(e.message().find("generate()"), std::string::npos) << e.str();
}

} // namespace
