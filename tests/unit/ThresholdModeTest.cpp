//===- ThresholdModeTest.cpp - per-head score thresholds on the CPU backend -===//
//
// KernelSpec::thresholds: the kernel takes f32 thresholds [Hq] at run time
// and drops every score scale * q . k under its head's. Checked against the
// float64 reference with the same thresholds on fresh random inputs (output
// poisoned first): a threshold at the median of a head's scores, one at
// +inf (the head is all zeros) and one at -inf (the plain kernel's result).
// The thresholds are data: one artifact serves new values without a
// compile. Training goes through the hard threshold: the lse forward and
// the backward against the float64 gradients of the thresholded attention.
// Misuse is refused by name.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/Session.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/ReferenceBackward.h"
#include "sieve/testing/Thresholds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

using namespace sieve;
using namespace sieve::compiler;

namespace {

std::vector<float> randomNormal(size_t n, std::mt19937 &rng) {
  std::normal_distribution<float> dist(0.f, 1.5f);
  std::vector<float> x(n);
  for (float &v : x)
    v = dist(rng);
  return x;
}

runtime::TensorView view(std::vector<float> &data, std::array<int64_t, 4> sizes) {
  return runtime::TensorView::contiguous(data.data(), runtime::DType::F32, sizes,
                                         runtime::DeviceKind::Host);
}

class ThresholdMode : public ::testing::TestWithParam<bool /*causal*/> {};

TEST_P(ThresholdMode, DropsScoresUnderEachHeadsThreshold) {
  const bool causal = GetParam();
  const int64_t B = 2, Hq = 4, Hkv = 2, Sq = 45, Sk = 61, D = 16, bq = 8, bk = 8;
  const int64_t QB = (Sq + bq - 1) / bq, KB = (Sk + bk - 1) / bk;
  std::mt19937 rng(std::random_device{}());
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session) << session.error().str();
  KernelSpec spec;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, runtime::DType::F32};
  spec.causal = causal;
  spec.mask = runtime::BlockMask::random(Hq, QB, KB, bq, bk, 0.6, rng(), /*keepDiagonal=*/true);
  spec.thresholds = true;
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  EXPECT_TRUE((*artifact)->thresholds);

  auto q = randomNormal(B * Hq * Sq * D, rng), k = randomNormal(B * Hkv * Sk * D, rng),
       v = randomNormal(B * Hkv * Sk * D, rng);
  // Head 0: the median of its scores; head 1: +inf (everything dropped);
  // head 2: -inf (nothing dropped); head 3: a high quantile (most dropped).
  const double scale = spec.effectiveScale();
  const std::vector<float> head0 =
      sieve::testing::headScores(spec.shape, scale, q.data(), k.data(), 0);
  const std::vector<float> head3 =
      sieve::testing::headScores(spec.shape, scale, q.data(), k.data(), 3);
  auto quantile = sieve::testing::thresholdInGap;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> thresholds = {quantile(head0, 0.5), inf, -inf, quantile(head3, 0.9)};

  for (int round = 0; round < 2; ++round) {
    std::vector<float> out(q.size(), std::numeric_limits<float>::quiet_NaN());
    ASSERT_FALSE((*session)->run(**artifact, view(q, {B, Hq, Sq, D}), view(k, {B, Hkv, Sk, D}),
                                 view(v, {B, Hkv, Sk, D}), view(out, {B, Hq, Sq, D}), nullptr,
                                 nullptr, thresholds.data()));
    auto ref = sieve::testing::referenceAttention(spec.shape, spec.mask, causal, scale, q.data(),
                                                  k.data(), v.data(), thresholds.data());
    EXPECT_LT(sieve::testing::relativeError(out.data(), ref), 1e-5) << "round " << round;
    // Head 1 dropped every score: its rows are zeros.
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Sq * D; ++i)
        ASSERT_EQ(out[(b * Hq + 1) * Sq * D + i], 0.0f);
    // The thresholds are data: new values, same artifact, no compile.
    thresholds[0] = quantile(head0, 0.25);
  }

  // The plain kernel differs where thresholds drop scores.
  KernelSpec plainSpec = spec;
  plainSpec.thresholds = false;
  auto plain = (*session)->compile(plainSpec);
  ASSERT_TRUE(plain) << plain.error().str();
  std::vector<float> plainOut(q.size());
  ASSERT_FALSE((*session)->run(**plain, view(q, {B, Hq, Sq, D}), view(k, {B, Hkv, Sk, D}),
                               view(v, {B, Hkv, Sk, D}), view(plainOut, {B, Hq, Sq, D})));
  auto thresholdRef = sieve::testing::referenceAttention(
      spec.shape, spec.mask, causal, scale, q.data(), k.data(), v.data(), thresholds.data());
  EXPECT_GT(sieve::testing::relativeError(plainOut.data(), thresholdRef), 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Masks, ThresholdMode, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "causal" : "plain"; });

