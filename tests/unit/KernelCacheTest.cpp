//===- KernelCacheTest.cpp - compiling through the cache ------------------===//
//
// The compiler's side of the cache: keys that cover everything a kernel
// depends on, real CPU-backend compiles that come back from memory and from
// disk, one compile for eight concurrent requests, the environment, and
// Session compiling through the cache.
//
//===----------------------------------------------------------------------===//
#include "CacheTestUtil.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/KernelCache.h"
#include "sieve/compiler/Session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

using namespace sieve;
using namespace sieve::compiler;
using runtime::CacheSource;
using sieve::testing::WarningLog;
namespace fs = std::filesystem;

namespace {

KernelSpec cpuSpec() {
  KernelSpec spec;
  spec.shape = {1, 2, 2, 64, 64, 32, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 2, 2, 32, 32, 0.5, 7, /*keepDiagonal=*/true);
  return spec;
}

KernelSpec gpuSpec() {
  KernelSpec spec;
  spec.shape = {1, 2, 2, 256, 256, 64, runtime::DType::BF16};
  spec.mask = runtime::BlockMask::random(2, 4, 4, 64, 64, 0.5, 7, /*keepDiagonal=*/true);
  spec.target = Target::cuda("sm_90a");
  return spec;
}

std::string keyOf(const KernelSpec &spec) {
  auto key = cacheKey(spec);
  EXPECT_TRUE(key) << key.error().str();
  return key ? *key : "";
}

/// compiler::compile, counted.
struct CountingCompiler {
  std::atomic<int> calls{0};
  std::chrono::milliseconds delay{0};
  CompileFunction function() {
    return [this](CheckedSpec spec) {
      ++calls;
      std::this_thread::sleep_for(delay);
      return compile(spec);
    };
  }
};

class KernelCacheTest : public ::testing::Test {
protected:
  void SetUp() override { dir_ = sieve::testing::freshTestFolder("kernel-cache"); }
  KernelCacheOptions options(CountingCompiler &counter) {
    KernelCacheOptions o;
    o.directory = dir_.string();
    o.compile = counter.function();
    o.warn = warnings_.handler();
    return o;
  }
  fs::path dir_;
  WarningLog warnings_;
};

TEST(CacheKey, CoversEverythingTheKernelDependsOn) {
  const KernelSpec base = gpuSpec();
  const std::string baseKey = keyOf(base);
  EXPECT_EQ(keyOf(base), baseKey); // stable

  std::vector<std::pair<const char *, KernelSpec>> variants;
  auto add = [&](const char *what, auto change) {
    KernelSpec s = base;
    change(s);
    variants.emplace_back(what, s);
  };
  add("one mask bit", [](KernelSpec &s) { s.mask.set(1, 2, 3, !s.mask.get(1, 2, 3)); });
  add("chip", [](KernelSpec &s) { s.target = Target::cuda("sm_80"); });
  add("variant", [](KernelSpec &s) { s.options.variant = "simt"; });
  add("query tile", [](KernelSpec &s) { s.options.queryTile = 32; });
  add("key tile", [](KernelSpec &s) { s.options.keyTile = 32; });
  add("stages", [](KernelSpec &s) { s.options.stages = 3; });
  add("split-kv", [](KernelSpec &s) { s.options.splitKv = "off"; });
  add("dtype", [](KernelSpec &s) { s.shape.dtype = runtime::DType::F16; });
  add("causal", [](KernelSpec &s) { s.causal = true; });
  add("scale", [](KernelSpec &s) { s.scale = 0.5; });
  add("batch", [](KernelSpec &s) { s.shape.batch = 2; });
  add("heads_kv", [](KernelSpec &s) { s.shape.headsKv = 1; });
  add("save_lse", [](KernelSpec &s) { s.saveLse = true; });
  add("backward", [](KernelSpec &s) { s.backward = true; });
  add("thresholds", [](KernelSpec &s) { s.thresholds = true; });
  add("calibrate", [](KernelSpec &s) { s.calibrate = true; });
  add("split workers", [](KernelSpec &s) { s.options.splitWorkers = 7; });
  // A live device's own figures: the SMs split-KV balances over and the
  // shared memory the bodies fit in.
  add("device SMs", [](KernelSpec &s) {
    runtime::TargetInfo device = *runtime::TargetInfo::forChip("sm_90a");
    device.multiprocessors = 114;
    s.target = Target::of(device);
  });
  add("device shared memory", [](KernelSpec &s) {
    runtime::TargetInfo device = *runtime::TargetInfo::forChip("sm_90a");
    device.sharedBytesPerBlock = 101376;
    s.target = Target::of(device);
  });
  for (const auto &[what, spec] : variants)
    EXPECT_NE(keyOf(spec), baseKey) << what;

  // A device whose figures are the chip's usual part's builds the same
  // kernels as the chip's name alone, and so shares the key.
  KernelSpec usualDevice = base;
  usualDevice.target = Target::of(*runtime::TargetInfo::forChip("sm_90a"));
  EXPECT_EQ(keyOf(usualDevice), baseKey);
  // The scale is keyed as the f32 the kernels take: the default and the
  // same value given explicitly are one kernel.
  KernelSpec explicitScale = base;
  explicitScale.scale = 1.0 / 8.0; // 1/sqrt(64)
  EXPECT_EQ(keyOf(explicitScale), baseKey);

  // Options that only restate the defaults the compiler would choose give
  // the same kernel, and the same key.
  KernelSpec explicitDefaults = base;
  explicitDefaults.options.stages = 2;
  EXPECT_EQ(keyOf(explicitDefaults), baseKey);
}

// The memory tier maps a spec's identity to its key before any compile: an
// option missing from the identity would hand one option's kernel to the
// other (split-KV off got the split kernel until the identity was the
// options' own string).
TEST_F(KernelCacheTest, EveryOptionSeparatesKernelsInMemory) {
  CountingCompiler counter;
  KernelCache cache(options(counter));
  KernelSpec split = gpuSpec();
  // One query block over 32 key blocks: one row, far longer than an SM's
  // share of 32 tiles, cut into parts (of at least 512 keys).
  split.shape = {1, 1, 1, 64, 2048, 64, runtime::DType::BF16};
  split.mask = *runtime::BlockMask::create(1, 1, 32, 64, 64);
  split.mask.setHead(0, true);
  KernelSpec whole = split;
  whole.options.splitKv = "off";
  auto a = cache.get(split), b = cache.get(whole);
  ASSERT_TRUE(a) << a.error().str();
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ(counter.calls, 2);
  EXPECT_NE((*a)->cacheKey, (*b)->cacheKey);
  EXPECT_TRUE((*a)->splitsKv()) << (*a)->config;
  EXPECT_FALSE((*b)->splitsKv()) << (*b)->config;
}

TEST_F(KernelCacheTest, CompilesOnceThenMemoryThenDisk) {
  CountingCompiler counter;
  const KernelSpec spec = cpuSpec();
  CacheSource source;
  std::shared_ptr<const runtime::Artifact> first;
  {
    KernelCache cache(options(counter));
    auto a = cache.get(spec, &source);
    ASSERT_TRUE(a) << a.error().str();
    EXPECT_EQ(source, CacheSource::Produced);
    EXPECT_EQ((*a)->cacheKey, keyOf(spec));
    first = *a;
    auto b = cache.get(spec, &source);
    ASSERT_TRUE(b);
    EXPECT_EQ(source, CacheSource::Memory);
    EXPECT_EQ(b->get(), first.get());
  }
  KernelCache fresh(options(counter));
  auto c = fresh.get(spec, &source);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(source, CacheSource::Disk);
  EXPECT_EQ((*c)->code, first->code);
  EXPECT_EQ((*c)->cacheKey, first->cacheKey);
  EXPECT_EQ(counter.calls, 1);
  EXPECT_EQ(warnings_.count(), 0u) << warnings_.joined();

  // An MLIR-free runtime reads the same entry by key.
  runtime::ArtifactCache runtimeOnly(runtime::ArtifactCacheOptions{dir_.string()});
  auto d = runtimeOnly.find(first->cacheKey, &source);
  ASSERT_TRUE(d && *d);
  EXPECT_EQ(source, CacheSource::Disk);
}

/// No silent cliff: `auto` running f16/bf16 on the scalar simt body of a
/// chip with tensor cores keeps the compiler's warning in the artifact
/// (the body, and each tensor-core body's reason), and the cache reports
/// it once per process and kernel: when compiled, not on memory hits, and
/// again in a later process that reads the kernel from the folder. Naming
/// the simt body, or a kernel on tensor cores, warns of nothing.
TEST_F(KernelCacheTest, TheScalarBodyWhereTensorCoresWereExpectedIsReported) {
  CountingCompiler counter;
  // A head dim no tensor-core body takes (40: not a multiple of 16).
  KernelSpec d40Sm80 = gpuSpec();
  d40Sm80.target = Target::cuda("sm_80");
  d40Sm80.shape.headDim = 40;
  const std::string reasons = "wgmma needs wgmma, TMA and setmaxnreg (sm_90a), not sm_80. mma "
                              "needs a head dim that is a multiple of 16, at most 256";
  CacheSource source;
  {
    KernelCache cache(options(counter));
    auto a = cache.get(d40Sm80, &source);
    ASSERT_TRUE(a) << a.error().str();
    EXPECT_EQ(source, CacheSource::Produced);
    EXPECT_EQ((*a)->variant, "simt");
    ASSERT_EQ((*a)->warnings.size(), 1u);
    EXPECT_NE((*a)->warnings[0].find("runs on the scalar simt body"), std::string::npos)
        << (*a)->warnings[0];
    EXPECT_NE((*a)->warnings[0].find(reasons), std::string::npos) << (*a)->warnings[0];
    ASSERT_EQ(warnings_.count(), 1u) << warnings_.joined();
    EXPECT_EQ(warnings_.messages()[0], (*a)->warnings[0]);
    ASSERT_TRUE(cache.get(d40Sm80, &source));
    EXPECT_EQ(source, CacheSource::Memory);
    EXPECT_EQ(warnings_.count(), 1u) << warnings_.joined();
  }
  KernelCache later(options(counter));
  auto b = later.get(d40Sm80, &source);
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ(source, CacheSource::Disk);
  EXPECT_EQ((*b)->warnings.size(), 1u);
  EXPECT_EQ(warnings_.count(), 2u) << warnings_.joined();

  // The same head dim on sm_90a.
  KernelSpec d40 = gpuSpec();
  d40.shape.headDim = 40;
  auto d = compile(d40);
  ASSERT_TRUE(d) << d.error().str();
  EXPECT_EQ(d->variant, "simt");
  ASSERT_EQ(d->warnings.size(), 1u);
  EXPECT_NE(d->warnings[0].find("wgmma needs a head dim that is a multiple of 16, at most 256 "
                                "(k16 steps, wgmma N). mma needs a head dim that is a "
                                "multiple of 16, at most 256"),
            std::string::npos)
      << d->warnings[0];

  // No warning: the simt body by name, tensor cores, f32.
  // Threshold mode and calibration run on tensor cores too.
  KernelSpec named = d40Sm80;
  named.options.variant = "simt";
  KernelSpec tensorCores = gpuSpec();
  KernelSpec thresholds = gpuSpec();
  thresholds.thresholds = true;
  KernelSpec calibration = gpuSpec();
  calibration.calibrate = true;
  KernelSpec f32 = d40;
  f32.shape.dtype = runtime::DType::F32;
  for (const KernelSpec *spec : {&named, &tensorCores, &thresholds, &calibration, &f32}) {
    auto e = compile(*spec);
    ASSERT_TRUE(e) << e.error().str();
    EXPECT_TRUE(e->warnings.empty()) << e->variant << ": " << e->warnings.front();
  }
  EXPECT_EQ(warnings_.count(), 2u) << warnings_.joined();
}

TEST_F(KernelCacheTest, EightThreadsAskingForOneKernelCompileItOnce) {
  CountingCompiler counter;
  counter.delay = std::chrono::milliseconds(200); // all eight arrive meanwhile
  KernelCache cache(options(counter));
  const KernelSpec spec = cpuSpec();
  std::vector<std::thread> threads;
  std::vector<const runtime::Artifact *> got(8, nullptr);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto a = cache.get(spec);
      got[t] = a ? a->get() : nullptr;
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(counter.calls, 1);
  for (const runtime::Artifact *a : got) {
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a, got[0]);
  }
}

