//===- CpuCalibrationKernelTest.cpp - the CPU calibration kernel variant --===//
//
// KernelSpec::calibrate compiles sieve.attention with a stats operand through
// the whole sieve-to-cpu pipeline; the kernel adds each query row's final
// probabilities, summed per key block, to stats [Hq, QB, KB]. Checked against
// a float64 recomputation over the kept tiles, against the row counts (dense:
// each row's mass is 1), and against the float64 host Calibrator.
//
//===----------------------------------------------------------------------===//
#include "sieve/calibration/Calibrator.h"
#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/Session.h"
#include "sieve/testing/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace sieve;
using namespace sieve::compiler;

namespace {

struct Tensor {
  std::vector<float> data;
  runtime::TensorView view;
  Tensor(std::array<int64_t, 4> sizes, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.f, 1.5f);
    data.resize(static_cast<size_t>(sizes[0] * sizes[1] * sizes[2] * sizes[3]));
    for (float &x : data)
      x = dist(rng);
    view = runtime::TensorView::contiguous(data.data(), runtime::DType::F32, sizes,
                                           runtime::DeviceKind::Host);
  }
  double at(int64_t b, int64_t h, int64_t i, int64_t d) const {
    const auto &s = view.strides;
    return data[static_cast<size_t>(b * s[0] + h * s[1] + i * s[2] + d * s[3])];
  }
};

struct Case {
  const char *name;
  double density;
  bool causal;
};

class CpuCalibrationKernel : public ::testing::TestWithParam<Case> {};

TEST_P(CpuCalibrationKernel, MatchesFloat64OverKeptTiles) {
  const Case &c = GetParam();
  const int64_t B = 2, Hq = 4, Hkv = 2, Sq = 37, Sk = 29, D = 16, bq = 8, bk = 8;
  const int64_t QB = (Sq + bq - 1) / bq, KB = (Sk + bk - 1) / bk;
  std::mt19937 rng(11);
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session) << session.error().str();

  KernelSpec spec;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, runtime::DType::F32};
  spec.causal = c.causal;
  spec.mask = runtime::BlockMask::random(Hq, QB, KB, bq, bk, c.density, 5, /*keepDiagonal=*/true);
  spec.calibrate = true;
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  EXPECT_TRUE((*artifact)->calibrate);
  spec.calibrate = false;
  auto plain = (*session)->compile(spec);
  ASSERT_TRUE(plain) << plain.error().str();
  EXPECT_NE((*plain)->cacheKey, (*artifact)->cacheKey);

  Tensor q({B, Hq, Sq, D}, rng), k({B, Hkv, Sk, D}, rng), v({B, Hkv, Sk, D}, rng);
  Tensor out({B, Hq, Sq, D}, rng), outPlain({B, Hq, Sq, D}, rng);
  // Two calls accumulate.
  std::vector<float> stats(static_cast<size_t>(Hq * QB * KB), 0.f);
  for (int call = 0; call < 2; ++call)
    ASSERT_FALSE((*session)->calibrate(**artifact, q.view, k.view, v.view, out.view, stats.data()));
  ASSERT_FALSE((*session)->run(**plain, q.view, k.view, v.view, outPlain.view));
  // The attention output is the plain kernel's, bit for bit.
  EXPECT_EQ(std::memcmp(out.data.data(), outPlain.data.data(), out.data.size() * sizeof(float)), 0);

  // float64 mass per kept tile (sieve::testing::referenceTileMass), both calls.
  std::vector<double> expected = sieve::testing::referenceTileMass(
      spec.shape, spec.mask, c.causal, 1 / std::sqrt(double(D)), q.data.data(), k.data.data());
  for (double &x : expected)
    x *= 2;
  for (size_t n = 0; n < stats.size(); ++n)
    EXPECT_NEAR(stats[n], expected[n], 1e-4 * std::max(1.0, expected[n])) << "tile " << n;
}

INSTANTIATE_TEST_SUITE_P(Masks, CpuCalibrationKernel,
                         ::testing::Values(Case{"dense", 1.0, false}, Case{"sparse", 0.4, false},
                                           Case{"causal", 1.0, true},
                                           Case{"sparse_causal", 0.5, true}),
                         [](const auto &info) { return std::string(info.param.name); });