/// Largest |a - b| over the largest |b| (one tolerance for every scale);
/// infinite when `a` holds a NaN or Inf (a poisoned element never written).
double maxRelativeError(const std::vector<float> &a, const std::vector<double> &b) {
  double worst = 0, norm = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i]))
      return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    norm = std::max(norm, std::fabs(b[i]));
  }
  return worst / std::max(norm, 1e-30);
}

class ThresholdTraining : public ::testing::TestWithParam<bool /*causal*/> {};

// The training forward (lse) and the backward through the hard threshold:
// GQA, block_q != block_k, ragged lengths, BSHD storage, an empty row; a
// head at its median, one all dropped (zeros, lse -inf, no gradient), one
// with nothing dropped and one mostly dropped.
TEST_P(ThresholdTraining, LseAndGradientsMatchFloat64) {
  const bool causal = GetParam();
  const int64_t B = 2, Hq = 4, Hkv = 2, Sq = 45, Sk = 61, D = 16, bq = 8, bk = 16;
  const int64_t QB = (Sq + bq - 1) / bq, KB = (Sk + bk - 1) / bk;
  const uint64_t seed = sieve::testing::freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session) << session.error().str();
  KernelSpec spec;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, runtime::DType::F32};
  spec.causal = causal;
  spec.mask = runtime::BlockMask::random(Hq, QB, KB, bq, bk, 0.6, rng(), /*keepDiagonal=*/true);
  for (int64_t kb = 0; kb < KB; ++kb) // an empty row in head 2
    spec.mask.set(2, QB - 1, kb, false);
  spec.thresholds = true;
  KernelSpec forwardSpec = spec, backwardSpec = spec;
  forwardSpec.saveLse = true;
  backwardSpec.backward = true;
  auto forward = (*session)->compile(forwardSpec);
  ASSERT_TRUE(forward) << forward.error().str();
  auto backward = (*session)->compile(backwardSpec);
  ASSERT_TRUE(backward) << backward.error().str();
  EXPECT_TRUE((*forward)->thresholds && (*forward)->savesLse);
  EXPECT_TRUE((*backward)->thresholds && (*backward)->backward);

  using sieve::testing::HostTensor;
  const std::array<int64_t, 4> qShape{B, Hq, Sq, D}, kvShape{B, Hkv, Sk, D};
  HostTensor q(qShape, causal), k(kvShape, causal), v(kvShape, false), out(qShape, causal),
      dout(qShape, false), dq(qShape, causal), dk(kvShape, false), dv(kvShape, causal);
  for (HostTensor *t : {&q, &k, &v, &dout})
    t->fillNormal(rng);
  for (HostTensor *t : {&out, &dq, &dk, &dv})
    t->poison();
  const std::vector<float> qh = q.gather(), kh = k.gather(), vh = v.gather(), doh = dout.gather();
  const double scale = spec.effectiveScale();
  auto scoresOf = [&](int64_t h) {
    return sieve::testing::headScores(spec.shape, scale, qh.data(), kh.data(), h);
  };
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> thresholds = {sieve::testing::thresholdInGap(scoresOf(0), 0.5), inf,
                                         -inf, sieve::testing::thresholdInGap(scoresOf(3), 0.85)};
  std::vector<float> lse(B * Hq * Sq, std::numeric_limits<float>::quiet_NaN());

  ASSERT_FALSE((*session)->forward(**forward, q.view, k.view, v.view, out.view, lse.data(), nullptr,
                                   thresholds.data()));
  runtime::BackwardTensors t{q.view,  k.view,  v.view,  out.view,   dout.view,
                             dq.view, dk.view, dv.view, lse.data(), thresholds.data()};
  ASSERT_FALSE((*session)->backward(**backward, t));

  const auto ref = sieve::testing::referenceAttentionBackward(spec.shape, spec.mask, causal, scale,
                                                              qh.data(), kh.data(), vh.data(),
                                                              doh.data(), thresholds.data());
  const auto refOut = sieve::testing::referenceAttention(
      spec.shape, spec.mask, causal, scale, qh.data(), kh.data(), vh.data(), thresholds.data());
  EXPECT_LT(sieve::testing::relativeError(out.gather().data(), refOut), 1e-5);
  // lse: -inf exactly where the reference has -inf (head 1 everywhere),
  // close elsewhere.
  for (size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(ref.lse[i]))
      ASSERT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << "lse[" << i << "] = " << lse[i];
    else
      ASSERT_NEAR(lse[i], ref.lse[i], 1e-5 * std::max(1.0, std::fabs(ref.lse[i])))
          << "lse[" << i << "]";
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Sq; ++i)
      ASSERT_TRUE(std::isinf(lse[(b * Hq + 1) * Sq + i])) << "head 1 dropped every score";
  EXPECT_LT(maxRelativeError(dq.gather(), ref.dq), 1e-5);
  EXPECT_LT(maxRelativeError(dk.gather(), ref.dk), 1e-5);
  EXPECT_LT(maxRelativeError(dv.gather(), ref.dv), 1e-5);
  // Head 1's queries get exact zeros (no score of theirs was kept).
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Sq; ++i)
      for (int64_t d = 0; d < D; ++d)
        ASSERT_EQ(dq.at(b, 1, i, d), 0.0f) << "dq of the all-dropped head";
  // The thresholds matter: the plain gradients are far from these.
  const auto plain = sieve::testing::referenceAttentionBackward(
      spec.shape, spec.mask, causal, scale, qh.data(), kh.data(), vh.data(), doh.data());
  EXPECT_GT(maxRelativeError(dq.gather(), plain.dq), 1e-2);
  for (HostTensor *h : {&q, &k, &v, &out, &dout, &dq, &dk, &dv})
    EXPECT_TRUE(h->guardsIntact());

  // A threshold-mode training kernel needs its thresholds, and a plain one
  // refuses them.
  Error missing = (*session)->forward(**forward, q.view, k.view, v.view, out.view, lse.data());
  ASSERT_TRUE(missing);
  EXPECT_NE(missing.message().find("thresholds"), std::string::npos) << missing.str();
  t.thresholds = nullptr;
  missing = (*session)->backward(**backward, t);
  ASSERT_TRUE(missing);
  EXPECT_NE(missing.message().find("thresholds"), std::string::npos) << missing.str();
  backwardSpec.thresholds = false;
  auto plainBackward = (*session)->compile(backwardSpec);
  ASSERT_TRUE(plainBackward) << plainBackward.error().str();
  t.thresholds = thresholds.data();
  Error extra = (*session)->backward(**plainBackward, t);
  ASSERT_TRUE(extra);
  EXPECT_NE(extra.message().find("without threshold mode"), std::string::npos) << extra.str();
}

