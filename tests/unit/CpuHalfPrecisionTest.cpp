//===- CpuHalfPrecisionTest.cpp - f16 and bf16 on the CPU backend --------===//
//
// Models stored in half precision run on the CPU backend with the same
// kernels: f16 and bf16 tensors are widened to f32 on load, everything is
// computed in f32, and the results are narrowed to the element type on
// store. The float64 references see the same 16-bit inputs; outputs are
// held to the per-dtype tolerances of tests/support/RowCheck (the rounding
// of the stored result), gradients to a relative error of the same order.
//
//===----------------------------------------------------------------------===//
#include "sieve/compiler/Session.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/ReferenceBackward.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace sieve;
using namespace sieve::compiler;

namespace {

/// A [B, H, S, D] tensor of 16-bit elements, BHSD or BSHD in storage.
struct HalfTensor {
  runtime::DType dtype;
  std::vector<uint16_t> storage;
  runtime::TensorView view;

  HalfTensor(runtime::DType dtype, std::array<int64_t, 4> bhsd, bool bshd)
      : dtype(dtype), storage(static_cast<size_t>(bhsd[0] * bhsd[1] * bhsd[2] * bhsd[3])) {
    auto [b, h, s, d] = bhsd;
    std::array<int64_t, 4> strides = bshd ? std::array<int64_t, 4>{s * h * d, d, h * d, 1}
                                          : std::array<int64_t, 4>{h * s * d, s * d, d, 1};
    view = runtime::TensorView{storage.data(), dtype, bhsd, strides, runtime::DeviceKind::Host};
  }
  size_t offset(int64_t b, int64_t h, int64_t s, int64_t d) const {
    const auto &st = view.strides;
    return static_cast<size_t>(b * st[0] + h * st[1] + s * st[2] + d * st[3]);
  }
  /// Random N(0, 1) values, rounded to the element type.
  void fillNormal(std::mt19937_64 &rng) {
    std::normal_distribution<float> normal;
    forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
      float x = normal(rng);
      runtime::encodeFloats(dtype, &x, &storage[offset(b, h, s, d)], 1);
    });
  }
  void poison() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (uint16_t &x : storage)
      runtime::encodeFloats(dtype, &nan, &x, 1);
  }
  /// The values as f32, contiguous BHSD.
  std::vector<float> gather() const {
    std::vector<float> out;
    forEach([&](int64_t b, int64_t h, int64_t s, int64_t d) {
      float x;
      runtime::decodeFloats(dtype, &storage[offset(b, h, s, d)], &x, 1);
      out.push_back(x);
    });
    return out;
  }

private:
  template <typename F> void forEach(F f) const {
    auto [B, H, S, D] = view.sizes;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t d = 0; d < D; ++d)
            f(b, h, s, d);
  }
};

struct Case {
  const char *name;
  runtime::DType dtype;
  int64_t batch, headsQ, headsKv, seqQ, seqK, headDim, blockQ, blockK;
  bool causal, bshd;
};
std::ostream &operator<<(std::ostream &os, const Case &c) { return os << c.name; }

class CpuHalfPrecision : public ::testing::TestWithParam<Case> {
protected:
  static void SetUpTestSuite() {
    auto s = Session::create(BackendChoice::Cpu);
    ASSERT_TRUE(s) << s.error().str();
    session_ = std::move(*s);
  }
  static void TearDownTestSuite() { session_.reset(); }
  static std::unique_ptr<Session> session_;

  KernelSpec specOf(const Case &c) {
    KernelSpec spec;
    spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, c.headDim, c.dtype};
    spec.causal = c.causal;
    const int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
                  kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
    spec.mask = runtime::BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, 0.5,
                                           sieve::testing::maskSeed(c.name), true);
    return spec;
  }
};
std::unique_ptr<Session> CpuHalfPrecision::session_;

