//===- CApiTest.cpp - sieve.h on the CPU backend, and its misuse ----------===//
//
// The C API is tested through its header only (plus the float64 reference):
// a kernel compiled and run through it matches the reference, and every kind
// of misuse (null, freed and wrong-kind handles, buffers of the wrong size,
// enum values out of range, tensors that disagree with the kernel) returns
// the status that names it and a message, never a crash.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/sieve.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/ReferenceBackward.h"
#include "sieve/testing/Thresholds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

using sieve::testing::HostTensor;

namespace {

std::string lastError() { return sieve_last_error(); }

class CApi : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(sieve_context_create(SIEVE_BACKEND_CPU, 0, &ctx_), SIEVE_OK) << lastError();
    mask_ = sieve::runtime::BlockMask::random(kHeads, kSeq / kBlock, kSeq / kBlock, kBlock, kBlock,
                                              0.5, sieve::testing::freshSeed(), true);
    bits_ = mask_.packedBits();
    blockMask_ = {kHeads, kSeq / kBlock, kSeq / kBlock, kBlock, kBlock, bits_.data(), bits_.size()};
    problem_ = {1, kHeads, kHeads, kSeq, kSeq, kDim, SIEVE_DTYPE_F32, 0, 0.0};
  }
  void TearDown() override {
    if (ctx_)
      EXPECT_EQ(sieve_context_destroy(ctx_), SIEVE_OK) << lastError();
  }
  static sieve_tensor tensorOf(HostTensor &t) {
    sieve_tensor out{};
    out.data = t.view.data;
    out.dtype = SIEVE_DTYPE_F32;
    for (int d = 0; d < 4; ++d) {
      out.sizes[d] = t.view.sizes[d];
      out.strides[d] = t.view.strides[d];
    }
    return out;
  }

  static constexpr int64_t kHeads = 2, kSeq = 128, kBlock = 32, kDim = 64;
  sieve_context ctx_ = nullptr;
  sieve::runtime::BlockMask mask_;
  std::vector<uint8_t> bits_;
  sieve_block_mask blockMask_{};
  sieve_problem problem_{};
};

TEST_F(CApi, VersionAndNames) {
  EXPECT_EQ(sieve_api_version(), SIEVE_C_API_VERSION);
  EXPECT_STREQ(sieve_version(), SIEVE_VERSION);
  EXPECT_STREQ(sieve_status_name(SIEVE_ERROR_NO_GPU), "SIEVE_ERROR_NO_GPU");
  sieve_backend backend;
  ASSERT_EQ(sieve_context_backend(ctx_, &backend), SIEVE_OK);
  EXPECT_EQ(backend, SIEVE_BACKEND_CPU);
  char name[64];
  ASSERT_EQ(sieve_context_device_name(ctx_, name, sizeof name), SIEVE_OK);
  EXPECT_STREQ(name, "host CPU");
  EXPECT_EQ(sieve_context_device_name(ctx_, name, 4), SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("needs 9 bytes"), std::string::npos) << lastError();
}

TEST_F(CApi, CompiledKernelMatchesFloat64Reference) {
  for (int causal : {0, 1}) {
    SCOPED_TRACE(causal ? "causal" : "not causal");
    problem_.causal = causal;
    sieve_kernel kernel = nullptr;
    ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &kernel), SIEVE_OK)
        << lastError();
    int needsMask = -1;
    ASSERT_EQ(sieve_kernel_needs_mask(kernel, &needsMask), SIEVE_OK);
    EXPECT_EQ(needsMask, 0);
    char description[256];
    ASSERT_EQ(sieve_kernel_describe(kernel, description, sizeof description), SIEVE_OK);
    EXPECT_EQ(std::string(description).rfind("vector", 0), 0u) << description;
    char variant[16];
    ASSERT_EQ(sieve_kernel_variant(kernel, variant, sizeof variant), SIEVE_OK) << lastError();
    EXPECT_STREQ(variant, "vector");
    EXPECT_EQ(sieve_kernel_variant(kernel, variant, 3), SIEVE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(lastError().find("sieve_kernel_variant needs 7 bytes"), std::string::npos)
        << lastError();
    char warnings[8] = "x";
    ASSERT_EQ(sieve_kernel_warnings(kernel, warnings, sizeof warnings), SIEVE_OK) << lastError();
    EXPECT_STREQ(warnings, "");

    std::mt19937_64 rng(sieve::testing::freshSeed());
    HostTensor q({1, kHeads, kSeq, kDim}, false), k({1, kHeads, kSeq, kDim}, false),
        v({1, kHeads, kSeq, kDim}, false), out({1, kHeads, kSeq, kDim}, false);
    q.fillNormal(rng);
    k.fillNormal(rng);
    v.fillNormal(rng);
    out.poison();
    sieve_tensor tq = tensorOf(q), tk = tensorOf(k), tv = tensorOf(v), to = tensorOf(out);
    ASSERT_EQ(sieve_attention(kernel, &tq, &tk, &tv, &to, nullptr, nullptr), SIEVE_OK)
        << lastError();
    std::vector<double> ref = sieve::testing::referenceAttention(
        {1, kHeads, kHeads, kSeq, kSeq, kDim, sieve::runtime::DType::F32}, mask_, causal != 0,
        1.0 / std::sqrt(double(kDim)), q.gather().data(), k.gather().data(), v.gather().data());
    std::vector<float> got = out.gather();
    EXPECT_LT(sieve::testing::relativeError(got.data(), ref), 1e-5);
    EXPECT_TRUE(out.guardsIntact());
    EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);
  }
}