INSTANTIATE_TEST_SUITE_P(Masks, ThresholdTraining, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "causal" : "plain"; });

TEST(ThresholdMode, MisuseIsRefusedByName) {
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session) << session.error().str();
  KernelSpec spec;
  spec.shape = {1, 2, 2, 16, 16, 8, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 2, 2, 8, 8, 1.0, 1, true);
  spec.thresholds = true;
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  std::vector<float> q(256, 0.5f), k(256, 0.25f), v(256, 1.f), out(256);
  auto t = [](std::vector<float> &x) { return view(x, {1, 2, 16, 8}); };
  Error missing = (*session)->run(**artifact, t(q), t(k), t(v), t(out));
  ASSERT_TRUE(missing);
  EXPECT_NE(missing.message().find("thresholds"), std::string::npos) << missing.str();
  spec.thresholds = false;
  auto plain = (*session)->compile(spec);
  ASSERT_TRUE(plain);
  float thresholds[2] = {0, 0};
  Error extra = (*session)->run(**plain, t(q), t(k), t(v), t(out), nullptr, nullptr, thresholds);
  ASSERT_TRUE(extra);
  EXPECT_NE(extra.message().find("without threshold mode"), std::string::npos) << extra.str();
  // Calibration measures the unthresholded attention.
  spec.thresholds = spec.calibrate = true;
  Error both = spec.validate();
  ASSERT_TRUE(both);
  EXPECT_NE(both.message().find("exclude"), std::string::npos) << both.str();
  // On the GPU every body has threshold mode: auto compiles (no GPU
  // needed) to the wgmma body on sm_90a, mma on sm_80, each with the
  // thresholds as launch data (the buffer's five parameters).
  KernelSpec gpuSpec;
  gpuSpec.shape = {1, 2, 2, 128, 128, 64, runtime::DType::BF16};
  gpuSpec.mask = runtime::BlockMask::random(2, 2, 2, 64, 64, 1.0, 1, true);
  gpuSpec.thresholds = true;
  for (auto [chip, body] : {std::pair{"sm_90a", "wgmma"}, {"sm_80", "mma"}}) {
    gpuSpec.target = Target::cuda(chip);
    auto gpu = compile(gpuSpec);
    ASSERT_TRUE(gpu) << gpu.error().str();
    EXPECT_EQ(gpu->variant, body) << gpu->config;
    EXPECT_TRUE(gpu->warnings.empty()) << gpu->warnings.front();
  }
  auto gpu = compile(gpuSpec);
  ASSERT_TRUE(gpu) << gpu.error().str();
  int slots = 0;
  for (const runtime::ParamSlot &slot : gpu->mainLaunch().params)
    slots += slot.tensor == runtime::ParamSlot::kThresholds;
  EXPECT_EQ(slots, 5);
  auto back = runtime::Artifact::fromMetadataJson(gpu->metadataJson(), gpu->code);
  ASSERT_TRUE(back) << back.error().str();
  EXPECT_TRUE(back->thresholds);
}

} // namespace
