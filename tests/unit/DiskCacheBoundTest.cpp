//===- DiskCacheBoundTest.cpp - the cache folder bounded by bytes ---------===//
//
// The folder used to grow without end. It is now bounded by its entries'
// total size: after a write the least recently used entries go (a read
// counts as a use), never the entry just written; `sieve cache clear`
// removes sieve's files of every format and nothing else.
//
//===----------------------------------------------------------------------===//
#include "CacheTestUtil.h"

#include "sieve/runtime/ArtifactCache.h"
#include "sieve/runtime/CacheEntry.h"
#include "sieve/runtime/DiskCache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

using namespace sieve;
using namespace sieve::runtime;
using sieve::testing::fakeArtifact;
using sieve::testing::testKey;
namespace fs = std::filesystem;

namespace {

std::set<std::string> keysIn(const DiskCache &disk) {
  std::set<std::string> keys;
  for (const DiskCacheEntry &e : DiskCache::entriesIn(disk.directory()))
    keys.insert(e.key);
  return keys;
}

/// Marks an entry as last used `minutes` ago (file times are the record).
void ageEntry(const DiskCache &disk, int n, int minutes) {
  fs::last_write_time(disk.pathOf(testKey(n)),
                      fs::file_time_type::clock::now() - std::chrono::minutes(minutes));
}

} // namespace

TEST(DiskCacheBound, EvictsTheLeastRecentlyUsedPastTheBound) {
  fs::path dir = sieve::testing::freshTestFolder("disk-cache-bound");
  const uint64_t entryBytes = encodeCacheEntry(fakeArtifact(testKey(1))).size();
  // Room for three entries, not four.
  auto disk = DiskCache::open(dir.string(), 3 * entryBytes + entryBytes / 2);
  ASSERT_TRUE(disk) << disk.error().message();
  for (int n = 1; n <= 3; ++n) {
    ASSERT_FALSE(disk->store(fakeArtifact(testKey(n))));
    ageEntry(*disk, n, 10 * (4 - n)); // 1 oldest, 3 newest
  }
  EXPECT_EQ(keysIn(*disk), (std::set<std::string>{testKey(1), testKey(2), testKey(3)}));
  // Reading 1 makes it the most recent: 2 is now the least recently used.
  auto read = disk->load(testKey(1));
  ASSERT_TRUE(read && *read);
  ASSERT_FALSE(disk->store(fakeArtifact(testKey(4))));
  EXPECT_EQ(keysIn(*disk), (std::set<std::string>{testKey(1), testKey(3), testKey(4)}));
  uint64_t total = 0;
  for (const DiskCacheEntry &e : DiskCache::entriesIn(disk->directory()))
    total += e.bytes;
  EXPECT_LE(total, disk->maxBytes());
}

TEST(DiskCacheBound, KeepsTheEntryJustWrittenEvenIfItAloneIsTooLarge) {
  fs::path dir = sieve::testing::freshTestFolder("disk-cache-bound");
  auto disk = DiskCache::open(dir.string(), 100);
  ASSERT_TRUE(disk);
  ASSERT_FALSE(disk->store(fakeArtifact(testKey(1))));
  ASSERT_FALSE(disk->store(fakeArtifact(testKey(2))));
  EXPECT_EQ(keysIn(*disk), (std::set<std::string>{testKey(2)}));
}

TEST(DiskCacheBound, TheArtifactCachePassesItsBoundOn) {
  fs::path dir = sieve::testing::freshTestFolder("disk-cache-bound");
  ArtifactCacheOptions options{dir.string()};
  EXPECT_EQ(options.maxDiskBytes, uint64_t(1) << 30); // the stated default
  options.maxDiskBytes = 1;
  ArtifactCache cache(options);
  EXPECT_EQ(cache.maxDiskBytes(), 1u);
  for (int n = 1; n <= 3; ++n)
    ASSERT_TRUE(
        cache.get(testKey(n), [n] { return Expected<Artifact>(fakeArtifact(testKey(n))); }));
  EXPECT_EQ(DiskCache::entriesIn(cache.directory()).size(), 1u);
}

TEST(DiskCacheBound, ClearAllRemovesOnlySievesFilesOfEveryFormat) {
  fs::path dir = sieve::testing::freshTestFolder("disk-cache-bound");
  auto disk = DiskCache::open(dir.string());
  ASSERT_TRUE(disk);
  ASSERT_FALSE(disk->store(fakeArtifact(testKey(1))));
  ASSERT_FALSE(disk->store(fakeArtifact(testKey(2))));
  fs::create_directories(dir / "entries-v1-artifact-v1");
  std::ofstream(dir / "entries-v1-artifact-v1" / (testKey(3) + ".entry")) << "old";
  std::ofstream(dir / "notes.txt") << "the user's";
  std::ofstream(dir / "entries-v1-artifact-v1" / "mine.txt") << "also the user's";
  EXPECT_EQ(DiskCache::otherFormatFolders(dir.string()),
            std::vector<std::string>{(dir / "entries-v1-artifact-v1").string()});
  DiskCacheUsage removed = DiskCache::clearAll(dir.string());
  EXPECT_EQ(removed.entries, 3u);
  EXPECT_TRUE(DiskCache::entriesIn(disk->directory()).empty());
  EXPECT_FALSE(fs::exists(disk->directory()));
  EXPECT_TRUE(fs::exists(dir / "notes.txt"));
  EXPECT_TRUE(fs::exists(dir / "entries-v1-artifact-v1" / "mine.txt"));
}

TEST(DiskCacheBound, ByteSizes) {
  EXPECT_EQ(*parseByteSize("1048576"), 1048576u);
  EXPECT_EQ(*parseByteSize("512M"), uint64_t(512) << 20);
  EXPECT_EQ(*parseByteSize("2G"), uint64_t(2) << 30);
  EXPECT_EQ(*parseByteSize("2GiB"), uint64_t(2) << 30);
  EXPECT_EQ(*parseByteSize("64KB"), uint64_t(64) << 10);
  EXPECT_EQ(*parseByteSize("100B"), 100u);
  for (const char *bad : {"", "G", "1.5G", "-1", "12X", "99999999999T"})
    EXPECT_FALSE(parseByteSize(bad)) << bad;
  EXPECT_EQ(formatBytes(900), "900 B");
  EXPECT_EQ(formatBytes(uint64_t(1) << 30), "1.0 GiB");
  EXPECT_EQ(formatBytes(1536), "1.5 KiB");
}
