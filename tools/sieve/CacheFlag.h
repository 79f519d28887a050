//===- CacheFlag.h - --no-cache and the kernel cache it picks --*- C++ -*-===//
#ifndef SIEVE_TOOLS_CACHEFLAG_H
#define SIEVE_TOOLS_CACHEFLAG_H

#include "sieve/compiler/KernelCache.h"

#include <CLI/CLI.hpp>

#include <memory>

namespace sieve::tools {

struct CacheFlag {
  bool noCache = false;

  void addTo(CLI::App &command);
  /// The cache the environment describes (SIEVE_CACHE_DIR, SIEVE_CACHE),
  /// memory only under --no-cache.
  std::shared_ptr<compiler::KernelCache> makeCache() const;
  /// "compiled", "disk cache" or "memory cache", and the folder.
  static std::string describe(const compiler::KernelCache &cache, runtime::CacheSource source);
};

} // namespace sieve::tools

#endif
