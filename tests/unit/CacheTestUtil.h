//===- CacheTestUtil.h - folders, artifacts and warnings for cache tests -*- C++ -*-===//
#ifndef SIEVE_TESTS_UNIT_CACHETESTUTIL_H
#define SIEVE_TESTS_UNIT_CACHETESTUTIL_H

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/Warning.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace sieve::testing {

/// An empty folder named after the running test, under the build tree's
/// temporary folder: never the user's ~/.cache.
inline std::filesystem::path freshTestFolder(const std::string &suite) {
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(SIEVE_TEST_TMPDIR) / suite / info->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// A 64-digit hex key made from a small number.
inline std::string testKey(int n) {
  std::string digits = std::to_string(n);
  return std::string(64 - digits.size(), '0') + digits;
}

/// A CUDA artifact for `key` whose code is `codeBytes` copies of `fill`.
inline runtime::Artifact fakeArtifact(const std::string &key, size_t codeBytes = 1000,
                                      char fill = 'x') {
  runtime::Artifact a;
  a.backend = runtime::Backend::Cuda;
  a.chip = "sm_90a";
  a.code = std::string(codeBytes, fill);
  runtime::KernelLaunch launch;
  launch.entry = "sieve_attention";
  launch.grid = {8, 1, 1};
  launch.block = {128, 1, 1};
  launch.params = runtime::memrefDescriptorParams();
  a.launches = {launch};
  a.variant = "mma";
  a.config = "test";
  a.shape = {1, 2, 2, 256, 256, 64, runtime::DType::BF16};
  a.keptTiles = 3;
  a.totalTiles = 8;
  a.cacheKey = key;
  a.compilerVersion = "sieve test";
  return a;
}

/// Collects warnings (from any thread) instead of printing them.
class WarningLog {
public:
  runtime::WarningHandler handler() {
    return [this](const std::string &message) {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push_back(message);
    };
  }
  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  size_t count() const { return messages().size(); }
  std::string joined() const {
    std::string all;
    for (const std::string &m : messages())
      all += m + "\n";
    return all;
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

} // namespace sieve::testing

#endif
