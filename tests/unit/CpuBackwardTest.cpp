//===- CpuBackwardTest.cpp - CPU gradients against the float64 reference --===//
//
// Each case compiles a forward that saves its log-sum-exp and the backward
// for one mask through the whole sieve-to-cpu pipeline, runs both on fresh
// random inputs into NaN-poisoned outputs (out, lse, dq, dk, dv), and
// compares with referenceAttentionBackward (whose own gradients are checked
// against finite differences in ReferenceBackwardTest). Cases cover causal
// and not, GQA, Sq != Sk with ragged tiles, block_q != block_k, BSHD
// strides, empty rows, an empty head and a key head no query head reads,
// at head dims 8 to 256.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Session.h"
#include "sieve/testing/CpuSessionTest.h"
#include "sieve/testing/ReferenceBackward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace sieve;
using namespace sieve::compiler;
using sieve::testing::HostTensor;

namespace {

struct Case {
  const char *name;
  int64_t batch, headsQ, headsKv, seqQ, seqK, headDim, blockQ, blockK;
  double density;
  bool causal, bshd;
  int64_t emptyHeads; // the last N query heads keep no tile
};

std::ostream &operator<<(std::ostream &os, const Case &c) { return os << c.name; }

class CpuBackward : public sieve::testing::CpuSessionTest<Case> {};

/// Largest |a - b| over the largest |b|, so one tolerance fits every scale;
/// infinite when `a` holds a NaN or Inf (a poisoned element never written).
double relativeError(const std::vector<float> &a, const std::vector<double> &b) {
  double worst = 0, norm = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i]))
      return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    norm = std::max(norm, std::fabs(b[i]));
  }
  return worst / std::max(norm, 1e-30);
}

