//===- ArtifactCacheTest.cpp - memory, disk, produce; damage; threads -----===//
#include "CacheTestUtil.h"

#include "sieve/runtime/ArtifactCache.h"
#include "sieve/runtime/CacheEntry.h"
#include "sieve/runtime/Checksum.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

using namespace sieve;
using namespace sieve::runtime;
using sieve::testing::fakeArtifact;
using sieve::testing::testKey;
using sieve::testing::WarningLog;
namespace fs = std::filesystem;

namespace {

/// The cache's folder for this entry and artifact format.
std::string entriesFolder() {
  return "entries-v1-artifact-v" + std::to_string(sieve::runtime::Artifact::kVersion);
}

/// A producer that counts its calls.
struct CountingProducer {
  std::atomic<int> calls{0};
  ArtifactCache::Producer forKey(const std::string &key, size_t codeBytes = 1000) {
    return [this, key, codeBytes]() -> Expected<Artifact> {
      ++calls;
      return fakeArtifact(key, codeBytes);
    };
  }
};

class ArtifactCacheTest : public ::testing::Test {
protected:
  void SetUp() override { dir_ = sieve::testing::freshTestFolder("artifact-cache"); }
  ArtifactCacheOptions options(size_t maxEntries = 64) {
    return ArtifactCacheOptions{dir_.string(), maxEntries, size_t(1) << 30, warnings_.handler()};
  }
  std::string entryPath(const std::string &key) const {
    return (dir_ / entriesFolder() / (key + ".entry")).string();
  }
  std::string readEntry(const std::string &key) const { return *readFile(entryPath(key)); }
  void writeEntry(const std::string &key, const std::string &bytes) const {
    std::ofstream(entryPath(key), std::ios::binary | std::ios::trunc) << bytes;
  }

  fs::path dir_;
  WarningLog warnings_;
};

TEST_F(ArtifactCacheTest, MemoryThenDiskThenProduce) {
  CountingProducer producer;
  const std::string key = testKey(1);
  CacheSource source;
  {
    ArtifactCache cache(options());
    ASSERT_TRUE(cache.hasDisk());
    auto a = cache.get(key, producer.forKey(key), &source);
    ASSERT_TRUE(a) << a.error().str();
    EXPECT_EQ(source, CacheSource::Produced);
    auto b = cache.get(key, producer.forKey(key), &source);
    ASSERT_TRUE(b);
    EXPECT_EQ(source, CacheSource::Memory);
    EXPECT_EQ(b->get(), a->get()); // the same shared artifact
  }
  // A new cache (a new process) finds it on disk, with no producer at all.
  ArtifactCache fresh(options());
  auto c = fresh.find(key, &source);
  ASSERT_TRUE(c) << c.error().str();
  ASSERT_TRUE(*c);
  EXPECT_EQ(source, CacheSource::Disk);
  EXPECT_EQ((*c)->code, fakeArtifact(key).code);
  EXPECT_EQ((*c)->cacheKey, key);
  EXPECT_EQ(producer.calls, 1);
  EXPECT_EQ(warnings_.count(), 0u) << warnings_.joined();
  // Only the entry: the temporary file was renamed, the probe removed.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / entriesFolder()), fs::directory_iterator()),
            1);
}

TEST_F(ArtifactCacheTest, FindMissesWithoutProducing) {
  ArtifactCache cache(options());
  auto a = cache.find(testKey(7));
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, nullptr);
}

TEST_F(ArtifactCacheTest, MemoryTierEvictsTheLeastRecentlyUsed) {
  ArtifactCacheOptions memoryOnly{"", /*maxEntries=*/2, size_t(1) << 30, warnings_.handler()};
  ArtifactCache cache(memoryOnly);
  CountingProducer producer;
  for (int k : {1, 2, 1, 3}) // 1 is used again before 3 arrives: 2 goes
    ASSERT_TRUE(cache.get(testKey(k), producer.forKey(testKey(k))));
  EXPECT_EQ(producer.calls, 3);
  CacheSource source;
  ASSERT_TRUE(cache.get(testKey(1), producer.forKey(testKey(1)), &source));
  EXPECT_EQ(source, CacheSource::Memory);
  ASSERT_TRUE(cache.get(testKey(2), producer.forKey(testKey(2)), &source));
  EXPECT_EQ(source, CacheSource::Produced);
  EXPECT_EQ(producer.calls, 4);
  EXPECT_EQ(cache.stats().memoryEntries, 2u);
  EXPECT_GE(cache.stats().evictions, 2u);
}

