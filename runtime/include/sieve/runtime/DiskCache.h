//===- DiskCache.h - artifacts in a folder shared by processes --*- C++ -*-===//
//
// One file per key under `<root>/<format>/`, where the format folder names
// the entry and artifact versions, so builds that read different formats
// never see each other's entries. Writers write a temporary file in the
// same folder and rename it over the entry: readers see the old entry, the
// new one, or none, never half of one (also when a writer is killed: its
// temporary is never renamed, and a later open() removes it). Readers verify the checksum anyway,
// because a crash or a full disk can still leave a damaged file behind.
// Holds no state but the folder's name: any number of threads and
// processes may use one folder at once.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_DISKCACHE_H
#define SIEVE_RUNTIME_DISKCACHE_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"

#include <chrono>
#include <optional>
#include <string>

namespace sieve::runtime {

class DiskCache {
public:
  /// Temporary files older than this are a dead writer's and open()
  /// removes them.
  static constexpr std::chrono::minutes kStaleTemporaryAge{10};

  /// Creates the folder if needed and checks that a file can be created in
  /// it (fails with ErrorCode::Io saying why not), and removes the stale
  /// temporaries of writers that were killed mid-write.
  static Expected<DiskCache> open(const std::string &root);

  /// The folder entries live in (root plus the format folder).
  const std::string &directory() const { return directory_; }
  std::string pathOf(const std::string &key) const;

  /// The entry for `key`; nullopt when there is none. A damaged entry is
  /// an ErrorCode::CorruptArtifact error (the caller reports and removes
  /// it); a file that exists but cannot be read is ErrorCode::Io.
  Expected<std::optional<Artifact>> load(const std::string &key) const;
  /// Publishes `artifact` under its cacheKey, replacing any entry there.
  Error store(const Artifact &artifact) const;
  /// Removes the entry, if any. Another process may have just replaced a
  /// damaged entry with a good one; removing that costs one rebuild, never
  /// a wrong result.
  void remove(const std::string &key) const;

private:
  explicit DiskCache(std::string directory) : directory_(std::move(directory)) {}
  std::string directory_;
};

} // namespace sieve::runtime

#endif