TEST_P(CpuBackward, MatchesFloat64Reference) {
  const Case &c = GetParam();
  const uint64_t seed = sieve::testing::freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  KernelSpec spec;
  spec.shape = {c.batch, c.headsQ, c.headsKv, c.seqQ, c.seqK, c.headDim, runtime::DType::F32};
  spec.causal = c.causal;
  const int64_t qBlocks = (c.seqQ + c.blockQ - 1) / c.blockQ,
                kBlocks = (c.seqK + c.blockK - 1) / c.blockK;
  spec.mask = runtime::BlockMask::random(c.headsQ, qBlocks, kBlocks, c.blockQ, c.blockK, c.density,
                                         rng(), /*keepDiagonal=*/true);
  for (int64_t h = c.headsQ - c.emptyHeads; h < c.headsQ; ++h)
    spec.mask.setHead(h, false);
  for (int64_t kb = 0; kb < kBlocks; ++kb) // an empty row in head 0
    spec.mask.set(0, qBlocks - 1, kb, false);

  KernelSpec forwardSpec = spec, backwardSpec = spec;
  forwardSpec.saveLse = true;
  backwardSpec.backward = true;
  auto forward = session_->compile(forwardSpec);
  ASSERT_TRUE(forward) << forward.error().str();
  auto backward = session_->compile(backwardSpec);
  ASSERT_TRUE(backward) << backward.error().str();
  EXPECT_TRUE((*forward)->savesLse);
  EXPECT_TRUE((*backward)->backward);
  EXPECT_NE((*forward)->cacheKey, (*backward)->cacheKey);

  const std::array<int64_t, 4> qShape{c.batch, c.headsQ, c.seqQ, c.headDim},
      kvShape{c.batch, c.headsKv, c.seqK, c.headDim};
  HostTensor q(qShape, c.bshd), k(kvShape, c.bshd), v(kvShape, c.bshd), out(qShape, c.bshd),
      dout(qShape, c.bshd), dq(qShape, c.bshd), dk(kvShape, c.bshd), dv(kvShape, c.bshd);
  for (HostTensor *t : {&q, &k, &v, &dout})
    t->fillNormal(rng);
  for (HostTensor *t : {&out, &dq, &dk, &dv})
    t->poison();
  std::vector<float> lse(c.batch * c.headsQ * c.seqQ, std::numeric_limits<float>::quiet_NaN());

  ASSERT_FALSE(session_->forward(**forward, q.view, k.view, v.view, out.view, lse.data()));
  runtime::BackwardTensors t{q.view,  k.view,  v.view,  out.view,  dout.view,
                             dq.view, dk.view, dv.view, lse.data()};
  ASSERT_FALSE(session_->backward(**backward, t));

  const sieve::testing::AttentionGradients ref = sieve::testing::referenceAttentionBackward(
      spec.shape, spec.mask, c.causal, spec.effectiveScale(), q.gather().data(), k.gather().data(),
      v.gather().data(), dout.gather().data());
  // lse: -inf exactly where the reference has -inf, close elsewhere.
  for (size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(ref.lse[i])) {
      EXPECT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << "lse[" << i << "] = " << lse[i];
    } else {
      EXPECT_NEAR(lse[i], ref.lse[i], 1e-5 * std::max(1.0, std::fabs(ref.lse[i])))
          << "lse[" << i << "]";
    }
  }
  EXPECT_LT(relativeError(dq.gather(), ref.dq), 1e-5);
  EXPECT_LT(relativeError(dk.gather(), ref.dk), 1e-5);
  EXPECT_LT(relativeError(dv.gather(), ref.dv), 1e-5);
  for (HostTensor *h : {&q, &k, &v, &out, &dout, &dq, &dk, &dv})
    EXPECT_TRUE(h->guardsIntact());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CpuBackward,
    ::testing::Values(Case{"square", 2, 2, 2, 64, 64, 16, 16, 16, 0.5, false, false, 0},
                      Case{"causal", 1, 2, 2, 70, 70, 16, 16, 16, 0.6, true, false, 0},
                      Case{"gqa_empty_head", 1, 4, 2, 40, 56, 8, 8, 16, 0.5, false, true, 1},
                      Case{"gqa_causal_unread_key_head", 1, 4, 2, 48, 48, 8, 16, 8, 0.7, true,
                           false, 2},
                      Case{"cross_ragged", 1, 3, 1, 21, 45, 32, 8, 16, 0.4, false, true, 0},
                      // The head dims the GPU backward runs beyond 64 and 128.
                      Case{"d32_causal_gqa", 1, 4, 2, 50, 50, 32, 16, 16, 0.6, true, false, 0},
                      Case{"d80_causal_ragged", 1, 2, 1, 45, 45, 80, 16, 16, 0.6, true, true, 0},
                      Case{"d96_cross", 1, 2, 2, 37, 52, 96, 16, 32, 0.5, false, false, 0},
                      Case{"d192_causal_gqa", 1, 4, 2, 40, 40, 192, 16, 8, 0.7, true, false, 1},
                      Case{"d256_cross_ragged", 1, 2, 1, 33, 48, 256, 8, 16, 0.5, false, true, 0},
                      Case{"d256_causal", 1, 2, 2, 40, 40, 256, 16, 16, 0.7, true, false, 0}),
    [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

// The entry points reject what cannot be a backward launch.
TEST(CpuBackwardErrors, NameTheProblem) {
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session) << session.error().str();
  KernelSpec spec;
  spec.shape = {1, 1, 1, 16, 16, 8, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(1, 2, 2, 8, 8, 1.0, 1, /*keepDiagonal=*/true);
  spec.saveLse = true;
  spec.backward = true;
  EXPECT_NE((*session)->compile(spec).error().message().find("two kernels"), std::string::npos);
  spec.saveLse = false;
  spec.calibrate = true;
  EXPECT_NE((*session)->compile(spec).error().message().find("excludes calibrate"),
            std::string::npos);
  spec.calibrate = false;
  auto backward = (*session)->compile(spec);
  ASSERT_TRUE(backward) << backward.error().str();

  HostTensor q({1, 1, 16, 8}, false), k({1, 1, 16, 8}, false), v({1, 1, 16, 8}, false),
      out({1, 1, 16, 8}, false), dout({1, 1, 16, 8}, false), dq({1, 1, 16, 8}, false),
      dk({1, 1, 16, 8}, false), dv({1, 1, 16, 8}, false), wrong({1, 1, 16, 4}, false);
  std::vector<float> lse(16);
  runtime::BackwardTensors t{q.view,  k.view,  v.view,  out.view, dout.view,
                             dq.view, dk.view, dv.view, nullptr};
  Error e = (*session)->backward(**backward, t);
  EXPECT_NE(e.message().find("log-sum-exp"), std::string::npos) << e.message();
  t.lse = lse.data();
  t.dk = wrong.view;
  e = (*session)->backward(**backward, t);
  EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  EXPECT_NE(e.message().find("'dk'"), std::string::npos) << e.message();
  // A backward artifact is not a forward, and a plain forward has no lse.
  e = (*session)->run(**backward, q.view, k.view, v.view, out.view);
  EXPECT_NE(e.message().find("backward()"), std::string::npos) << e.message();
  spec.backward = false;
  auto plain = (*session)->compile(spec);
  ASSERT_TRUE(plain);
  e = (*session)->forward(**plain, q.view, k.view, v.view, out.view, lse.data());
  EXPECT_NE(e.message().find("saveLse"), std::string::npos) << e.message();
}

} // namespace
