//===- GpuRaggedPagedTest.cpp - ragged batches and paged KV on the GPU ----===//
//
// One kernel per case (docs/ragged-paged.md), compiled through the kernel
// ledger, serves a batch of sequences of different lengths packed as
// varlen kernels take them ([total, H, D] with cu_seqlens at launch), and
// the paged cases read K and V through a shuffled page table from a pool
// whose rows no live key fills are NaN (0xFF bytes) and whose table
// entries past a sequence's keys point outside the pool, so a kernel that
// read them would fail. The lengths include a sequence with no queries,
// one with fewer keys than queries (bottom-right causal leaves its first
// rows without keys: zeros), single-query decode rows and lengths that are
// no multiple of the blocks; the masks have an empty row and an empty
// head. Each run is on fresh random inputs into an output poisoned with
// 0xFF (NaN) between guard bytes, with spare tokens past cu_seqlens_q[B]
// that must stay poison; each sequence is compared row by row with its
// float64 reference as a problem of its own lengths. A paged run also
// equals the contiguous layout's run bit for bit.
//
//===----------------------------------------------------------------------===//
#include "KernelLedger.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/BatchLayout.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <tuple>

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::runtime;
using namespace sieve::testing;

namespace {

enum class Causal { None, TopLeft, BottomRight };

struct BatchCase {
  const char *name;
  int64_t headsQ, headsKv, seqQ, seqK, blockQ, blockK;
  Causal causal;
  bool ragged;      // else every sequence has seqQ queries and seqK keys
  int64_t pageSize; // 0: contiguous K and V
  /// (queries, keys) per sequence (ragged), or just the batch size.
  std::vector<std::pair<int64_t, int64_t>> lengths;
};

// clang-format off
const BatchCase kCases[] = {
    // Not causal, GQA 2: a full sequence, one without queries, short and
    // unaligned ones, a single query.
    {"ragged_full", 4, 2, 300, 300, 64, 64, Causal::None, true, 0,
     {{300, 300}, {0, 17}, {37, 37}, {129, 200}, {1, 1}, {64, 64}}},
    // Top-left causal: the tiles above the diagonal are gone for every crop.
    {"ragged_causal_tl", 4, 2, 300, 300, 64, 64, Causal::TopLeft, true, 0,
     {{300, 300}, {100, 250}, {65, 65}, {1, 9}}},
    // Bottom-right causal by each sequence's own lengths: a chunk after a
    // cached prefix, a decode row, fewer keys than queries, a square one.
    {"ragged_causal_br", 4, 2, 300, 300, 64, 64, Causal::BottomRight, true, 0,
     {{256, 300}, {1, 137}, {40, 20}, {130, 130}, {0, 0}, {17, 300}}},
    // Paged (128-key pages) and ragged, bottom-right.
    {"ragged_paged_br", 4, 2, 300, 300, 64, 64, Causal::BottomRight, true, 128,
     {{64, 300}, {16, 140}, {1, 64}, {200, 256}, {3, 1}}},
    // 128-blocks (two 64-row query tiles a block, 64-key tiles in a
    // 128-key block: a tile that starts past the last key), 128-key pages.
    {"ragged_paged_b128", 2, 1, 384, 384, 128, 128, Causal::BottomRight, true, 128,
     {{384, 384}, {70, 190}, {1, 129}, {129, 129}}},
    // Paged only: every sequence has the kernel's lengths, 64-key pages.
    {"paged_only", 4, 2, 160, 200, 64, 64, Causal::BottomRight, false, 64,
     {{160, 200}, {160, 200}, {160, 200}}},
    // Paged only, not causal, lengths no multiple of the blocks.
    {"paged_only_full", 2, 2, 100, 130, 64, 64, Causal::None, false, 64,
     {{100, 130}, {100, 130}}},
};
constexpr int kCaseCount = sizeof(kCases) / sizeof(kCases[0]);
// clang-format on

using BatchParam = std::tuple<DType, int64_t /*headDim*/, int /*case index*/>;

std::string batchParamName(const ::testing::TestParamInfo<BatchParam> &info) {
  auto [dtype, headDim, caseIndex] = info.param;
  return std::string(dtypeName(dtype)) + "_d" + std::to_string(headDim) + "_" +
         kCases[caseIndex].name;
}

const char *causalName(Causal c) {
  return c == Causal::None ? "full" : c == Causal::TopLeft ? "causal" : "causal-br";
}

/// "batch/mma/bf16/d64/causal-br/ragged+paged": what a case attests.
std::string batchConfig(const BatchParam &p) {
  auto [dtype, headDim, caseIndex] = p;
  const BatchCase &c = kCases[caseIndex];
  std::string layout = c.ragged ? (c.pageSize ? "ragged+paged" : "ragged") : "paged";
  return std::string("batch/mma/") + dtypeName(dtype) + "/d" + std::to_string(headDim) + "/" +
         causalName(c.causal) + "/" + layout;
}

/// Random tiles (density 0.6), query block 1 of head 0 empty and, with
/// more than two heads, the last head empty.
BlockMask batchMask(const BatchCase &c, uint64_t seed) {
  const int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
  BlockMask mask = BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, 0.6, seed,
                                     /*keepDiagonal=*/true);
  for (int64_t kb = 0; kb < kBlocks; ++kb) {
    mask.set(0, 1, kb, false);
    if (c.headsQ > 2)
      for (int64_t qb = 0; qb < qBlocks; ++qb)
        mask.set(c.headsQ - 1, qb, kb, false);
  }
  return mask;
}

