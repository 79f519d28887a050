//===- LruCache.h - a map bounded by entry count and bytes ------*- C++ -*-===//
//
// The memory tier of the kernel cache: least recently used entries go first
// once either bound is passed. Not thread-safe; its owner holds a lock.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_LRUCACHE_H
#define SIEVE_RUNTIME_LRUCACHE_H

#include <cstddef>
#include <functional>
#include <list>
#include <unordered_map>
#include <utility>

namespace sieve::runtime {

template <typename Key, typename Value, typename Hash = std::hash<Key>> class LruCache {
public:
  LruCache(size_t maxEntries, size_t maxBytes) : maxEntries_(maxEntries), maxBytes_(maxBytes) {}

  /// The value stored for `key`, now the most recently used; null if absent.
  /// The pointer is valid until the next put() or erase().
  Value *get(const Key &key) {
    auto it = index_.find(&key);
    if (it == index_.end())
      return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->value;
  }

  /// Inserts or replaces; `bytes` counts against the byte bound. Evicts from
  /// the least recently used end until both bounds hold, which drops the new
  /// entry too when it alone is larger than the byte bound.
  void put(Key key, Value value, size_t bytes) {
    erase(key);
    order_.push_front(Entry{std::move(key), std::move(value), bytes});
    index_.emplace(&order_.front().key, order_.begin());
    bytes_ += bytes;
    while (!order_.empty() && (order_.size() > maxEntries_ || bytes_ > maxBytes_)) {
      removeEntry(std::prev(order_.end()));
      ++evictions_;
    }
  }

  bool erase(const Key &key) {
    auto it = index_.find(&key);
    if (it == index_.end())
      return false;
    removeEntry(it->second);
    return true;
  }

  size_t size() const { return order_.size(); }
  size_t bytes() const { return bytes_; }
  size_t evictions() const { return evictions_; }

private:
  struct Entry {
    Key key;
    Value value;
    size_t bytes;
  };
  using Iterator = typename std::list<Entry>::iterator;

  // The index points at the key inside its list node (nodes never move), so
  // a long key such as a mask's bits is stored once, not twice.
  struct KeyPtrHash {
    size_t operator()(const Key *k) const { return Hash()(*k); }
  };
  struct KeyPtrEqual {
    bool operator()(const Key *a, const Key *b) const { return *a == *b; }
  };

  void removeEntry(Iterator it) {
    bytes_ -= it->bytes;
    index_.erase(&it->key);
    order_.erase(it);
  }

  size_t maxEntries_, maxBytes_;
  size_t bytes_ = 0, evictions_ = 0;
  std::list<Entry> order_; // most recently used first
  std::unordered_map<const Key *, Iterator, KeyPtrHash, KeyPtrEqual> index_;
};

} // namespace sieve::runtime

#endif
