//===- GpuSuiteTest.cpp - GPU kernels against the float64 reference --------===//
//
// Runs on the lent GPU (tests/device/run.sh). Each case compiles its mask
// (seeded from the case's name) in process for the device's chip through
// the kernel ledger, uploads random f16/bf16 inputs, fills the output with
// NaN (0xFF bytes) and guard bytes around it, launches, and compares with
// referenceAttention on the same rounded inputs, row by row. Without a GPU
// the binary exits with ctest's skip code; in compile-only mode (CI's
// attestation check) each case compiles its kernels and stops there.
//
//===----------------------------------------------------------------------===//
#include "KernelLedger.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <tuple>

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::runtime;
using namespace sieve::testing;

namespace {

struct Shape {
  const char *name;
  int64_t batch, headsQ, headsKv, seqQ, seqK, blockQ, blockK;
  double density;
  bool bshd;
  int64_t emptyHeads;
  // The last `denseRows` query blocks of every live head keep every key
  // block: a skewed mask, whose long rows split-KV cuts into parts.
  int64_t denseRows = 0;
  // Causal cases align the mask bottom-right (query i sees keys up to
  // i + Sk - Sq: a KV cache's queries); top-left otherwise.
  bool bottomRight = false;
};

// clang-format off
const Shape kShapes[] = {
    //  name            B  Hq Hkv  Sq    Sk    bq   bk  dens  bshd  empty heads
    {"square64",        2, 4, 4,  512,  512,  64,  64, 0.3, false, 1},
    {"sq_ne_sk_partial", 1, 4, 4, 200,  456,  64,  32, 0.5, false, 0},
    {"gqa_bshd",        2, 8, 2,  384,  384,  64,  64, 0.4, true,  2},
    {"tiles128",        1, 4, 4, 1024, 1024, 128, 128, 0.2, false, 1},
    {"ragged_q64_k128", 2, 4, 2, 1000,  777,  64, 128, 0.5, true,  1},
    {"ragged128_gqa",   2, 8, 2, 1000, 1100, 128, 128, 0.4, false, 1},
    // Split-KV: 2 dense rows of 16 blocks among 1-block rows (cut into parts
    // of 4 blocks); ragged GQA cross-attention with batch 2 and 64-blocks.
    {"skewed",          1, 4, 4, 2048, 2048, 128, 128, 0.0, false, 1, 2},
    {"skewed_ragged_gqa", 2, 4, 2, 1500, 1900, 64,  64, 0.05, true, 1, 3},
    // Bottom-right causal masks: queries that are the last Sq positions
    // (32-key blocks, for the mma and simt bodies; a GQA prefill chunk),
    // more queries than keys (the first Sq - Sk rows see no key: zeros),
    // and split-KV parts of a skewed mask.
    {"br_sq_lt_sk_partial", 1, 4, 4, 200, 456,  64,  32, 0.5, false, 0, 0, true},
    {"br_prefill_gqa_bshd", 1, 8, 2, 192, 1000, 64,  64, 0.5, true,  1, 0, true},
    {"br_sq_gt_sk_ragged",  2, 4, 2, 1000, 777, 64, 128, 0.5, true,  1, 0, true},
    {"br_skewed_ragged_gqa", 2, 4, 2, 1500, 1900, 64, 64, 0.05, true, 1, 3, true},
    // Decode (GQA packed: Sq <= 64, Hq > Hkv): g = 4 and 8 query heads per
    // key head, Sq 1, 16 and 64, bottom-right when causal; few packed rows,
    // so split-KV cuts them over the SMs.
    {"decode_sq1_g4",       2, 16, 4, 1,  4096, 64, 128, 0.6, false, 1, 0, true},
    {"decode_sq16_g8_bshd", 1, 16, 2, 16, 2048, 16, 64,  0.5, true,  1, 0, true},
    {"decode_sq64_g4",      1, 8,  2, 64, 1000, 64, 64,  0.7, false, 1, 0, true},
};
constexpr int kFirstSkewedShape = 6, kFirstBottomRightShape = 8, kFirstDecodeShape = 12;
// clang-format on

// Kernel bodies under test: the sm_80 tensor-core kernel with two and three
// pipeline stages and 128-row tiles, the scalar baseline, and the Hopper
// kernel (sm_90a only) with its default 128 x 128 tiles (64 where the
// blocks are 64), 64-key tiles, and three stages.
struct Variant {
  const char *name;
  KernelOptions options;
};
const Variant kVariants[] = {
    {"mma", {.variant = "mma", .stages = 2}},
    {"mma_s3", {.variant = "mma", .stages = 3}},
    {"mma_q128", {.variant = "mma", .queryTile = 128}},
    {"simt", {.variant = "simt"}},
    {"wgmma", {.variant = "wgmma"}},
    {"wgmma_k64", {.variant = "wgmma", .keyTile = 64}},
    {"wgmma_s3", {.variant = "wgmma", .stages = 3}},
    {"generic", {.variant = "generic"}},
    {"wgmma_overlap", {.variant = "wgmma", .overlap = true}},
};
constexpr int kFirstHopperVariant = 4, kGenericVariant = 7, kOverlapVariant = 8;

using Param = std::tuple<DType, int64_t /*headDim*/, bool /*causal*/, int /*shape index*/,
                         int /*variant index*/>;

constexpr size_t kGuardBytes = 256;
constexpr uint8_t kGuardByte = 0x5A, kPoisonByte = 0xFF;

std::string paramName(const ::testing::TestParamInfo<Param> &info) {
  auto [dtype, headDim, causal, shape, variant] = info.param;
  return std::string(kVariants[variant].name) + "_" + dtypeName(dtype) + "_d" +
         std::to_string(headDim) + (causal ? "_causal_" : "_") + kShapes[shape].name;
}

class GpuSuite : public ::testing::TestWithParam<Param> {};

// Host storage of one tensor, its [B, H, S, D] strides, and the values the
// device sees (rounded to the dtype) as contiguous BHSD floats.
struct Tensor {
  std::array<int64_t, 4> sizes, strides;
  std::vector<uint8_t> bytes;
  std::vector<float> roundedBhsd;
};

Tensor makeTensor(std::array<int64_t, 4> sizes, bool bshd, DType dtype, std::mt19937_64 *rng) {
  auto [b, h, s, d] = sizes;
  Tensor t{sizes,
           bshd ? std::array<int64_t, 4>{s * h * d, d, h * d, 1}
                : std::array<int64_t, 4>{h * s * d, s * d, d, 1},
           std::vector<uint8_t>(b * h * s * d * dtypeSize(dtype), kPoisonByte),
           {}};
  if (!rng)
    return t;
  std::normal_distribution<float> normal;
  std::vector<float> storage(b * h * s * d);
  for (float &x : storage)
    x = normal(*rng);
  encodeFloats(dtype, storage.data(), t.bytes.data(), storage.size());
  decodeFloats(dtype, t.bytes.data(), storage.data(), storage.size());
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < h; ++j)
      for (int64_t k = 0; k < s; ++k)
        for (int64_t l = 0; l < d; ++l)
          t.roundedBhsd.push_back(
              storage[i * t.strides[0] + j * t.strides[1] + k * t.strides[2] + l]);
  return t;
}

