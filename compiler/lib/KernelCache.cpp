//===- KernelCache.cpp ----------------------------------------------------===//
#include "sieve/compiler/KernelCache.h"

#include "sieve/compiler/Compiler.h"

#include <fmt/format.h>

#include <cstdlib>

namespace sieve::compiler {

namespace {

// Key-table bounds: an entry is about the size of the mask's bits (64 KiB
// for 32 heads of 128x128 blocks), and it outlives the memory tier's
// artifact usefully, since it lets a disk hit skip MLIR.
constexpr size_t kMaxKeys = 1024;
constexpr size_t kMaxKeyBytes = size_t(64) << 20;

std::string envOr(const char *name, const std::string &fallback = "") {
  const char *value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

/// Every field of the spec, exactly, in one string: two specs with equal
/// identities compile to the same artifact. A field added to KernelSpec must
/// be added here.
std::string specIdentity(const KernelSpec &spec) {
  const runtime::ProblemShape &s = spec.shape;
  const runtime::BlockMask &m = spec.mask;
  const KernelOptions &o = spec.options;
  std::string id = fmt::format(
      "{} {} {} {} {} {} {}|{}|causal={}|calibrate={}|thresholds={}|save_lse={}|"
      "backward={}|scale={}|{}|mask {}x{}x{} tiles {}x{}|",
      s.batch, s.headsQ, s.headsKv, s.seqQ, s.seqK, s.headDim, runtime::dtypeName(s.dtype),
      spec.target.str(), spec.causal, spec.calibrate, spec.thresholds, spec.saveLse, spec.backward,
      spec.scale ? fmt::format("{}", *spec.scale) : "default", o.str(), m.heads(), m.queryBlocks(),
      m.keyBlocks(), m.blockQ(), m.blockK());
  // The generic kernel is one artifact for every mask of its geometry.
  if (o.variant != "generic") {
    const std::vector<uint8_t> &bits = m.packedBits();
    id.append(reinterpret_cast<const char *>(bits.data()), bits.size());
  }
  return id;
}

} // namespace

KernelCacheOptions KernelCacheOptions::fromEnvironment() {
  KernelCacheOptions options;
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
    : compile_(options.compile ? std::move(options.compile) : CompileFunction(compiler::compile)),
      artifacts_(runtime::ArtifactCacheOptions{std::move(options.directory), options.maxEntries,
                                               options.maxBytes, std::move(options.warn)}),
      keys_(kMaxKeys, kMaxKeyBytes) {}

std::shared_ptr<KernelCache> KernelCache::shared() {
  static std::shared_ptr<KernelCache> cache =
      std::make_shared<KernelCache>(KernelCacheOptions::fromEnvironment());
  return cache;
}

Expected<std::shared_ptr<const runtime::Artifact>> KernelCache::get(const KernelSpec &spec,
                                                                    runtime::CacheSource *source) {
  std::string identity = specIdentity(spec);
  std::string key;
  {
    std::lock_guard<std::mutex> lock(keysMutex_);
    if (const std::string *known = keys_.get(identity))
      key = *known;
  }
  if (key.empty()) {
    // Validates the spec too: a spec that fails never enters the table.
    auto computed = cacheKey(spec);
    if (!computed)
      return computed.error();
    key = std::move(*computed);
    size_t bytes = identity.size() + key.size();
    std::lock_guard<std::mutex> lock(keysMutex_);
    keys_.put(std::move(identity), key, bytes);
  }
  return artifacts_.get(
      key, [&]() { return compile_(spec); }, source);
}

} // namespace sieve::compiler
