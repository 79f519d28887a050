//===- GpuCalibrationTest.cpp - the GPU calibration variant against float64 -===//
//
// KernelSpec::calibrate on the GPU (the simt body with a second pass): two
// calls on fresh random bf16/f16 inputs add every query row's probability
// mass per kept tile into a device stats table, checked against a float64
// recomputation on the same rounded inputs; the attention output of the
// same launch (poisoned first) against the float64 reference. GQA, ragged
// Sq != Sk, an empty head, causal and not. Threshold mode (also a simt-body
// option) is checked here too. Skips without a GPU.
//
//===----------------------------------------------------------------------===//
#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/runtime/Reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::runtime;

namespace {

using Param = std::tuple<DType, bool /*causal*/>;

class GpuCalibration : public ::testing::TestWithParam<Param> {};

/// Random normal values rounded to `dtype`: the encoded bytes and the floats
/// the device sees.
void randomTensor(size_t count, DType dtype, std::mt19937_64 &rng, std::vector<uint8_t> &bytes,
                  std::vector<float> &rounded) {
  std::normal_distribution<float> normal;
  rounded.resize(count);
  for (float &x : rounded)
    x = normal(rng);
  bytes.resize(count * dtypeSize(dtype));
  encodeFloats(dtype, rounded.data(), bytes.data(), count);
  decodeFloats(dtype, bytes.data(), rounded.data(), count);
}

TEST_P(GpuCalibration, MassPerTileMatchesFloat64) {
  auto session = Session::create(BackendChoice::Cuda);
  if (!session)
    GTEST_SKIP() << "no GPU: " << session.error().str();
  auto [dtype, causal] = GetParam();
  const int64_t B = 2, Hq = 4, Hkv = 2, Sq = 200, Sk = 300, D = 64, bq = 32, bk = 32;
  const int64_t QB = (Sq + bq - 1) / bq, KB = (Sk + bk - 1) / bk;
  uint64_t seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  KernelSpec spec;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, dtype};
  spec.causal = causal;
  spec.calibrate = true;
  spec.mask = BlockMask::random(Hq, QB, KB, bq, bk, 0.5, rng(), /*keepDiagonal=*/true);
  spec.mask.setHead(Hq - 1, false); // a pruned head adds nothing
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  ASSERT_TRUE((*artifact)->calibrate);
  ASSERT_EQ((*artifact)->variant, "simt") << (*artifact)->config;

  const size_t qCount = B * Hq * Sq * D, kvCount = B * Hkv * Sk * D;
  std::vector<uint8_t> qBytes, kBytes, vBytes;
  std::vector<float> q, k, v;
  randomTensor(qCount, dtype, rng, qBytes, q);
  randomTensor(kvCount, dtype, rng, kBytes, k);
  randomTensor(kvCount, dtype, rng, vBytes, v);

  const CudaDriver &drv = (*session)->gpu()->driver();
  const size_t statsCount = Hq * QB * KB;
  auto dq = drv.alloc(qBytes.size()), dk = drv.alloc(kBytes.size()), dv = drv.alloc(vBytes.size()),
       dout = drv.alloc(qBytes.size()), dstats = drv.alloc(statsCount * sizeof(float));
  for (auto *p : {&dq, &dk, &dv, &dout, &dstats})
    ASSERT_TRUE(*p) << p->error().str();
  ASSERT_FALSE(drv.copyToDevice(*dq, qBytes.data(), qBytes.size()));
  ASSERT_FALSE(drv.copyToDevice(*dk, kBytes.data(), kBytes.size()));
  ASSERT_FALSE(drv.copyToDevice(*dv, vBytes.data(), vBytes.size()));
  ASSERT_FALSE(drv.memset8(*dout, 0xFF, qBytes.size())); // NaN: unwritten stays visible
  ASSERT_FALSE(drv.memset8(*dstats, 0, statsCount * sizeof(float)));
  auto view = [&](CuDevicePtr p, int64_t heads, int64_t seq) {
    return TensorView::contiguous(reinterpret_cast<void *>(p), dtype, {B, heads, seq, D},
                                  DeviceKind::Cuda);
  };
  // Two calls accumulate.
  for (int call = 0; call < 2; ++call)
    ASSERT_FALSE((*session)->calibrate(**artifact, view(*dq, Hq, Sq), view(*dk, Hkv, Sk),
                                       view(*dv, Hkv, Sk), view(*dout, Hq, Sq),
                                       reinterpret_cast<float *>(*dstats)));
  ASSERT_FALSE(drv.synchronize(nullptr));
  std::vector<float> stats(statsCount);
  std::vector<uint8_t> outBytes(qBytes.size());
  ASSERT_FALSE(drv.copyToHost(stats.data(), *dstats, statsCount * sizeof(float)));
  ASSERT_FALSE(drv.copyToHost(outBytes.data(), *dout, outBytes.size()));
  for (auto *p : {&dq, &dk, &dv, &dout, &dstats})
    (void)drv.free(**p);

  // The attention output of the calibration launch.
  std::vector<float> out(qCount);
  decodeFloats(dtype, outBytes.data(), out.data(), qCount);
  std::vector<double> ref = referenceAttention(spec.shape, spec.mask, causal, spec.effectiveScale(),
                                               q.data(), k.data(), v.data());
  double err = relativeError(out.data(), ref);
  EXPECT_LT(err, 1e-2) << "attention output against the float64 reference";