TEST_F(CApi, RaggedAndPagedBatchesMatchFloat64Reference) {
  // Three sequences of at most kSeq tokens packed [total, H, D] (a BSHD
  // view of batch 1), bottom-right causal by each one's own lengths.
  problem_.batch = 3;
  problem_.causal = SIEVE_CAUSAL_BOTTOM_RIGHT;
  const std::vector<int32_t> cuQ{0, 100, 101, 138}, cuK{0, 70, 198, 235};
  sieve_kernel ragged = nullptr, paged = nullptr;
  ASSERT_EQ(sieve_kernel_compile_batch(ctx_, &problem_, &blockMask_, nullptr, SIEVE_KERNEL_RAGGED,
                                       0, &ragged),
            SIEVE_OK)
      << lastError();
  ASSERT_EQ(sieve_kernel_compile_batch(ctx_, &problem_, &blockMask_, nullptr, SIEVE_KERNEL_RAGGED,
                                       2 * kBlock, &paged),
            SIEVE_OK)
      << lastError();
  std::mt19937_64 rng(sieve::testing::freshSeed());
  HostTensor q({1, kHeads, cuQ.back(), kDim}, true), out({1, kHeads, cuQ.back(), kDim}, true),
      pagedOut({1, kHeads, cuQ.back(), kDim}, true), k({1, kHeads, cuK.back(), kDim}, true),
      v({1, kHeads, cuK.back(), kDim}, true);
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  out.poison();
  pagedOut.poison();
  sieve_tensor tq = tensorOf(q), tk = tensorOf(k), tv = tensorOf(v), to = tensorOf(out),
               tp = tensorOf(pagedOut);
  ASSERT_EQ(sieve_attention_batch(ragged, &tq, &tk, &tv, &to, cuQ.data(), cuK.data(), nullptr,
                                  nullptr, nullptr),
            SIEVE_OK)
      << lastError();
  // (The packed views' storage is [total, H, D], the reference's layout.)
  const float *qd = static_cast<const float *>(q.view.data),
              *kd = static_cast<const float *>(k.view.data),
              *vd = static_cast<const float *>(v.view.data);
  std::vector<double> ref = sieve::testing::referenceRaggedAttention(
      {3, kHeads, kHeads, kSeq, kSeq, kDim, sieve::runtime::DType::F32}, mask_,
      sieve::testing::CausalMode::bottomRightAligned(), 1.0 / std::sqrt(double(kDim)), cuQ.data(),
      cuK.data(), qd, kd, vd);
  const float *got = static_cast<const float *>(out.view.data);
  EXPECT_LT(sieve::testing::relativeError(got, ref), 1e-5);
  EXPECT_TRUE(out.guardsIntact());

  // The same keys on pages of 2 blocks, in reverse order: [pages, H, page, D].
  const int64_t page = 2 * kBlock, columns = kSeq / page;
  std::vector<float> kPool(3 * columns * page * kHeads * kDim, NAN), vPool(kPool);
  std::vector<int32_t> table(3 * columns);
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t p = 0; p < columns; ++p) {
      table[b * columns + p] = static_cast<int32_t>(3 * columns - 1 - (b * columns + p));
      for (int64_t r = 0; r < page && p * page + r < cuK[b + 1] - cuK[b]; ++r)
        for (int64_t x = 0; x < kHeads * kDim; ++x) {
          const int64_t to = (table[b * columns + p] * page + r) * kHeads * kDim + x;
          kPool[to] = kd[(cuK[b] + p * page + r) * kHeads * kDim + x];
          vPool[to] = vd[(cuK[b] + p * page + r) * kHeads * kDim + x];
        }
    }
  sieve_tensor pk{kPool.data(),
                  SIEVE_DTYPE_F32,
                  {3 * columns, kHeads, page, kDim},
                  {page * kHeads * kDim, kDim, kHeads * kDim, 1}};
  sieve_tensor pv = pk;
  pv.data = vPool.data();
  ASSERT_EQ(sieve_attention_batch(paged, &tq, &pk, &pv, &tp, cuQ.data(), cuK.data(), table.data(),
                                  nullptr, nullptr),
            SIEVE_OK)
      << lastError();
  EXPECT_EQ(
      std::memcmp(pagedOut.view.data, out.view.data, cuQ.back() * kHeads * kDim * sizeof(float)),
      0);

  // Errors in the C API's words.
  EXPECT_EQ(sieve_attention(ragged, &tq, &tk, &tv, &to, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("run it with sieve_attention_batch"), std::string::npos)
      << lastError();
  const std::vector<int32_t> decreasing{0, 100, 99, 138};
  EXPECT_EQ(sieve_attention_batch(ragged, &tq, &tk, &tv, &to, decreasing.data(), cuK.data(),
                                  nullptr, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("sieve_attention_batch: cu_seqlens_q is not monotone"),
            std::string::npos)
      << lastError();
  sieve_kernel plain = nullptr;
  ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &plain), SIEVE_OK)
      << lastError();
  EXPECT_EQ(sieve_attention_batch(plain, &tq, &tk, &tv, &to, cuQ.data(), cuK.data(), nullptr,
                                  nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("run it with sieve_attention"), std::string::npos) << lastError();
  sieve_kernel refused = nullptr;
  EXPECT_EQ(sieve_kernel_compile_batch(ctx_, &problem_, &blockMask_, nullptr, SIEVE_KERNEL_RAGGED,
                                       kBlock + 1, &refused),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("not a multiple of the mask's block_k"), std::string::npos)
      << lastError();
  EXPECT_EQ(refused, nullptr);
  for (sieve_kernel kernel : {ragged, paged, plain})
    EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);
}

