//===- RaggedPagedTest.cpp - ragged batches and paged KV on the CPU -------===//
//
// One kernel per case (docs/ragged-paged.md) serves a batch of sequences of
// different lengths packed as varlen kernels take them, [total, H, D], with
// cu_seqlens at launch; paged cases read K and V through a shuffled page
// table whose unused pages and entries are poison (NaN rows, indices out of
// the pool), so a kernel that read them would fail. Each run is on fresh
// random inputs into a NaN-poisoned output with guard elements, compared
// row by row with the float64 reference of each sequence as its own
// problem; paged runs also equal the contiguous layout's bit for bit.
// Bad launches are refused with messages in the caller's terms.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Session.h"
#include "sieve/testing/CpuSessionTest.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"
#include "sieve/testing/Thresholds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::testing;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kGuardValue = 12345.0f;
constexpr int64_t kGuard = 64;

/// Tokens packed [total, H, D] (contiguous) between guard elements, and
/// the runtime's [1, H, total, D] view of them.
struct Packed {
  std::vector<float> storage;
  runtime::TensorView view;
  Packed(int64_t total, int64_t heads, int64_t dim) {
    storage.assign(total * heads * dim + 2 * kGuard, kGuardValue);
    view = runtime::TensorView{storage.data() + kGuard,
                               runtime::DType::F32,
                               {1, heads, total, dim},
                               {total * heads * dim, dim, heads * dim, 1},
                               runtime::DeviceKind::Host};
  }
  float *data() { return storage.data() + kGuard; }
  std::vector<float> values() const { return {storage.begin() + kGuard, storage.end() - kGuard}; }
  void fillNormal(std::mt19937_64 &rng) {
    std::normal_distribution<float> normal;
    std::generate(storage.begin() + kGuard, storage.end() - kGuard, [&] { return normal(rng); });
  }
  void poison() { std::fill(storage.begin() + kGuard, storage.end() - kGuard, kNaN); }
  bool guardsIntact() const {
    for (int64_t i = 0; i < kGuard; ++i)
      if (storage[i] != kGuardValue || storage[storage.size() - 1 - i] != kGuardValue)
        return false;
    return true;
  }
};

/// A pool of pages [pages, page, H, D] (as paged caches hold it) and the
/// runtime's [pages, H, page, D] view; every row starts as NaN.
struct Pool {
  std::vector<float> storage;
  runtime::TensorView view;
  int64_t page, heads, dim;
  Pool(int64_t pages, int64_t page, int64_t heads, int64_t dim)
      : storage(pages * page * heads * dim, kNaN), page(page), heads(heads), dim(dim) {
    view = runtime::TensorView{storage.data(),
                               runtime::DType::F32,
                               {pages, heads, page, dim},
                               {page * heads * dim, dim, heads * dim, 1},
                               runtime::DeviceKind::Host};
  }
  float *row(int64_t p, int64_t r) { return storage.data() + (p * page + r) * heads * dim; }
};

enum class Causal { None, TopLeft, BottomRight };

struct Case {
  const char *name;
  int64_t headsQ, headsKv, seqQ, seqK, headDim, blockQ, blockK;
  Causal causal;
  /// (queries, keys) per sequence.
  std::vector<std::pair<int64_t, int64_t>> lengths;
  int64_t pageSize; // 0: contiguous K and V
};

std::ostream &operator<<(std::ostream &os, const Case &c) { return os << c.name; }

class RaggedPaged : public CpuSessionTest<Case> {};

KernelSpec raggedSpec(const Case &c, uint64_t seed, int64_t pageSize) {
  KernelSpec spec;
  const int64_t batch = static_cast<int64_t>(c.lengths.size());
  spec.shape = {batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, c.headDim, runtime::DType::F32};
  spec.causal = c.causal != Causal::None;
  spec.causalAlign = c.causal == Causal::BottomRight ? runtime::CausalAlign::BottomRight
                                                     : runtime::CausalAlign::TopLeft;
  spec.ragged = true;
  spec.pageSize = pageSize;
  spec.mask = runtime::BlockMask::random(c.headsQ, (c.seqQ + c.blockQ - 1) / c.blockQ,
                                         (c.seqK + c.blockK - 1) / c.blockK, c.blockQ, c.blockK,
                                         0.6, seed, /*keepDiagonal=*/false);
  return spec;
}

std::vector<int32_t> offsets(const std::vector<int64_t> &lengths) {
  std::vector<int32_t> cu(lengths.size() + 1, 0);
  for (size_t b = 0; b < lengths.size(); ++b)
    cu[b + 1] = cu[b] + static_cast<int32_t>(lengths[b]);
  return cu;
}