  // float64 mass per tile, for both calls.
  std::vector<double> expected =
      referenceTileMass(spec.shape, spec.mask, causal, spec.effectiveScale(), q.data(), k.data());
  for (double &x : expected)
    x *= 2;
  double worst = 0;
  for (size_t n = 0; n < statsCount; ++n) {
    // f32 scores from 16-bit inputs, ex2.approx: ~1e-3 relative per tile.
    EXPECT_NEAR(stats[n], expected[n], 2e-3 * std::max(1.0, expected[n])) << "tile " << n;
    worst = std::max(worst, std::abs(stats[n] - expected[n]) / std::max(1.0, expected[n]));
  }
  std::printf("  gpu calibration %s%s: output rel err %.3e, worst tile mass error %.3e\n",
              dtypeName(dtype), causal ? " causal" : "", err, worst);
}

// Threshold mode on the GPU (the simt body): thresholds in device memory, a
// head at the median of its scores (the widest gap there), one at +inf
// (zeros), one at -inf (nothing dropped); against the float64 reference.
TEST_P(GpuCalibration, ThresholdModeMatchesFloat64) {
  auto session = Session::create(BackendChoice::Cuda);
  if (!session)
    GTEST_SKIP() << "no GPU: " << session.error().str();
  auto [dtype, causal] = GetParam();
  const int64_t B = 2, Hq = 4, Hkv = 2, Sq = 200, Sk = 300, D = 64, bq = 32, bk = 32;
  uint64_t seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  KernelSpec spec;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, dtype};
  spec.causal = causal;
  spec.thresholds = true;
  spec.mask = BlockMask::random(Hq, (Sq + bq - 1) / bq, (Sk + bk - 1) / bk, bq, bk, 0.5, rng(),
                                /*keepDiagonal=*/true);
  auto artifact = (*session)->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  ASSERT_TRUE((*artifact)->thresholds);

  const size_t qCount = B * Hq * Sq * D, kvCount = B * Hkv * Sk * D;
  std::vector<uint8_t> qBytes, kBytes, vBytes;
  std::vector<float> q, k, v;
  randomTensor(qCount, dtype, rng, qBytes, q);
  randomTensor(kvCount, dtype, rng, kBytes, k);
  randomTensor(kvCount, dtype, rng, vBytes, v);
  std::vector<float> head0;
  const double scale = spec.effectiveScale();
  for (int64_t i = 0; i < Sq; ++i)
    for (int64_t j = 0; j < Sk; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < D; ++d)
        dot += double(q[i * D + d]) * k[j * D + d];
      head0.push_back(float(scale * dot));
    }
  std::sort(head0.begin(), head0.end());
  size_t at = head0.size() / 2, best = at;
  for (size_t c = at - 5; c <= at + 5; ++c)
    if (head0[c + 1] - head0[c] > head0[best + 1] - head0[best])
      best = c;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> thresholds = {0.5f * (head0[best] + head0[best + 1]), inf, -inf, 0.0f};

  const CudaDriver &drv = (*session)->gpu()->driver();
  auto dq = drv.alloc(qBytes.size()), dk = drv.alloc(kBytes.size()), dv = drv.alloc(vBytes.size()),
       dout = drv.alloc(qBytes.size()), dt = drv.alloc(Hq * sizeof(float));
  for (auto *p : {&dq, &dk, &dv, &dout, &dt})
    ASSERT_TRUE(*p) << p->error().str();
  ASSERT_FALSE(drv.copyToDevice(*dq, qBytes.data(), qBytes.size()));
  ASSERT_FALSE(drv.copyToDevice(*dk, kBytes.data(), kBytes.size()));
  ASSERT_FALSE(drv.copyToDevice(*dv, vBytes.data(), vBytes.size()));
  ASSERT_FALSE(drv.copyToDevice(*dt, thresholds.data(), Hq * sizeof(float)));
  ASSERT_FALSE(drv.memset8(*dout, 0xFF, qBytes.size()));
  auto view = [&](CuDevicePtr p, int64_t heads, int64_t seq) {
    return TensorView::contiguous(reinterpret_cast<void *>(p), dtype, {B, heads, seq, D},
                                  DeviceKind::Cuda);
  };
  ASSERT_FALSE((*session)->run(**artifact, view(*dq, Hq, Sq), view(*dk, Hkv, Sk),
                               view(*dv, Hkv, Sk), view(*dout, Hq, Sq), nullptr, nullptr,
                               reinterpret_cast<const float *>(*dt)));
  ASSERT_FALSE(drv.synchronize(nullptr));
  std::vector<uint8_t> outBytes(qBytes.size());
  ASSERT_FALSE(drv.copyToHost(outBytes.data(), *dout, outBytes.size()));
  for (auto *p : {&dq, &dk, &dv, &dout, &dt})
    (void)drv.free(**p);
  std::vector<float> out(qCount);
  decodeFloats(dtype, outBytes.data(), out.data(), qCount);
  auto ref = referenceAttention(spec.shape, spec.mask, causal, scale, q.data(), k.data(), v.data(),
                                thresholds.data());
  double err = relativeError(out.data(), ref);
  EXPECT_LT(err, 1e-2) << "threshold mode against the float64 reference";
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Sq * D; ++i)
      ASSERT_EQ(out[(b * Hq + 1) * Sq * D + i], 0.0f) << "head 1 dropped every score";
  std::printf("  gpu threshold mode %s%s: rel err %.3e\n", dtypeName(dtype),
              causal ? " causal" : "", err);
}

INSTANTIATE_TEST_SUITE_P(Variants, GpuCalibration,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<Param> &info) {
                           return std::string(dtypeName(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) ? "_causal" : "");
                         });

} // namespace
