//===- GpuBackwardTest.cpp - GPU gradients against the float64 reference --===//
//
// Runs on the lent GPU. Each case compiles, for the device's chip and
// through the kernel ledger (KernelLedger.h), the training forward (which
// saves the log-sum-exp) and the backward for one mask seeded from its
// name, runs both on random f16/bf16 inputs with every output (out, lse,
// dq, dk, dv) poisoned with 0xFF bytes (NaN), and compares with the float64
// references on the same rounded inputs: the forward's output row by row,
// gradients to a relative error under 1e-2 (the largest difference over the
// largest reference value), the lse to 2e-3 and -inf exactly where no key
// is kept.
// Cases cover causal and not, GQA, BSHD strides, Sq != Sk, ragged tiles,
// block_q != block_k both ways, an empty row and empty heads, at head dims
// 32 to 256. A second test checks the lse of every forward body (wgmma,
// mma, simt). A third trains through threshold mode's hard threshold:
// per-head thresholds that drop whole key tiles, parts of tiles, every
// score of a head and none.
//
//===----------------------------------------------------------------------===//
#include "KernelLedger.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/ReferenceBackward.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"
#include "sieve/testing/Thresholds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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
  // Causal cases align the mask bottom-right (query i sees keys up to
  // i + Sk - Sq); top-left otherwise.
  bool bottomRight = false;
};

// clang-format off
const Shape kShapes[] = {
    //  name           B  Hq Hkv  Sq   Sk   bq   bk  dens  bshd  empty heads
    {"square",         2, 4, 4,  512, 512,  64,  64, 0.4, false, 1},
    {"gqa_bshd_ragged", 1, 8, 2, 450, 450,  64,  64, 0.5, true,  2},
    {"bq128_bk64",     1, 4, 2,  640, 640, 128,  64, 0.4, false, 0},
    {"bq64_bk128_cross", 2, 2, 1, 300, 500, 64, 128, 0.6, true,  0},
    {"tiles32",        2, 4, 4,  320, 320,  32,  32, 0.3, false, 1},
    {"b128_gqa_ragged", 1, 4, 2, 700, 700, 128, 128, 0.5, false, 1},
    // Bottom-right causal: a GQA prefill chunk against a longer cache, more
    // queries than keys (rows without keys: zeros, lse -inf, no gradient),
    // and 32-blocks (mma only).
    {"br_prefill_gqa_bshd", 1, 8, 2, 192, 700, 64, 64, 0.5, true, 1, true},
    {"br_sq_gt_sk",    2, 4, 2,  500, 300,  64, 128, 0.6, false, 0, true},
    {"br_tiles32_cross", 2, 4, 4, 100, 320, 32,  32, 0.5, false, 1, true},
};
constexpr int kFirstBottomRightShape = 6;
// clang-format on

/// The backward's kernels: "auto" (wgmma on sm_90a where the blocks are
/// multiples of 64, at every head dim of the suite; else mma) and "mma"
/// forced.
using BackwardParam = std::tuple<DType, int64_t, bool, int, const char *>;

class GpuBackward : public ::testing::TestWithParam<BackwardParam> {};

/// One device tensor with its host bytes and the rounded values in BHSD order.
struct DeviceTensor {
  std::array<int64_t, 4> sizes, strides;
  std::vector<uint8_t> bytes;
  std::vector<float> bhsd;
  CuDevicePtr ptr = 0;
  const CudaDriver *drv = nullptr;
  ~DeviceTensor() {
    if (ptr)
      (void)drv->free(ptr);
  }
  TensorView view(DType dtype) const {
    return TensorView{reinterpret_cast<void *>(ptr), dtype, sizes, strides, DeviceKind::Cuda};
  }
  int64_t offset(int64_t b, int64_t h, int64_t s, int64_t d) const {
    return b * strides[0] + h * strides[1] + s * strides[2] + d * strides[3];
  }
};