/// A case's mask: random tiles (diagonal kept), the shape's empty heads,
/// an empty row in head 0 and its dense rows.
BlockMask caseMask(const Shape &c, uint64_t seed) {
  const int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
  BlockMask mask = BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, c.density,
                                     seed, /*keepDiagonal=*/true);
  for (int64_t h = c.headsQ - c.emptyHeads; h < c.headsQ; ++h)
    mask.setHead(h, false);
  for (int64_t kb = 0; kb < kBlocks; ++kb) // an empty row in a live head
    mask.set(0, 1, kb, false);
  for (int64_t h = 0; h < c.headsQ - c.emptyHeads; ++h)
    for (int64_t qb = qBlocks - c.denseRows; qb < qBlocks; ++qb)
      for (int64_t kb = 0; kb < kBlocks; ++kb)
        mask.set(h, qb, kb, true);
  return mask;
}

/// "forward/wgmma_k64/bf16/d128/causal": what a case attests, its shape aside
/// ("/causal-bottom-right" for a bottom-right mask).
std::string configName(const Param &p) {
  auto [dtype, headDim, causal, shape, variant] = p;
  return std::string(kShapes[shape].denseRows > 0 ? "split-kv/" : "forward/") +
         kVariants[variant].name + "/" + dtypeName(dtype) + "/d" + std::to_string(headDim) +
         (!causal                      ? "/full"
          : kShapes[shape].bottomRight ? "/causal-bottom-right"
                                       : "/causal");
}