TEST_F(CApi, BottomRightCausalMatchesFloat64Reference) {
  // 32 queries, the last 32 positions of 128 keys (a KV cache).
  constexpr int64_t kQueries = 32;
  problem_.seq_q = kQueries;
  problem_.causal = SIEVE_CAUSAL_BOTTOM_RIGHT;
  sieve::runtime::BlockMask mask = sieve::runtime::BlockMask::random(
      kHeads, 1, kSeq / kBlock, kBlock, kBlock, 0.7, sieve::testing::freshSeed(), false);
  for (int64_t h = 0; h < kHeads; ++h)
    mask.set(h, 0, kSeq / kBlock - 1, true); // the tile on the shifted diagonal
  std::vector<uint8_t> bits = mask.packedBits();
  sieve_block_mask blockMask{kHeads, 1, kSeq / kBlock, kBlock, kBlock, bits.data(), bits.size()};
  sieve_kernel kernel = nullptr;
  ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask, nullptr, &kernel), SIEVE_OK)
      << lastError();
  std::mt19937_64 rng(sieve::testing::freshSeed());
  HostTensor q({1, kHeads, kQueries, kDim}, false), k({1, kHeads, kSeq, kDim}, false),
      v({1, kHeads, kSeq, kDim}, false), out({1, kHeads, kQueries, kDim}, false);
  q.fillNormal(rng);
  k.fillNormal(rng);
  v.fillNormal(rng);
  out.poison();
  sieve_tensor tq = tensorOf(q), tk = tensorOf(k), tv = tensorOf(v), to = tensorOf(out);
  ASSERT_EQ(sieve_attention(kernel, &tq, &tk, &tv, &to, nullptr, nullptr), SIEVE_OK) << lastError();
  const sieve::runtime::ProblemShape shape{
      1, kHeads, kHeads, kQueries, kSeq, kDim, sieve::runtime::DType::F32};
  std::vector<float> got = out.gather();
  std::vector<double> ref = sieve::testing::referenceAttention(
      shape, mask, sieve::testing::CausalMode::bottomRightAligned(), 1.0 / std::sqrt(double(kDim)),
      q.gather().data(), k.gather().data(), v.gather().data());
  EXPECT_LT(sieve::testing::relativeError(got.data(), ref), 1e-5);
  std::vector<double> topLeft =
      sieve::testing::referenceAttention(shape, mask, true, 1.0 / std::sqrt(double(kDim)),
                                         q.gather().data(), k.gather().data(), v.gather().data());
  EXPECT_GT(sieve::testing::relativeError(got.data(), topLeft), 1e-2);
  EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);
}

