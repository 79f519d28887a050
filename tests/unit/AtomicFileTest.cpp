//===- AtomicFileTest.cpp - output temporaries never outlive their write --===//
//
// `sieve mask -o big.npy` stopped by SIGTERM used to leave big.npy.tmp.*
// behind for good. A killed writer's temporary is now removed by the signal
// hook, and after SIGKILL (no hook runs) by the next write of the same path.
// Each writer runs in a forked child so that it can die mid-write.
//
//===----------------------------------------------------------------------===//
#include "CacheTestUtil.h"

#include "sieve/runtime/AtomicFile.h"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

using namespace sieve;
using namespace sieve::runtime;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> temporaries(const fs::path &dir) {
  std::vector<fs::path> found;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      found.push_back(e.path());
  return found;
}

/// Forks a child that starts writing `path`, writes half, then runs
/// `die`; returns the child's wait status.
template <typename Die> int writeHalfThen(const fs::path &path, bool hookSignals, Die die) {
  pid_t child = ::fork();
  if (child == 0) {
    if (hookSignals)
      removeTemporariesOnSignals();
    auto file = AtomicFile::create(path.string());
    if (!file)
      ::_exit(3);
    std::string half(1 << 16, 'x');
    if (file->write(half.data(), half.size()))
      ::_exit(4);
    die();
    ::_exit(5); // not reached
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

} // namespace

TEST(AtomicFile, CommitsWholeAndLeavesNoTemporary) {
  fs::path dir = sieve::testing::freshTestFolder("atomic-file");
  ASSERT_FALSE(writeFileAtomically((dir / "out.npy").string(), "abc"));
  std::ifstream in(dir / "out.npy");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "abc");
  EXPECT_TRUE(temporaries(dir).empty());
  // Abandoned (destroyed before commit): removed, and the old file stays.
  {
    auto file = AtomicFile::create((dir / "out.npy").string());
    ASSERT_TRUE(file);
    ASSERT_FALSE(file->write("zz", 2));
    EXPECT_TRUE(fs::exists(file->temporaryPath()));
  }
  EXPECT_TRUE(temporaries(dir).empty());
  EXPECT_EQ(fs::file_size(dir / "out.npy"), 3u);
}

TEST(AtomicFile, ASignalMidWriteRemovesTheTemporary) {
  fs::path dir = sieve::testing::freshTestFolder("atomic-file");
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) {
    int status = writeHalfThen(dir / "big.npy", /*hookSignals=*/true, [&] { ::raise(signal); });
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child should die of signal " << signal;
    EXPECT_EQ(WTERMSIG(status), signal) << "the hook keeps the signal's own course";
    EXPECT_TRUE(temporaries(dir).empty()) << "after signal " << signal;
    EXPECT_FALSE(fs::exists(dir / "big.npy"));
  }
}

TEST(AtomicFile, TheNextWriteRemovesADeadWritersTemporary) {
  fs::path dir = sieve::testing::freshTestFolder("atomic-file");
  // SIGKILL runs no handler: the temporary stays...
  int status = writeHalfThen(dir / "big.npy", true, [] { ::raise(SIGKILL); });
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(temporaries(dir).size(), 1u);
  // ...a write of another path leaves it alone...
  ASSERT_FALSE(writeFileAtomically((dir / "other.npy").string(), "o"));
  ASSERT_EQ(temporaries(dir).size(), 1u);
  // ...and the next write of the same path removes it.
  ASSERT_FALSE(writeFileAtomically((dir / "big.npy").string(), "whole"));
  EXPECT_TRUE(temporaries(dir).empty());
  EXPECT_EQ(fs::file_size(dir / "big.npy"), 5u);
}

TEST(AtomicFile, ALiveWritersTemporaryIsKept) {
  fs::path dir = sieve::testing::freshTestFolder("atomic-file");
  // This process is alive: a temporary named after it is a write in
  // progress (another thread's), never an orphan.
  auto file = AtomicFile::create((dir / "m.npy").string());
  ASSERT_TRUE(file);
  removeOrphanedTemporaries((dir / "m.npy").string());
  EXPECT_TRUE(fs::exists(file->temporaryPath()));
  // Nor is a cache folder's, whose writers may live on other hosts.
  std::ofstream((dir / "k.entry.tmp.999999999.abcd.0").string()) << "x";
  ASSERT_FALSE(writeFileAtomically((dir / "k.entry").string(), "e", Orphans::Keep));
  EXPECT_TRUE(fs::exists(dir / "k.entry.tmp.999999999.abcd.0"));
  ASSERT_FALSE(writeFileAtomically((dir / "k.entry").string(), "e"));
  EXPECT_FALSE(fs::exists(dir / "k.entry.tmp.999999999.abcd.0"));
}