/// The page pools holding each sequence's keys (cu_seqlens_k's rows of the
/// packed k and v) on shuffled pages, and the page table: two spare pages,
/// every row not a live key NaN, and the entries past a sequence's keys
/// out of the pool (the kernel must not read them).
struct PagedCache {
  Pool k, v;
  std::vector<int32_t> table;
  PagedCache(const Case &c, const runtime::Artifact &a, const std::vector<int32_t> &cuK,
             const float *kPacked, const float *vPacked, std::mt19937_64 &rng)
      : k(pagesNeeded(c, a, cuK) + 2, c.pageSize, c.headsKv, c.headDim),
        v(pagesNeeded(c, a, cuK) + 2, c.pageSize, c.headsKv, c.headDim) {
    const int64_t batch = a.shape.batch, columns = a.pagesPerSequence();
    std::vector<int32_t> order(k.view.sizes[0]);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    table.assign(batch * columns, 1 << 30);
    size_t next = 0;
    const int64_t rowFloats = c.headsKv * c.headDim;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t keys = cuK[b + 1] - cuK[b];
      for (int64_t p = 0; p * c.pageSize < keys; ++p) {
        const int32_t page = order[next++];
        table[b * columns + p] = page;
        for (int64_t r = 0; r < c.pageSize && p * c.pageSize + r < keys; ++r) {
          const int64_t token = cuK[b] + p * c.pageSize + r;
          std::memcpy(k.row(page, r), kPacked + token * rowFloats, rowFloats * sizeof(float));
          std::memcpy(v.row(page, r), vPacked + token * rowFloats, rowFloats * sizeof(float));
        }
      }
    }
  }
  static int64_t pagesNeeded(const Case &c, const runtime::Artifact &a,
                             const std::vector<int32_t> &cuK) {
    int64_t pages = 0;
    for (int64_t b = 0; b < a.shape.batch; ++b)
      pages += (cuK[b + 1] - cuK[b] + c.pageSize - 1) / c.pageSize;
    return pages;
  }
};

