//===- TestCacheFolder.cpp - keep the tests' kernel cache in the build tree ===//
//
// Tests that compile through Session use KernelCache::shared(), which reads
// SIEVE_CACHE_DIR on first use. Point it into the build tree before any
// test runs (unless the caller chose a folder), so that running a test
// binary by hand never writes to the user's ~/.cache.
//
//===----------------------------------------------------------------------===//
#include <cstdlib>

namespace {

const bool kCacheFolderSet = [] {
  ::setenv("SIEVE_CACHE_DIR", SIEVE_TEST_TMPDIR "/kernel-cache", /*overwrite=*/0);
  return true;
}();

} // namespace
