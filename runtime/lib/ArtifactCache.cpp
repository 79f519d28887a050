//===- ArtifactCache.cpp --------------------------------------------------===//
#include "sieve/runtime/ArtifactCache.h"

#include "sieve/runtime/CacheEntry.h"

namespace sieve::runtime {

const char *cacheSourceName(CacheSource source) {
  switch (source) {
  case CacheSource::Memory:
    return "memory";
  case CacheSource::Disk:
    return "disk";
  case CacheSource::Produced:
    return "compiled";
  }
  return "?";
}

namespace {

/// What an artifact costs the memory tier: its code, plus a rough allowance
/// for the metadata so that tiny artifacts are not free.
size_t footprint(const Artifact &a) {
  size_t params = 0;
  for (const KernelLaunch &l : a.launches)
    params += l.params.size();
  return a.code.size() + a.config.size() + params * sizeof(ParamSlot) + 512;
}

} // namespace

ArtifactCache::ArtifactCache(ArtifactCacheOptions options)
    : warn_(options.warn ? std::move(options.warn) : WarningHandler(warnOnStderr)),
      memory_(options.maxEntries, options.maxBytes) {
  if (options.directory.empty())
    return;
  auto disk = DiskCache::open(options.directory, options.maxDiskBytes);
  if (!disk) {
    warn_("cache folder '" + options.directory + "' cannot be used (" + disk.error().message() +
          "); caching kernels in memory only");
    return;
  }
  disk_.emplace(std::move(*disk));
  diskWritable_ = true;
}

void ArtifactCache::warnOnce(const std::string &topic, const std::string &message) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!warned_.insert(topic).second)
      return;
  }
  warn_(message); // outside the lock: a handler may take its own locks
}

std::optional<Artifact> ArtifactCache::readDisk(const std::string &key) {
  if (!disk_)
    return std::nullopt;
  auto loaded = disk_->load(key);
  if (loaded)
    return std::move(*loaded);
  if (loaded.error().code() == ErrorCode::CorruptArtifact) {
    // Never returned: reported once, removed so the rebuilt entry replaces
    // it, and treated as a miss.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.corruptEntries;
    }
    warnOnce("corrupt:" + key, loaded.error().message() + "; removing it and recompiling");
    disk_->remove(key);
  } else {
    warnOnce("unreadable:" + key, loaded.error().message() + "; recompiling");
  }
  return std::nullopt;
}

void ArtifactCache::writeDisk(const Artifact &artifact) {
  if (!disk_ || !diskWritable_)
    return;
  if (Error e = disk_->store(artifact)) {
    // A folder that stops taking writes (full, remounted read-only) would
    // fail every later write too: stop trying, say so once.
    diskWritable_ = false;
    warnOnce("unwritable", "cannot write to the kernel cache folder '" + disk_->directory() +
                               "' (" + e.message() + "); new kernels are cached in memory only");
  }
}

ArtifactCache::Outcome ArtifactCache::fetch(const std::string &key, const Producer *produce) {
  if (std::optional<Artifact> cached = readDisk(key))
    return {std::make_shared<const Artifact>(std::move(*cached)), CacheSource::Disk};
  if (!produce)
    return {ArtifactPtr(), CacheSource::Produced};
  Expected<Artifact> made = Error(ErrorCode::Internal, "the kernel producer did not return");
  // Waiters block on this flight: an exception must still end it.
  try {
    made = (*produce)();
  } catch (const std::exception &e) {
    made = Error(ErrorCode::Internal, std::string("compiling threw: ") + e.what());
  } catch (...) {
    made = Error(ErrorCode::Internal, "compiling threw");
  }
  if (!made)
    return {made.error(), CacheSource::Produced};
  if (made->cacheKey.empty())
    made->cacheKey = key;
  if (made->cacheKey != key)
    return {Error(ErrorCode::Internal,
                  "compiled an artifact with key " + made->cacheKey + " for key " + key),
            CacheSource::Produced};
  writeDisk(*made);
  return {std::make_shared<const Artifact>(std::move(*made)), CacheSource::Produced};
}

Expected<ArtifactCache::ArtifactPtr>
ArtifactCache::get(const std::string &key, const Producer &produce, CacheSource *source) {
  return lookup(key, &produce, source);
}

Expected<ArtifactCache::ArtifactPtr> ArtifactCache::find(const std::string &key,
                                                         CacheSource *source) {
  return lookup(key, nullptr, source);
}

Expected<ArtifactCache::ArtifactPtr>
ArtifactCache::lookup(const std::string &key, const Producer *produce, CacheSource *source) {
  if (!isValidCacheKey(key))
    return Error(ErrorCode::InvalidArgument, "'" + key + "' is not a cache key");
  std::promise<Outcome> promise;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (ArtifactPtr *hit = memory_.get(key)) {
      ++stats_.memoryHits;
      if (source)
        *source = CacheSource::Memory;
      return *hit;
    }
    auto flight = inFlight_.find(key);
    if (flight != inFlight_.end()) {
      // Someone is already reading or compiling this key: wait for it.
      std::shared_future<Outcome> pending = flight->second;
      lock.unlock();
      const Outcome &outcome = pending.get();
      if (outcome.artifact && *outcome.artifact) {
        if (source)
          *source = outcome.source;
        return outcome.artifact;
      }
      if (!outcome.artifact)
        return outcome.artifact.error();
      // A find() flight that missed: a producer must still produce.
      if (produce)
        return lookup(key, produce, source);
      return ArtifactPtr();
    }
    inFlight_.emplace(key, promise.get_future().share());
  }

  Outcome outcome = fetch(key, produce);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (outcome.artifact && *outcome.artifact) {
      const ArtifactPtr &artifact = *outcome.artifact;
      (outcome.source == CacheSource::Disk ? stats_.diskHits : stats_.produced) += 1;
      memory_.put(key, artifact, footprint(*artifact));
    }
    inFlight_.erase(key);
  }
  if (source && outcome.artifact && *outcome.artifact)
    *source = outcome.source;
  Expected<ArtifactPtr> result = outcome.artifact;
  promise.set_value(std::move(outcome));
  // What the compiler warned of (the scalar body where tensor cores were
  // expected), whenever this process first takes the kernel from the
  // compiler or the folder: a kernel cached by an earlier run still says
  // why it is slow.
  if (result && *result)
    for (const std::string &warning : (*result)->warnings)
      warnOnce("kernel:" + key + ":" + warning, warning);
  return result;
}

ArtifactCache::Stats ArtifactCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats s = stats_;
  s.evictions = memory_.evictions();
  s.memoryEntries = memory_.size();
  s.memoryBytes = memory_.bytes();
  return s;
}

} // namespace sieve::runtime