TEST_P(RaggedPaged, OneKernelMatchesFloat64PerSequence) {
  const Case &c = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const uint64_t maskSeed = rng();
  auto contiguous = session_->compile(raggedSpec(c, maskSeed, 0));
  ASSERT_TRUE(contiguous) << contiguous.error().str();
  ASSERT_TRUE((*contiguous)->ragged);
  const runtime::Artifact &a = **contiguous;

  std::vector<int64_t> lq, lk;
  for (auto [q, k] : c.lengths) {
    lq.push_back(q);
    lk.push_back(k);
  }
  const std::vector<int32_t> cuQ = offsets(lq), cuK = offsets(lk);
  const int64_t totalQ = cuQ.back(), totalK = cuK.back();
  Packed q(totalQ, c.headsQ, c.headDim), out(totalQ, c.headsQ, c.headDim),
      k(totalK, c.headsKv, c.headDim), v(totalK, c.headsKv, c.headDim);
  for (Packed *t : {&q, &k, &v})
    t->fillNormal(rng);
  out.poison();
  runtime::BatchLayout layout{cuQ.data(), cuK.data(), nullptr};
  Error e = session_->runBatch(a, q.view, k.view, v.view, out.view, layout);
  ASSERT_FALSE(e) << e.str();
  EXPECT_TRUE(out.guardsIntact()) << "kernel wrote outside the output";

  CausalMode causal(c.causal != Causal::None, a.causalAlign);
  std::vector<double> ref =
      referenceRaggedAttention(a.shape, (raggedSpec(c, maskSeed, 0)).mask, causal, a.scale,
                               cuQ.data(), cuK.data(), q.data(), k.data(), v.data());
  ASSERT_EQ(static_cast<int64_t>(ref.size()), totalQ * c.headsQ * c.headDim);
  const std::vector<float> got = out.values();
  // Rows as [1, total_q, Hq, D]: a bad row names its token and head.
  RowComparison rows = compareRows(got.data(), ref, 1, totalQ, c.headsQ, c.headDim,
                                   rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;

  if (c.pageSize == 0)
    return;
  // Paged: the same keys on shuffled pages give the same bits.
  auto paged = session_->compile(raggedSpec(c, maskSeed, c.pageSize));
  ASSERT_TRUE(paged) << paged.error().str();
  ASSERT_EQ((*paged)->pageSize, c.pageSize);
  PagedCache cache(c, **paged, cuK, k.data(), v.data(), rng);
  Packed pagedOut(totalQ, c.headsQ, c.headDim);
  pagedOut.poison();
  layout.pageTable = cache.table.data();
  e = session_->runBatch(**paged, q.view, cache.k.view, cache.v.view, pagedOut.view, layout);
  ASSERT_FALSE(e) << e.str();
  EXPECT_TRUE(pagedOut.guardsIntact());
  EXPECT_EQ(std::memcmp(pagedOut.data(), out.data(), got.size() * sizeof(float)), 0)
      << "paged and contiguous outputs differ";
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, RaggedPaged,
    ::testing::Values(
        // Lengths off the blocks, an empty sequence, a length-1 one, a full one.
        Case{"lengths_off_blocks",
             4,
             2,
             40,
             40,
             16,
             16,
             8,
             Causal::None,
             {{37, 29}, {0, 12}, {1, 1}, {40, 40}, {16, 33}},
             0},
        Case{"causal_top_left",
             2,
             2,
             40,
             40,
             16,
             16,
             8,
             Causal::TopLeft,
             {{40, 40}, {13, 13}, {1, 1}, {25, 31}},
             0},
        // Each sequence's own diagonal: fewer keys than queries (rows without
        // keys), no keys at all, a query chunk after a cached prefix.
        Case{"causal_bottom_right",
             4,
             1,
             32,
             48,
             24,
             8,
             16,
             Causal::BottomRight,
             {{5, 37}, {1, 20}, {17, 17}, {30, 10}, {0, 0}, {3, 0}, {32, 48}},
             0},
        Case{"paged_shuffled",
             4,
             2,
             24,
             64,
             16,
             8,
             8,
             Causal::BottomRight,
             {{9, 33}, {1, 64}, {20, 7}, {0, 5}, {24, 24}},
             16},
        Case{"paged_pages_of_one_block",
             2,
             1,
             16,
             40,
             32,
             16,
             8,
             Causal::None,
             {{16, 40}, {3, 9}, {1, 1}},
             8}),
    [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

/// Paged KV without ragged: every sequence has the kernel's lengths, the
/// keys on shuffled pages; the result equals the contiguous kernel's bit
/// for bit, and float64's.
TEST_F(RaggedPaged, PagedFixedLengthsMatchContiguous) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t B = 3, Hq = 4, Hkv = 2, Sq = 20, Sk = 56, D = 16, page = 16;
  KernelSpec spec;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, runtime::DType::F32};
  spec.causal = true;
  spec.causalAlign = runtime::CausalAlign::BottomRight;
  spec.mask = runtime::BlockMask::random(Hq, 3, 7, 8, 8, 0.6, rng(), false);
  auto contiguous = session_->compile(spec);
  ASSERT_TRUE(contiguous) << contiguous.error().str();
  spec.pageSize = page;
  auto paged = session_->compile(spec);
  ASSERT_TRUE(paged) << paged.error().str();

  // BHSD q, k, v, out; the same keys as pages.
  auto tensor = [&](int64_t h, int64_t s, std::vector<float> &data) {
    data.resize(B * h * s * D);
    std::normal_distribution<float> normal;
    std::generate(data.begin(), data.end(), [&] { return normal(rng); });
    return runtime::TensorView::contiguous(data.data(), runtime::DType::F32, {B, h, s, D},
                                           runtime::DeviceKind::Host);
  };
  std::vector<float> qd, kd, vd, outA, outB;
  runtime::TensorView q = tensor(Hq, Sq, qd), k = tensor(Hkv, Sk, kd), v = tensor(Hkv, Sk, vd);
  outA.assign(B * Hq * Sq * D, kNaN);
  outB.assign(B * Hq * Sq * D, kNaN);
  auto outView = [&](std::vector<float> &data) {
    return runtime::TensorView::contiguous(data.data(), runtime::DType::F32, {B, Hq, Sq, D},
                                           runtime::DeviceKind::Host);
  };
  ASSERT_FALSE(session_->run(**contiguous, q, k, v, outView(outA)));

  const int64_t columns = (*paged)->pagesPerSequence();
  ASSERT_EQ(columns, 4);
  Pool kp(B * columns + 1, page, Hkv, D), vp(B * columns + 1, page, Hkv, D);
  std::vector<int32_t> order(B * columns + 1);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> table(B * columns);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < columns; ++p) {
      table[b * columns + p] = order[b * columns + p];
      for (int64_t r = 0; r < page && p * page + r < Sk; ++r)
        for (int64_t h = 0; h < Hkv; ++h)
          for (int64_t x = 0; x < D; ++x) {
            const int64_t at = ((b * Hkv + h) * Sk + p * page + r) * D + x;
            kp.row(table[b * columns + p], r)[h * D + x] = kd[at];
            vp.row(table[b * columns + p], r)[h * D + x] = vd[at];
          }
    }
  runtime::BatchLayout layout;
  layout.pageTable = table.data();
  Error e = session_->runBatch(**paged, q, kp.view, vp.view, outView(outB), layout);
  ASSERT_FALSE(e) << e.str();
  EXPECT_EQ(std::memcmp(outA.data(), outB.data(), outA.size() * sizeof(float)), 0);
  std::vector<double> ref =
      referenceAttention(spec.shape, spec.mask, CausalMode::bottomRightAligned(),
                         spec.effectiveScale(), qd.data(), kd.data(), vd.data());
  RowComparison rows =
      compareRows(outB.data(), ref, B, Hq, Sq, D, rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.report;
}

/// Threshold mode on a ragged, paged batch: each head's threshold in a gap
/// of its scores (over every query and key of the batch, a superset of each
/// sequence's), against float64 with the same thresholds.
TEST_F(RaggedPaged, ThresholdModeMatchesFloat64) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Case c{
      "thresholds", 4, 2, 24, 40, 16, 8, 8, Causal::BottomRight, {{17, 40}, {1, 9}, {24, 3}}, 16};
  KernelSpec spec = raggedSpec(c, rng(), c.pageSize);
  spec.thresholds = true;
  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  const std::vector<int32_t> cuQ = offsets({17, 1, 24}), cuK = offsets({40, 9, 3});
  const int64_t totalQ = cuQ.back(), totalK = cuK.back();
  Packed q(totalQ, c.headsQ, c.headDim), out(totalQ, c.headsQ, c.headDim),
      k(totalK, c.headsKv, c.headDim), v(totalK, c.headsKv, c.headDim);
  for (Packed *t : {&q, &k, &v})
    t->fillNormal(rng);
  out.poison();
  // The packed tokens as one BHSD problem of batch 1, for the scores.
  auto bhsd = [](const Packed &t, int64_t total, int64_t heads, int64_t dim) {
    std::vector<float> values = t.values(), r(values.size());
    for (int64_t x = 0; x < total; ++x)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < dim; ++d)
          r[(h * total + x) * dim + d] = values[(x * heads + h) * dim + d];
    return r;
  };
  const std::vector<float> qh = bhsd(q, totalQ, c.headsQ, c.headDim),
                           kh = bhsd(k, totalK, c.headsKv, c.headDim);
  runtime::ProblemShape whole{1,      c.headsQ,  c.headsKv,          totalQ,
                              totalK, c.headDim, runtime::DType::F32};
  std::vector<float> theta(c.headsQ);
  for (int64_t h = 0; h < c.headsQ; ++h)
    theta[h] = thresholdInGap(headScores(whole, spec.effectiveScale(), qh.data(), kh.data(), h),
                              0.3 + 0.1 * h);
  PagedCache cache(c, **artifact, cuK, k.data(), v.data(), rng);
  runtime::BatchLayout layout{cuQ.data(), cuK.data(), cache.table.data()};
  Error e = session_->runBatch(**artifact, q.view, cache.k.view, cache.v.view, out.view, layout,
                               nullptr, theta.data());
  ASSERT_FALSE(e) << e.str();
  std::vector<double> ref = referenceRaggedAttention(
      spec.shape, spec.mask, CausalMode::bottomRightAligned(), spec.effectiveScale(), cuQ.data(),
      cuK.data(), q.data(), k.data(), v.data(), theta.data());
  const std::vector<float> got = out.values();
  RowComparison rows = compareRows(got.data(), ref, 1, totalQ, c.headsQ, c.headDim,
                                   rowTolerance(runtime::DType::F32));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
}