TEST_F(CApi, GenerationStepsMatchFloat64Reference) {
  // One kernel for a mask over kSeq positions, run as decode steps at
  // q_pos from a prompt's end across block boundaries to the last
  // position; every other step's cache holds only the live keys (grown
  // token by token), the others all kSeq positions with NaN past them.
  constexpr int64_t kHeadsKv = 1;
  problem_.seq_q = 1;
  problem_.heads_kv = kHeadsKv;
  problem_.causal = SIEVE_CAUSAL_BOTTOM_RIGHT;
  sieve_kernel kernel = nullptr;
  ASSERT_EQ(sieve_kernel_compile_flags(ctx_, &problem_, &blockMask_, nullptr, SIEVE_KERNEL_FORWARD,
                                       SIEVE_KERNEL_GENERATION, &kernel),
            SIEVE_OK)
      << lastError();
  std::mt19937_64 rng(sieve::testing::freshSeed());
  HostTensor qAll({1, kHeads, kSeq, kDim}, false), kAll({1, kHeadsKv, kSeq, kDim}, false),
      vAll({1, kHeadsKv, kSeq, kDim}, false);
  for (HostTensor *t : {&qAll, &kAll, &vAll})
    t->fillNormal(rng);
  const std::vector<float> qf = qAll.gather();
  const double scale = 1.0 / std::sqrt(double(kDim));
  int step = 0;
  for (int64_t qPos : {int64_t(70), int64_t(kBlock - 1), int64_t(kBlock), int64_t(kSeq - 1)}) {
    const int64_t live = qPos + 1, cached = step++ % 2 ? live : kSeq;
    SCOPED_TRACE("q_pos " + std::to_string(qPos) + ", cache of " + std::to_string(cached));
    HostTensor q({1, kHeads, 1, kDim}, false), out({1, kHeads, 1, kDim}, false),
        k({1, kHeadsKv, cached, kDim}, false), v({1, kHeadsKv, cached, kDim}, false);
    for (int64_t d = 0; d < kDim; ++d) {
      for (int64_t h = 0; h < kHeads; ++h)
        q.at(0, h, 0, d) = qAll.at(0, h, qPos, d);
      for (int64_t j = 0; j < cached; ++j) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        k.at(0, 0, j, d) = j < live ? kAll.at(0, 0, j, d) : nan;
        v.at(0, 0, j, d) = j < live ? vAll.at(0, 0, j, d) : nan;
      }
    }
    out.poison();
    sieve_tensor tq = tensorOf(q), tk = tensorOf(k), tv = tensorOf(v), to = tensorOf(out);
    ASSERT_EQ(sieve_attention_generate(kernel, &tq, &tk, &tv, &to, qPos, 0, nullptr, nullptr),
              SIEVE_OK)
        << lastError();
    // The reference: attention over positions [0, live), causal in position
    // space (top-left over the whole square), row q_pos of it.
    HostTensor kLive({1, kHeadsKv, live, kDim}, false), vLive({1, kHeadsKv, live, kDim}, false);
    for (int64_t j = 0; j < live; ++j)
      for (int64_t d = 0; d < kDim; ++d) {
        kLive.at(0, 0, j, d) = kAll.at(0, 0, j, d);
        vLive.at(0, 0, j, d) = vAll.at(0, 0, j, d);
      }
    const int64_t liveBlocks = (live + kBlock - 1) / kBlock;
    auto cropped =
        sieve::runtime::BlockMask::create(kHeads, kSeq / kBlock, liveBlocks, kBlock, kBlock);
    ASSERT_TRUE(cropped);
    for (int64_t h = 0; h < kHeads; ++h)
      for (int64_t qb = 0; qb < kSeq / kBlock; ++qb)
        for (int64_t kb = 0; kb < liveBlocks; ++kb)
          cropped->set(h, qb, kb, mask_.get(h, qb, kb));
    std::vector<double> full = sieve::testing::referenceAttention(
        {1, kHeads, kHeadsKv, kSeq, live, kDim, sieve::runtime::DType::F32}, *cropped, true, scale,
        qf.data(), kLive.gather().data(), vLive.gather().data());
    std::vector<double> ref;
    for (int64_t h = 0; h < kHeads; ++h)
      ref.insert(ref.end(), full.begin() + (h * kSeq + qPos) * kDim,
                 full.begin() + (h * kSeq + qPos + 1) * kDim);
    std::vector<float> got = out.gather();
    EXPECT_LT(sieve::testing::relativeError(got.data(), ref), 1e-5);
    EXPECT_TRUE(out.guardsIntact());
  }

  // Misuse, in the C API's words.
  HostTensor q({1, kHeads, 1, kDim}, false), kv({1, kHeadsKv, kSeq, kDim}, false);
  q.fillNormal(rng);
  kv.fillNormal(rng);
  sieve_tensor tq = tensorOf(q), tkv = tensorOf(kv);
  EXPECT_EQ(sieve_attention(kernel, &tq, &tkv, &tkv, &tq, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention: the kernel is a generation kernel "
                         "(SIEVE_KERNEL_GENERATION); run it with sieve_attention_generate, which "
                         "takes the step's q_pos and seq_k_live");
  EXPECT_EQ(sieve_attention_generate(kernel, &tq, &tkv, &tkv, &tq, kSeq, 0, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("exceeds the kernel's 128 positions"), std::string::npos)
      << lastError();
  EXPECT_EQ(sieve_attention_generate(kernel, &tq, &tkv, &tkv, &tq, INT64_MAX, 0, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  const float thresholds[kHeads] = {0, 0};
  EXPECT_EQ(sieve_attention_generate(kernel, &tq, &tkv, &tkv, &tq, 3, 0, thresholds, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("compiled without SIEVE_KERNEL_THRESHOLDS"), std::string::npos)
      << lastError();
  EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);

  sieve_kernel refused = nullptr;
  problem_.causal = SIEVE_CAUSAL_TOP_LEFT;
  EXPECT_EQ(sieve_kernel_compile_flags(ctx_, &problem_, &blockMask_, nullptr, SIEVE_KERNEL_FORWARD,
                                       SIEVE_KERNEL_GENERATION, &refused),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("pass SIEVE_CAUSAL_BOTTOM_RIGHT or SIEVE_CAUSAL_NONE"),
            std::string::npos)
      << lastError();
  problem_.causal = SIEVE_CAUSAL_BOTTOM_RIGHT;
  EXPECT_EQ(sieve_kernel_compile_flags(ctx_, &problem_, &blockMask_, nullptr,
                                       SIEVE_KERNEL_FORWARD_LSE, SIEVE_KERNEL_GENERATION, &refused),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("`kind` must be SIEVE_KERNEL_FORWARD"), std::string::npos)
      << lastError();
  EXPECT_EQ(sieve_kernel_compile_batch(ctx_, &problem_, &blockMask_, nullptr,
                                       SIEVE_KERNEL_GENERATION, 0, &refused),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(refused, nullptr);
}

TEST_F(CApi, CausalValuesOutsideTheEnumAreRejected) {
  for (int causal : {-1, 3, 255}) {
    problem_.causal = causal;
    sieve_kernel kernel = reinterpret_cast<sieve_kernel>(&kernel);
    EXPECT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &kernel),
              SIEVE_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(kernel, nullptr);
    EXPECT_NE(lastError().find("sieve_kernel_compile: `causal` " + std::to_string(causal) +
                               " is not a sieve_causal (0 none, 1 top-left, 2 bottom-right)"),
              std::string::npos)
        << lastError();
  }
  sieve_mask mask = nullptr;
  EXPECT_EQ(sieve_mask_create(ctx_, &blockMask_, kSeq, SIEVE_CAUSAL_BOTTOM_RIGHT, &mask),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("depends on seq_k: use sieve_mask_create_causal"), std::string::npos)
      << lastError();
  EXPECT_EQ(sieve_mask_create_causal(ctx_, &blockMask_, kSeq, kSeq, 7, &mask),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("sieve_mask_create_causal: `causal` 7 is not a sieve_causal"),
            std::string::npos)
      << lastError();
  EXPECT_EQ(sieve_mask_create_causal(ctx_, &blockMask_, kSeq, 0, SIEVE_CAUSAL_BOTTOM_RIGHT, &mask),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("`seq_k` 0 is not positive"), std::string::npos) << lastError();
  EXPECT_EQ(mask, nullptr);
}

TEST_F(CApi, HandlesOutliveOrderOfDestruction) {
  // A kernel keeps its context's backend alive: destroying the context
  // first must leave the kernel usable until it is destroyed too.
  sieve_kernel kernel = nullptr;
  ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &kernel), SIEVE_OK);
  ASSERT_EQ(sieve_context_destroy(ctx_), SIEVE_OK);
  ctx_ = nullptr;
  char description[256];
  EXPECT_EQ(sieve_kernel_describe(kernel, description, sizeof description), SIEVE_OK);
  EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);
}

