//===- CalibratorTest.cpp - attention mass against a float64 recomputation ===//
#include "sieve/calibration/Calibrator.h"
#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace sieve;
using namespace sieve::calibration;

namespace {

// A [B, H, S, D] f32 tensor stored BSHD (rows of all heads interleaved), the
// layout the models hand over.
struct Bshd {
  std::vector<float> data;
  runtime::TensorView view;
  Bshd(int64_t b, int64_t h, int64_t s, int64_t d, std::mt19937 &rng) {
    std::normal_distribution<float> dist(0.f, 1.5f);
    data.resize(static_cast<size_t>(b * h * s * d));
    for (float &x : data)
      x = dist(rng);
    view.data = data.data();
    view.dtype = runtime::DType::F32;
    view.sizes = {b, h, s, d};
    view.strides = {s * h * d, d, h * d, 1};
    view.device = runtime::DeviceKind::Host;
  }
  double at(int64_t b, int64_t h, int64_t i, int64_t d) const {
    const auto &st = view.strides;
    return data[static_cast<size_t>(b * st[0] + h * st[1] + i * st[2] + d * st[3])];
  }
};

// The expected stats, straight from the definition: p = softmax(scale q.k)
// per row, summed into (head, i / bq, j / bk).
void addExpected(std::vector<double> &mass, const AttentionStats &s, int64_t layer, const Bshd &q,
                 const Bshd &k, double scale, bool causal) {
  auto [B, H, Sq, D] = q.view.sizes;
  int64_t Sk = k.view.sizes[2], group = H / k.view.sizes[1];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        int64_t keys = causal ? std::min(Sk, i + 1) : Sk;
        std::vector<double> e(static_cast<size_t>(keys));
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q.at(b, h, i, d) * k.at(b, h / group, j, d);
          e[j] = scale * dot;
          mx = std::max(mx, e[j]);
        }
        for (double &x : e)
          sum += (x = std::exp(x - mx));
        for (int64_t j = 0; j < keys; ++j)
          mass[s.index(layer, h, i / s.blockQ, j / s.blockK)] += e[j] / sum;
      }
}

TEST(Calibrator, MatchesFloat64AndCountsRows) {
  std::mt19937 rng(7);
  const int64_t B = 2, Hq = 4, Hkv = 2, D = 8;
  auto cal = Calibrator::create(/*layers=*/2, Hq, /*maxSeqQ=*/16, /*maxSeqK=*/16, 4, 4);
  ASSERT_TRUE(cal) << cal.error().str();
  std::vector<double> expected(cal->stats().mass.size(), 0.0);
  // Two calls of different lengths on layer 1 (queries 10 and 16, keys 12
  // and 5), one causal call on layer 0.
  struct Call {
    int64_t layer, sq, sk;
    bool causal;
  };
  for (Call c : {Call{1, 10, 12, false}, Call{1, 16, 5, false}, Call{0, 13, 13, true}}) {
    Bshd q(B, Hq, c.sq, D, rng), k(B, Hkv, c.sk, D, rng);
    double scale = 1 / std::sqrt(double(D));
    ASSERT_FALSE(cal->add(c.layer, q.view, k.view, scale, c.causal));
    addExpected(expected, cal->stats(), c.layer, q, k, scale, c.causal);
  }
  const AttentionStats &s = cal->stats();
  for (size_t n = 0; n < expected.size(); ++n)
    EXPECT_NEAR(s.mass[n], expected[n], 1e-9 * std::max(1.0, expected[n])) << "tile " << n;
  // Rows: valid query rows x batch per query block.
  EXPECT_EQ(s.layers[1].rows, (std::vector<int64_t>{16, 16, 12, 8}));
  EXPECT_EQ(s.layers[0].rows, (std::vector<int64_t>{8, 8, 8, 2}));
  EXPECT_EQ(s.layers[1].calls, 2);
  EXPECT_EQ(s.layers[0].calls, 1);
  // Each row's probabilities sum to one: a head's mass over a query block's
  // key blocks is the rows seen there.
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t qb = 0; qb < s.queryBlocks(); ++qb) {
        double sum = 0;
        for (int64_t kb = 0; kb < s.keyBlocks(); ++kb)
          sum += s.at(l, h, qb, kb);
        EXPECT_NEAR(sum, double(s.layers[l].rows[qb]), 1e-9) << l << " " << h << " " << qb;
      }
  // Causal: nothing above the diagonal.
  for (int64_t h = 0; h < Hq; ++h)
    EXPECT_EQ(s.at(0, h, 0, 1), 0.0);
  EXPECT_FALSE(s.validate());
}