KernelSpec batchSpec(const BatchCase &c, DType dtype, int64_t headDim, uint64_t maskSeed,
                     int64_t pageSize) {
  KernelSpec spec;
  const int64_t batch = static_cast<int64_t>(c.lengths.size());
  spec.shape = {batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, headDim, dtype};
  spec.causal = c.causal != Causal::None;
  spec.causalAlign =
      c.causal == Causal::BottomRight ? CausalAlign::BottomRight : CausalAlign::TopLeft;
  spec.ragged = c.ragged;
  spec.pageSize = pageSize;
  spec.mask = batchMask(c, maskSeed);
  return spec;
}

std::vector<int32_t> offsets(const BatchCase &c, bool keys) {
  std::vector<int32_t> cu(c.lengths.size() + 1, 0);
  for (size_t b = 0; b < c.lengths.size(); ++b)
    cu[b + 1] = cu[b] + static_cast<int32_t>(keys ? c.lengths[b].second : c.lengths[b].first);
  return cu;
}

constexpr size_t kGuardBytes = 256;
constexpr uint8_t kGuardByte = 0x5A, kPoisonByte = 0xFF;
constexpr int64_t kSpareTokens = 3; // q and out rows past cu_seqlens_q[B]

/// Device buffers between guard bytes, freed with the case.
struct GuardedBuffers {
  const CudaDriver &drv;
  std::vector<std::pair<CuDevicePtr, size_t>> buffers; // base, payload bytes
  explicit GuardedBuffers(const CudaDriver &drv) : drv(drv) {}
  ~GuardedBuffers() {
    for (auto [p, bytes] : buffers)
      (void)drv.free(p);
  }
  /// A payload of `bytes` filled from `host`, or with `fill` when null.
  Expected<void *> add(const void *host, size_t bytes, uint8_t fill = kPoisonByte) {
    auto p = drv.alloc(bytes + 2 * kGuardBytes);
    if (!p)
      return p.error();
    buffers.push_back({*p, bytes});
    if (Error e = drv.memset8(*p, kGuardByte, bytes + 2 * kGuardBytes))
      return e;
    if (Error e = host ? drv.copyToDevice(*p + kGuardBytes, host, bytes)
                       : drv.memset8(*p + kGuardBytes, fill, bytes))
      return e;
    return reinterpret_cast<void *>(*p + kGuardBytes);
  }
  /// Buffer i's payload, after checking that its guards are intact.
  Expected<std::vector<uint8_t>> read(size_t i) const {
    auto [p, bytes] = buffers[i];
    std::vector<uint8_t> all(bytes + 2 * kGuardBytes);
    if (Error e = drv.copyToHost(all.data(), p, all.size()))
      return e;
    for (size_t j = 0; j < kGuardBytes; ++j)
      if (all[j] != kGuardByte || all[all.size() - 1 - j] != kGuardByte)
        return Error(ErrorCode::Internal, "the kernel wrote outside the output's bytes");
    return std::vector<uint8_t>(all.begin() + kGuardBytes, all.end() - kGuardBytes);
  }
};