/// Allocates and fills (random values rounded to dtype, or 0xFF poison).
void makeTensor(DeviceTensor &t, const CudaDriver &drv, std::array<int64_t, 4> sizes, bool bshd,
                DType dtype, std::mt19937_64 *rng) {
  auto [B, H, S, D] = sizes;
  t.drv = &drv;
  t.sizes = sizes;
  t.strides = bshd ? std::array<int64_t, 4>{S * H * D, D, H * D, 1}
                   : std::array<int64_t, 4>{H * S * D, S * D, D, 1};
  const size_t n = B * H * S * D;
  t.bytes.assign(n * dtypeSize(dtype), 0xFF);
  if (rng) {
    std::normal_distribution<float> normal;
    std::vector<float> x(n);
    for (float &v : x)
      v = normal(*rng);
    encodeFloats(dtype, x.data(), t.bytes.data(), n);
    decodeFloats(dtype, t.bytes.data(), x.data(), n);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t d = 0; d < D; ++d)
            t.bhsd.push_back(x[t.offset(b, h, s, d)]);
  }
  auto p = drv.alloc(t.bytes.size());
  ASSERT_TRUE(p) << p.error().str();
  t.ptr = *p;
  ASSERT_FALSE(drv.copyToDevice(t.ptr, t.bytes.data(), t.bytes.size()));
}

/// One case's tensors: random q, k, v and dout, an out poisoned for the
/// forward to write.
struct Inputs {
  DeviceTensor q, k, v, dout, out;
};

void makeInputs(Inputs &in, const CudaDriver &drv, const Shape &c, int64_t headDim, DType dtype,
                std::mt19937_64 &rng) {
  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, headDim},
      kvShape{c.batch, c.headsKv, c.seqK, headDim};
  makeTensor(in.q, drv, qShape, c.bshd, dtype, &rng);
  makeTensor(in.k, drv, kvShape, c.bshd, dtype, &rng);
  makeTensor(in.v, drv, kvShape, c.bshd, dtype, &rng);
  makeTensor(in.dout, drv, qShape, c.bshd, dtype, &rng);
  makeTensor(in.out, drv, qShape, c.bshd, dtype, nullptr);
}

/// The device tensor back as BHSD floats.
std::vector<float> download(const DeviceTensor &t, DType dtype) {
  std::vector<uint8_t> bytes(t.bytes.size());
  EXPECT_FALSE(t.drv->copyToHost(bytes.data(), t.ptr, bytes.size()));
  std::vector<float> x(bytes.size() / dtypeSize(dtype)), out;
  decodeFloats(dtype, bytes.data(), x.data(), x.size());
  auto [B, H, S, D] = t.sizes;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t d = 0; d < D; ++d)
          out.push_back(x[t.offset(b, h, s, d)]);
  return out;
}

/// The largest difference over the largest reference magnitude; infinite
/// when the kernel left a NaN or Inf (an element it never wrote).
double relativeError(const std::vector<float> &got, const std::vector<double> &want) {
  double worst = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i]))
      return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(got[i] - want[i]));
    norm = std::max(norm, std::fabs(want[i]));
  }
  return worst / std::max(norm, 1e-30);
}

KernelSpec specOf(const Shape &c, DType dtype, int64_t headDim, bool causal, uint64_t maskSeed) {
  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, headDim, dtype};
  spec.causal = causal;
  if (causal && c.bottomRight)
    spec.causalAlign = CausalAlign::BottomRight;
  const int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
  spec.mask = BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, c.density, maskSeed,
                                /*keepDiagonal=*/true);
  for (int64_t h = c.headsQ - c.emptyHeads; h < c.headsQ; ++h)
    spec.mask.setHead(h, false);
  for (int64_t kb = 0; kb < kBlocks; ++kb) // an empty row in a live head
    spec.mask.set(0, 1, kb, false);
  return spec;
}

/// Checks lse against the reference's: -inf exactly where it is -inf.
void expectLse(const std::vector<float> &lse, const std::vector<double> &want) {
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 5; ++i) {
    const bool ok = std::isinf(want[i])
                        ? (std::isinf(lse[i]) && lse[i] < 0)
                        : std::fabs(lse[i] - want[i]) <= 2e-3 * std::max(1.0, std::fabs(want[i]));
    if (!ok) {
      ++bad;
      ADD_FAILURE() << "lse[" << i << "] = " << lse[i] << ", reference " << want[i];
    }
  }
}