TEST_F(CApi, NullAndFreedHandlesAreRejected) {
  sieve_kernel kernel = nullptr;
  EXPECT_EQ(sieve_kernel_compile(nullptr, &problem_, &blockMask_, nullptr, &kernel),
            SIEVE_ERROR_INVALID_HANDLE);
  EXPECT_NE(lastError().find("not a live context"), std::string::npos);
  EXPECT_EQ(sieve_context_destroy(nullptr), SIEVE_ERROR_INVALID_HANDLE);
  EXPECT_EQ(sieve_kernel_destroy(nullptr), SIEVE_ERROR_INVALID_HANDLE);
  EXPECT_EQ(sieve_mask_destroy(nullptr), SIEVE_ERROR_INVALID_HANDLE);

  ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &kernel), SIEVE_OK);
  ASSERT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);
  EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_ERROR_INVALID_HANDLE);
  EXPECT_NE(lastError().find("destroyed already"), std::string::npos);
  int needsMask;
  EXPECT_EQ(sieve_kernel_needs_mask(kernel, &needsMask), SIEVE_ERROR_INVALID_HANDLE);
  sieve_tensor t{};
  EXPECT_EQ(sieve_attention(kernel, &t, &t, &t, &t, nullptr, nullptr), SIEVE_ERROR_INVALID_HANDLE);

  // A handle of another kind is not mistaken for a kernel.
  EXPECT_EQ(sieve_kernel_destroy(reinterpret_cast<sieve_kernel>(ctx_)), SIEVE_ERROR_INVALID_HANDLE);
  sieve_backend backend;
  EXPECT_EQ(sieve_context_backend(ctx_, &backend), SIEVE_OK) << "the context must survive";
}

TEST_F(CApi, BadArgumentsNameTheProblem) {
  sieve_kernel kernel = nullptr;
  EXPECT_EQ(sieve_context_create(SIEVE_BACKEND_CPU, 0, nullptr), SIEVE_ERROR_INVALID_ARGUMENT);
  sieve_context other = nullptr;
  EXPECT_EQ(sieve_context_create(static_cast<sieve_backend>(7), 0, &other),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("unknown backend 7"), std::string::npos) << lastError();
  EXPECT_EQ(other, nullptr);

  EXPECT_EQ(sieve_kernel_compile(ctx_, nullptr, &blockMask_, nullptr, &kernel),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sieve_kernel_compile(ctx_, &problem_, nullptr, nullptr, &kernel),
            SIEVE_ERROR_INVALID_ARGUMENT);

  // Packed bits of the wrong size, and padding bits set.
  sieve_block_mask shortMask = blockMask_;
  shortMask.bits_size -= 1;
  EXPECT_EQ(sieve_kernel_compile(ctx_, &problem_, &shortMask, nullptr, &kernel),
            SIEVE_ERROR_MALFORMED_MASK);
  EXPECT_NE(lastError().find("bytes of packed bits"), std::string::npos) << lastError();
  std::vector<uint8_t> odd(1, 0xff); // 3 tiles use 3 bits; 5 padding bits are set
  sieve_block_mask oddMask{1, 1, 3, 128, 128, odd.data(), odd.size()};
  EXPECT_EQ(sieve_kernel_compile(ctx_, &problem_, &oddMask, nullptr, &kernel),
            SIEVE_ERROR_MALFORMED_MASK);
  EXPECT_NE(lastError().find("padding bits"), std::string::npos) << lastError();

  // A mask that does not cover the problem, a bad dtype, a bad size.
  sieve_problem longer = problem_;
  longer.seq_q = 2 * kSeq;
  EXPECT_EQ(sieve_kernel_compile(ctx_, &longer, &blockMask_, nullptr, &kernel),
            SIEVE_ERROR_SHAPE_MISMATCH)
      << lastError();
  sieve_problem badType = problem_;
  badType.dtype = static_cast<sieve_dtype>(9);
  EXPECT_EQ(sieve_kernel_compile(ctx_, &badType, &blockMask_, nullptr, &kernel),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("unknown dtype 9"), std::string::npos) << lastError();
  sieve_problem noBatch = problem_;
  noBatch.batch = 0;
  EXPECT_NE(sieve_kernel_compile(ctx_, &noBatch, &blockMask_, nullptr, &kernel), SIEVE_OK);
  EXPECT_NE(lastError().find("batch"), std::string::npos) << lastError();
  EXPECT_EQ(kernel, nullptr) << "a failed compile must not hand out a handle";

  // GPU-only requests on a CPU context.
  sieve_kernel_options generic{"generic", 0, 0, 0};
  EXPECT_NE(sieve_kernel_compile(ctx_, &problem_, &blockMask_, &generic, &kernel), SIEVE_OK);
  sieve_mask mask = nullptr;
  EXPECT_EQ(sieve_mask_create(ctx_, &blockMask_, kSeq, 0, &mask), SIEVE_ERROR_UNSUPPORTED);
  EXPECT_EQ(mask, nullptr);
}

TEST_F(CApi, TensorsThatDisagreeWithTheKernelAreRejected) {
  sieve_kernel kernel = nullptr;
  ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &kernel), SIEVE_OK);
  HostTensor q({1, kHeads, kSeq, kDim}, false), out({1, kHeads, kSeq, kDim}, false);
  sieve_tensor tq = tensorOf(q), to = tensorOf(out);

  sieve_tensor wrongSize = tq;
  wrongSize.sizes[2] = kSeq / 2;
  EXPECT_EQ(sieve_attention(kernel, &wrongSize, &tq, &tq, &to, nullptr, nullptr),
            SIEVE_ERROR_SHAPE_MISMATCH);
  EXPECT_NE(lastError().find("q"), std::string::npos) << lastError();

  sieve_tensor wrongType = tq;
  wrongType.dtype = SIEVE_DTYPE_BF16;
  EXPECT_EQ(sieve_attention(kernel, &tq, &wrongType, &tq, &to, nullptr, nullptr),
            SIEVE_ERROR_DTYPE_MISMATCH);

  sieve_tensor badEnum = tq;
  badEnum.dtype = static_cast<sieve_dtype>(7);
  EXPECT_EQ(sieve_attention(kernel, &tq, &tq, &badEnum, &to, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("tensor 'v': unknown dtype 7"), std::string::npos) << lastError();

  sieve_tensor noData = to;
  noData.data = nullptr;
  EXPECT_NE(sieve_attention(kernel, &tq, &tq, &tq, &noData, nullptr, nullptr), SIEVE_OK);
  EXPECT_NE(lastError().find("out"), std::string::npos) << lastError();

  EXPECT_EQ(sieve_attention(kernel, &tq, nullptr, &tq, &to, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  int fakeStream = 0;
  EXPECT_EQ(sieve_attention(kernel, &tq, &tq, &tq, &to, nullptr, &fakeStream),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("stream"), std::string::npos) << lastError();
  EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);
}

TEST_F(CApi, LoadRejectsMissingAndCorruptArtifacts) {
  sieve_kernel kernel = nullptr;
  std::string stem = std::string(SIEVE_TEST_TMPDIR) + "/capi-missing";
  EXPECT_EQ(sieve_kernel_load(ctx_, stem.c_str(), &kernel), SIEVE_ERROR_IO) << lastError();
  EXPECT_NE(lastError().find("capi-missing"), std::string::npos) << lastError();
  EXPECT_EQ(sieve_kernel_load(ctx_, nullptr, &kernel), SIEVE_ERROR_INVALID_ARGUMENT);

  std::filesystem::create_directories(SIEVE_TEST_TMPDIR);
  std::string corrupt = std::string(SIEVE_TEST_TMPDIR) + "/capi-corrupt";
  std::ofstream(corrupt + ".json") << "{\"format\": \"sieve-artifact\", truncated";
  EXPECT_EQ(sieve_kernel_load(ctx_, corrupt.c_str(), &kernel), SIEVE_ERROR_CORRUPT_ARTIFACT)
      << lastError();
  EXPECT_EQ(kernel, nullptr);
}

} // namespace

