//===- CacheEntry.cpp -----------------------------------------------------===//
#include "sieve/runtime/CacheEntry.h"

#include "sieve/runtime/Checksum.h"

#include <fmt/format.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>

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

namespace {

struct Header {
  uint64_t metaBytes = 0, codeBytes = 0, checksum = 0;
  size_t size = 0; // of the header line, its newline included
};

/// The header line at the start of `bytes` (which may be just a prefix of
/// the file), checked to be in its one canonical spelling.
Expected<Header> parseHeader(const std::string &bytes) {
  size_t newline = bytes.find('\n');
  if (newline == std::string::npos || newline >= kMaxHeaderBytes)
    return corrupt(bytes.empty() ? "is empty" : "has no header line");
  std::string head = bytes.substr(0, newline + 1);
  int version = 0;
  Header h;
  char magic[32] = {};
  if (std::sscanf(head.c_str(), "%31s %d %" SCNu64 " %" SCNu64 " %" SCNx64, magic, &version,
                  &h.metaBytes, &h.codeBytes, &h.checksum) != 5 ||
      std::string(magic) != kMagic)
    return corrupt("has a malformed header");
  if (version != kCacheEntryVersion)
    return corrupt(fmt::format("has version {}, this build reads {}", version, kCacheEntryVersion));
  // Only the canonical spelling passes, so no two headers describe one file.
  if (head != header(h.metaBytes, h.codeBytes, h.checksum))
    return corrupt("has a malformed header");
  h.size = head.size();
  return h;
}

} // namespace

Expected<std::string> readCacheEntryMetadata(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(ErrorCode::Io, "cannot open '" + path + "'");
  std::string prefix(kMaxHeaderBytes, '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  prefix.resize(static_cast<size_t>(in.gcount()));
  auto h = parseHeader(prefix);
  if (!h)
    return h.error().withContext(path);
  // Metadata is kilobytes: a header claiming more is damaged, and must not
  // cost an allocation of what it claims.
  if (h->metaBytes > (uint64_t(64) << 20))
    return corrupt("claims more metadata than any entry has").withContext(path);
  std::string meta(h->metaBytes, '\0');
  in.clear();
  in.seekg(static_cast<std::streamoff>(h->size));
  in.read(meta.data(), static_cast<std::streamsize>(meta.size()));
  if (static_cast<uint64_t>(in.gcount()) != h->metaBytes)
    return corrupt("is shorter than its header says (truncated?)").withContext(path);
  return meta;
}

Expected<Artifact> decodeCacheEntry(const std::string &bytes, const std::string &expectedKey) {
  auto parsed = parseHeader(bytes);
  if (!parsed)
    return parsed.error();
  const uint64_t metaBytes = parsed->metaBytes, codeBytes = parsed->codeBytes,
                 checksum = parsed->checksum;
  const std::string head = bytes.substr(0, parsed->size);
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