class RaggedPagedErrors : public RaggedPaged {};

TEST_F(RaggedPagedErrors, BadLayoutsAreRefusedInTheCallersTerms) {
  Case c{"errors", 2, 1, 16, 32, 16, 8, 8, Causal::None, {{4, 8}, {6, 10}}, 16};
  auto ragged = session_->compile(raggedSpec(c, 1, 0));
  ASSERT_TRUE(ragged) << ragged.error().str();
  auto paged = session_->compile(raggedSpec(c, 1, 16));
  ASSERT_TRUE(paged) << paged.error().str();
  std::mt19937_64 rng(freshSeed());
  Packed q(10, 2, 16), out(10, 2, 16), k(18, 1, 16), v(18, 1, 16);
  for (Packed *t : {&q, &k, &v})
    t->fillNormal(rng);
  Pool kp(3, 16, 1, 16), vp(3, 16, 1, 16);
  auto refused = [&](const runtime::Artifact &a, const runtime::TensorView &kv,
                     const runtime::TensorView &vv, runtime::BatchLayout layout, const char *words,
                     const runtime::TensorView *qv = nullptr) {
    Error e = session_->runBatch(a, qv ? *qv : q.view, kv, vv, out.view, layout);
    ASSERT_TRUE(e) << "accepted; expected: " << words;
    EXPECT_NE(e.message().find(words), std::string::npos) << e.message();
  };
  std::vector<int32_t> cuQ{0, 4, 10}, cuK{0, 8, 18};
  std::vector<int32_t> decreasing{0, 6, 4}, tooLong{0, 8, 41}, pastQ{0, 4, 12};
  refused(**ragged, k.view, v.view, {decreasing.data(), cuK.data(), nullptr},
          "cu_seqlens_q is not monotone: cu_seqlens_q[2] = 4 is less than cu_seqlens_q[1] = 6");
  refused(**ragged, k.view, v.view, {cuQ.data(), tooLong.data(), nullptr},
          "sequence 1 has 33 keys, more than the kernel's seq_k (32)");
  std::vector<int32_t> longQ{0, 4, 21};
  refused(**ragged, k.view, v.view, {longQ.data(), cuK.data(), nullptr},
          "sequence 1 has 17 queries, more than the kernel's seq_q (16)");
  refused(**ragged, k.view, v.view, {pastQ.data(), cuK.data(), nullptr},
          "cu_seqlens_q ends at 12 but 'query' holds 10 tokens");
  std::vector<int32_t> negative{-1, 4, 10};
  refused(**ragged, k.view, v.view, {negative.data(), cuK.data(), nullptr},
          "cu_seqlens_q[0] is -1");
  refused(**ragged, k.view, v.view, {cuQ.data(), nullptr, nullptr}, "cu_seqlens_k is missing");
  std::vector<int32_t> table{0, 1, 2, 7};
  refused(**ragged, k.view, v.view, {cuQ.data(), cuK.data(), table.data()},
          "page_table given to a kernel compiled without a page size");
  runtime::TensorView twoBatches = q.view;
  twoBatches.sizes[0] = 2;
  refused(**ragged, k.view, v.view, {cuQ.data(), cuK.data(), nullptr},
          "tensor 'query' has shape [2, 2, 10, 16], expected [1, 2, any, 16]", &twoBatches);
  // Paged: sequence 1's keys 0..9 live in page_table[1][0] = 2; its
  // second entry is past its keys and never read.
  std::vector<int32_t> good{0, 9, 2, 9};
  EXPECT_FALSE(session_->runBatch(**paged, q.view, kp.view, vp.view, out.view,
                                  {cuQ.data(), cuK.data(), good.data()}));
  std::vector<int32_t> outside{0, 9, 3, 0};
  refused(**paged, kp.view, vp.view, {cuQ.data(), cuK.data(), outside.data()},
          "page_table[1][0] = 3 is outside the pool of 3 pages");
  refused(**paged, kp.view, vp.view, {cuQ.data(), cuK.data(), nullptr}, "page_table is missing");
  refused(**paged, k.view, v.view, {cuQ.data(), cuK.data(), good.data()},
          "tensor 'key' has shape [1, 1, 18, 16], expected [any, 1, 16, 16]");
  Error run = session_->run(**ragged, q.view, k.view, v.view, out.view);
  ASSERT_TRUE(run);
  EXPECT_NE(run.message().find("runBatch()"), std::string::npos) << run.message();

  KernelSpec spec = raggedSpec(c, 1, 12);
  Error e = spec.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("pageSize 12 is not a multiple of the mask's block_k 8"),
            std::string::npos)
      << e.message();
  spec = raggedSpec(c, 1, 16);
  spec.target = Target::cuda("sm_90a");
  e = spec.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("ragged batches and paged KV run on the GPU's mma body, which "
                             "takes f16 or bf16, not f32"),
            std::string::npos)
      << e.message();
  spec.shape.dtype = runtime::DType::BF16;
  EXPECT_FALSE(spec.validate()) << "a bf16 ragged and paged kernel for the GPU is valid";
  spec.thresholds = true;
  e = spec.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("with threshold mode run on the CPU backend only"), std::string::npos)
      << e.message();
  spec = raggedSpec(c, 1, 0);
  spec.saveLse = true;
  e = spec.validate();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("forward only"), std::string::npos) << e.message();
}

} // namespace
