//===- DiskCache.h - artifacts in a folder shared by processes --*- C++ -*-===//
//
// One file per key under `<root>/<format>/`, where the format folder names
// the entry and artifact versions, so builds that read different formats
// never see each other's entries. Writers write a temporary file in the
// same folder and rename it over the entry: readers see the old entry, the
// new one, or none, never half of one (also when a writer is killed: its
// temporary is never renamed, and a later open() removes it). Readers verify the checksum anyway,
// because a crash or a full disk can still leave a damaged file behind.
// Holds no state but the folder's name and its bound: any number of
// threads and processes may use one folder at once.
//
// The folder is bounded by total bytes: after each write the least recently
// used entries go until the rest fit (kDefaultMaxBytes unless the caller
// says otherwise; SIEVE_CACHE_MAX_BYTES for KernelCache). An entry's last
// use is its modification time, which a read refreshes; two processes
// evicting at once may remove a little more than needed, never a wrong
// entry, and a reader whose entry vanished recompiles it.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_DISKCACHE_H
#define SIEVE_RUNTIME_DISKCACHE_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sieve::runtime {

/// One entry as the folder shows it, without reading the file.
struct DiskCacheEntry {
  std::string key, path;
  uint64_t bytes = 0;
  /// The last write or read (the file's modification time).
  std::filesystem::file_time_type lastUsed;
};

/// What a folder holds: its entries' count and bytes.
struct DiskCacheUsage {
  size_t entries = 0;
  uint64_t bytes = 0;
};

/// "2G", "512M", "64K", "1048576" (bytes; K, M, G, T are powers of 1024,
/// an optional "B" or "iB" may follow): SIEVE_CACHE_MAX_BYTES's syntax.
Expected<uint64_t> parseByteSize(const std::string &text);
/// "1.0 GiB", "512.0 MiB", "900 B".
std::string formatBytes(uint64_t bytes);

class DiskCache {
public:
  /// Temporary files older than this are a dead writer's and open()
  /// removes them.
  static constexpr std::chrono::minutes kStaleTemporaryAge{10};
  /// The bound on the entries' total size unless one is given.
  static constexpr uint64_t kDefaultMaxBytes = uint64_t(1) << 30;

  /// Creates the folder if needed and checks that a file can be created in
  /// it (fails with ErrorCode::Io saying why not), and removes the stale
  /// temporaries of writers that were killed mid-write.
  static Expected<DiskCache> open(const std::string &root, uint64_t maxBytes = kDefaultMaxBytes);

  /// The format folder under `root` this build reads and writes.
  static std::string formatFolder(const std::string &root);
  /// The format folders under `root` of other builds (older entry or
  /// artifact versions), which this build never reads.
  static std::vector<std::string> otherFormatFolders(const std::string &root);
  /// The entries of a format folder, most recently used first (none when
  /// it does not exist). Reads directory entries only.
  static std::vector<DiskCacheEntry> entriesIn(const std::string &directory);
  /// Removes every entry and temporary file of every format under `root`
  /// (only sieve's files: `root` may be any folder a user named), and the
  /// format folders once empty. Returns what was removed.
  static DiskCacheUsage clearAll(const std::string &root);

  uint64_t maxBytes() const { return maxBytes_; }
  /// Removes least recently used entries, never `keep`, until the entries
  /// take at most maxBytes(); returns how many it removed.
  size_t evict(const std::string &keep = "") const;

  /// The folder entries live in (root plus the format folder).
  const std::string &directory() const { return directory_; }
  std::string pathOf(const std::string &key) const;

  /// The entry for `key`, marked as just used; nullopt when there is none.
  /// A damaged entry is an ErrorCode::CorruptArtifact error (the caller
  /// reports and removes it); a file that exists but cannot be read is
  /// ErrorCode::Io.
  Expected<std::optional<Artifact>> load(const std::string &key) const;
  /// Publishes `artifact` under its cacheKey, replacing any entry there,
  /// then evicts down to the bound.
  Error store(const Artifact &artifact) const;
  /// Removes the entry, if any. Another process may have just replaced a
  /// damaged entry with a good one; removing that costs one rebuild, never
  /// a wrong result.
  void remove(const std::string &key) const;

private:
  DiskCache(std::string directory, uint64_t maxBytes)
      : directory_(std::move(directory)), maxBytes_(maxBytes) {}
  std::string directory_;
  uint64_t maxBytes_;
};

} // namespace sieve::runtime

#endif