namespace {

// The training pair through the C API: the forward that saves lse and the
// backward, against the float64 reference on fresh inputs with poisoned
// outputs; and the misuse the new entry points reject.
TEST_F(CApi, TrainingForwardAndBackwardMatchReference) {
  problem_.causal = 1;
  sieve_kernel forward = nullptr, backward = nullptr;
  ASSERT_EQ(sieve_kernel_compile_kind(ctx_, &problem_, &blockMask_, nullptr,
                                      SIEVE_KERNEL_FORWARD_LSE, &forward),
            SIEVE_OK)
      << lastError();
  ASSERT_EQ(sieve_kernel_compile_kind(ctx_, &problem_, &blockMask_, nullptr, SIEVE_KERNEL_BACKWARD,
                                      &backward),
            SIEVE_OK)
      << lastError();
  std::mt19937_64 rng(sieve::testing::freshSeed());
  const std::array<int64_t, 4> shape{1, kHeads, kSeq, kDim};
  HostTensor q(shape, false), k(shape, true), v(shape, false), out(shape, false), dout(shape, true),
      dq(shape, false), dk(shape, false), dv(shape, true);
  for (HostTensor *t : {&q, &k, &v, &dout})
    t->fillNormal(rng);
  for (HostTensor *t : {&out, &dq, &dk, &dv})
    t->poison();
  std::vector<float> lse(kHeads * kSeq, std::nanf(""));
  sieve_tensor tq = tensorOf(q), tk = tensorOf(k), tv = tensorOf(v), to = tensorOf(out),
               tdo = tensorOf(dout), tdq = tensorOf(dq), tdk = tensorOf(dk), tdv = tensorOf(dv);
  ASSERT_EQ(sieve_attention_forward(forward, &tq, &tk, &tv, &to, lse.data(), nullptr), SIEVE_OK)
      << lastError();
  ASSERT_EQ(sieve_attention_backward(backward, &tq, &tk, &tv, &to, &tdo, lse.data(), &tdq, &tdk,
                                     &tdv, nullptr),
            SIEVE_OK)
      << lastError();
  const sieve::runtime::ProblemShape s{
      1, kHeads, kHeads, kSeq, kSeq, kDim, sieve::runtime::DType::F32};
  auto ref = sieve::testing::referenceAttentionBackward(s, mask_, true, 1 / std::sqrt(double(kDim)),
                                                        q.gather().data(), k.gather().data(),
                                                        v.gather().data(), dout.gather().data());
  for (auto [got, want] :
       {std::pair{dq.gather(), &ref.dq}, {dk.gather(), &ref.dk}, {dv.gather(), &ref.dv}}) {
    double worst = 0, norm = 0;
    for (size_t i = 0; i < want->size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << i;
      worst = std::max(worst, std::fabs(got[i] - (*want)[i]));
      norm = std::max(norm, std::fabs((*want)[i]));
    }
    EXPECT_LT(worst / norm, 1e-5);
  }

  // Misuse: an unknown kind, a missing lse, the wrong kind of kernel.
  sieve_kernel bad = nullptr;
  EXPECT_EQ(sieve_kernel_compile_kind(ctx_, &problem_, &blockMask_, nullptr,
                                      static_cast<sieve_kernel_kind>(7), &bad),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("sieve_kernel_kind"), std::string::npos) << lastError();
  EXPECT_EQ(sieve_attention_backward(backward, &tq, &tk, &tv, &to, &tdo, nullptr, &tdq, &tdk, &tdv,
                                     nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("log-sum-exp"), std::string::npos) << lastError();
  EXPECT_EQ(sieve_attention_forward(backward, &tq, &tk, &tv, &to, lse.data(), nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sieve_attention(forward, &tq, &tk, &tv, &to, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("lse"), std::string::npos) << lastError();
  // The messages name the C API's kinds and functions, not the C++ API's.
  EXPECT_EQ(lastError(), "sieve_attention: the kernel is a SIEVE_KERNEL_FORWARD_LSE kernel; run "
                         "it with sieve_attention_forward, which takes its lse buffer");
  EXPECT_EQ(sieve_attention_forward(backward, &tq, &tk, &tv, &to, lse.data(), nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention_forward: the kernel is a SIEVE_KERNEL_BACKWARD kernel; "
                         "run it with sieve_attention_backward");
  EXPECT_EQ(sieve_attention_forward(forward, &tq, &tk, &tv, &to, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(),
            "sieve_attention_forward: `lse` is null (a float [B, Hq, Sq] buffer it writes)");
  EXPECT_EQ(sieve_attention_backward(forward, &tq, &tk, &tv, &to, &tdo, lse.data(), &tdq, &tdk,
                                     &tdv, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention_backward: the kernel is a SIEVE_KERNEL_FORWARD_LSE "
                         "kernel; run it with sieve_attention_forward, which takes its lse "
                         "buffer");
  EXPECT_EQ(sieve_attention_backward(backward, &tq, &tk, &tv, &to, &tdo, lse.data(), &tdq, nullptr,
                                     &tdv, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("`dk` is null"), std::string::npos) << lastError();
  EXPECT_EQ(sieve_kernel_destroy(forward), SIEVE_OK);
  EXPECT_EQ(sieve_kernel_destroy(backward), SIEVE_OK);
  EXPECT_EQ(sieve_attention_forward(forward, &tq, &tk, &tv, &to, lse.data(), nullptr),
            SIEVE_ERROR_INVALID_HANDLE);
}

// Threshold mode through the C API: a forward, a training forward and a
// backward compiled with SIEVE_KERNEL_THRESHOLDS run with one threshold per
// head (head 0 at its median score, head 1 dropping everything) and match
// the float64 reference; a missing or unwanted threshold buffer, and the
// wrong entry point, are refused in C terms.
TEST_F(CApi, ThresholdModeForwardAndBackwardMatchReference) {
  sieve_kernel plain = nullptr, forward = nullptr, training = nullptr, backward = nullptr;
  const std::pair<sieve_kernel_kind, sieve_kernel *> kinds[] = {
      {SIEVE_KERNEL_FORWARD, &plain},
      {SIEVE_KERNEL_FORWARD_LSE, &training},
      {SIEVE_KERNEL_BACKWARD, &backward}};
  for (auto [kind, out] : kinds)
    ASSERT_EQ(sieve_kernel_compile_flags(ctx_, &problem_, &blockMask_, nullptr, kind,
                                         SIEVE_KERNEL_THRESHOLDS, out),
              SIEVE_OK)
        << lastError();
  ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &forward), SIEVE_OK);
  int needs = -1;
  ASSERT_EQ(sieve_kernel_needs_thresholds(plain, &needs), SIEVE_OK);
  EXPECT_EQ(needs, 1);
  ASSERT_EQ(sieve_kernel_needs_thresholds(forward, &needs), SIEVE_OK);
  EXPECT_EQ(needs, 0);

  std::mt19937_64 rng(sieve::testing::freshSeed());
  const std::array<int64_t, 4> shape{1, kHeads, kSeq, kDim};
  HostTensor q(shape, false), k(shape, true), v(shape, false), out(shape, false),
      trainOut(shape, true), dout(shape, false), dq(shape, false), dk(shape, true),
      dv(shape, false);
  for (HostTensor *t : {&q, &k, &v, &dout})
    t->fillNormal(rng);
  for (HostTensor *t : {&out, &trainOut, &dq, &dk, &dv})
    t->poison();
  const sieve::runtime::ProblemShape s{
      1, kHeads, kHeads, kSeq, kSeq, kDim, sieve::runtime::DType::F32};
  const double scale = 1 / std::sqrt(double(kDim));
  const std::vector<float> qh = q.gather(), kh = k.gather(), vh = v.gather(), doh = dout.gather();
  const float thresholds[kHeads] = {
      sieve::testing::thresholdInGap(sieve::testing::headScores(s, scale, qh.data(), kh.data(), 0),
                                     0.5),
      std::numeric_limits<float>::infinity()};
  std::vector<float> lse(kHeads * kSeq, std::nanf(""));
  sieve_tensor tq = tensorOf(q), tk = tensorOf(k), tv = tensorOf(v), to = tensorOf(out),
               tto = tensorOf(trainOut), tdo = tensorOf(dout), tdq = tensorOf(dq),
               tdk = tensorOf(dk), tdv = tensorOf(dv);
  ASSERT_EQ(sieve_attention_thresholds(plain, &tq, &tk, &tv, &to, thresholds, nullptr, nullptr),
            SIEVE_OK)
      << lastError();
  ASSERT_EQ(sieve_attention_forward_thresholds(training, &tq, &tk, &tv, &tto, lse.data(),
                                               thresholds, nullptr),
            SIEVE_OK)
      << lastError();
  ASSERT_EQ(sieve_attention_backward_thresholds(backward, &tq, &tk, &tv, &tto, &tdo, lse.data(),
                                                thresholds, &tdq, &tdk, &tdv, nullptr),
            SIEVE_OK)
      << lastError();
  const auto refOut = sieve::testing::referenceAttention(s, mask_, false, scale, qh.data(),
                                                         kh.data(), vh.data(), thresholds);
  EXPECT_LT(sieve::testing::relativeError(out.gather().data(), refOut), 1e-5);
  EXPECT_LT(sieve::testing::relativeError(trainOut.gather().data(), refOut), 1e-5);
  const auto ref = sieve::testing::referenceAttentionBackward(
      s, mask_, false, scale, qh.data(), kh.data(), vh.data(), doh.data(), thresholds);
  for (auto [got, want] :
       {std::pair{dq.gather(), &ref.dq}, {dk.gather(), &ref.dk}, {dv.gather(), &ref.dv}})
    EXPECT_LT(sieve::testing::relativeError(got.data(), *want), 1e-5);
  for (int64_t i = 0; i < kSeq; ++i)
    EXPECT_TRUE(std::isinf(lse[kSeq + i]) && lse[kSeq + i] < 0) << "head 1 dropped every score";

  // Misuse, in C names.
  EXPECT_EQ(sieve_attention_thresholds(plain, &tq, &tk, &tv, &to, nullptr, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention_thresholds: `thresholds` is null (a float [Hq] buffer, "
                         "one threshold per query head)");
  EXPECT_EQ(sieve_attention_backward_thresholds(backward, &tq, &tk, &tv, &tto, &tdo, lse.data(),
                                                nullptr, &tdq, &tdk, &tdv, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("`thresholds` is null"), std::string::npos) << lastError();
  EXPECT_EQ(sieve_attention(plain, &tq, &tk, &tv, &to, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention: the kernel is a threshold-mode SIEVE_KERNEL_FORWARD "
                         "kernel; run it with sieve_attention_thresholds, which takes its "
                         "thresholds");
  EXPECT_EQ(sieve_attention_forward(training, &tq, &tk, &tv, &tto, lse.data(), nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention_forward: the kernel is a threshold-mode "
                         "SIEVE_KERNEL_FORWARD_LSE kernel; run it with "
                         "sieve_attention_forward_thresholds, which takes its lse buffer and "
                         "thresholds");
  EXPECT_EQ(sieve_attention_thresholds(forward, &tq, &tk, &tv, &to, thresholds, nullptr, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention_thresholds: the kernel is a SIEVE_KERNEL_FORWARD "
                         "kernel; run it with sieve_attention");
  sieve_kernel bad = nullptr;
  for (uint32_t unknown : {8u, 0x80000000u | SIEVE_KERNEL_THRESHOLDS}) {
    EXPECT_EQ(sieve_kernel_compile_flags(ctx_, &problem_, &blockMask_, nullptr,
                                         SIEVE_KERNEL_FORWARD, unknown, &bad),
              SIEVE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(lastError().find("`flags`"), std::string::npos) << lastError();
    EXPECT_EQ(bad, nullptr);
  }
  for (sieve_kernel kernel : {plain, forward, training, backward})
    EXPECT_EQ(sieve_kernel_destroy(kernel), SIEVE_OK);
}

TEST_F(CApi, MessagesUseCNames) {
  sieve_kernel plain = nullptr;
  ASSERT_EQ(sieve_kernel_compile(ctx_, &problem_, &blockMask_, nullptr, &plain), SIEVE_OK)
      << lastError();
  const std::array<int64_t, 4> shape{1, kHeads, kSeq, kDim};
  HostTensor q(shape, false);
  sieve_tensor t = tensorOf(q);
  std::vector<float> lse(kHeads * kSeq);
  EXPECT_EQ(sieve_attention_forward(plain, &t, &t, &t, &t, lse.data(), nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "sieve_attention_forward: the kernel is a SIEVE_KERNEL_FORWARD kernel; "
                         "run it with sieve_attention");
  EXPECT_EQ(sieve_attention_backward(plain, &t, &t, &t, &t, &t, lse.data(), &t, &t, &t, nullptr),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError().find("KernelSpec"), std::string::npos) << lastError();
  EXPECT_EQ(lastError().find("saveLse"), std::string::npos) << lastError();
  EXPECT_EQ(lastError().find("()"), std::string::npos) << lastError();
  EXPECT_EQ(sieve_kernel_destroy(plain), SIEVE_OK);
}

TEST_F(CApi, EveryFailedCreateLeavesOutNull) {
  // A stale handle in *out after a failure is one a caller may destroy or
  // use: every failure path sets it to NULL, the early ones included.
  auto stale = [] { return reinterpret_cast<sieve_kernel>(uintptr_t(0xdead)); };
  sieve_context badContext = reinterpret_cast<sieve_context>(uintptr_t(0xbeef));
  struct Case {
    const char *what;
    std::function<sieve_status(sieve_kernel *)> call;
  };
  sieve_problem negative = problem_;
  negative.seq_q = -1;
  const Case cases[] = {
      {"dead context",
       [&](sieve_kernel *out) {
         return sieve_kernel_compile(badContext, &problem_, &blockMask_, nullptr, out);
       }},
      {"unknown kind",
       [&](sieve_kernel *out) {
         return sieve_kernel_compile_kind(ctx_, &problem_, &blockMask_, nullptr,
                                          static_cast<sieve_kernel_kind>(9), out);
       }},
      {"null problem",
       [&](sieve_kernel *out) {
         return sieve_kernel_compile(ctx_, nullptr, &blockMask_, nullptr, out);
       }},
      {"null mask",
       [&](sieve_kernel *out) {
         return sieve_kernel_compile(ctx_, &problem_, nullptr, nullptr, out);
       }},
      {"bad dtype",
       [&](sieve_kernel *out) {
         sieve_problem p = problem_;
         p.dtype = static_cast<sieve_dtype>(42);
         return sieve_kernel_compile(ctx_, &p, &blockMask_, nullptr, out);
       }},
      {"invalid shape",
       [&](sieve_kernel *out) {
         return sieve_kernel_compile(ctx_, &negative, &blockMask_, nullptr, out);
       }},
      {"load with a dead context",
       [&](sieve_kernel *out) { return sieve_kernel_load(badContext, "x", out); }},
      {"load of a missing file",
       [&](sieve_kernel *out) { return sieve_kernel_load(ctx_, "/nonexistent/stem", out); }},
  };
  for (const Case &c : cases) {
    sieve_kernel out = stale();
    EXPECT_NE(c.call(&out), SIEVE_OK) << c.what;
    EXPECT_EQ(out, nullptr) << c.what << ": " << lastError();
  }
  sieve_mask mask = reinterpret_cast<sieve_mask>(uintptr_t(0xdead));
  EXPECT_EQ(sieve_mask_create(badContext, &blockMask_, kSeq, 0, &mask), SIEVE_ERROR_INVALID_HANDLE);
  EXPECT_EQ(mask, nullptr);
  mask = reinterpret_cast<sieve_mask>(uintptr_t(0xdead));
  EXPECT_EQ(sieve_mask_create(ctx_, nullptr, kSeq, 0, &mask), SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(mask, nullptr);
  sieve_context context = badContext;
  EXPECT_EQ(sieve_context_create(static_cast<sieve_backend>(9), 0, &context),
            SIEVE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(context, nullptr);
}

} // namespace
