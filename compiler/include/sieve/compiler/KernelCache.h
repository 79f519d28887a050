//===- KernelCache.h - compile a spec once, across processes ----*- C++ -*-===//
//
// The load-time JIT cache: a spec's artifact comes from memory, else from
// the cache folder (shared with other processes and with `sieve compile`),
// else from the compiler. Keys are compiler::cacheKey: a hash of the spec's
// canonical identity (mask bits included) and the compiler, computed
// without MLIR. Hashing a large mask's bits still costs more than a memory
// hit should, so specs seen before map to their key through an exact
// in-memory table. A spec is validated once, here, where it enters.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_COMPILER_KERNELCACHE_H
#define SIEVE_COMPILER_KERNELCACHE_H

#include "sieve/Error.h"
#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/KernelSpec.h"
#include "sieve/runtime/ArtifactCache.h"
#include "sieve/runtime/Checksum.h"
#include "sieve/runtime/LruCache.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace sieve::compiler {

/// Compiles a spec the cache has checked (compiler::compile by default).
using CompileFunction = std::function<Expected<runtime::Artifact>(CheckedSpec)>;

struct KernelCacheOptions {
  /// The cache folder; empty caches in memory only.
  std::string directory;
  /// The folder's bound on its entries' total size (1 GiB by default);
  /// the least recently used entries go first.
  uint64_t maxDiskBytes = runtime::DiskCache::kDefaultMaxBytes;
  /// Bounds of the in-memory tier.
  size_t maxEntries = 64;
  size_t maxBytes = size_t(256) << 20;
  /// Runs on a miss; compiler::compile when empty (tests count calls).
  CompileFunction compile;
  /// Reports damaged entries, an unusable folder and what the compiler
  /// warned of (Artifact::warnings: the scalar body where tensor cores were
  /// expected), each once; stderr when empty.
  runtime::WarningHandler warn;

  /// The folder is $SIEVE_CACHE_DIR, else $XDG_CACHE_HOME/sieve, else
  /// ~/.cache/sieve; SIEVE_CACHE=0 (or off, false, no) leaves it empty.
  /// SIEVE_CACHE_MAX_BYTES (runtime::parseByteSize: "2G", "512M") bounds
  /// it; a value that is not a size is reported on stderr and ignored.
  static KernelCacheOptions fromEnvironment();
};

class KernelCache {
public:
  explicit KernelCache(KernelCacheOptions options);

  /// One cache per process, configured from the environment on first use:
  /// what Session uses unless it is given another.
  static std::shared_ptr<KernelCache> shared();

  /// The artifact for `spec` (compiled for spec.target), and where it came
  /// from. Thread-safe; concurrent requests for one uncompiled spec compile
  /// it once, and a failed compile reaches every waiter and is not cached.
  Expected<std::shared_ptr<const runtime::Artifact>> get(const KernelSpec &spec,
                                                         runtime::CacheSource *source = nullptr);

  runtime::ArtifactCache &artifacts() { return artifacts_; }
  const runtime::ArtifactCache &artifacts() const { return artifacts_; }

private:
  CompileFunction compile_;
  runtime::ArtifactCache artifacts_;
  std::mutex keysMutex_;
  /// Spec identity (every field, mask bits included) -> cache key.
  runtime::LruCache<std::string, std::string, runtime::StringChecksumHash> keys_;
};

} // namespace sieve::compiler

#endif