TEST_P(GpuSuite, MatchesFloat64Reference) {
  auto [dtype, headDim, causal, shapeIndex, variantIndex] = GetParam();
  const bool hopper = (variantIndex >= kFirstHopperVariant && variantIndex < kGenericVariant) ||
                      variantIndex == kOverlapVariant;
  if (hopper && ledger().chip() != "sm_90a")
    GTEST_SKIP() << kChipCannotRun << "the wgmma kernel needs sm_90a, this GPU is "
                 << ledger().chip();
  const Shape &c = kShapes[shapeIndex];
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));

  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, headDim, dtype};
  spec.causal = causal;
  if (causal && c.bottomRight)
    spec.causalAlign = CausalAlign::BottomRight;
  spec.options = kVariants[variantIndex].options;
  spec.mask = caseMask(c, maskSeed(name));
  // The generic kernel reads its mask at launch: it runs with a different
  // mask than the one it was compiled with (the artifact is the same for
  // every mask of the shape), uploaded as row tables.
  const bool generic = variantIndex == kGenericVariant;
  std::vector<KernelSpec> specs = {spec};
  if (generic) {
    KernelSpec other = spec;
    other.mask = caseMask(c, maskSeed(name + "/launch"));
    specs.push_back(std::move(other));
  }

  using Clock = std::chrono::steady_clock;
  auto msSince = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  auto t0 = Clock::now();
  SIEVE_DEVICE_KERNELS(kernels, configName(GetParam()), specs);
  double compileMs = msSince(t0);
  for (auto &k : kernels)
    ASSERT_TRUE(k) << k.error().str();
  const auto &artifact = kernels[0];
  ASSERT_EQ((*artifact)->variant, spec.options.variant) << (*artifact)->config;
  // Decode shapes pack GQA, and their few packed rows are cut over the SMs.
  if (shapeIndex >= kFirstDecodeShape) {
    EXPECT_NE((*artifact)->config.find("pack-gqa"), std::string::npos) << (*artifact)->config;
    EXPECT_NE((*artifact)->config.find("split_kv"), std::string::npos) << (*artifact)->config;
  }
  // The skewed masks are what split-KV is for: specialized kernels must
  // have cut their long rows (the generic kernel's schedule is per shape).
  if (c.denseRows > 0)
    ASSERT_EQ((*artifact)->splitsKv(), !generic) << (*artifact)->config;

  std::unique_ptr<DeviceRowTables> tables;
  Session &session = *ledger().session();
  if ((*artifact)->maskAtLaunch()) {
    ASSERT_EQ((*kernels[1])->cacheKey, (*artifact)->cacheKey) << "a new mask recompiled the kernel";
    spec.mask = specs[1].mask;
    auto uploaded = session.uploadMask(spec.mask, c.seqQ, spec.causalRule());
    ASSERT_TRUE(uploaded) << uploaded.error().str();
    tables = std::move(*uploaded);
  }

  const CudaDriver &drv = session.gpu()->driver();
  Tensor q = makeTensor({c.batch, c.headsQ, c.seqQ, headDim}, c.bshd, dtype, &rng);
  Tensor k = makeTensor({c.batch, c.headsKv, c.seqK, headDim}, c.bshd, dtype, &rng);
  Tensor v = makeTensor({c.batch, c.headsKv, c.seqK, headDim}, c.bshd, dtype, &rng);
  Tensor out = makeTensor({c.batch, c.headsQ, c.seqQ, headDim}, c.bshd, dtype, nullptr);

  // Each tensor sits between guard bytes; the output starts as poison.
  Tensor *tensors[4] = {&q, &k, &v, &out};
  CuDevicePtr base[4];
  TensorView views[4];
  for (int t = 0; t < 4; ++t) {
    size_t bytes = tensors[t]->bytes.size();
    auto p = drv.alloc(bytes + 2 * kGuardBytes);
    ASSERT_TRUE(p) << p.error().str();
    base[t] = *p;
    ASSERT_FALSE(drv.memset8(base[t], kGuardByte, bytes + 2 * kGuardBytes));
    ASSERT_FALSE(drv.copyToDevice(base[t] + kGuardBytes, tensors[t]->bytes.data(), bytes));
    views[t] = TensorView{reinterpret_cast<void *>(base[t] + kGuardBytes), dtype, tensors[t]->sizes,
                          tensors[t]->strides, DeviceKind::Cuda};
  }
  auto t1 = Clock::now(); // includes the module load (the driver JITs the PTX)
  Error launched =
      session.run(**artifact, views[0], views[1], views[2], views[3], nullptr, tables.get());
  Error synced = drv.synchronize(nullptr);
  double loadRunMs = msSince(t1);
  std::vector<uint8_t> outBytes(out.bytes.size() + 2 * kGuardBytes);
  Error copied = drv.copyToHost(outBytes.data(), base[3], outBytes.size());
  for (CuDevicePtr p : base)
    (void)drv.free(p);
  ASSERT_FALSE(launched) << launched.str();
  ASSERT_FALSE(synced) << synced.str();
  ASSERT_FALSE(copied) << copied.str();

  for (size_t i = 0; i < kGuardBytes; ++i) {
    ASSERT_EQ(outBytes[i], kGuardByte) << "kernel wrote before the output, byte " << i;
    ASSERT_EQ(outBytes[outBytes.size() - 1 - i], kGuardByte) << "kernel wrote past the output";
  }
  std::vector<float> storage(out.bytes.size() / dtypeSize(dtype));
  decodeFloats(dtype, outBytes.data() + kGuardBytes, storage.data(), storage.size());
  std::vector<float> got;
  for (int64_t i = 0; i < c.batch; ++i)
    for (int64_t j = 0; j < c.headsQ; ++j)
      for (int64_t s = 0; s < c.seqQ; ++s)
        for (int64_t d = 0; d < headDim; ++d)
          got.push_back(storage[i * out.strides[0] + j * out.strides[1] + s * out.strides[2] + d]);

  auto t2 = Clock::now();
  std::vector<double> ref =
      referenceAttention(spec.shape, spec.mask, {causal, spec.causalAlign}, spec.effectiveScale(),
                         q.roundedBhsd.data(), k.roundedBhsd.data(), v.roundedBhsd.data());
  double referenceMs = msSince(t2);
  // Row by row: unwritten (poison), NaN, zeroed and wrong rows all fail,
  // and empty heads and rows must be exact zeros.
  RowComparison rows =
      compareRows(got.data(), ref, c.batch, c.headsQ, c.seqQ, headDim, rowTolerance(dtype));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
  RecordProperty("worst_row_error", std::to_string(rows.worstError));
  std::printf("  %-42s worst row err %.3e, %4lld of %4lld tiles kept; compile %.0f ms, load+run "
              "%.0f ms, reference %.0f ms\n",
              paramName({GetParam(), 0}).c_str(), rows.worstError,
              static_cast<long long>((*artifact)->keptTiles),
              static_cast<long long>((*artifact)->totalTiles), compileMs, loadRunMs, referenceMs);
}