TEST_F(KernelCacheTest, AFailedCompileIsNotCached) {
  std::atomic<int> calls{0};
  KernelCacheOptions o;
  o.directory = dir_.string();
  o.warn = warnings_.handler();
  o.compile = [&](CheckedSpec) -> Expected<runtime::Artifact> {
    ++calls;
    return Error(ErrorCode::Compile, "no");
  };
  KernelCache cache(std::move(o));
  EXPECT_FALSE(cache.get(cpuSpec()));
  EXPECT_FALSE(cache.get(cpuSpec()));
  EXPECT_EQ(calls, 2);
}

TEST_F(KernelCacheTest, AnInvalidSpecIsNamedAndNeverCompiled) {
  CountingCompiler counter;
  KernelCache cache(options(counter));
  KernelSpec bad = cpuSpec();
  bad.shape.headsKv = 3;
  auto a = cache.get(bad);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::ShapeMismatch);
  EXPECT_EQ(counter.calls, 0);
}

TEST_F(KernelCacheTest, SessionCompilesThroughItsCache) {
  CountingCompiler counter;
  auto cache = std::make_shared<KernelCache>(options(counter));
  auto session = Session::create(BackendChoice::Cpu, 0, cache);
  ASSERT_TRUE(session) << session.error().str();
  CacheSource source;
  ASSERT_TRUE((*session)->compile(cpuSpec(), &source));
  EXPECT_EQ(source, CacheSource::Produced);
  ASSERT_TRUE((*session)->compile(cpuSpec(), &source));
  EXPECT_EQ(source, CacheSource::Memory);
  EXPECT_EQ(counter.calls, 1);
  EXPECT_EQ(&(*session)->cache(), cache.get());
}

/// Sets an environment variable for one scope.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *old = std::getenv(name))
      old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

private:
  const char *name_;
  std::optional<std::string> old_;
};

TEST(KernelCacheOptions, FolderComesFromTheEnvironment) {
  ScopedEnv home("HOME", "/home/someone");
  ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv enabled("SIEVE_CACHE", nullptr);
  {
    ScopedEnv dir("SIEVE_CACHE_DIR", nullptr);
    EXPECT_EQ(KernelCacheOptions::fromEnvironment().directory, "/home/someone/.cache/sieve");
    ScopedEnv xdgSet("XDG_CACHE_HOME", "/var/cache/me");
    EXPECT_EQ(KernelCacheOptions::fromEnvironment().directory, "/var/cache/me/sieve");
  }
  ScopedEnv dir("SIEVE_CACHE_DIR", "/tmp/kernels");
  EXPECT_EQ(KernelCacheOptions::fromEnvironment().directory, "/tmp/kernels");
  for (const char *off : {"0", "off", "false", "no"}) {
    ScopedEnv disabled("SIEVE_CACHE", off);
    EXPECT_EQ(KernelCacheOptions::fromEnvironment().directory, "") << off;
  }
}

} // namespace
