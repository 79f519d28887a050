//===- CacheFaultTest.cpp - the disk cache under real faults --------------===//
//
// Faults that lose nothing: a cache folder that fills up (the file-size
// limit makes every write past 64 KiB fail, as ENOSPC would) leaves the
// cache working from memory with one warning; a writer killed at a random
// moment (SIGKILL, mid-write or not) never leaves half an entry visible, and
// the temporary file it leaves is removed by a later open once it is old.
//
//===----------------------------------------------------------------------===//
#include "CacheTestUtil.h"

#include "sieve/runtime/ArtifactCache.h"
#include "sieve/runtime/DiskCache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <thread>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace sieve;
using namespace sieve::runtime;
using sieve::testing::fakeArtifact;
using sieve::testing::testKey;
namespace fs = std::filesystem;

namespace {

/// Lowers this process's file-size limit for its lifetime: a write past it
/// fails with EFBIG (SIGXFSZ is ignored meanwhile), which is what a full
/// disk looks like to the writer, without needing one.
class FileSizeLimit {
public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_);
  }
  bool ok() const { return ok_; }

private:
  rlimit saved_{};
  void (*previous_)(int) = nullptr;
  bool ok_ = false;
};

std::vector<fs::path> temporaries(const std::string &dir) {
  std::vector<fs::path> found;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      found.push_back(e.path());
  return found;
}

TEST(CacheFault, AFullFolderMeansMemoryOnlyWithOneWarning) {
  fs::path dir = sieve::testing::freshTestFolder("cache-fault");
  sieve::testing::WarningLog warnings;
  ArtifactCache cache(ArtifactCacheOptions{dir.string(), 64, size_t(1) << 30, warnings.handler()});
  ASSERT_TRUE(cache.hasDisk());
  std::atomic<int> produced{0};
  auto producer = [&](int k) -> ArtifactCache::Producer {
    return [&, k]() -> Expected<Artifact> {
      ++produced;
      return fakeArtifact(testKey(k), size_t(1) << 20); // 1 MiB: past the limit
    };
  };
  {
    FileSizeLimit full(64 << 10);
    ASSERT_TRUE(full.ok());
    for (int k = 1; k <= 3; ++k) {
      auto a = cache.get(testKey(k), producer(k));
      ASSERT_TRUE(a) << a.error().str();
      EXPECT_EQ((*a)->code.size(), size_t(1) << 20);
    }
    // Served from memory; nothing produced twice.
    CacheSource source;
    ASSERT_TRUE(cache.get(testKey(2), producer(2), &source));
    EXPECT_EQ(source, CacheSource::Memory);
  }
  EXPECT_EQ(produced.load(), 3);
  ASSERT_EQ(warnings.count(), 1u) << warnings.joined();
  EXPECT_NE(warnings.messages()[0].find("memory only"), std::string::npos) << warnings.joined();
  // The failed writes removed their temporaries and published nothing.
  auto disk = DiskCache::open(dir.string());
  ASSERT_TRUE(disk) << disk.error().str();
  EXPECT_TRUE(temporaries(disk->directory()).empty());
  for (int k = 1; k <= 3; ++k) {
    auto loaded = disk->load(testKey(k));
    ASSERT_TRUE(loaded) << loaded.error().str();
    EXPECT_FALSE(*loaded) << "a failed write left an entry for key " << k;
  }
}

TEST(CacheFault, AWriterKilledMidWriteLeavesNoHalfEntry) {
  fs::path dir = sieve::testing::freshTestFolder("cache-fault");
  auto disk = DiskCache::open(dir.string());
  ASSERT_TRUE(disk) << disk.error().str();
  const std::string key = testKey(7);
  constexpr size_t kBytes = size_t(24) << 20; // long enough to be caught writing
  // How long one store takes here: the kills are spread over a few of them.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_FALSE(disk->store(fakeArtifact(key, kBytes, 'z')));
  const auto storeTime = std::chrono::steady_clock::now() - t0;
  const int64_t spreadUs = std::max<int64_t>(
      1000, 3 * std::chrono::duration_cast<std::chrono::microseconds>(storeTime).count());
  std::mt19937 rng(std::random_device{}());
  int rounds = 0, wholeSeen = 0;
  size_t orphans = 0;
  // Kill writers at random moments until at least one died mid-write (it
  // left a temporary behind); every round checks what a reader sees. A
  // store spends most of its time encoding and checksumming before the
  // temporary exists, so a kill lands mid-write in only a few percent of
  // rounds on a loaded machine (60 rounds missed once in CI): the loop
  // stops at the first orphan, usually within a few dozen rounds.
  constexpr int kMaxRounds = 400;
  for (; rounds < kMaxRounds && orphans == 0; ++rounds) {
    int started[2];
    ASSERT_EQ(::pipe(started), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto mine = DiskCache::open(dir.string());
      Artifact a = fakeArtifact(key, kBytes, char('a' + rounds % 26));
      char go = 1;
      (void)!::write(started[1], &go, 1); // the artifact is ready: stores start now
      while (mine && !mine->store(a)) {
      }
      ::_exit(1); // a store failed: the parent sees exit status 1, not SIGKILL
    }
    char go = 0;
    ASSERT_EQ(::read(started[0], &go, 1), 1);
    ::close(started[0]);
    ::close(started[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(int64_t(rng()) % spreadUs));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself (a store failed)";

    auto loaded = disk->load(key);
    ASSERT_TRUE(loaded) << "round " << rounds << ": " << loaded.error().str();
    if (*loaded) {
      ++wholeSeen;
      EXPECT_EQ((*loaded)->code.size(), kBytes);
      EXPECT_EQ((*loaded)->code.find_first_not_of((*loaded)->code[0]), std::string::npos);
    }
    orphans = temporaries(disk->directory()).size();
  }
  RecordProperty("rounds", rounds);
  RecordProperty("store_us", std::to_string(spreadUs / 3));
  RecordProperty("whole_entries_seen", wholeSeen);
  ASSERT_GT(orphans, 0u) << "no writer was ever killed mid-write in " << rounds << " rounds";

  // A young temporary may belong to a live writer: open() leaves it. Once
  // it is older than any write takes, open() removes it.
  auto young = temporaries(disk->directory());
  ASSERT_TRUE(DiskCache::open(dir.string()));
  EXPECT_EQ(temporaries(disk->directory()).size(), young.size());
  for (const fs::path &p : young)
    fs::last_write_time(p, fs::file_time_type::clock::now() - DiskCache::kStaleTemporaryAge -
                               std::chrono::minutes(1));
  ASSERT_TRUE(DiskCache::open(dir.string()));
  EXPECT_TRUE(temporaries(disk->directory()).empty());
  // Whatever entry the writers published is still whole.
  auto loaded = disk->load(key);
  ASSERT_TRUE(loaded) << loaded.error().str();
  if (*loaded)
    EXPECT_EQ((*loaded)->code.size(), kBytes);
}

} // namespace