TEST_F(ArtifactCacheTest, MemoryTierHonoursTheByteBound) {
  ArtifactCache cache(ArtifactCacheOptions{"", 100, /*maxBytes=*/30000, warnings_.handler()});
  CountingProducer producer;
  for (int k = 1; k <= 3; ++k)
    ASSERT_TRUE(cache.get(testKey(k), producer.forKey(testKey(k), 10000)));
  EXPECT_LE(cache.stats().memoryBytes, 30000u);
  EXPECT_EQ(cache.stats().memoryEntries, 2u);
}

TEST_F(ArtifactCacheTest, EvictedEntriesComeBackFromDisk) {
  ArtifactCache cache(options(/*maxEntries=*/1));
  CountingProducer producer;
  ASSERT_TRUE(cache.get(testKey(1), producer.forKey(testKey(1))));
  ASSERT_TRUE(cache.get(testKey(2), producer.forKey(testKey(2))));
  CacheSource source;
  ASSERT_TRUE(cache.get(testKey(1), producer.forKey(testKey(1)), &source));
  EXPECT_EQ(source, CacheSource::Disk);
  EXPECT_EQ(producer.calls, 2);
}

struct Damage {
  const char *name;
  std::function<std::string(const std::string &entry)> apply;
  const char *needle;
};

TEST_F(ArtifactCacheTest, DamagedEntriesAreReportedOnceRemovedAndRebuilt) {
  const std::string key = testKey(1);
  const Damage damages[] = {
      {"flipped code byte",
       [](std::string e) {
         e[e.size() - 10] ^= 0x20;
         return e;
       },
       "checksum"},
      {"flipped metadata byte",
       [](std::string e) {
         e[e.find('{') + 3] ^= 0x01;
         return e;
       },
       "checksum"},
      {"truncated", [](const std::string &e) { return e.substr(0, e.size() / 3); }, "truncated"},
      {"empty", [](const std::string &) { return std::string(); }, "empty"},
      {"bad JSON",
       [](const std::string &e) {
         // Rebuild the entry around broken metadata with a valid checksum:
         // only the JSON parser can object.
         auto good = decodeCacheEntry(e, testKey(1));
         std::string meta = good->metadataJson();
         meta[0] = '[';
         std::string body = meta + good->code;
         char header[128];
         std::snprintf(header, sizeof header, "sieve-cache-entry 1 %zu %zu %016llx\n", meta.size(),
                       good->code.size(), static_cast<unsigned long long>(checksum64(body)));
         return header + body;
       },
       "metadata"},
  };
  for (const Damage &d : damages) {
    SCOPED_TRACE(d.name);
    CountingProducer producer;
    fs::remove(entryPath(key)); // the previous case's rebuilt entry
    {
      ArtifactCache writer(options());
      ASSERT_TRUE(writer.get(key, producer.forKey(key)));
    }
    writeEntry(key, d.apply(readEntry(key)));

    WarningLog log;
    ArtifactCache reader(ArtifactCacheOptions{dir_.string(), 64, size_t(1) << 30, log.handler()});
    // Eight threads at once: one reads the damage, reports it, rebuilds.
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&] {
        auto a = reader.get(key, producer.forKey(key));
        ok += a && (*a)->code == fakeArtifact(key).code;
      });
    for (auto &t : threads)
      t.join();
    EXPECT_EQ(ok, 8);
    EXPECT_EQ(producer.calls, 2); // the first write, and one rebuild
    ASSERT_EQ(log.count(), 1u) << log.joined();
    EXPECT_NE(log.messages()[0].find(d.needle), std::string::npos) << log.joined();
    EXPECT_NE(log.messages()[0].find("recompiling"), std::string::npos) << log.joined();
    EXPECT_EQ(reader.stats().corruptEntries, 1u);
    // The rebuilt entry replaced the damaged one.
    auto repaired = decodeCacheEntry(readEntry(key), key);
    EXPECT_TRUE(repaired) << repaired.error().str();
  }
}

TEST_F(ArtifactCacheTest, FindNeverReturnsADamagedEntry) {
  const std::string key = testKey(1);
  {
    ArtifactCache writer(options());
    CountingProducer producer;
    ASSERT_TRUE(writer.get(key, producer.forKey(key)));
  }
  std::string entry = readEntry(key);
  writeEntry(key, entry.substr(0, entry.size() - 1));
  ArtifactCache reader(options());
  auto a = reader.find(key);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, nullptr);
  EXPECT_FALSE(fs::exists(entryPath(key))); // removed
  EXPECT_EQ(warnings_.count(), 1u);
}

