//===- AtomicFile.cpp -----------------------------------------------------===//
#include "sieve/runtime/AtomicFile.h"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <random>
#include <unistd.h>

namespace sieve::runtime {

namespace {

/// Unique among the threads and processes (on any host) writing one folder,
/// so two writers of the same path never share a temporary file. The pid
/// comes first: removeOrphanedTemporaries() reads it back.
std::string temporarySuffix() {
  static const unsigned nonce = std::random_device{}();
  static std::atomic<unsigned long long> counter{0};
  return fmt::format("{}.{:08x}.{}", ::getpid(), nonce, counter.fetch_add(1));
}

std::string dirName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

//===----------------------------------------------------------------------===//
// The temporaries of writes in progress, as a signal handler can read them:
// fixed slots, no allocation, no lock. Each slot is a sequence lock: its
// version is odd while its path changes, and the handler uses a path only
// if the version was even and unchanged around its copy. A path is recorded
// before its file is created and forgotten after the file is renamed or
// removed, so the handler never misses a temporary that exists, and a
// change it skips concerns a file that does not.
//===----------------------------------------------------------------------===//

constexpr int kSlots = 64;
constexpr size_t kMaxPath = 4096;

struct Slot {
  std::atomic<bool> claimed{false};
  std::atomic<unsigned> version{0};
  std::atomic<bool> live{false};
  std::atomic<char> path[kMaxPath];
};
Slot slots[kSlots];

/// The slot recording `path`, or -1 when all are taken or the path is too
/// long (that temporary is then left to the next write's cleanup).
int recordTemporary(const std::string &path) {
  if (path.size() >= kMaxPath)
    return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!slots[i].claimed.compare_exchange_strong(expected, true))
      continue;
    Slot &s = slots[i];
    s.version.fetch_add(1); // odd: changing
    for (size_t c = 0; c <= path.size(); ++c)
      s.path[c].store(c < path.size() ? path[c] : '\0', std::memory_order_relaxed);
    s.live.store(true, std::memory_order_relaxed);
    s.version.fetch_add(1); // even: stable
    return i;
  }
  return -1;
}

void forgetTemporary(int slot) {
  if (slot < 0)
    return;
  Slot &s = slots[slot];
  s.version.fetch_add(1);
  s.live.store(false, std::memory_order_relaxed);
  s.version.fetch_add(1);
  s.claimed.store(false);
}

/// Async-signal-safe: atomics (lock-free on every platform sieve builds
/// for) and unlink.
void removeRecordedTemporaries() {
  char path[kMaxPath];
  for (Slot &s : slots) {
    unsigned before = s.version.load(std::memory_order_acquire);
    if (before % 2 != 0 || !s.live.load(std::memory_order_relaxed))
      continue;
    size_t n = 0;
    while (n + 1 < kMaxPath && (path[n] = s.path[n].load(std::memory_order_relaxed)) != '\0')
      ++n;
    path[n] = '\0';
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.version.load(std::memory_order_relaxed) == before)
      ::unlink(path);
  }
}

constexpr int kHookedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
struct sigaction previousActions[sizeof(kHookedSignals) / sizeof(int)];

void onSignal(int signal) {
  int savedErrno = errno;
  removeRecordedTemporaries();
  // Then the signal's previous course: restored, and raised again; it is
  // delivered when this handler returns (it is blocked while it runs).
  for (size_t i = 0; i < sizeof(kHookedSignals) / sizeof(int); ++i)
    if (kHookedSignals[i] == signal)
      ::sigaction(signal, &previousActions[i], nullptr);
  ::raise(signal);
  errno = savedErrno;
}

} // namespace

Expected<AtomicFile> AtomicFile::create(const std::string &path, Orphans orphans) {
  if (orphans == Orphans::Remove)
    removeOrphanedTemporaries(path);
  std::string temporary = path + ".tmp." + temporarySuffix();
  int slot = recordTemporary(temporary);
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    int err = errno;
    forgetTemporary(slot);
    return Error(ErrorCode::Io,
                 fmt::format("cannot create '{}': {}", temporary, std::strerror(err)));
  }
  return AtomicFile(path, std::move(temporary), fd, slot);
}

AtomicFile::AtomicFile(AtomicFile &&other) noexcept
    : path_(std::move(other.path_)), temporary_(std::move(other.temporary_)), fd_(other.fd_),
      slot_(other.slot_) {
  other.fd_ = -1;
  other.slot_ = -1;
  other.temporary_.clear();
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!temporary_.empty())
    ::unlink(temporary_.c_str());
  forgetTemporary(slot_);
  fd_ = -1;
  slot_ = -1;
  temporary_.clear();
}

Error AtomicFile::write(const void *data, size_t size) {
  if (fd_ < 0)
    return Error(ErrorCode::Internal, "write to a file already committed or discarded");
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      Error e(ErrorCode::Io,
              fmt::format("cannot write '{}': {}", temporary_, std::strerror(errno)));
      discard();
      return e;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Error::success();
}

Error AtomicFile::commit() {
  if (fd_ < 0)
    return Error(ErrorCode::Internal, "commit of a file already committed or discarded");
  if (::close(fd_) != 0) { // a full disk may show only here (NFS)
    fd_ = -1;
    Error e(ErrorCode::Io, fmt::format("cannot write '{}': {}", temporary_, std::strerror(errno)));
    discard();
    return e;
  }
  fd_ = -1;
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    Error e(ErrorCode::Io,
            fmt::format("cannot rename '{}' to '{}': {}", temporary_, path_, std::strerror(errno)));
    discard();
    return e;
  }
  temporary_.clear(); // it is the path now
  forgetTemporary(slot_);
  slot_ = -1;
  return Error::success();
}

Error writeFileAtomically(const std::string &path, const std::string &contents, Orphans orphans) {
  auto file = AtomicFile::create(path, orphans);
  if (!file)
    return file.error();
  if (Error e = file->write(contents.data(), contents.size()))
    return e;
  return file->commit();
}

void removeOrphanedTemporaries(const std::string &path) {
  const std::string folder = dirName(path), prefix = baseName(path) + ".tmp.";
  DIR *dir = ::opendir(folder.c_str());
  if (!dir)
    return;
  while (const dirent *entry = ::readdir(dir)) {
    const char *name = entry->d_name;
    if (std::strncmp(name, prefix.c_str(), prefix.size()) != 0)
      continue;
    char *end = nullptr;
    long pid = std::strtol(name + prefix.size(), &end, 10);
    if (end == name + prefix.size() || *end != '.' || pid <= 0 || pid == ::getpid())
      continue;
    // ESRCH: no such process. EPERM means one runs (another user's): keep.
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      ::unlink((folder + "/" + name).c_str()); // best effort: another writer may win
  }
  ::closedir(dir);
}

void removeTemporariesOnSignals() {
  static bool installed = [] {
    for (size_t i = 0; i < sizeof(kHookedSignals) / sizeof(int); ++i) {
      struct sigaction action {};
      action.sa_handler = onSignal;
      sigemptyset(&action.sa_mask);
      ::sigaction(kHookedSignals[i], nullptr, &previousActions[i]);
      // An ignored signal stays ignored (nohup's SIGHUP).
      if (previousActions[i].sa_handler == SIG_IGN)
        continue;
      ::sigaction(kHookedSignals[i], &action, nullptr);
    }
    return true;
  }();
  (void)installed;
}

} // namespace sieve::runtime
