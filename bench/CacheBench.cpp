//===- CacheBench.cpp - what a cached kernel costs ------------------------===//
//
// The load-time JIT cache against CompileBench's cold compile, for the same
// problem: a 90%-sparse 16384x16384 mask, 32 heads, 128x128 tiles, D = 128,
// bf16, sm_90a (about 1 MB of PTX).
//   DiskHit       a new process's first request: the spec's key (through
//                 MLIR), then read and verify the entry. Target < 5 ms.
//   DiskHitByKey  what an MLIR-free runtime pays when it has the key.
//   MemoryHit     a request for a kernel this process has. Target < 20 us.
//   Key           the key alone (building and printing the input IR).
// Each uses a fresh folder under the system's temporary directory.
//
//===----------------------------------------------------------------------===//
#include "BenchMasks.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/KernelCache.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <unistd.h>

using namespace sieve;
namespace fs = std::filesystem;

namespace {

compiler::KernelSpec benchSpec(benchmark::State &state) {
  return bench::peerSpec(1, 32, state.range(0), 128, state.range(1) / 100.0, false,
                         compiler::Target::cuda("sm_90a"));
}

/// A cache folder that removes itself.
struct TempFolder {
  fs::path path;
  TempFolder() {
    path = fs::temp_directory_path() / ("sieve-cache-bench-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempFolder() { fs::remove_all(path); }
};

compiler::KernelCacheOptions folderOptions(const TempFolder &folder) {
  compiler::KernelCacheOptions options;
  options.directory = folder.path.string();
  return options;
}

void BM_CacheDiskHit(benchmark::State &state) {
  auto spec = benchSpec(state);
  TempFolder folder;
  {
    compiler::KernelCache warm(folderOptions(folder));
    if (auto a = warm.get(spec); !a) {
      state.SkipWithError(a.error().str().c_str());
      return;
    }
  }
  for (auto _ : state) {
    state.PauseTiming();
    // A new cache per request: nothing in memory, as in a new process.
    auto cache = std::make_unique<compiler::KernelCache>(folderOptions(folder));
    state.ResumeTiming();
    runtime::CacheSource source;
    auto a = cache->get(spec, &source);
    if (!a || source != runtime::CacheSource::Disk) {
      state.SkipWithError("not a disk hit");
      return;
    }
    benchmark::DoNotOptimize((*a)->code.data());
    state.PauseTiming();
    cache.reset();
    state.ResumeTiming();
  }
}

void BM_CacheDiskHitByKey(benchmark::State &state) {
  auto spec = benchSpec(state);
  TempFolder folder;
  compiler::KernelCache warm(folderOptions(folder));
  auto compiled = warm.get(spec);
  if (!compiled) {
    state.SkipWithError(compiled.error().str().c_str());
    return;
  }
  const std::string key = (*compiled)->cacheKey;
  for (auto _ : state) {
    state.PauseTiming();
    auto cache = std::make_unique<runtime::ArtifactCache>(
        runtime::ArtifactCacheOptions{folder.path.string(), 64, size_t(256) << 20, {}});
    state.ResumeTiming();
    runtime::CacheSource source;
    auto a = cache->find(key, &source);
    if (!a || !*a || source != runtime::CacheSource::Disk) {
      state.SkipWithError("not a disk hit");
      return;
    }
    benchmark::DoNotOptimize((*a)->code.data());
    state.PauseTiming();
    cache.reset();
    state.ResumeTiming();
  }
}

void BM_CacheMemoryHit(benchmark::State &state) {
  auto spec = benchSpec(state);
  TempFolder folder;
  compiler::KernelCache cache(folderOptions(folder));
  if (auto a = cache.get(spec); !a) {
    state.SkipWithError(a.error().str().c_str());
    return;
  }
  for (auto _ : state) {
    runtime::CacheSource source;
    auto a = cache.get(spec, &source);
    if (!a || source != runtime::CacheSource::Memory) {
      state.SkipWithError("not a memory hit");
      return;
    }
    benchmark::DoNotOptimize(a->get());
  }
}

void BM_CacheKey(benchmark::State &state) {
  auto spec = benchSpec(state);
  for (auto _ : state) {
    auto key = compiler::cacheKey(spec);
    benchmark::DoNotOptimize(key->data());
  }
}

// Args: {S, density in percent}.
BENCHMARK(BM_CacheDiskHit)->Args({16384, 10})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CacheDiskHitByKey)->Args({16384, 10})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CacheMemoryHit)->Args({16384, 10})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_CacheKey)->Args({16384, 10})->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