TEST(CpuCalibrationKernel, DenseMassIsRowsSeenAndMatchesTheHostReference) {
  const int64_t B = 3, H = 2, S = 21, D = 8, block = 4, QB = 6;
  std::mt19937 rng(2);
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session);
  KernelSpec spec;
  spec.shape = {B, H, H, S, S, D, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(H, QB, QB, block, block, 1.0, 1, true);
  spec.calibrate = true;
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  Tensor q({B, H, S, D}, rng), k({B, H, S, D}, rng), v({B, H, S, D}, rng), out({B, H, S, D}, rng);
  std::vector<float> stats(static_cast<size_t>(H * QB * QB), 0.f);
  ASSERT_FALSE((*session)->calibrate(**artifact, q.view, k.view, v.view, out.view, stats.data()));
  auto reference = calibration::Calibrator::create(1, H, S, S, block, block);
  ASSERT_TRUE(reference);
  ASSERT_FALSE(reference->add(0, q.view, k.view, spec.effectiveScale()));
  const calibration::AttentionStats &r = reference->stats();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t qb = 0; qb < QB; ++qb) {
      double sum = 0;
      for (int64_t kb = 0; kb < QB; ++kb) {
        float got = stats[static_cast<size_t>((h * QB + qb) * QB + kb)];
        EXPECT_NEAR(got, r.at(0, h, qb, kb), 1e-4 * std::max(1.0, r.at(0, h, qb, kb)));
        sum += got;
      }
      // Valid rows x batch: 4 rows per block, 1 in the last.
      EXPECT_NEAR(sum, double(r.layers[0].rows[qb]), 1e-4);
      EXPECT_EQ(r.layers[0].rows[qb], B * (qb < QB - 1 ? 4 : 1));
    }
}

TEST(CpuCalibrationKernel, ApiErrors) {
  auto session = Session::create(BackendChoice::Cpu);
  ASSERT_TRUE(session);
  std::mt19937 rng(3);
  KernelSpec spec;
  spec.shape = {1, 1, 1, 8, 8, 4, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(1, 2, 2, 4, 4, 1.0, 1, true);
  spec.calibrate = true;
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact);
  Tensor q({1, 1, 8, 4}, rng), k({1, 1, 8, 4}, rng), v({1, 1, 8, 4}, rng), o({1, 1, 8, 4}, rng);
  // run() cannot feed the stats operand; calibrate() needs a buffer.
  Error e = (*session)->run(**artifact, q.view, k.view, v.view, o.view);
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("stats buffer"), std::string::npos) << e.str();
  EXPECT_TRUE((*session)->calibrate(**artifact, q.view, k.view, v.view, o.view, nullptr));
  spec.calibrate = false;
  auto plain = (*session)->compile(spec);
  ASSERT_TRUE(plain);
  float stats[4] = {};
  EXPECT_TRUE((*session)->calibrate(**plain, q.view, k.view, v.view, o.view, stats));
  // On the GPU every specialized body calibrates; the generic kernel (mask
  // read at launch) has no second pass and is refused by name. auto
  // compiles (no GPU needed) to the wgmma body on sm_90a, mma on sm_80,
  // whose parameters carry the stats table's rank-3 descriptor.
  KernelSpec gpu;
  gpu.shape = {1, 2, 2, 128, 128, 64, runtime::DType::BF16};
  gpu.mask = runtime::BlockMask::random(2, 2, 2, 64, 64, 1.0, 1, true);
  gpu.calibrate = true;
  gpu.target = Target::cuda("sm_90a");
  gpu.options.variant = "generic";
  e = gpu.validate();
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  EXPECT_NE(e.message().find("generic kernel"), std::string::npos) << e.str();
  gpu.options.variant = "auto";
  for (auto [chip, body] : {std::pair{"sm_90a", "wgmma"}, {"sm_80", "mma"}}) {
    gpu.target = Target::cuda(chip);
    auto gpuArtifact = compile(gpu);
    ASSERT_TRUE(gpuArtifact) << gpuArtifact.error().str();
    EXPECT_TRUE(gpuArtifact->calibrate);
    EXPECT_EQ(gpuArtifact->variant, body) << gpuArtifact->config;
    int statsSlots = 0;
    for (const runtime::ParamSlot &slot : gpuArtifact->mainLaunch().params)
      statsSlots += slot.tensor == runtime::ParamSlot::kStats;
    EXPECT_EQ(statsSlots, 9); // pointers, offset, 3 sizes, 3 strides
    auto gpuBack =
        runtime::Artifact::fromMetadataJson(gpuArtifact->metadataJson(), gpuArtifact->code);
    ASSERT_TRUE(gpuBack) << gpuBack.error().str();
    EXPECT_EQ(gpuBack->mainLaunch().params, gpuArtifact->mainLaunch().params);
  }
  // The flag survives the artifact's metadata.
  auto back = runtime::Artifact::fromMetadataJson((*artifact)->metadataJson(), (*artifact)->code);
  ASSERT_TRUE(back) << back.error().str();
  EXPECT_TRUE(back->calibrate);
}

} // namespace