TEST(Calibrator, CpuKernelEngineMatchesTheReference) {
  std::mt19937 rng(9);
  auto session = compiler::Session::create(compiler::BackendChoice::Cpu);
  ASSERT_TRUE(session) << session.error().str();
  const int64_t B = 2, Hq = 4, Hkv = 2, D = 8;
  auto kernel = Calibrator::create(2, Hq, 16, 16, 4, 4);
  auto reference = Calibrator::create(2, Hq, 16, 16, 4, 4);
  ASSERT_TRUE(kernel && reference);
  struct Call {
    int64_t layer, sq, sk;
    bool causal;
  };
  for (Call c : {Call{1, 10, 12, false}, Call{1, 16, 5, false}, Call{0, 13, 13, true}}) {
    Bshd q(B, Hq, c.sq, D, rng), k(B, Hkv, c.sk, D, rng), v(B, Hkv, c.sk, D, rng);
    ASSERT_FALSE(kernel->addWithKernel(**session, c.layer, q.view, k.view, v.view, 0.3, c.causal));
    ASSERT_FALSE(reference->add(c.layer, q.view, k.view, 0.3, c.causal));
  }
  const AttentionStats &a = kernel->stats(), &b = reference->stats();
  for (size_t n = 0; n < a.mass.size(); ++n)
    EXPECT_NEAR(a.mass[n], b.mass[n], 1e-4 * std::max(1.0, b.mass[n])) << "tile " << n;
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(a.layers[l].rows, b.layers[l].rows);
    EXPECT_EQ(a.layers[l].calls, b.layers[l].calls);
  }
  // Too long for the grid: rejected before compiling.
  Bshd q(1, Hq, 17, D, rng), k(1, Hq, 17, D, rng);
  EXPECT_EQ(kernel->addWithKernel(**session, 0, q.view, k.view, k.view, 0.3).code(),
            ErrorCode::ShapeMismatch);
  // v must be shaped like k.
  Bshd q8(1, Hq, 8, D, rng), k8(1, Hkv, 8, D, rng), v6(1, Hkv, 6, D, rng);
  Error e = kernel->addWithKernel(**session, 0, q8.view, k8.view, v6.view, 0.3);
  EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  EXPECT_NE(e.message().find("v [1, 2, 6, 8] does not match k [1, 2, 8, 8]"), std::string::npos)
      << e.str();
  EXPECT_EQ(kernel->stats().layers[0].calls, 1);
}

TEST(Calibrator, KernelSpecKeepsEveryTileAtTheStatsTileSize) {
  auto cal = Calibrator::create(1, 4, 40, 40, 16, 8);
  ASSERT_TRUE(cal);
  auto spec = cal->kernelSpec({2, 4, 2, 33, 40, 32, runtime::DType::BF16}, 0.25, true);
  ASSERT_TRUE(spec) << spec.error().str();
  EXPECT_TRUE(spec->calibrate);
  EXPECT_TRUE(spec->causal);
  EXPECT_EQ(spec->effectiveScale(), 0.25);
  EXPECT_EQ(spec->shape.dtype, runtime::DType::BF16);
  EXPECT_EQ(spec->mask.blockQ(), 16);
  EXPECT_EQ(spec->mask.blockK(), 8);
  EXPECT_EQ(spec->mask.queryBlocks(), 3);
  EXPECT_EQ(spec->mask.keyBlocks(), 5);
  EXPECT_EQ(spec->mask.countKept(), spec->mask.numTiles());
}

TEST(CalibrationEngine, ParsesEachNameAndRejectsOthers) {
  const std::pair<const char *, CalibrationEngine> names[] = {
      {"kernel", CalibrationEngine::Kernel},
      {"cpu", CalibrationEngine::CpuKernel},
      {"gpu", CalibrationEngine::GpuKernel},
      {"reference", CalibrationEngine::Reference}};
  for (auto [name, engine] : names) {
    auto parsed = parseCalibrationEngine(name);
    ASSERT_TRUE(parsed) << name << ": " << parsed.error().str();
    EXPECT_EQ(*parsed, engine) << name;
    EXPECT_STREQ(calibrationEngineName(engine), name);
  }
  for (const char *bad : {"", "GPU", "cuda", "auto"}) {
    auto parsed = parseCalibrationEngine(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code(), ErrorCode::InvalidArgument);
    EXPECT_NE(parsed.error().message().find("expected kernel, cpu, gpu or reference"),
              std::string::npos)
        << parsed.error().str();
  }
  EXPECT_EQ(MiniLmCalibration().engine, CalibrationEngine::Kernel);
}

