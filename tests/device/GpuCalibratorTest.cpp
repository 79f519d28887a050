//===- GpuCalibratorTest.cpp - sieve calibrate's GPU engine against float64 -===//
//
// The Calibrator's GPU engine (Calibrator::addWithKernel on a GPU session),
// as `sieve calibrate --engine gpu` runs it on MiniLM's shapes: random host
// f32 q, k, v (B=2, H=12, D=32, 16x16 tiles; q and k strided as the model
// hands them, BSHD, v contiguous BHSD) go through it call after call, on
// two layers and two sequence lengths (the engine reuses its device buffers
// while the shape stays, and makes new ones when it changes). The
// accumulated stats are checked against the float64 reference engine
// (Calibrator::add) on the same inputs, already rounded to bf16 (what the
// engine uploads), tile by tile; rows and calls must be counted the same.
// The kernels go through the ledger: the specs are the Calibrator's own
// (Calibrator::kernelSpec), so the ledger attests what the engine runs.
//
//===----------------------------------------------------------------------===//
#include "KernelLedger.h"

#include "sieve/calibration/Calibrator.h"
#include "sieve/compiler/Session.h"
#include "sieve/runtime/DType.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

using namespace sieve;
using namespace sieve::calibration;
using namespace sieve::runtime;
using namespace sieve::testing;

namespace {

constexpr int64_t B = 2, H = 12, D = 32, kBlock = 16, kLayers = 2, kMaxSeq = 128;

/// Random host f32 values already rounded to bf16, viewed as [B, H, S, D];
/// `bshd` stores rows of all heads interleaved (the models' layout).
struct HostTensor {
  std::vector<float> data;
  TensorView view;
  HostTensor(int64_t seq, bool bshd, std::mt19937_64 &rng) {
    // A spread of 2 makes scores of about +-4 after the 1/sqrt(32) scale:
    // peaked rows, not near-uniform ones that any wrong kernel matches.
    std::normal_distribution<float> normal(0.f, 2.f);
    data.resize(static_cast<size_t>(B * H * seq * D));
    for (float &x : data)
      x = normal(rng);
    std::vector<uint8_t> bf16(data.size() * dtypeSize(DType::BF16));
    encodeFloats(DType::BF16, data.data(), bf16.data(), data.size());
    decodeFloats(DType::BF16, bf16.data(), data.data(), data.size());
    view = TensorView::contiguous(data.data(), DType::F32, {B, H, seq, D}, DeviceKind::Host);
    if (bshd)
      view.strides = {seq * H * D, D, H * D, 1};
  }
};

class GpuCalibrator : public ::testing::TestWithParam<int64_t> {};

TEST_P(GpuCalibrator, GpuEngineMatchesTheFloat64Engine) {
  const std::string name = currentCaseName();
  SCOPED_TRACE(seedTrace(name));
  std::mt19937_64 rng(inputSeed(name));
  const int64_t seq = GetParam(), otherSeq = seq == 77 ? 128 : 77;
  const double scale = 1 / std::sqrt(double(D));
  auto gpu = Calibrator::create(kLayers, H, kMaxSeq, kMaxSeq, kBlock, kBlock);
  auto reference = Calibrator::create(kLayers, H, kMaxSeq, kMaxSeq, kBlock, kBlock);
  ASSERT_TRUE(gpu && reference);

  std::vector<compiler::KernelSpec> specs;
  for (int64_t s : {seq, otherSeq}) {
    auto spec = gpu->kernelSpec({B, H, H, s, s, D, DType::BF16}, scale, /*causal=*/false);
    ASSERT_TRUE(spec) << spec.error().str();
    specs.push_back(std::move(*spec));
  }
  SIEVE_DEVICE_KERNELS(kernels, "calibrator/auto/bf16/d32/full/s" + std::to_string(seq), specs);
  for (auto &artifact : kernels)
    ASSERT_TRUE(artifact) << artifact.error().str();
  compiler::Session &session = *ledger().session();

  // Layer 0 then layer 1 at `seq` (same shape: buffers reused), layer 1
  // again (accumulates), then layer 0 at the other length (new buffers).
  struct Call {
    int64_t layer, seq;
  };
  for (Call c : {Call{0, seq}, Call{1, seq}, Call{1, seq}, Call{0, otherSeq}}) {
    HostTensor q(c.seq, /*bshd=*/true, rng), k(c.seq, true, rng), v(c.seq, false, rng);
    ASSERT_FALSE(gpu->addWithKernel(session, c.layer, q.view, k.view, v.view, scale));
    ASSERT_FALSE(reference->add(c.layer, q.view, k.view, scale));
  }

  const AttentionStats &got = gpu->stats(), &want = reference->stats();
  double worst = 0;
  for (size_t n = 0; n < want.mass.size(); ++n) {
    // The inputs are the same bf16 values on both sides, so what differs is
    // the kernel's arithmetic: f32 scores from tensor-core products (exact)
    // and f32 sums, exponentials by ex2.approx, each row's 1/sum in f32,
    // the tile's mass summed over a warp and added atomically in f32 per
    // call. That is ~1e-5 relative per tile and call; the bound is the GPU
    // suite's for this kernel (GpuCalibrationTest: 2e-3 of the larger of
    // the tile's mass and one row's).
    const double scaleOf = std::max(1.0, want.mass[n]);
    EXPECT_NEAR(got.mass[n], want.mass[n], 2e-3 * scaleOf) << "tile " << n;
    worst = std::max(worst, std::abs(got.mass[n] - want.mass[n]) / scaleOf);
  }
  for (int64_t l = 0; l < kLayers; ++l) {
    EXPECT_EQ(got.layers[l].rows, want.layers[l].rows) << "layer " << l;
    EXPECT_EQ(got.layers[l].calls, want.layers[l].calls) << "layer " << l;
  }
  EXPECT_EQ(got.layers[1].calls, 2);
  EXPECT_FALSE(got.validate());
  std::printf("  gpu calibrator S=%lld then %lld (%s): worst tile mass error %.3e\n",
              static_cast<long long>(seq), static_cast<long long>(otherSeq),
              (*kernels[0])->variant.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(MiniLmShapes, GpuCalibrator, ::testing::Values(77, 128),
                         [](const ::testing::TestParamInfo<int64_t> &info) {
                           return "s" + std::to_string(info.param);
                         });

} // namespace
