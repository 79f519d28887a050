//===- CacheEntry.cpp -----------------------------------------------------===//
#include "sieve/runtime/CacheEntry.h"

#include "sieve/runtime/Checksum.h"

#include <fmt/format.h>

#include <cinttypes>
#include <cstdio>

namespace sieve::runtime {

namespace {

constexpr const char *kMagic = "sieve-cache-entry";
// A header is one short line; a file without a newline early on is not one.
constexpr size_t kMaxHeaderBytes = 128;

std::string header(uint64_t metaBytes, uint64_t codeBytes, uint64_t checksum) {
  return fmt::format("{} {} {} {} {:016x}\n", kMagic, kCacheEntryVersion, metaBytes, codeBytes,
                     checksum);
}

Error corrupt(const std::string &why) {
  return Error(ErrorCode::CorruptArtifact, "cache entry " + why);
}

} // namespace

bool isValidCacheKey(const std::string &key) {
  if (key.size() < 16 || key.size() > 128)
    return false;
  for (char c : key)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

std::string encodeCacheEntry(const Artifact &artifact) {
  std::string meta = artifact.metadataJson();
  std::string body;
  body.reserve(meta.size() + artifact.code.size());
  body += meta;
  body += artifact.code;
  return header(meta.size(), artifact.code.size(), checksum64(body)) + body;
}

Expected<Artifact> decodeCacheEntry(const std::string &bytes, const std::string &expectedKey) {
  size_t newline = bytes.find('\n');
  if (newline == std::string::npos || newline >= kMaxHeaderBytes)
    return corrupt(bytes.empty() ? "is empty" : "has no header line");
  std::string head = bytes.substr(0, newline + 1);
  int version = 0;
  uint64_t metaBytes = 0, codeBytes = 0, checksum = 0;
  char magic[32] = {};
  if (std::sscanf(head.c_str(), "%31s %d %" SCNu64 " %" SCNu64 " %" SCNx64, magic, &version,
                  &metaBytes, &codeBytes, &checksum) != 5 ||
      std::string(magic) != kMagic)
    return corrupt("has a malformed header");
  if (version != kCacheEntryVersion)
    return corrupt(fmt::format("has version {}, this build reads {}", version, kCacheEntryVersion));
  // Only the canonical spelling passes, so no two headers describe one file.
  if (head != header(metaBytes, codeBytes, checksum))
    return corrupt("has a malformed header");
  uint64_t bodyBytes = bytes.size() - head.size();
  if (metaBytes > bodyBytes || codeBytes != bodyBytes - metaBytes)
    return corrupt(fmt::format("is {} bytes after its header, the header says {} (truncated?)",
                               bodyBytes, metaBytes + codeBytes));
  const char *body = bytes.data() + head.size();
  if (checksum64(body, bodyBytes) != checksum)
    return corrupt("checksum does not match its contents");
  // The checksum above covered the code: skip the artifact's own code hash.
  auto artifact = Artifact::fromMetadataJson(std::string(body, metaBytes),
                                             std::string(body + metaBytes, codeBytes),
                                             /*verifyCodeHash=*/false);
  if (!artifact)
    return artifact.error();
  if (artifact->cacheKey != expectedKey)
    return corrupt("holds the artifact of key " + artifact->cacheKey);
  return artifact;
}

} // namespace sieve::runtime
