//===- CpuThreadsTest.cpp - CPU results do not depend on the threads -----===//
//
// The CPU backend runs each phase's work units on a pool of threads. Units
// write disjoint outputs and nothing is summed across them, so the result
// must be the same bits for any thread count. Each kind of kernel (forward,
// with the lse, calibration, threshold mode, split-KV with its combine, the
// backward) runs on 1, 2 and 5 threads and on the machine's default, on
// problems large enough that the pool is used, and every output is
// compared bitwise. Also the pool itself: every unit exactly once, a busy
// pool, thread counts past the machine's.
//
//===----------------------------------------------------------------------===//
#include "TestTensors.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CpuThreadPool.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

using namespace sieve;
using namespace sieve::compiler;
using sieve::testing::HostTensor;

namespace {

constexpr int kThreadCounts[] = {1, 2, 5, 0}; // 0: the default (the machine's)

/// The bits of a float vector, so NaN compares equal to itself.
std::vector<uint32_t> bitsOf(const std::vector<float> &values) {
  std::vector<uint32_t> bits(values.size());
  std::memcpy(bits.data(), values.data(), values.size() * sizeof(float));
  return bits;
}

class CpuThreads : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = Session::create(BackendChoice::Cpu);
    ASSERT_TRUE(s) << s.error().str();
    session = std::move(*s);
  }
  void TearDown() override { session->cpu()->setThreads(0); }

  /// B=2, Hq=4, Hkv=2, Sq=200, Sk=232 (ragged tiles), D=64, 32x32 tiles at
  /// half density: ~50 MFLOP, well past the size the pool is used from.
  KernelSpec problem(bool causal) {
    KernelSpec spec;
    spec.shape = {2, 4, 2, 200, 232, 64, runtime::DType::F32};
    spec.causal = causal;
    spec.mask = runtime::BlockMask::random(4, 7, 8, 32, 32, 0.5, 20261206, true);
    return spec;
  }

  /// Runs `run` on every thread count and expects the same bits each time.
  void expectSameForAnyThreads(const std::function<std::vector<float>()> &run) {
    std::vector<uint32_t> first;
    for (int threads : kThreadCounts) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      session->cpu()->setThreads(threads);
      if (threads > 0)
        ASSERT_EQ(session->cpu()->threads(), threads);
      std::vector<uint32_t> bits = bitsOf(run());
      if (first.empty())
        first = bits;
      else
        EXPECT_TRUE(bits == first) << "the result changed with the thread count";
    }
  }

  std::unique_ptr<Session> session;
};

TEST_F(CpuThreads, ForwardAndLseAreTheSameBits) {
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    KernelSpec spec = problem(causal);
    spec.saveLse = true;
    auto artifact = session->compile(spec);
    ASSERT_TRUE(artifact) << artifact.error().str();
    std::mt19937_64 rng(sieve::testing::freshSeed());
    HostTensor q({2, 4, 200, 64}, true), k({2, 2, 232, 64}, false), v({2, 2, 232, 64}, false);
    for (HostTensor *t : {&q, &k, &v})
      t->fillNormal(rng);
    expectSameForAnyThreads([&] {
      HostTensor out({2, 4, 200, 64}, false);
      out.poison();
      std::vector<float> lse(2 * 4 * 200);
      EXPECT_FALSE(session->forward(**artifact, q.view, k.view, v.view, out.view, lse.data()));
      std::vector<float> all = out.gather();
      all.insert(all.end(), lse.begin(), lse.end());
      return all;
    });
  }
}

TEST_F(CpuThreads, CalibrationStatsAreTheSameBits) {
  KernelSpec spec = problem(false);
  spec.calibrate = true;
  auto artifact = session->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  std::mt19937_64 rng(sieve::testing::freshSeed());
  HostTensor q({2, 4, 200, 64}, false), k({2, 2, 232, 64}, false), v({2, 2, 232, 64}, false);
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  expectSameForAnyThreads([&] {
    HostTensor out({2, 4, 200, 64}, false);
    std::vector<float> stats(4 * 7 * 8, 0.0f);
    EXPECT_FALSE(session->calibrate(**artifact, q.view, k.view, v.view, out.view, stats.data()));
    std::vector<float> all = out.gather();
    all.insert(all.end(), stats.begin(), stats.end());
    return all;
  });
}

TEST_F(CpuThreads, ThresholdModeIsTheSameBits) {
  KernelSpec spec = problem(true);
  spec.thresholds = true;
  auto artifact = session->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  std::mt19937_64 rng(sieve::testing::freshSeed());
  HostTensor q({2, 4, 200, 64}, false), k({2, 2, 232, 64}, false), v({2, 2, 232, 64}, false);
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  const float thresholds[] = {-0.5f, 0.0f, 0.25f, -1.0f};
  expectSameForAnyThreads([&] {
    HostTensor out({2, 4, 200, 64}, false);
    out.poison();
    EXPECT_FALSE(
        session->run(**artifact, q.view, k.view, v.view, out.view, nullptr, nullptr, thresholds));
    return out.gather();
  });
}