INSTANTIATE_TEST_SUITE_P(Masks, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Bool(), ::testing::Range(0, 5),
                                            ::testing::Range(0, kFirstHopperVariant)),
                         paramName);

// The Hopper kernel needs blocks that are multiples of 64 (every shape but
// sq_ne_sk_partial, whose 32-key blocks the mma kernel covers).
INSTANTIATE_TEST_SUITE_P(Hopper, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Bool(), ::testing::Values(0, 2, 3, 4, 5),
                                            ::testing::Range(kFirstHopperVariant, kGenericVariant)),
                         paramName);

// The Hopper kernel's overlapped schedule (each tile's softmax beside the
// previous tile's P·V, 3 stages) on the shapes with 64-multiple blocks,
// whole rows and split-KV parts, at the head dims whose 3 stages fit
// (D = 256 needs 64-row query tiles for them).
INSTANTIATE_TEST_SUITE_P(Overlap, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(32), int64_t(64), int64_t(96),
                                                              int64_t(128), int64_t(192)),
                                            ::testing::Bool(),
                                            ::testing::Values(0, 2, 3, 4, 5, kFirstSkewedShape,
                                                              kFirstSkewedShape + 1),
                                            ::testing::Values(kOverlapVariant)),
                         paramName);

// The generic kernel on every shape (its body is the Hopper kernel where
// the blocks allow, else the mma kernel).
INSTANTIATE_TEST_SUITE_P(Generic, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Bool(), ::testing::Range(0, 6),
                                            ::testing::Values(kGenericVariant)),
                         paramName);

// The mma body at the head dims other than 64 and 128 (on sm_80 these are
// what auto runs): every whole-row shape (GQA, BSHD, ragged Sq and Sk,
// 32-key blocks), with its default tiles and with 128-row query tiles;
// above 128 columns the Q fragments come from shared memory and the key
// tile is 32 keys.
INSTANTIATE_TEST_SUITE_P(HeadDims, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(),
                                            ::testing::Range(0, kFirstSkewedShape),
                                            ::testing::Values(0, 2)),
                         paramName);

