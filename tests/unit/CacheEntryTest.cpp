//===- CacheEntryTest.cpp - the entry file format and its checksum --------===//
#include "CacheTestUtil.h"

#include "sieve/runtime/CacheEntry.h"
#include "sieve/runtime/Checksum.h"

#include <gtest/gtest.h>

using namespace sieve;
using namespace sieve::runtime;
using sieve::testing::fakeArtifact;
using sieve::testing::testKey;

namespace {

void expectCorrupt(const std::string &bytes, const std::string &needle,
                   const std::string &key = testKey(1)) {
  auto a = decodeCacheEntry(bytes, key);
  ASSERT_FALSE(a) << "expected corruption: " << needle;
  EXPECT_EQ(a.error().code(), ErrorCode::CorruptArtifact) << a.error().str();
  EXPECT_NE(a.error().message().find(needle), std::string::npos) << a.error().str();
}

TEST(Checksum, EveryByteMatters) {
  std::string bytes(1000, 'a');
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(i * 31);
  uint64_t base = checksum64(bytes);
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::string flipped = bytes;
    flipped[i] ^= 0x10;
    EXPECT_NE(checksum64(flipped), base) << "byte " << i;
  }
  EXPECT_NE(checksum64(bytes.substr(0, 999)), base);
  // Zero padding of the tail is not confused with zero bytes.
  EXPECT_NE(checksum64(std::string(9, '\0')), checksum64(std::string(10, '\0')));
}

TEST(CacheEntry, RoundTrip) {
  Artifact a = fakeArtifact(testKey(1), 5000);
  std::string bytes = encodeCacheEntry(a);
  EXPECT_EQ(bytes.rfind("sieve-cache-entry 1 ", 0), 0u);
  auto b = decodeCacheEntry(bytes, a.cacheKey);
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ(b->code, a.code);
  EXPECT_EQ(b->mainLaunch().grid, a.mainLaunch().grid);
  EXPECT_EQ(b->mainLaunch().params, a.mainLaunch().params);
  EXPECT_EQ(b->shape, a.shape);
  EXPECT_EQ(b->cacheKey, a.cacheKey);
}

TEST(CacheEntry, FlippedBytesAnywhereAreCaught) {
  std::string bytes = encodeCacheEntry(fakeArtifact(testKey(1), 5000));
  size_t header = bytes.find('\n') + 1;
  // In the metadata, in the code, and the last byte.
  for (size_t at : {header + 10, header + 200, bytes.size() / 2, bytes.size() - 1}) {
    std::string flipped = bytes;
    flipped[at] ^= 0x01;
    expectCorrupt(flipped, "checksum");
  }
}

TEST(CacheEntry, TruncationAndTrailingBytesAreCaught) {
  std::string bytes = encodeCacheEntry(fakeArtifact(testKey(1), 5000));
  expectCorrupt(bytes.substr(0, bytes.size() - 1), "truncated");
  expectCorrupt(bytes.substr(0, bytes.size() / 2), "truncated");
  expectCorrupt(bytes.substr(0, 20), "no header line");
  expectCorrupt("", "empty");
  expectCorrupt(bytes + "x", "header says");
}

TEST(CacheEntry, BadHeadersAreCaught) {
  std::string bytes = encodeCacheEntry(fakeArtifact(testKey(1)));
  std::string body = bytes.substr(bytes.find('\n') + 1);
  expectCorrupt("not-a-cache-entry 1 2 3 0000000000000000\n" + body, "malformed header");
  std::string future = bytes;
  future.replace(future.find(" 1 "), 3, " 9 ");
  expectCorrupt(future, "version 9");
  std::string spaced = bytes;
  spaced.insert(spaced.find(' '), " ");
  expectCorrupt(spaced, "malformed header");
}

TEST(CacheEntry, MetadataThatIsNotJsonIsCaught) {
  // A valid header and checksum around metadata that does not parse: what
  // a buggy or foreign writer could leave.
  std::string meta = "{ this is not json";
  std::string code = "code";
  std::string body = meta + code;
  char header[128];
  std::snprintf(header, sizeof header, "sieve-cache-entry 1 %zu %zu %016llx\n", meta.size(),
                code.size(), static_cast<unsigned long long>(checksum64(body)));
  expectCorrupt(header + body, "not a JSON object");
}

TEST(CacheEntry, AnEntryForAnotherKeyIsCaught) {
  expectCorrupt(encodeCacheEntry(fakeArtifact(testKey(2))), "holds the artifact of key");
}

TEST(CacheEntry, KeysAreLowercaseHex) {
  EXPECT_TRUE(isValidCacheKey(testKey(1)));
  EXPECT_FALSE(isValidCacheKey("../../etc/passwd"));
  EXPECT_FALSE(isValidCacheKey(std::string(64, 'A')));
  EXPECT_FALSE(isValidCacheKey("abc"));
}

} // namespace