/// Tokens [total, heads, D] as the runtime's [1, heads, total, D] view (or,
/// for a batch that is not ragged, [B, heads, S, D] over the same BSHD
/// memory).
TensorView tokenView(void *data, DType dtype, int64_t batch, int64_t heads, int64_t seq,
                     int64_t dim) {
  return TensorView{data,
                    dtype,
                    {batch, heads, seq, dim},
                    {seq * heads * dim, dim, heads * dim, 1},
                    DeviceKind::Cuda};
}

class GpuRaggedPaged : public ::testing::TestWithParam<BatchParam> {};

TEST_P(GpuRaggedPaged, OneKernelMatchesFloat64PerSequence) {
  auto [dtype, headDim, caseIndex] = GetParam();
  const BatchCase &c = kCases[caseIndex];
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));
  const uint64_t seed = maskSeed(name);

  // The paged case's kernel, and (ragged) the contiguous layout's beside it.
  std::vector<KernelSpec> specs = {batchSpec(c, dtype, headDim, seed, c.pageSize)};
  if (c.pageSize && c.ragged)
    specs.push_back(batchSpec(c, dtype, headDim, seed, 0));
  SIEVE_DEVICE_KERNELS(kernels, batchConfig(GetParam()), specs);
  for (auto &k : kernels)
    ASSERT_TRUE(k) << k.error().str();
  const Artifact &artifact = **kernels[0];
  ASSERT_EQ(artifact.ragged, c.ragged);
  ASSERT_EQ(artifact.pageSize, c.pageSize);
  // The wgmma body does not take a batch layout: auto runs the mma body,
  // on tensor cores, on every chip.
  ASSERT_EQ(artifact.variant, "mma") << artifact.config;

  Session &session = *ledger().session();
  const CudaDriver &drv = session.gpu()->driver();
  const int64_t batch = static_cast<int64_t>(c.lengths.size()), D = headDim;
  const std::vector<int32_t> cuQ = offsets(c, false), cuK = offsets(c, true);
  const int64_t totalQ = cuQ.back(), totalK = cuK.back();
  const size_t width = dtypeSize(dtype);
  auto roundedNormal = [&](int64_t count, std::vector<uint8_t> &bytes) {
    std::normal_distribution<float> normal;
    std::vector<float> v(count);
    for (float &x : v)
      x = normal(rng);
    bytes.resize(count * width);
    encodeFloats(dtype, v.data(), bytes.data(), count);
    decodeFloats(dtype, bytes.data(), v.data(), count);
    return v;
  };
  // Packed tokens; q and out have spare tokens past the last sequence.
  const int64_t qTokens = totalQ + kSpareTokens;
  std::vector<uint8_t> qBytes, kBytes, vBytes;
  std::vector<float> q = roundedNormal(qTokens * c.headsQ * D, qBytes);
  std::vector<float> k = roundedNormal(totalK * c.headsKv * D, kBytes);
  std::vector<float> v = roundedNormal(totalK * c.headsKv * D, vBytes);

  GuardedBuffers device(drv);
  auto qData = device.add(qBytes.data(), qBytes.size());
  ASSERT_TRUE(qData) << qData.error().str();
  auto outData = device.add(nullptr, qBytes.size()); // poisoned; buffer 1
  ASSERT_TRUE(outData) << outData.error().str();
  const int64_t qRows = c.ragged ? qTokens : c.seqQ;
  const TensorView qView = tokenView(*qData, dtype, c.ragged ? 1 : batch, c.headsQ, qRows, D);
  const TensorView outView = tokenView(*outData, dtype, c.ragged ? 1 : batch, c.headsQ, qRows, D);

  // K and V: packed tokens, or a pool of shuffled pages (two spare) whose
  // unused rows are poison, with table entries past a sequence's keys
  // outside the pool.
  TensorView kView, vView;
  std::vector<int32_t> table;
  if (c.pageSize) {
    const int64_t P = c.pageSize, columns = artifact.pagesPerSequence();
    int64_t pages = 2;
    for (int64_t b = 0; b < batch; ++b)
      pages += (cuK[b + 1] - cuK[b] + P - 1) / P;
    std::vector<int32_t> order(pages);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    table.assign(batch * columns, 1 << 30);
    const size_t rowBytes = c.headsKv * D * width, poolBytes = pages * P * rowBytes;
    std::vector<uint8_t> kPool(poolBytes, kPoisonByte), vPool(poolBytes, kPoisonByte);
    size_t next = 0;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t p = 0; p * P < cuK[b + 1] - cuK[b]; ++p) {
        const int32_t page = order[next++];
        table[b * columns + p] = page;
        for (int64_t r = 0; r < P && p * P + r < cuK[b + 1] - cuK[b]; ++r) {
          const int64_t token = cuK[b] + p * P + r;
          std::memcpy(kPool.data() + (page * P + r) * rowBytes, kBytes.data() + token * rowBytes,
                      rowBytes);
          std::memcpy(vPool.data() + (page * P + r) * rowBytes, vBytes.data() + token * rowBytes,
                      rowBytes);
        }
      }
    auto kData = device.add(kPool.data(), poolBytes), vData = device.add(vPool.data(), poolBytes);
    ASSERT_TRUE(kData && vData);
    // [pages, P, Hkv, D] as the runtime's [pages, Hkv, P, D] view.
    kView = tokenView(*kData, dtype, pages, c.headsKv, P, D);
    vView = tokenView(*vData, dtype, pages, c.headsKv, P, D);
  } else {
    auto kData = device.add(kBytes.data(), kBytes.size()),
         vData = device.add(vBytes.data(), vBytes.size());
    ASSERT_TRUE(kData && vData);
    kView = tokenView(*kData, dtype, 1, c.headsKv, totalK, D);
    vView = tokenView(*vData, dtype, 1, c.headsKv, totalK, D);
  }

  BatchLayout layout{c.ragged ? cuQ.data() : nullptr, c.ragged ? cuK.data() : nullptr,
                     c.pageSize ? table.data() : nullptr};
  Error launched = session.runBatch(artifact, qView, kView, vView, outView, layout);
  ASSERT_FALSE(launched) << launched.str();
  ASSERT_FALSE(drv.synchronize(nullptr));
  auto outBytes = device.read(1);
  ASSERT_TRUE(outBytes) << outBytes.error().str();
  for (size_t i = totalQ * c.headsQ * D * width; i < outBytes->size(); ++i)
    ASSERT_EQ((*outBytes)[i], kPoisonByte) << "the kernel wrote a token past cu_seqlens_q[B]";
  std::vector<float> got(totalQ * c.headsQ * D);
  decodeFloats(dtype, outBytes->data(), got.data(), got.size());

  const CausalMode causal(c.causal != Causal::None, artifact.causalAlign);
  std::vector<double> ref =
      referenceRaggedAttention(artifact.shape, specs[0].mask, causal, artifact.scale, cuQ.data(),
                               cuK.data(), q.data(), k.data(), v.data());
  // Rows as [1, total_q, Hq, D]: a bad row names its token and head.
  RowComparison rows = compareRows(got.data(), ref, 1, totalQ, c.headsQ, D, rowTolerance(dtype));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;

  if (kernels.size() == 2) {
    // The same batch from contiguous K and V: the same tiles in the same
    // order, so the same bits.
    auto kData = device.add(kBytes.data(), kBytes.size()),
         vData = device.add(vBytes.data(), vBytes.size()),
         out2 = device.add(nullptr, qBytes.size());
    ASSERT_TRUE(kData && vData && out2);
    const TensorView out2View = tokenView(*out2, dtype, 1, c.headsQ, qTokens, D);
    BatchLayout contiguous{cuQ.data(), cuK.data(), nullptr};
    Error e =
        session.runBatch(**kernels[1], qView, tokenView(*kData, dtype, 1, c.headsKv, totalK, D),
                         tokenView(*vData, dtype, 1, c.headsKv, totalK, D), out2View, contiguous);
    ASSERT_FALSE(e) << e.str();
    ASSERT_FALSE(drv.synchronize(nullptr));
    auto again = device.read(device.buffers.size() - 1);
    ASSERT_TRUE(again) << again.error().str();
    EXPECT_TRUE(*again == *outBytes) << "the paged run differs from the contiguous one";
  }
}

