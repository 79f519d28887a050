//===- DiskCache.cpp ------------------------------------------------------===//
#include "sieve/runtime/DiskCache.h"

#include "sieve/runtime/CacheEntry.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace sieve::runtime {

namespace fs = std::filesystem;

namespace {

std::string formatFolder() {
  return fmt::format("entries-v{}-artifact-v{}", kCacheEntryVersion, Artifact::kVersion);
}

/// Reads a whole file with one sized buffer: entries are megabytes of PTX
/// and a disk hit should cost little more than the copy.
Expected<std::optional<std::string>> readWhole(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No entry, or no folder any more (it was removed or replaced).
    if (errno == ENOENT || errno == ENOTDIR)
      return std::optional<std::string>();
    return Error(ErrorCode::Io, fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  }
  struct stat st;
  std::string bytes;
  if (::fstat(fd, &st) == 0 && st.st_size > 0)
    bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (true) {
    if (done == bytes.size())
      bytes.resize(bytes.size() + 4096); // the file grew or had no size
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Error(ErrorCode::Io, fmt::format("cannot read '{}': {}", path, std::strerror(err)));
    }
    if (n == 0)
      break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  return std::optional<std::string>(std::move(bytes));
}

/// Removes the temporary files of writers that died before their rename (a
/// killed process leaves one behind; nobody else ever renames it). Only old
/// ones: a live writer's temporary is seconds old at most, and another
/// process may be writing into this folder right now.
void removeStaleTemporaries(const std::string &dir) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find(".tmp.") == std::string::npos)
      continue;
    std::error_code statError;
    auto written = fs::last_write_time(it->path(), statError);
    if (!statError && now - written > DiskCache::kStaleTemporaryAge)
      fs::remove(it->path(), statError); // best effort: another opener may win
  }
}

} // namespace

Expected<DiskCache> DiskCache::open(const std::string &root) {
  if (root.empty())
    return Error(ErrorCode::InvalidArgument, "no cache folder given");
  std::string dir = (fs::path(root) / formatFolder()).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Error(ErrorCode::Io, fmt::format("cannot create '{}': {}", dir, ec.message()));
  // Probe by writing: permission bits do not tell (root ignores them, a
  // read-only mount does not show in them).
  if (Error e = writeFileAtomically(dir + "/.probe", "", Orphans::Keep))
    return e;
  ::unlink((dir + "/.probe").c_str());
  removeStaleTemporaries(dir);
  return DiskCache(dir);
}

std::string DiskCache::pathOf(const std::string &key) const {
  return directory_ + "/" + key + ".entry";
}

Expected<std::optional<Artifact>> DiskCache::load(const std::string &key) const {
  if (!isValidCacheKey(key))
    return Error(ErrorCode::InvalidArgument, "'" + key + "' is not a cache key");
  std::string path = pathOf(key);
  auto bytes = readWhole(path);
  if (!bytes)
    return bytes.error();
  if (!*bytes)
    return std::optional<Artifact>();
  auto artifact = decodeCacheEntry(**bytes, key);
  if (!artifact)
    return artifact.error().withContext(path);
  return std::optional<Artifact>(std::move(*artifact));
}

Error DiskCache::store(const Artifact &artifact) const {
  if (!isValidCacheKey(artifact.cacheKey))
    return Error(ErrorCode::InvalidArgument,
                 "'" + artifact.cacheKey + "' is not a cache key: the artifact cannot be stored");
  // Orphans::Keep: the folder may be shared with other hosts, whose pids
  // mean nothing here; removeStaleTemporaries() goes by age instead.
  return writeFileAtomically(pathOf(artifact.cacheKey), encodeCacheEntry(artifact), Orphans::Keep);
}

void DiskCache::remove(const std::string &key) const {
  if (isValidCacheKey(key))
    ::unlink(pathOf(key).c_str());
}

} // namespace sieve::runtime
