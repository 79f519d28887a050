//===- CacheCommand.cpp - sieve cache: the kernel cache folder ------------===//
//
// `sieve cache stats|list|clear` show and empty the folder KernelCache
// keeps compiled kernels in ($SIEVE_CACHE_DIR, else $XDG_CACHE_HOME/sieve,
// else ~/.cache/sieve), bounded by SIEVE_CACHE_MAX_BYTES (1 GiB by default;
// the least recently used entries go first).
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "SpecOptions.h"

#include "sieve/compiler/KernelCache.h"
#include "sieve/runtime/CacheEntry.h"
#include "sieve/runtime/DiskCache.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>

namespace sieve::tools {

namespace {

using runtime::DiskCache;
using runtime::formatBytes;

/// "42 s", "5 min", "3 h", "2 d": how long ago `time` was.
std::string ago(std::filesystem::file_time_type time) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                     std::filesystem::file_time_type::clock::now() - time)
                     .count();
  if (seconds < 120)
    return fmt::format("{} s", std::max<int64_t>(seconds, 0));
  if (seconds < 2 * 3600)
    return fmt::format("{} min", seconds / 60);
  if (seconds < 2 * 86400)
    return fmt::format("{} h", seconds / 3600);
  return fmt::format("{} d", seconds / 86400);
}

/// What an entry holds, from its metadata: "cuda:sm_90a wgmma forward
/// B=1 Hq=8 ... bf16 causal".
std::string describe(const std::string &path) {
  auto meta = runtime::readCacheEntryMetadata(path);
  if (!meta)
    return "damaged (" + meta.error().message() + ")";
  auto j = nlohmann::json::parse(*meta, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("shape"))
    return "damaged (metadata is not an artifact's)";
  try {
    const auto &s = j.at("shape");
    std::string kind = j.value("backward", false)     ? "backward"
                       : j.value("saves_lse", false)  ? "forward+lse"
                       : j.value("calibrate", false)  ? "calibrate"
                       : j.value("thresholds", false) ? "thresholds"
                                                      : "forward";
    return fmt::format(
        "{}:{} {} {} B={} Hq={} Hkv={} Sq={} Sk={} D={} {}{}", j.at("backend").get<std::string>(),
        j.at("chip").get<std::string>(), j.at("variant").get<std::string>(), kind,
        s.at("batch").get<int64_t>(), s.at("heads_q").get<int64_t>(),
        s.at("heads_kv").get<int64_t>(), s.at("seq_q").get<int64_t>(), s.at("seq_k").get<int64_t>(),
        s.at("head_dim").get<int64_t>(), s.at("dtype").get<std::string>(),
        !j.value("causal", false)                               ? ""
        : j.value("causal_align", "top_left") == "bottom_right" ? " causal bottom-right"
                                                                : " causal");
  } catch (const nlohmann::json::exception &) {
    return "damaged (metadata is not an artifact's)";
  }
}

/// The folder the environment names, or an error saying caching to a
/// folder is off.
Expected<std::string> cacheRoot(const compiler::KernelCacheOptions &options) {
  if (options.directory.empty())
    return Error(ErrorCode::InvalidArgument,
                 "no kernel cache folder: SIEVE_CACHE is off (or neither SIEVE_CACHE_DIR, "
                 "XDG_CACHE_HOME nor HOME is set)");
  return options.directory;
}

int stats(const compiler::KernelCacheOptions &options) {
  auto root = cacheRoot(options);
  if (!root)
    return reportError(root.error());
  std::string folder = DiskCache::formatFolder(*root);
  auto entries = DiskCache::entriesIn(folder);
  uint64_t bytes = 0;
  for (const auto &e : entries)
    bytes += e.bytes;
  // fromEnvironment() ignores (and reports) a value that is not a size.
  const char *bound = std::getenv("SIEVE_CACHE_MAX_BYTES");
  const bool fromEnvironment = bound && runtime::parseByteSize(bound).operator bool();
  fmt::print("folder   {}\nentries  {}\nbytes    {} ({})\nbound    {} ({}), {:.0f}% used\n", folder,
             entries.size(), bytes, formatBytes(bytes), formatBytes(options.maxDiskBytes),
             fromEnvironment ? "SIEVE_CACHE_MAX_BYTES" : "default; SIEVE_CACHE_MAX_BYTES sets it",
             100.0 * double(bytes) / double(options.maxDiskBytes));
  // Older builds' entries: never read by this one, kept until cleared.
  size_t oldEntries = 0;
  uint64_t oldBytes = 0;
  for (const std::string &other : DiskCache::otherFormatFolders(*root))
    for (const auto &e : DiskCache::entriesIn(other)) {
      ++oldEntries;
      oldBytes += e.bytes;
    }
  if (oldEntries > 0)
    fmt::print("older    {} entries, {} of other formats (sieve cache clear removes them)\n",
               oldEntries, formatBytes(oldBytes));
  return 0;
}

int list(const compiler::KernelCacheOptions &options) {
  auto root = cacheRoot(options);
  if (!root)
    return reportError(root.error());
  auto entries = DiskCache::entriesIn(DiskCache::formatFolder(*root));
  if (entries.empty()) {
    fmt::print("no kernels in {}\n", DiskCache::formatFolder(*root));
    return 0;
  }
  // Most recently used first: the order eviction spares them in.
  fmt::print("{:<16}  {:>10}  {:>8}  {}\n", "key", "size", "used", "kernel");
  for (const auto &e : entries)
    fmt::print("{:<16}  {:>10}  {:>8}  {}\n", e.key.substr(0, 16), formatBytes(e.bytes),
               ago(e.lastUsed), describe(e.path));
  return 0;
}

int clear(const compiler::KernelCacheOptions &options) {
  auto root = cacheRoot(options);
  if (!root)
    return reportError(root.error());
  runtime::DiskCacheUsage removed = DiskCache::clearAll(*root);
  fmt::print("removed {} {} ({}) from {}\n", removed.entries,
             removed.entries == 1 ? "entry" : "entries", formatBytes(removed.bytes), *root);
  return 0;
}

} // namespace

Command addCacheCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand(
      "cache",
      fmt::format("The kernel cache folder: $SIEVE_CACHE_DIR, else $XDG_CACHE_HOME/sieve, else "
                  "~/.cache/sieve; bounded to {} by default (SIEVE_CACHE_MAX_BYTES: 512M, 2G, "
                  "...), least recently used kernels removed first",
                  formatBytes(DiskCache::kDefaultMaxBytes)));
  c->require_subcommand(1);
  CLI::App *statsCommand = c->add_subcommand("stats", "The folder, its entries, bytes and bound");
  CLI::App *listCommand = c->add_subcommand(
      "list", "Each kernel: key, size, last use, and what it is (target, variant, shape)");
  CLI::App *clearCommand =
      c->add_subcommand("clear", "Remove every cached kernel (of this and older sieve versions)");
  return {c, [=]() {
            compiler::KernelCacheOptions options = compiler::KernelCacheOptions::fromEnvironment();
            if (statsCommand->parsed())
              return stats(options);
            if (listCommand->parsed())
              return list(options);
            if (clearCommand->parsed())
              return clear(options);
            return 1;
          }};
}

} // namespace sieve::tools