/// "backward/auto/bf16/d64/causal": what a case attests, its shape aside
/// ("/causal-bottom-right" for a bottom-right mask).
std::string configName(const char *mode, const char *variant, DType dtype, int64_t headDim,
                       bool causal, const Shape &c) {
  return std::string(mode) + "/" + variant + "/" + dtypeName(dtype) + "/d" +
         std::to_string(headDim) +
         (!causal         ? "/full"
          : c.bottomRight ? "/causal-bottom-right"
                          : "/causal");
}

/// The kernels a backward asked for as `variant` runs on: auto takes the
/// Hopper ones on sm_90a where the blocks are multiples of 64 (every head
/// dim of the suite), mma otherwise.
std::string expectedBackwardVariant(const char *variant, const Shape &c) {
  const bool hopperShape = ledger().chip() == "sm_90a" && c.blockQ % 64 == 0 && c.blockK % 64 == 0;
  return std::string(variant) == "auto" && hopperShape ? "wgmma" : "mma";
}

TEST_P(GpuBackward, MatchesFloat64Reference) {
  auto [dtype, headDim, causal, shapeIndex, variant] = GetParam();
  const Shape &c = kShapes[shapeIndex];
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));
  KernelSpec spec = specOf(c, dtype, headDim, causal, maskSeed(name));
  KernelSpec forwardSpec = spec, backwardSpec = spec;
  forwardSpec.saveLse = true;
  backwardSpec.backward = true;
  backwardSpec.options.variant = variant;
  SIEVE_DEVICE_KERNELS(kernels, configName("backward", variant, dtype, headDim, causal, c),
                       {forwardSpec, backwardSpec});
  auto &forward = kernels[0], &backward = kernels[1];
  ASSERT_TRUE(forward) << forward.error().str();
  ASSERT_TRUE(backward) << backward.error().str();
  ASSERT_EQ((*backward)->launches.size(), 3u) << "rows, dK/dV and dQ kernels";
  EXPECT_EQ((*backward)->variant, expectedBackwardVariant(variant, c));

  Session &session = *ledger().session();
  const CudaDriver &drv = session.gpu()->driver();
  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, headDim},
      kvShape{c.batch, c.headsKv, c.seqK, headDim};
  Inputs in;
  makeInputs(in, drv, c, headDim, dtype, rng);
  DeviceTensor &q = in.q, &k = in.k, &v = in.v, &dout = in.dout, &out = in.out;
  DeviceTensor dq, dk, dv;
  makeTensor(dq, drv, qShape, c.bshd, dtype, nullptr);
  makeTensor(dk, drv, kvShape, c.bshd, dtype, nullptr);
  makeTensor(dv, drv, kvShape, c.bshd, dtype, nullptr);
  const size_t rows = c.batch * c.headsQ * c.seqQ;
  auto lsePtr = drv.alloc(rows * sizeof(float));
  ASSERT_TRUE(lsePtr) << lsePtr.error().str();
  ASSERT_FALSE(drv.memset8(*lsePtr, 0xFF, rows * sizeof(float)));
  float *lse = reinterpret_cast<float *>(*lsePtr);

  ASSERT_FALSE(session.forward(**forward, q.view(dtype), k.view(dtype), v.view(dtype),
                               out.view(dtype), lse));
  BackwardTensors t{q.view(dtype),   k.view(dtype),    v.view(dtype),
                    out.view(dtype), dout.view(dtype), dq.view(dtype),
                    dk.view(dtype),  dv.view(dtype),   lse};
  Error e = session.backward(**backward, t);
  ASSERT_FALSE(e) << e.str();
  ASSERT_FALSE(drv.synchronize(nullptr));

  std::vector<float> lseHost(rows);
  ASSERT_FALSE(drv.copyToHost(lseHost.data(), *lsePtr, rows * sizeof(float)));
  (void)drv.free(*lsePtr);
  const AttentionGradients ref = referenceAttentionBackward(
      spec.shape, spec.mask, {causal, spec.causalAlign}, spec.effectiveScale(), q.bhsd.data(),
      k.bhsd.data(), v.bhsd.data(), dout.bhsd.data());
  expectLse(lseHost, ref.lse);
  // The training forward's output, row by row.
  const std::vector<double> refOut =
      referenceAttention(spec.shape, spec.mask, {causal, spec.causalAlign}, spec.effectiveScale(),
                         q.bhsd.data(), k.bhsd.data(), v.bhsd.data());
  const std::vector<float> gotOut = download(out, dtype);
  RowComparison outRows =
      compareRows(gotOut.data(), refOut, c.batch, c.headsQ, c.seqQ, headDim, rowTolerance(dtype));
  EXPECT_TRUE(outRows.ok()) << "training forward: " << outRows.badRows << " of " << outRows.rows
                            << " rows wrong: " << outRows.report;
  const double eq = relativeError(download(dq, dtype), ref.dq),
               ek = relativeError(download(dk, dtype), ref.dk),
               ev = relativeError(download(dv, dtype), ref.dv);
  EXPECT_LT(eq, 1e-2) << "dq";
  EXPECT_LT(ek, 1e-2) << "dk";
  EXPECT_LT(ev, 1e-2) << "dv";
  std::printf("    %s: relative error dq %.2e dk %.2e dv %.2e (%s; %s)\n", c.name, eq, ek, ev,
              (*forward)->variant.c_str(), (*backward)->config.c_str());
}

