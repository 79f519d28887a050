//===- ThresholdModeTest.cpp - per-head score thresholds on the CPU backend -===//
//
// KernelSpec::thresholds: the kernel takes f32 thresholds [Hq] at run time
// and drops every score scale * q . k under its head's. Checked against the
// float64 reference with the same thresholds on fresh random inputs (output
// poisoned first): a threshold at the median of a head's scores, one at
// +inf (the head is all zeros) and one at -inf (the plain kernel's result).
// The thresholds are data: one artifact serves new values without a
// compile. Misuse is refused by name.
//
//===----------------------------------------------------------------------===//
#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/Session.h"
#include "sieve/testing/Reference.h"

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
  std::vector<float> head0, head3;
  for (int64_t h : {0, 3})
    for (int64_t i = 0; i < Sq; ++i)
      for (int64_t j = 0; j < Sk; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot +=
              double(q[((0 * Hq + h) * Sq + i) * D + d]) * k[((0 * Hkv + h / 2) * Sk + j) * D + d];
        (h == 0 ? head0 : head3).push_back(float(scale * dot));
      }
  // A threshold near the p-quantile, in the widest gap between neighbouring
  // scores there: a score that sits on the threshold could fall either side
  // of it under f32 rounding, which would test rounding, not the mode.
  auto quantile = [](std::vector<float> x, double p) {
    std::sort(x.begin(), x.end());
    size_t at = size_t(p * double(x.size() - 1)), best = at;
    for (size_t c = at - 5; c <= at + 5; ++c)
      if (x[c + 1] - x[c] > x[best + 1] - x[best])
        best = c;
    return 0.5f * (x[best] + x[best + 1]);
  };
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
