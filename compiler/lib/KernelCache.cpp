//===- KernelCache.cpp ----------------------------------------------------===//
#include "sieve/compiler/KernelCache.h"

#include "sieve/compiler/Compiler.h"

#include <fmt/format.h>

#include <cstdlib>

namespace sieve::compiler {

namespace {

// Key-table bounds: an entry is about the size of the mask's bits (64 KiB
// for 32 heads of 128x128 blocks), and it outlives the memory tier's
// artifact usefully, since it spares a disk hit hashing the mask again.
constexpr size_t kMaxKeys = 1024;
constexpr size_t kMaxKeyBytes = size_t(64) << 20;

std::string envOr(const char *name, const std::string &fallback = "") {
  const char *value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

} // namespace

KernelCacheOptions KernelCacheOptions::fromEnvironment() {
  KernelCacheOptions options;
  std::string bound = envOr("SIEVE_CACHE_MAX_BYTES");
  if (!bound.empty()) {
    auto bytes = runtime::parseByteSize(bound);
    if (bytes && *bytes > 0)
      options.maxDiskBytes = *bytes;
    else
      runtime::warnOnStderr(
          fmt::format("SIEVE_CACHE_MAX_BYTES: {}; the cache folder keeps its "
                      "default bound of {}",
                      bytes ? "'0' is no bound a cache can keep" : bytes.error().message(),
                      runtime::formatBytes(options.maxDiskBytes)));
  }
  std::string enabled = envOr("SIEVE_CACHE", "1");
  if (enabled == "0" || enabled == "off" || enabled == "false" || enabled == "no")
    return options;
  options.directory = envOr("SIEVE_CACHE_DIR");
  if (options.directory.empty()) {
    std::string xdg = envOr("XDG_CACHE_HOME");
    std::string home = envOr("HOME");
    if (!xdg.empty())
      options.directory = xdg + "/sieve";
    else if (!home.empty())
      options.directory = home + "/.cache/sieve";
  }
  return options;
}

KernelCache::KernelCache(KernelCacheOptions options)
    : compile_(options.compile ? std::move(options.compile)
                               : CompileFunction([](CheckedSpec spec) { return compile(spec); })),
      artifacts_(runtime::ArtifactCacheOptions{std::move(options.directory), options.maxEntries,
                                               options.maxBytes, std::move(options.warn),
                                               options.maxDiskBytes}),
      keys_(kMaxKeys, kMaxKeyBytes) {}

std::shared_ptr<KernelCache> KernelCache::shared() {
  static std::shared_ptr<KernelCache> cache =
      std::make_shared<KernelCache>(KernelCacheOptions::fromEnvironment());
  return cache;
}

Expected<std::shared_ptr<const runtime::Artifact>> KernelCache::get(const KernelSpec &spec,
                                                                    runtime::CacheSource *source) {
  auto checked = CheckedSpec::of(spec);
  if (!checked)
    return checked.error();
  std::string identity = specIdentity(*checked);
  std::string key;
  {
    std::lock_guard<std::mutex> lock(keysMutex_);
    if (const std::string *known = keys_.get(identity))
      key = *known;
  }
  if (key.empty()) {
    key = cacheKeyOfIdentity(identity);
    size_t bytes = identity.size() + key.size();
    std::lock_guard<std::mutex> lock(keysMutex_);
    keys_.put(std::move(identity), key, bytes);
  }
  return artifacts_.get(
      key, [&]() { return compile_(*checked); }, source);
}

} // namespace sieve::compiler