std::string paramName(const ::testing::TestParamInfo<BackwardParam> &info) {
  auto [dtype, headDim, causal, shape, variant] = info.param;
  return std::string(dtypeName(dtype)) + "_d" + std::to_string(headDim) +
         (causal ? "_causal_" : "_") + kShapes[shape].name + "_" + variant;
}

INSTANTIATE_TEST_SUITE_P(Backward, GpuBackward,
                         ::testing::Combine(::testing::Values(DType::BF16, DType::F16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Bool(), ::testing::Range(0, 6),
                                            ::testing::Values("auto", "mma")),
                         paramName);

// The other head dims, f16 and bf16, causal and not, on GQA with BSHD
// strides and ragged tiles, on Sq != Sk with block_k 128, and on 128-row
// blocks (two consumer warp groups of the Hopper kernels: two key groups
// up to D = 128, two column halves of 64 keys above; 128-query dQ blocks).
// auto runs the Hopper backward on sm_90a (its narrower slabs at D = 32,
// 80, 96 and 192), mma elsewhere.
INSTANTIATE_TEST_SUITE_P(BackwardHeadDims, GpuBackward,
                         ::testing::Combine(::testing::Values(DType::BF16, DType::F16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(), ::testing::Values(1, 2, 3, 5),
                                            ::testing::Values("auto")),
                         paramName);

// The mma backward at those head dims forced (on sm_90a auto no longer
// takes it there).
INSTANTIATE_TEST_SUITE_P(BackwardHeadDimsMma, GpuBackward,
                         ::testing::Combine(::testing::Values(DType::BF16, DType::F16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(), ::testing::Values(1, 3),
                                            ::testing::Values("mma")),
                         paramName);

// Bottom-right causal masks, causal only (without causal these shapes are
// plain cross-attention).
INSTANTIATE_TEST_SUITE_P(
    BackwardBottomRight, GpuBackward,
    ::testing::Combine(::testing::Values(DType::BF16), ::testing::Values(int64_t(64), int64_t(128)),
                       ::testing::Values(true),
                       ::testing::Range(kFirstBottomRightShape, kFirstBottomRightShape + 3),
                       ::testing::Values("auto", "mma")),
    paramName);

// Bottom-right causal masks at the other head dims (a GQA prefill chunk
// against a longer cache; more queries than keys with block_k 128).
INSTANTIATE_TEST_SUITE_P(BackwardBottomRightHeadDims, GpuBackward,
                         ::testing::Combine(::testing::Values(DType::BF16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Values(true),
                                            ::testing::Values(kFirstBottomRightShape,
                                                              kFirstBottomRightShape + 1),
                                            ::testing::Values("auto")),
                         paramName);

// Every forward body saves the same log-sum-exp.
class GpuForwardLse : public GpuBackward {};

TEST_P(GpuForwardLse, EveryBodyMatchesReference) {
  auto [dtype, headDim, causal, shapeIndex, backwardVariant] = GetParam();
  (void)backwardVariant; // the forward bodies are listed below
  const Shape &c = kShapes[shapeIndex];
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));
  KernelSpec spec = specOf(c, dtype, headDim, causal, maskSeed(name));
  spec.saveLse = true;
  std::vector<const char *> bodies = {"mma", "simt"};
  // The Hopper body needs blocks of 64 rows or more (its warp group's
  // tile); the 32-blocks shapes are the other bodies'.
  if (ledger().chip() == "sm_90a" && c.blockQ % 64 == 0 && c.blockK % 64 == 0)
    bodies.insert(bodies.begin(), "wgmma");
  std::vector<KernelSpec> specs;
  for (const char *body : bodies) {
    specs.push_back(spec);
    specs.back().options.variant = body;
  }
  SIEVE_DEVICE_KERNELS(kernels, configName("lse", "every-body", dtype, headDim, causal, c), specs);
  Session &session = *ledger().session();
  const CudaDriver &drv = session.gpu()->driver();
  Inputs in;
  makeInputs(in, drv, c, headDim, dtype, rng);
  DeviceTensor &q = in.q, &k = in.k, &v = in.v, &dout = in.dout, &out = in.out;
  const AttentionGradients ref = referenceAttentionBackward(
      spec.shape, spec.mask, {causal, spec.causalAlign}, spec.effectiveScale(), q.bhsd.data(),
      k.bhsd.data(), v.bhsd.data(), dout.bhsd.data());
  const size_t rows = c.batch * c.headsQ * c.seqQ;
  for (size_t b = 0; b < bodies.size(); ++b) {
    SCOPED_TRACE(bodies[b]);
    auto &artifact = kernels[b];
    // Every listed body takes its shape (head dims that are multiples of
    // 16 up to 256): a refusal is a failure.
    ASSERT_TRUE(artifact) << artifact.error().str();
    auto lsePtr = drv.alloc(rows * sizeof(float));
    ASSERT_TRUE(lsePtr);
    ASSERT_FALSE(drv.memset8(*lsePtr, 0xFF, rows * sizeof(float)));
    ASSERT_FALSE(session.forward(**artifact, q.view(dtype), k.view(dtype), v.view(dtype),
                                 out.view(dtype), reinterpret_cast<float *>(*lsePtr)));
    std::vector<float> lse(rows);
    ASSERT_FALSE(drv.synchronize(nullptr));
    ASSERT_FALSE(drv.copyToHost(lse.data(), *lsePtr, rows * sizeof(float)));
    (void)drv.free(*lsePtr);
    expectLse(lse, ref.lse);
  }
}

INSTANTIATE_TEST_SUITE_P(Lse, GpuForwardLse,
                         ::testing::Combine(::testing::Values(DType::BF16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Bool(), ::testing::Range(0, 4),
                                            ::testing::Values("auto")),
                         paramName);

// The training forward's lse at the other head dims, f16 and bf16, from
// every body (on sm_90a the Hopper body too: its narrower slabs at D = 32,
// 80 and 96, 64-key tiles at 192 and 256).
INSTANTIATE_TEST_SUITE_P(LseHeadDims, GpuForwardLse,
                         ::testing::Combine(::testing::Values(DType::BF16, DType::F16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(), ::testing::Range(0, 4),
                                            ::testing::Values("auto")),
                         paramName);

// Every forward body's lse under bottom-right causal masks.
INSTANTIATE_TEST_SUITE_P(
    LseBottomRight, GpuForwardLse,
    ::testing::Combine(::testing::Values(DType::BF16), ::testing::Values(int64_t(64), int64_t(128)),
                       ::testing::Values(true),
                       ::testing::Range(kFirstBottomRightShape, kFirstBottomRightShape + 3),
                       ::testing::Values("auto")),
    paramName);

/// Damps every third key block of `k` (testing::dampKeyBlocks) on the host
/// and the device.
void dampKeyBlocks(DeviceTensor &k, DType dtype, int64_t blockK) {
  auto [B, H, S, D] = k.sizes;
  sieve::testing::dampKeyBlocks(k.bhsd, ProblemShape{B, H, H, S, S, D, dtype}, blockK, 3);
  std::vector<float> stored(k.bhsd.size());
  size_t n = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t d = 0; d < D; ++d)
          stored[k.offset(b, h, s, d)] = k.bhsd[n++];
  encodeFloats(dtype, stored.data(), k.bytes.data(), stored.size());
  ASSERT_FALSE(k.drv->copyToDevice(k.ptr, k.bytes.data(), k.bytes.size()));
}

// Threshold mode through training. Head h's threshold, by h % 4: far above
// the damped key blocks' scores (those tiles dropped by every row, the
// others mostly), +inf (lse -inf, zero output and gradients), -inf (the
// plain attention), far below them (partly dropped).
class GpuThresholdBackward : public GpuBackward {};

TEST_P(GpuThresholdBackward, MatchesFloat64Reference) {
  auto [dtype, headDim, causal, shapeIndex, variant] = GetParam();
  const Shape &c = kShapes[shapeIndex];
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));
  KernelSpec spec = specOf(c, dtype, headDim, causal, maskSeed(name));
  spec.thresholds = true;
  KernelSpec forwardSpec = spec, backwardSpec = spec;
  forwardSpec.saveLse = true;
  backwardSpec.backward = true;
  backwardSpec.options.variant = variant;
  SIEVE_DEVICE_KERNELS(kernels,
                       configName("backward-thresholds", variant, dtype, headDim, causal, c),
                       {forwardSpec, backwardSpec});
  auto &forward = kernels[0], &backward = kernels[1];
  ASSERT_TRUE(forward) << forward.error().str();
  ASSERT_TRUE(backward) << backward.error().str();
  ASSERT_TRUE((*forward)->thresholds && (*backward)->thresholds);
  EXPECT_EQ((*backward)->variant, expectedBackwardVariant(variant, c));

  Session &session = *ledger().session();
  const CudaDriver &drv = session.gpu()->driver();
  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, headDim},
      kvShape{c.batch, c.headsKv, c.seqK, headDim};
  Inputs in;
  makeInputs(in, drv, c, headDim, dtype, rng);
  DeviceTensor &q = in.q, &k = in.k, &v = in.v, &dout = in.dout, &out = in.out;
  dampKeyBlocks(k, dtype, c.blockK);
  const double scale = spec.effectiveScale();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> thresholds(c.headsQ);
  for (int64_t h = 0; h < c.headsQ; ++h) {
    auto scores = [&] { return headScores(spec.shape, scale, q.bhsd.data(), k.bhsd.data(), h); };
    thresholds[h] = h % 4 == 0   ? thresholdInGap(scores(), 0.85)
                    : h % 4 == 1 ? inf
                    : h % 4 == 2 ? -inf
                                 : thresholdInGap(scores(), 0.15);
  }
  auto thresholdsPtr = drv.alloc(c.headsQ * sizeof(float));
  ASSERT_TRUE(thresholdsPtr) << thresholdsPtr.error().str();
  ASSERT_FALSE(drv.copyToDevice(*thresholdsPtr, thresholds.data(), c.headsQ * sizeof(float)));
  DeviceTensor dq, dk, dv;
  makeTensor(dq, drv, qShape, c.bshd, dtype, nullptr);
  makeTensor(dk, drv, kvShape, c.bshd, dtype, nullptr);
  makeTensor(dv, drv, kvShape, c.bshd, dtype, nullptr);
  const size_t rows = c.batch * c.headsQ * c.seqQ;
  auto lsePtr = drv.alloc(rows * sizeof(float));
  ASSERT_TRUE(lsePtr) << lsePtr.error().str();
  ASSERT_FALSE(drv.memset8(*lsePtr, 0xFF, rows * sizeof(float)));
  float *lse = reinterpret_cast<float *>(*lsePtr);
  const float *theta = reinterpret_cast<const float *>(*thresholdsPtr);

  ASSERT_FALSE(session.forward(**forward, q.view(dtype), k.view(dtype), v.view(dtype),
                               out.view(dtype), lse, nullptr, theta));
  BackwardTensors t{q.view(dtype),
                    k.view(dtype),
                    v.view(dtype),
                    out.view(dtype),
                    dout.view(dtype),
                    dq.view(dtype),
                    dk.view(dtype),
                    dv.view(dtype),
                    lse,
                    theta};
  Error e = session.backward(**backward, t);
  ASSERT_FALSE(e) << e.str();
  ASSERT_FALSE(drv.synchronize(nullptr));
  std::vector<float> lseHost(rows);
  ASSERT_FALSE(drv.copyToHost(lseHost.data(), *lsePtr, rows * sizeof(float)));
  (void)drv.free(*lsePtr);
  (void)drv.free(*thresholdsPtr);

  const AttentionGradients ref =
      referenceAttentionBackward(spec.shape, spec.mask, causal, scale, q.bhsd.data(), k.bhsd.data(),
                                 v.bhsd.data(), dout.bhsd.data(), thresholds.data());
  expectLse(lseHost, ref.lse);
  const std::vector<double> refOut =
      referenceAttention(spec.shape, spec.mask, causal, scale, q.bhsd.data(), k.bhsd.data(),
                         v.bhsd.data(), thresholds.data());
  const std::vector<float> gotOut = download(out, dtype), gotDq = download(dq, dtype);
  RowComparison outRows =
      compareRows(gotOut.data(), refOut, c.batch, c.headsQ, c.seqQ, headDim, rowTolerance(dtype));
  EXPECT_TRUE(outRows.ok()) << "training forward: " << outRows.badRows << " of " << outRows.rows
                            << " rows wrong: " << outRows.report;
  // Head 1 dropped every score: exact zeros out and in its dq.
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.seqQ * headDim; ++i) {
      const size_t at = (b * c.headsQ + 1) * c.seqQ * headDim + i;
      ASSERT_EQ(gotOut[at], 0.0f) << "out of the all-dropped head";
      ASSERT_EQ(gotDq[at], 0.0f) << "dq of the all-dropped head";
    }
  const double eq = relativeError(gotDq, ref.dq), ek = relativeError(download(dk, dtype), ref.dk),
               ev = relativeError(download(dv, dtype), ref.dv);
  EXPECT_LT(eq, 1e-2) << "dq";
  EXPECT_LT(ek, 1e-2) << "dk";
  EXPECT_LT(ev, 1e-2) << "dv";
  std::printf("    %s thresholds: relative error dq %.2e dk %.2e dv %.2e (%s; %s)\n", c.name, eq,
              ek, ev, (*forward)->variant.c_str(), (*backward)->config.c_str());
}

// Threshold mode at the other head dims (the Hopper backward on sm_90a):
// GQA with ragged tiles on 64-blocks, and 128-blocks.
INSTANTIATE_TEST_SUITE_P(ThresholdsHeadDims, GpuThresholdBackward,
                         ::testing::Combine(::testing::Values(DType::BF16, DType::F16),
                                            ::testing::Values(int64_t(32), int64_t(80), int64_t(96),
                                                              int64_t(192), int64_t(256)),
                                            ::testing::Bool(), ::testing::Values(1, 5),
                                            ::testing::Values("auto")),
                         paramName);

INSTANTIATE_TEST_SUITE_P(Thresholds, GpuThresholdBackward,
                         ::testing::Combine(::testing::Values(DType::BF16, DType::F16),
                                            ::testing::Values(int64_t(64), int64_t(128)),
                                            ::testing::Bool(), ::testing::Values(0, 1, 3, 5),
                                            ::testing::Values("auto", "mma")),
                         paramName);

} // namespace
