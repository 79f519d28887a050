//===- ArtifactCache.h - memory, then disk, then produce --------*- C++ -*-===//
//
// The kernel cache below the compiler: artifacts by cache key, looked up in
// a bounded in-memory LRU, then in a folder shared with other processes,
// and only then produced (compiled) by a function the caller passes. It
// needs no MLIR: a runtime that only loads kernels reads, by key, what
// `sieve compile` or another process wrote.
//
// Thread-safe. Concurrent requests for one key that is in neither tier
// produce it once: the first caller produces, the others wait for its
// result, and a failure reaches all of them without being cached.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_ARTIFACTCACHE_H
#define SIEVE_RUNTIME_ARTIFACTCACHE_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/DiskCache.h"
#include "sieve/runtime/LruCache.h"
#include "sieve/runtime/Warning.h"

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace sieve::runtime {

struct ArtifactCacheOptions {
  /// The disk tier's folder; empty for memory only.
  std::string directory;
  /// Bounds of the memory tier; the least recently used entry goes first.
  size_t maxEntries = 64;
  size_t maxBytes = size_t(256) << 20;
  /// Where damaged entries, an unusable folder and the warnings of the
  /// kernels it hands out (Artifact::warnings, when a kernel first comes
  /// from the compiler or the folder) are reported, each once; null prints
  /// on stderr.
  WarningHandler warn;
  /// The disk tier's bound on its entries' total size (least recently used
  /// go first).
  uint64_t maxDiskBytes = DiskCache::kDefaultMaxBytes;
};

/// Where a request was answered from.
enum class CacheSource { Memory, Disk, Produced };
const char *cacheSourceName(CacheSource source);

class ArtifactCache {
public:
  using ArtifactPtr = std::shared_ptr<const Artifact>;
  using Producer = std::function<Expected<Artifact>()>;

  /// Opens the folder, if one is given; when it cannot be created or
  /// written, warns once and caches in memory only.
  explicit ArtifactCache(ArtifactCacheOptions options);

  /// The artifact for `key`: from memory, else from disk, else from
  /// `produce` (whose artifact must have `key` as its cacheKey, or none,
  /// which is then set). Produced artifacts are written to disk.
  Expected<ArtifactPtr> get(const std::string &key, const Producer &produce,
                            CacheSource *source = nullptr);
  /// Like get() but never produces: null when neither tier has the key.
  Expected<ArtifactPtr> find(const std::string &key, CacheSource *source = nullptr);

  /// Whether entries are read from and written to a folder.
  bool hasDisk() const { return disk_.has_value(); }
  /// The folder entries are in; empty when memory only.
  std::string directory() const { return disk_ ? disk_->directory() : std::string(); }
  /// The folder's bound on its entries' total size; 0 when memory only.
  uint64_t maxDiskBytes() const { return disk_ ? disk_->maxBytes() : 0; }

  struct Stats {
    size_t memoryHits = 0, diskHits = 0, produced = 0, corruptEntries = 0, evictions = 0;
    size_t memoryEntries = 0, memoryBytes = 0;
  };
  Stats stats() const;

private:
  struct Outcome {
    Expected<ArtifactPtr> artifact;
    CacheSource source;
  };
  Expected<ArtifactPtr> lookup(const std::string &key, const Producer *produce,
                               CacheSource *source);
  /// The work of one flight, outside the lock: disk, then produce.
  Outcome fetch(const std::string &key, const Producer *produce);
  std::optional<Artifact> readDisk(const std::string &key);
  void writeDisk(const Artifact &artifact);
  void warnOnce(const std::string &topic, const std::string &message);

  WarningHandler warn_;
  std::optional<DiskCache> disk_;
  std::atomic<bool> diskWritable_{false};

  mutable std::mutex mutex_;
  LruCache<std::string, ArtifactPtr> memory_;
  std::unordered_map<std::string, std::shared_future<Outcome>> inFlight_;
  std::unordered_set<std::string> warned_;
  Stats stats_;
};

} // namespace sieve::runtime

#endif