TEST_F(ArtifactCacheTest, EightThreadsOneProduce) {
  ArtifactCache cache(options());
  std::atomic<int> calls{0};
  const std::string key = testKey(1);
  auto slow = [&]() -> Expected<Artifact> {
    ++calls;
    // Long enough that every thread arrives while the first one works.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return fakeArtifact(key);
  };
  std::vector<std::thread> threads;
  std::vector<const Artifact *> got(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto a = cache.get(key, slow);
      got[t] = a ? a->get() : nullptr;
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(calls, 1);
  for (const Artifact *a : got) {
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a, got[0]);
  }
}

TEST_F(ArtifactCacheTest, AFailureReachesEveryWaiterAndIsNotCached) {
  ArtifactCache cache(options());
  std::atomic<int> calls{0};
  const std::string key = testKey(1);
  auto failing = [&]() -> Expected<Artifact> {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return Error(ErrorCode::Compile, "the pipeline failed");
  };
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      auto a = cache.get(key, failing);
      failures += !a && a.error().code() == ErrorCode::Compile &&
                  a.error().message() == "the pipeline failed";
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(failures, 8);
  EXPECT_FALSE(fs::exists(entryPath(key)));
  // Not cached: the next request compiles again, and may succeed.
  CountingProducer producer;
  CacheSource source;
  ASSERT_TRUE(cache.get(key, producer.forKey(key), &source));
  EXPECT_EQ(source, CacheSource::Produced);
  EXPECT_EQ(producer.calls, 1);
}

TEST_F(ArtifactCacheTest, AThrowingProducerStillReleasesWaiters) {
  ArtifactCache cache(options());
  auto throwing = []() -> Expected<Artifact> { throw std::runtime_error("boom"); };
  auto a = cache.get(testKey(1), throwing);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message().find("boom"), std::string::npos);
}

TEST_F(ArtifactCacheTest, AProducerMustMakeTheKeyItWasAskedFor) {
  ArtifactCache cache(options());
  auto wrong = [] { return Expected<Artifact>(fakeArtifact(testKey(2))); };
  auto a = cache.get(testKey(1), wrong);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::Internal);
  auto unnamed = [] { return Expected<Artifact>(fakeArtifact("")); };
  auto b = cache.get(testKey(3), unnamed);
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ((*b)->cacheKey, testKey(3));
}

TEST_F(ArtifactCacheTest, KeysThatAreNotHexAreRefused) {
  ArtifactCache cache(options());
  CountingProducer producer;
  auto a = cache.get("../escape", producer.forKey("../escape"));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(producer.calls, 0);
}

TEST_F(ArtifactCacheTest, AnUnusableFolderMeansMemoryOnlyWithOneWarning) {
  // A folder below a regular file cannot be created, even by root (which
  // permission bits would not stop).
  std::ofstream(dir_ / "file") << "x";
  ArtifactCache cache(ArtifactCacheOptions{(dir_ / "file" / "cache").string(), 64, size_t(1) << 30,
                                           warnings_.handler()});
  EXPECT_FALSE(cache.hasDisk());
  EXPECT_EQ(cache.directory(), "");
  CountingProducer producer;
  CacheSource source;
  for (int k = 1; k <= 3; ++k)
    ASSERT_TRUE(cache.get(testKey(k), producer.forKey(testKey(k)), &source));
  ASSERT_TRUE(cache.get(testKey(1), producer.forKey(testKey(1)), &source));
  EXPECT_EQ(source, CacheSource::Memory);
  EXPECT_EQ(producer.calls, 3);
  ASSERT_EQ(warnings_.count(), 1u) << warnings_.joined();
  EXPECT_NE(warnings_.messages()[0].find("memory only"), std::string::npos);
}

TEST_F(ArtifactCacheTest, AFolderThatStopsTakingWritesWarnsOnce) {
  ArtifactCache cache(options());
  ASSERT_TRUE(cache.hasDisk());
  // The entries folder becomes a file: every write fails from now on.
  fs::remove_all(dir_ / entriesFolder());
  std::ofstream(dir_ / entriesFolder()) << "x";
  CountingProducer producer;
  for (int k = 1; k <= 3; ++k)
    ASSERT_TRUE(cache.get(testKey(k), producer.forKey(testKey(k))));
  ASSERT_EQ(warnings_.count(), 1u) << warnings_.joined();
  EXPECT_NE(warnings_.messages()[0].find("memory only"), std::string::npos);
}

} // namespace