TEST_P(CpuHalfPrecision, ForwardMatchesFloat64Reference) {
  const Case &c = GetParam();
  SCOPED_TRACE(sieve::testing::seedTrace(c.name));
  std::mt19937_64 rng(sieve::testing::inputSeed(c.name));
  KernelSpec spec = specOf(c);
  auto artifact = session_->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  HalfTensor q(c.dtype, {c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd),
      k(c.dtype, {c.batch, c.headsKv, c.seqK, c.headDim}, c.bshd),
      v(c.dtype, {c.batch, c.headsKv, c.seqK, c.headDim}, c.bshd),
      out(c.dtype, {c.batch, c.headsQ, c.seqQ, c.headDim}, c.bshd);
  q.fillNormal(rng);
  k.fillNormal(rng);
  v.fillNormal(rng);
  out.poison();
  ASSERT_FALSE(session_->run(**artifact, q.view, k.view, v.view, out.view));
  std::vector<float> got = out.gather();
  std::vector<double> ref =
      sieve::testing::referenceAttention(spec.shape, spec.mask, c.causal, spec.effectiveScale(),
                                         q.gather().data(), k.gather().data(), v.gather().data());
  sieve::testing::RowComparison rows = sieve::testing::compareRows(
      got.data(), ref, c.batch, c.headsQ, c.seqQ, c.headDim, sieve::testing::rowTolerance(c.dtype));
  EXPECT_TRUE(rows.ok()) << rows.badRows << " of " << rows.rows << " rows wrong: " << rows.report;
}

TEST_P(CpuHalfPrecision, BackwardMatchesFloat64Reference) {
  const Case &c = GetParam();
  SCOPED_TRACE(sieve::testing::seedTrace(c.name));
  std::mt19937_64 rng(sieve::testing::inputSeed(c.name));
  KernelSpec spec = specOf(c), forward = spec, backward = spec;
  forward.saveLse = true;
  backward.backward = true;
  auto fwd = session_->compile(forward);
  auto bwd = session_->compile(backward);
  ASSERT_TRUE(fwd && bwd);
  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, c.headDim},
      kvShape{c.batch, c.headsKv, c.seqK, c.headDim};
  HalfTensor q(c.dtype, qShape, c.bshd), k(c.dtype, kvShape, c.bshd), v(c.dtype, kvShape, c.bshd),
      out(c.dtype, qShape, c.bshd), dout(c.dtype, qShape, c.bshd), dq(c.dtype, qShape, c.bshd),
      dk(c.dtype, kvShape, c.bshd), dv(c.dtype, kvShape, c.bshd);
  for (HalfTensor *t : {&q, &k, &v, &dout})
    t->fillNormal(rng);
  for (HalfTensor *t : {&out, &dq, &dk, &dv})
    t->poison();
  std::vector<float> lse(static_cast<size_t>(c.batch * c.headsQ * c.seqQ));
  ASSERT_FALSE(session_->forward(**fwd, q.view, k.view, v.view, out.view, lse.data()));
  runtime::BackwardTensors t{q.view,  k.view,  v.view,  out.view,  dout.view,
                             dq.view, dk.view, dv.view, lse.data()};
  ASSERT_FALSE(session_->backward(**bwd, t));
  // The reference of the gradients of the 16-bit inputs; the kernel's
  // delta comes from the stored (rounded) out, so a few ulps of the type.
  const sieve::testing::AttentionGradients ref = sieve::testing::referenceAttentionBackward(
      spec.shape, spec.mask, c.causal, spec.effectiveScale(), q.gather().data(), k.gather().data(),
      v.gather().data(), dout.gather().data());
  const double tolerance = c.dtype == runtime::DType::BF16 ? 3e-2 : 4e-3;
  auto relative = [](const std::vector<float> &got, const std::vector<double> &want) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!std::isfinite(got[i]))
        return std::numeric_limits<double>::infinity();
      diff += (got[i] - want[i]) * (got[i] - want[i]);
      norm += want[i] * want[i];
    }
    return std::sqrt(diff / std::max(norm, 1e-30));
  };
  EXPECT_LT(relative(dq.gather(), ref.dq), tolerance);
  EXPECT_LT(relative(dk.gather(), ref.dk), tolerance);
  EXPECT_LT(relative(dv.gather(), ref.dv), tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Dtypes, CpuHalfPrecision,
    // clang-format off
    ::testing::Values(
        //   name                    dtype                 B Hq Hkv  Sq   Sk   D  bq  bk causal bshd
        Case{"f16_square",           runtime::DType::F16,  1, 4, 4, 128, 128, 64, 32, 32, false, false},
        Case{"f16_gqa_causal_bshd",  runtime::DType::F16,  2, 4, 2, 100, 100, 32, 16, 32, true, true},
        Case{"bf16_square",          runtime::DType::BF16, 1, 4, 4, 128, 128, 64, 32, 32, false, false},
        Case{"bf16_ragged_d128",     runtime::DType::BF16, 1, 2, 1, 77, 150, 128, 32, 64, true, false}),
    // clang-format on
    [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

} // namespace
