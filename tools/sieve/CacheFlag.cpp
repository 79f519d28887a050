//===- CacheFlag.cpp ------------------------------------------------------===//
#include "CacheFlag.h"

#include <fmt/format.h>

namespace sieve::tools {

void CacheFlag::addTo(CLI::App &command) {
  command.add_flag("--no-cache", noCache,
                   "Neither read nor write the kernel cache folder (as SIEVE_CACHE=0 does)");
}

std::shared_ptr<compiler::KernelCache> CacheFlag::makeCache() const {
  compiler::KernelCacheOptions options = compiler::KernelCacheOptions::fromEnvironment();
  if (noCache)
    options.directory.clear();
  return std::make_shared<compiler::KernelCache>(std::move(options));
}

std::string CacheFlag::describe(const compiler::KernelCache &cache, runtime::CacheSource source) {
  std::string folder = cache.artifacts().directory();
  return fmt::format("{} ({})",
                     source == runtime::CacheSource::Produced
                         ? "compiled"
                         : std::string(runtime::cacheSourceName(source)) + " hit",
                     folder.empty() ? "no cache folder" : "cache " + folder);
}

} // namespace sieve::tools
