//===- DiskCache.cpp ------------------------------------------------------===//
#include "sieve/runtime/DiskCache.h"

#include "sieve/runtime/CacheEntry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace sieve::runtime {

namespace fs = std::filesystem;

namespace {

std::string formatName() {
  return fmt::format("entries-v{}-artifact-v{}", kCacheEntryVersion, Artifact::kVersion);
}

/// "entries-v<n>-artifact-v<m>", of any version.
bool isFormatName(const std::string &name) {
  unsigned entry = 0, artifact = 0;
  char tail = 0;
  return std::sscanf(name.c_str(), "entries-v%u-artifact-v%u%c", &entry, &artifact, &tail) == 2;
}

constexpr const char *kEntrySuffix = ".entry";

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
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

Expected<uint64_t> parseByteSize(const std::string &text) {
  auto bad = [&] {
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("'{}' is not a size in bytes (a number, optionally with K, M, G or "
                             "T: 512M, 2G)",
                             text));
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0 || digits > 19)
    return bad();
  uint64_t value = std::stoull(text.substr(0, digits));
  std::string unit = text.substr(digits);
  for (const char *suffix : {"iB", "B"})
    if (unit.size() > 1 && endsWith(unit, suffix)) {
      unit.resize(unit.size() - std::strlen(suffix));
      break;
    }
  int shift = 0;
  if (unit == "K" || unit == "k")
    shift = 10;
  else if (unit == "M" || unit == "m")
    shift = 20;
  else if (unit == "G" || unit == "g")
    shift = 30;
  else if (unit == "T" || unit == "t")
    shift = 40;
  else if (!unit.empty() && unit != "B")
    return bad();
  if (shift > 0 && value > (UINT64_MAX >> shift))
    return bad();
  return value << shift;
}

std::string formatBytes(uint64_t bytes) {
  const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024)
    return fmt::format("{} B", bytes);
  double value = double(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

Expected<DiskCache> DiskCache::open(const std::string &root, uint64_t maxBytes) {
  if (root.empty())
    return Error(ErrorCode::InvalidArgument, "no cache folder given");
  if (maxBytes == 0)
    return Error(ErrorCode::InvalidArgument, "the cache folder's bound must be above 0 bytes");
  std::string dir = formatFolder(root);
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
  return DiskCache(dir, maxBytes);
}

std::string DiskCache::formatFolder(const std::string &root) {
  return (fs::path(root) / formatName()).string();
}

std::vector<std::string> DiskCache::otherFormatFolders(const std::string &root) {
  std::vector<std::string> found;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (isFormatName(name) && name != formatName() && it->is_directory(ec))
      found.push_back(it->path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<DiskCacheEntry> DiskCache::entriesIn(const std::string &directory) {
  std::vector<DiskCacheEntry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!endsWith(name, kEntrySuffix))
      continue;
    std::string key = name.substr(0, name.size() - std::strlen(kEntrySuffix));
    if (!isValidCacheKey(key))
      continue;
    std::error_code statError;
    DiskCacheEntry e;
    e.bytes = it->file_size(statError);
    if (!statError)
      e.lastUsed = it->last_write_time(statError);
    if (statError) // removed meanwhile (evicted by another process)
      continue;
    e.key = std::move(key);
    e.path = it->path().string();
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const DiskCacheEntry &a, const DiskCacheEntry &b) {
    return a.lastUsed > b.lastUsed;
  });
  return entries;
}

DiskCacheUsage DiskCache::clearAll(const std::string &root) {
  DiskCacheUsage removed;
  std::vector<std::string> folders = otherFormatFolders(root);
  folders.push_back(formatFolder(root));
  for (const std::string &folder : folders) {
    std::error_code ec;
    std::vector<fs::path> doomed;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      // Only what sieve writes there: entries, their temporaries, the probe.
      if (endsWith(name, kEntrySuffix) || name.find(".tmp.") != std::string::npos ||
          name == ".probe")
        doomed.push_back(it->path());
    }
    for (const fs::path &path : doomed) {
      std::error_code statError;
      uint64_t bytes = fs::file_size(path, statError);
      if (fs::remove(path, ec) && endsWith(path.filename().string(), kEntrySuffix)) {
        ++removed.entries;
        removed.bytes += statError ? 0 : bytes;
      }
    }
    fs::remove(folder, ec); // only if empty: anything else there is not ours
  }
  return removed;
}

size_t DiskCache::evict(const std::string &keep) const {
  std::vector<DiskCacheEntry> entries = entriesIn(directory_);
  uint64_t total = 0;
  for (const DiskCacheEntry &e : entries)
    total += e.bytes;
  size_t removed = 0;
  // Least recently used first: from the back of the most-recent-first list.
  for (auto it = entries.rbegin(); it != entries.rend() && total > maxBytes_; ++it) {
    if (it->key == keep)
      continue;
    if (::unlink(it->path.c_str()) == 0)
      ++removed;
    total -= it->bytes; // gone either way: removed here or by another process
  }
  return removed;
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
  // Used now: eviction goes by last use. Best effort (a folder shared
  // read-only may refuse; the entry then ages as if unread).
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
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
  if (Error e =
          writeFileAtomically(pathOf(artifact.cacheKey), encodeCacheEntry(artifact), Orphans::Keep))
    return e;
  evict(artifact.cacheKey);
  return Error::success();
}

void DiskCache::remove(const std::string &key) const {
  if (isValidCacheKey(key))
    ::unlink(pathOf(key).c_str());
}

} // namespace sieve::runtime