// Which session each engine runs its kernel on. CI has no GPU: there "gpu"
// fails naming the engine and what to use instead, and "kernel" falls back
// to the CPU (no session of its own); on a machine with a GPU both open one.
TEST(CalibrationEngine, GpuEngineNeedsAGpu) {
  for (CalibrationEngine host : {CalibrationEngine::CpuKernel, CalibrationEngine::Reference}) {
    auto none = openGpuSession(host);
    ASSERT_TRUE(none) << none.error().str();
    EXPECT_EQ(*none, nullptr) << calibrationEngineName(host);
  }
  auto gpu = openGpuSession(CalibrationEngine::GpuKernel);
  auto kernel = openGpuSession(CalibrationEngine::Kernel);
  ASSERT_TRUE(kernel) << kernel.error().str();
  if (runtime::CudaDriver::available()) {
    ASSERT_TRUE(gpu) << gpu.error().str();
    ASSERT_NE(*gpu, nullptr);
    EXPECT_EQ((*gpu)->backend(), runtime::Backend::Cuda);
    ASSERT_NE(*kernel, nullptr);
    EXPECT_EQ((*kernel)->backend(), runtime::Backend::Cuda);
    return;
  }
  ASSERT_FALSE(gpu);
  EXPECT_EQ(gpu.error().code(), ErrorCode::NoGpu);
  EXPECT_NE(gpu.error().message().find("calibration engine 'gpu' needs a GPU, and this machine "
                                       "has none usable"),
            std::string::npos)
      << gpu.error().str();
  EXPECT_NE(gpu.error().message().find("use --engine kernel or cpu"), std::string::npos)
      << gpu.error().str();
  EXPECT_EQ(*kernel, nullptr);
  // calibrateMiniLm says so before it looks for the model.
  MiniLmCalibration options;
  options.modelDir = "/nonexistent/minilm";
  options.engine = CalibrationEngine::GpuKernel;
  auto stats = calibrateMiniLm({"A sentence."}, options);
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code(), ErrorCode::NoGpu) << stats.error().str();
}

TEST(Calibrator, RejectsCallsItCannotHold) {
  std::mt19937 rng(1);
  auto cal = Calibrator::create(1, 4, 8, 8, 4, 4);
  ASSERT_TRUE(cal);
  Bshd q(1, 4, 9, 8, rng), k(1, 4, 9, 8, rng);
  Error e = cal->add(0, q.view, k.view, 1.0);
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("does not fit the stats grid of 8 x 8"), std::string::npos) << e.str();
  Bshd q3(1, 3, 4, 8, rng), k3(1, 3, 4, 8, rng);
  e = cal->add(0, q3.view, k3.view, 1.0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  Bshd q4(1, 4, 4, 8, rng), k4(1, 4, 4, 8, rng);
  EXPECT_TRUE(cal->add(1, q4.view, k4.view, 1.0)); // no layer 1
  q4.view.dtype = runtime::DType::F16;
  EXPECT_EQ(cal->add(0, q4.view, k4.view, 1.0).code(), ErrorCode::DTypeMismatch);
  EXPECT_EQ(cal->stats().layers[0].calls, 0);
}

TEST(Calibrator, ObserverNeedsTheDensePlan) {
  std::mt19937 rng(3);
  auto cal = Calibrator::create(2, 2, 8, 8, 4, 4);
  ASSERT_TRUE(cal);
  models::AttentionPlan plan = models::AttentionPlan::dense(16);
  cal->attachTo(plan);
  EXPECT_EQ(plan.blockQ, 4);
  EXPECT_EQ(plan.blockK, 4);
  Bshd q(1, 2, 8, 4, rng), k(1, 2, 8, 4, rng);
  auto dense = models::fullMask(2, 8, 4, 4);
  models::AttentionCall call;
  call.layer = 1;
  call.seqLen = 8;
  call.scale = 0.5;
  call.mask = &*dense;
  call.q = q.view;
  call.k = k.view;
  ASSERT_FALSE(plan.observe(call));
  EXPECT_EQ(cal->stats().layers[1].calls, 1);
  auto pruned = *dense;
  pruned.set(0, 1, 0, false);
  call.mask = &pruned;
  Error e = plan.observe(call);
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), ErrorCode::Unsupported);
}

} // namespace