/// f16 and bf16 at head dims 64 and 128, and bf16 at 32, 96 and 256 (the
/// mma body's per-head-dim paths: Q in registers or not, 32-key tiles).
std::vector<BatchParam> batchParams() {
  std::vector<BatchParam> params;
  for (int caseIndex = 0; caseIndex < kCaseCount; ++caseIndex) {
    for (DType dtype : {DType::F16, DType::BF16})
      for (int64_t headDim : {64, 128})
        params.emplace_back(dtype, headDim, caseIndex);
    for (int64_t headDim : {32, 96, 256})
      params.emplace_back(DType::BF16, headDim, caseIndex);
  }
  return params;
}
INSTANTIATE_TEST_SUITE_P(Batches, GpuRaggedPaged, ::testing::ValuesIn(batchParams()),
                         batchParamName);

// A ragged kernel run without its layout, or given the wrong one, is
// refused in the caller's terms before anything runs.
TEST(GpuRaggedPagedContract, LaunchesOutsideTheLayoutAreRefused) {
  const BatchCase &c = kCases[3];
  KernelSpec spec = batchSpec(c, DType::BF16, 64, maskSeed("batch-contract"), c.pageSize);
  SIEVE_DEVICE_KERNELS(kernels, "batch/mma/bf16/d64/causal-br/ragged+paged", {spec});
  ASSERT_TRUE(kernels[0]) << kernels[0].error().str();
  Session &session = *ledger().session();
  const int64_t batch = static_cast<int64_t>(c.lengths.size());
  // Never dereferenced: every launch below is refused before the kernel.
  void *fake = reinterpret_cast<void *>(uintptr_t(1) << 40);
  const TensorView q = tokenView(fake, DType::BF16, 1, c.headsQ, 500, 64),
                   pool = tokenView(fake, DType::BF16, 12, c.headsKv, c.pageSize, 64);
  Error e = session.run(**kernels[0], q, pool, pool, q);
  EXPECT_NE(e.message().find("runBatch()"), std::string::npos) << e.str();
  const std::vector<int32_t> cuQ = offsets(c, false), cuK = offsets(c, true);
  e = session.runBatch(**kernels[0], q, pool, pool, q,
                       BatchLayout{cuQ.data(), cuK.data(), nullptr});
  EXPECT_NE(e.message().find("page_table is missing"), std::string::npos) << e.str();
  std::vector<int32_t> table(batch * (**kernels[0]).pagesPerSequence(), 0);
  table[0] = 12; // sequence 0's first page, outside the pool of 12
  e = session.runBatch(**kernels[0], q, pool, pool, q,
                       BatchLayout{cuQ.data(), cuK.data(), table.data()});
  EXPECT_NE(e.message().find("outside the pool of 12 pages"), std::string::npos) << e.str();
}

} // namespace