TEST_F(CpuThreads, SplitRowsAndCombineAreTheSameBits) {
  KernelSpec spec = problem(false);
  spec.shape = {2, 4, 2, 256, 2048, 64, runtime::DType::F32};
  // Skewed: one tile per row but the last query block of each head, which
  // keeps every key block, cut into parts as for a GPU of 132 SMs.
  spec.mask = runtime::BlockMask::random(4, 8, 64, 32, 32, 0.0, 7, true);
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t kb = 0; kb < 64; ++kb)
      spec.mask.set(h, 7, kb, true);
  spec.options.splitWorkers = 132;
  auto artifact = session->compile(spec);
  ASSERT_TRUE(artifact) << artifact.error().str();
  ASSERT_TRUE((*artifact)->hasCombine()) << "no row was split";
  std::mt19937_64 rng(sieve::testing::freshSeed());
  HostTensor q({2, 4, 256, 64}, false), k({2, 2, 2048, 64}, false), v({2, 2, 2048, 64}, false);
  for (HostTensor *t : {&q, &k, &v})
    t->fillNormal(rng);
  expectSameForAnyThreads([&] {
    HostTensor out({2, 4, 256, 64}, false);
    out.poison();
    EXPECT_FALSE(session->run(**artifact, q.view, k.view, v.view, out.view));
    return out.gather();
  });
}

TEST_F(CpuThreads, BackwardIsTheSameBits) {
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    KernelSpec forward = problem(causal), backward = problem(causal);
    forward.saveLse = true;
    backward.backward = true;
    auto fwd = session->compile(forward);
    auto bwd = session->compile(backward);
    ASSERT_TRUE(fwd && bwd);
    std::mt19937_64 rng(sieve::testing::freshSeed());
    const std::array<int64_t, 4> qShape{2, 4, 200, 64}, kvShape{2, 2, 232, 64};
    HostTensor q(qShape, false), k(kvShape, true), v(kvShape, false), out(qShape, false),
        dout(qShape, false);
    for (HostTensor *t : {&q, &k, &v, &dout})
      t->fillNormal(rng);
    std::vector<float> lse(2 * 4 * 200);
    ASSERT_FALSE(session->forward(**fwd, q.view, k.view, v.view, out.view, lse.data()));
    expectSameForAnyThreads([&] {
      HostTensor dq(qShape, false), dk(kvShape, false), dv(kvShape, true);
      for (HostTensor *t : {&dq, &dk, &dv})
        t->poison();
      runtime::BackwardTensors t{q.view,  k.view,  v.view,  out.view,  dout.view,
                                 dq.view, dk.view, dv.view, lse.data()};
      EXPECT_FALSE(session->backward(**bwd, t));
      std::vector<float> all = dq.gather();
      for (HostTensor *g : {&dk, &dv}) {
        std::vector<float> part = g->gather();
        all.insert(all.end(), part.begin(), part.end());
      }
      return all;
    });
  }
}

TEST(CpuThreadPool, RunsEveryUnitOnceOnAnyThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    runtime::CpuThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
      pool.parallelFor(n, [&](int64_t i) { runs[static_cast<size_t>(i)]++; });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(runs[static_cast<size_t>(i)].load(), 1) << "unit " << i << " of " << n;
    }
  }
}

TEST(CpuThreadPool, TheCallerWorksAndABusyPoolRunsCallsAlone) {
  runtime::CpuThreadPool pool(3);
  // The caller's thread takes units too.
  std::atomic<int> byCaller{0};
  const std::thread::id caller = std::this_thread::get_id();
  pool.parallelFor(200, [&](int64_t) {
    if (std::this_thread::get_id() == caller)
      byCaller++;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  });
  EXPECT_GT(byCaller.load(), 0);
  // Calls from several threads at once all finish, each unit once.
  std::vector<std::thread> callers;
  std::vector<std::vector<std::atomic<int>>> runs(4);
  for (auto &r : runs)
    r = std::vector<std::atomic<int>>(300);
  for (int c = 0; c < 4; ++c)
    callers.emplace_back(
        [&, c] { pool.parallelFor(300, [&](int64_t i) { runs[c][static_cast<size_t>(i)]++; }); });
  for (std::thread &t : callers)
    t.join();
  for (auto &r : runs)
    for (auto &count : r)
      ASSERT_EQ(count.load(), 1);
}

TEST(CpuThreadPool, DefaultComesFromTheEnvironment) {
  ASSERT_EQ(setenv("SIEVE_CPU_THREADS", "3", 1), 0);
  EXPECT_EQ(runtime::CpuThreadPool::defaultThreads(), 3);
  ASSERT_EQ(setenv("SIEVE_CPU_THREADS", "zero", 1), 0);
  EXPECT_GE(runtime::CpuThreadPool::defaultThreads(), 1); // ignored: the machine's
  ASSERT_EQ(unsetenv("SIEVE_CPU_THREADS"), 0);
  EXPECT_EQ(runtime::CpuThreadPool::defaultThreads(),
            std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
}

} // namespace
