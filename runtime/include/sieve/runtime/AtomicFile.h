//===- AtomicFile.h - files written whole, and their temporaries -*- C++ -*-===//
//
// Every file sieve writes (masks, stats, artifacts, cache entries) goes to a
// temporary beside it, `<path>.tmp.<pid>.<nonce>.<n>`, renamed over the
// path when complete: a reader sees the old file or the new one, never half
// of one. A temporary must not outlive its write, so one is removed
//   - when the write fails or is abandoned (the object is destroyed),
//   - when the process is stopped by SIGINT, SIGTERM, SIGHUP or SIGQUIT,
//     once the program called removeTemporariesOnSignals() (the sieve CLI
//     does; a library never installs signal handlers of its own),
//   - and otherwise (SIGKILL, a crash, a power cut) by the next write of the
//     same path, from any process, once the writer named in it is dead.
// The kernel cache's folder, which machines may share, keeps its own rule
// instead of the last (DiskCache removes temporaries by age).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_ATOMICFILE_H
#define SIEVE_RUNTIME_ATOMICFILE_H

#include "sieve/Error.h"

#include <cstddef>
#include <string>

namespace sieve::runtime {

/// Whether opening a write first removes the temporaries that dead writers
/// left for the same path (pids are this host's: not for shared folders).
enum class Orphans { Remove, Keep };

class AtomicFile {
public:
  /// Creates the temporary for `path` (an Io error names it and why).
  static Expected<AtomicFile> create(const std::string &path, Orphans orphans = Orphans::Remove);
  AtomicFile(AtomicFile &&other) noexcept;
  AtomicFile &operator=(AtomicFile &&) = delete;
  AtomicFile(const AtomicFile &) = delete;
  /// Removes the temporary unless commit() succeeded.
  ~AtomicFile();

  Error write(const void *data, size_t size);
  /// Flushes the temporary and renames it over the path.
  Error commit();

  const std::string &temporaryPath() const { return temporary_; }

private:
  AtomicFile(std::string path, std::string temporary, int fd, int slot)
      : path_(std::move(path)), temporary_(std::move(temporary)), fd_(fd), slot_(slot) {}
  void discard();

  std::string path_, temporary_;
  int fd_ = -1;
  int slot_ = -1; // the signal handler's record of the temporary; -1: none
};

/// Writes `contents` to `path` through an AtomicFile.
Error writeFileAtomically(const std::string &path, const std::string &contents,
                          Orphans orphans = Orphans::Remove);

/// Removes the temporaries that writers of `path` which are no longer
/// running left behind (a writer's pid is in its temporary's name).
void removeOrphanedTemporaries(const std::string &path);

/// Hooks SIGINT, SIGTERM, SIGHUP and SIGQUIT: the temporaries of writes in
/// progress are removed, then the signal takes its previous course (the
/// process dies of it, as without the hook). Idempotent.
void removeTemporariesOnSignals();

} // namespace sieve::runtime

#endif