// The generic kernel at those head dims, on the partial-block shape (the
// mma body: 32-key blocks) and the ragged GQA one (on sm_90a the Hopper
// body).
INSTANTIATE_TEST_SUITE_P(HeadDimsGeneric, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(), ::testing::Values(1, 4),
                                            ::testing::Values(kGenericVariant)),
                         paramName);

// Split-KV parts (the workspace, the last part's merge) of the mma body at
// those head dims.
INSTANTIATE_TEST_SUITE_P(HeadDimsSplitKv, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(),
                                            ::testing::Values(kFirstSkewedShape,
                                                              kFirstSkewedShape + 1),
                                            ::testing::Values(0)),
                         paramName);

// The Hopper body at the head dims other than 64 and 128 (on sm_90a what
// auto runs): its shared-memory slabs are 64 bytes wide at D = 32 and 96,
// 32 bytes at 80 (TMA boxes, wgmma descriptors and the output staging all
// swizzled at that width), 128 bytes at 192 and 256 with 64-key tiles; on
// every shape whose blocks are multiples of 64 (GQA, BSHD, ragged Sq and
// Sk; 64-key tiles on 64-key blocks, 128 on 128 up to D = 128), then
// split-KV parts on the skewed masks.
INSTANTIATE_TEST_SUITE_P(HopperHeadDims, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(), ::testing::Values(0, 2, 3, 4, 5),
                                            ::testing::Values(kFirstHopperVariant)),
                         paramName);
INSTANTIATE_TEST_SUITE_P(HopperHeadDimsSplitKv, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(),
                                            ::testing::Values(kFirstSkewedShape,
                                                              kFirstSkewedShape + 1),
                                            ::testing::Values(kFirstHopperVariant)),
                         paramName);

// Split-KV on the skewed masks, every kernel body (the Hopper ones skip
// off sm_90a; the generic kernel runs whole rows).
INSTANTIATE_TEST_SUITE_P(
    SplitKv, GpuSuite,
    ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                       ::testing::Values(int64_t(64), int64_t(128)), ::testing::Bool(),
                       ::testing::Values(kFirstSkewedShape, kFirstSkewedShape + 1),
                       ::testing::Range(0, kGenericVariant + 1)),
    paramName);

// Bottom-right causal masks on the mma, simt and generic bodies (every
// bottom-right shape) and the Hopper body (blocks of 64 and 128), and
// split-KV parts of the skewed one on mma and wgmma. Causal only: without
// causal these shapes are the ones above.
INSTANTIATE_TEST_SUITE_P(CausalBottomRight, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::BF16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Values(true),
                                            ::testing::Values(kFirstBottomRightShape,
                                                              kFirstBottomRightShape + 1,
                                                              kFirstBottomRightShape + 2),
                                            ::testing::Values(0, 3, kGenericVariant)),
                         paramName);
INSTANTIATE_TEST_SUITE_P(
    CausalBottomRightHopper, GpuSuite,
    ::testing::Combine(::testing::Values(DType::BF16), ::testing::Values(int64_t(64), int64_t(128)),
                       ::testing::Values(true),
                       ::testing::Values(kFirstBottomRightShape + 1, kFirstBottomRightShape + 2),
                       ::testing::Values(kFirstHopperVariant)),
    paramName);
INSTANTIATE_TEST_SUITE_P(CausalBottomRightSplitKv, GpuSuite,
                         ::testing::Combine(::testing::Values(DType::BF16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Values(true),
                                            ::testing::Values(kFirstBottomRightShape + 3),
                                            ::testing::Values(0, kFirstHopperVariant)),
                         paramName);

// Decode with GQA packing (sieve-pack-gqa, chosen automatically here) on
// the mma body: f16 and bf16, full and bottom-right causal.
INSTANTIATE_TEST_SUITE_P(
    DecodePackGqa, GpuSuite,
    ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                       ::testing::Values(int64_t(64), int64_t(128)), ::testing::Bool(),
                       ::testing::Range(kFirstDecodeShape, kFirstDecodeShape + 3),
                       ::testing::Values(0)),
    paramName);
// The same on the Hopper body (Q copied in by cp.async, K and V by TMA),
// at head dims of every slab width: 64 and 128 (128-byte slabs) and 96
// (64-byte slabs).
INSTANTIATE_TEST_SUITE_P(
    DecodePackGqaHopper, GpuSuite,
    ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                       ::testing::Values(int64_t(64), int64_t(96), int64_t(128)), ::testing::Bool(),
                       ::testing::Range(kFirstDecodeShape, kFirstDecodeShape + 3),
                       ::testing::Values(kFirstHopperVariant)),
    paramName);

} // namespace
