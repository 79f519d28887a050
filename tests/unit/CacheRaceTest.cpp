//===- CacheRaceTest.cpp - processes sharing one cache folder -------------===//
//
// Writers in other processes replace an entry over and over while this one
// reads it: every read must be a whole entry (one writer's or the other's)
// or none, never half of one, and no read may be reported as damaged.
//
//===----------------------------------------------------------------------===//
#include "CacheTestUtil.h"

#include "sieve/runtime/ArtifactCache.h"
#include "sieve/runtime/DiskCache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace sieve;
using namespace sieve::runtime;
using sieve::testing::fakeArtifact;
using sieve::testing::testKey;
using sieve::testing::WarningLog;
namespace fs = std::filesystem;

namespace {

// Large entries of different sizes: a torn read would show as a size or
// checksum mismatch.
constexpr size_t kBytesA = 3 << 20, kBytesB = 2 << 20;

bool isWholeVariant(const Artifact &a) {
  return (a.code.size() == kBytesA && a.code == std::string(kBytesA, 'a')) ||
         (a.code.size() == kBytesB && a.code == std::string(kBytesB, 'b'));
}

TEST(CacheRace, ReadersInOneProcessNeverSeeHalfOfAnotherProcesssWrite) {
  fs::path dir = sieve::testing::freshTestFolder("cache-race");
  const std::string key = testKey(42);
  auto disk = DiskCache::open(dir.string());
  ASSERT_TRUE(disk) << disk.error().str();

  std::vector<pid_t> writers;
  for (char fill : {'a', 'b'}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child: its own DiskCache over the same folder, writing fast.
      auto mine = DiskCache::open(dir.string());
      Artifact a = fakeArtifact(key, fill == 'a' ? kBytesA : kBytesB, fill);
      int failures = 0;
      for (int i = 0; i < 40; ++i)
        failures += static_cast<bool>(mine ? mine->store(a) : Error(ErrorCode::Io, "open"));
      ::_exit(failures == 0 ? 0 : 1);
    }
    writers.push_back(pid);
  }

  int whole = 0, absent = 0, bad = 0;
  std::string firstBad;
  std::vector<int> statuses;
  // Read until both writers have exited.
  while (statuses.size() < writers.size()) {
    auto loaded = disk->load(key);
    if (!loaded) {
      ++bad;
      if (firstBad.empty())
        firstBad = loaded.error().str();
    } else if (!*loaded) {
      ++absent;
    } else if (isWholeVariant(**loaded)) {
      ++whole;
    } else {
      ++bad;
    }
    for (pid_t &pid : writers) {
      int status = 0;
      if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {
        statuses.push_back(status);
        pid = -1;
      }
    }
  }
  for (int status : statuses)
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a writer failed";
  EXPECT_EQ(bad, 0) << firstBad;
  EXPECT_GT(whole, 0);
  RecordProperty("whole_reads", whole);
  RecordProperty("absent_reads", absent);
  // After the race: the one entry, no temporary files left.
  size_t files = 0;
  for (const auto &e : fs::directory_iterator(disk->directory())) {
    ++files;
    EXPECT_EQ(e.path().filename().string(), key + ".entry");
  }
  EXPECT_EQ(files, 1u);
}

TEST(CacheRace, TwoCachesOverOneFolderRacingWrites) {
  fs::path dir = sieve::testing::freshTestFolder("cache-race");
  WarningLog log;
  ArtifactCacheOptions options{dir.string(), 0, 0, log.handler()}; // no memory tier
  ArtifactCache first(options), second(options);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      ArtifactCache &cache = t % 2 ? first : second;
      char fill = t % 2 ? 'a' : 'b';
      for (int i = 0; i < 20; ++i) {
        const std::string key = testKey(i % 3);
        auto a = cache.get(key, [&] {
          return Expected<Artifact>(fakeArtifact(key, fill == 'a' ? kBytesA : kBytesB, fill));
        });
        wrong += !a || !isWholeVariant(**a);
      }
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(log.count(), 0u) << log.joined();
}

} // namespace
