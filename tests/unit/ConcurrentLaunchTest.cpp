//===- ConcurrentLaunchTest.cpp - 16 threads, 16 masks, one session ------===//
//
// Sixteen threads share one CPU session and one fresh kernel cache (memory
// and a folder of its own, so every kernel is really compiled, and several
// at once). Each thread has its own mask, compiles it, and runs it twice on
// fresh inputs into a poisoned output; every result is checked against the
// float64 reference. Run under ThreadSanitizer by scripts/sanitize.sh.
//
//===----------------------------------------------------------------------===//
#include "CacheTestUtil.h"
#include "TestTensors.h"

#include "sieve/compiler/Session.h"
#include "sieve/testing/Reference.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <set>
#include <thread>

using namespace sieve;
using namespace sieve::compiler;
using sieve::testing::HostTensor;

namespace {

/// What one thread saw; checked on the main thread (gtest assertions are
/// not made from the workers).
struct ThreadResult {
  std::string error;
  double worstError = 0;
  int64_t unwritten = 0;
  bool guardsIntact = true;
  std::string cacheKey;
};

ThreadResult launchOwnMask(Session &session, int thread, uint64_t seed) {
  ThreadResult r;
  std::mt19937_64 rng(seed);
  KernelSpec spec;
  // Shapes differ a little too, so threads are in different kernels' code.
  const int64_t B = 1, Hq = 4, Hkv = 2, Sq = 64 + 16 * (thread % 3), Sk = 80, D = 32, bq = 16,
                bk = 16;
  spec.shape = {B, Hq, Hkv, Sq, Sk, D, runtime::DType::F32};
  spec.causal = thread % 2 == 1;
  spec.mask = runtime::BlockMask::random(Hq, (Sq + bq - 1) / bq, (Sk + bk - 1) / bk, bq, bk, 0.5,
                                         rng(), /*keepDiagonal=*/true);
  auto artifact = session.compile(spec);
  if (!artifact) {
    r.error = artifact.error().str();
    return r;
  }
  r.cacheKey = (*artifact)->cacheKey;
  for (int run = 0; run < 2; ++run) {
    HostTensor q({B, Hq, Sq, D}, false), k({B, Hkv, Sk, D}, false), v({B, Hkv, Sk, D}, false),
        out({B, Hq, Sq, D}, false);
    q.fillNormal(rng);
    k.fillNormal(rng);
    v.fillNormal(rng);
    out.poison();
    if (Error e = session.run(**artifact, q.view, k.view, v.view, out.view)) {
      r.error = e.str();
      return r;
    }
    std::vector<float> got = out.gather();
    for (float x : got)
      r.unwritten += std::isnan(x);
    std::vector<double> ref = sieve::testing::referenceAttention(
        spec.shape, spec.mask, spec.causal, spec.effectiveScale(), q.gather().data(),
        k.gather().data(), v.gather().data());
    r.worstError = std::max(r.worstError, sieve::testing::relativeError(got.data(), ref));
    r.guardsIntact = r.guardsIntact && out.guardsIntact();
  }
  return r;
}

TEST(ConcurrentLaunch, SixteenThreadsWithDifferentMasks) {
  constexpr int kThreads = 16;
  auto dir = sieve::testing::freshTestFolder("concurrent-launch");
  sieve::testing::WarningLog warnings;
  KernelCacheOptions options;
  options.directory = dir.string();
  options.warn = warnings.handler();
  auto session = Session::create(BackendChoice::Cpu, 0, std::make_shared<KernelCache>(options));
  ASSERT_TRUE(session) << session.error().str();

  const uint64_t seed = sieve::testing::freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<ThreadResult> results(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      // Start together, so that compiles and runs overlap.
      ready.fetch_add(1);
      while (ready.load() < kThreads)
        std::this_thread::yield();
      results[t] = launchOwnMask(**session, t, seed + uint64_t(t));
    });
  for (std::thread &t : threads)
    t.join();

  std::set<std::string> keys;
  for (int t = 0; t < kThreads; ++t) {
    const ThreadResult &r = results[t];
    ASSERT_EQ(r.error, "") << "thread " << t;
    EXPECT_EQ(r.unwritten, 0) << "thread " << t << ": output left as poison or NaN";
    EXPECT_LT(r.worstError, 1e-5) << "thread " << t;
    EXPECT_TRUE(r.guardsIntact) << "thread " << t << " wrote outside its output";
    keys.insert(r.cacheKey);
  }
  EXPECT_EQ(keys.size(), size_t(kThreads)) << "the masks should make distinct kernels";
  EXPECT_EQ(warnings.count(), 0u) << warnings.joined();
}

} // namespace
