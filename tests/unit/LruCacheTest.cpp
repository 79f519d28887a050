//===- LruCacheTest.cpp - the memory tier's bounds and order --------------===//
#include "sieve/runtime/LruCache.h"

#include <gtest/gtest.h>

#include <string>

using sieve::runtime::LruCache;

namespace {

TEST(LruCache, EvictsTheLeastRecentlyUsedPastTheEntryBound) {
  LruCache<std::string, int> cache(/*maxEntries=*/2, /*maxBytes=*/1000);
  cache.put("a", 1, 10);
  cache.put("b", 2, 10);
  ASSERT_NE(cache.get("a"), nullptr); // "a" is now more recent than "b"
  cache.put("c", 3, 10);
  EXPECT_EQ(cache.get("b"), nullptr);
  ASSERT_NE(cache.get("a"), nullptr);
  EXPECT_EQ(*cache.get("c"), 3);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.evictions(), 1u);
}

TEST(LruCache, EvictsUntilTheBytesFit) {
  LruCache<std::string, int> cache(/*maxEntries=*/100, /*maxBytes=*/100);
  cache.put("a", 1, 40);
  cache.put("b", 2, 40);
  cache.put("c", 3, 50); // 130 bytes: "a" goes, 90 remain
  EXPECT_EQ(cache.get("a"), nullptr);
  EXPECT_NE(cache.get("b"), nullptr);
  EXPECT_NE(cache.get("c"), nullptr);
  EXPECT_EQ(cache.bytes(), 90u);
}

TEST(LruCache, AnEntryLargerThanTheBoundIsNotKept) {
  LruCache<std::string, int> cache(10, 100);
  cache.put("small", 1, 10);
  cache.put("huge", 2, 101);
  EXPECT_EQ(cache.get("huge"), nullptr);
  EXPECT_EQ(cache.get("small"), nullptr); // evicted first, as the older entry
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(LruCache, ReplacingAKeyUpdatesValueAndBytes) {
  LruCache<std::string, int> cache(10, 100);
  cache.put("a", 1, 30);
  cache.put("a", 2, 50);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bytes(), 50u);
  EXPECT_EQ(*cache.get("a"), 2);
  EXPECT_TRUE(cache.erase("a"));
  EXPECT_FALSE(cache.erase("a"));
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(LruCache, ZeroEntriesKeepsNothing) {
  LruCache<std::string, int> cache(0, 100);
  cache.put("a", 1, 1);
  EXPECT_EQ(cache.get("a"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

} // namespace
