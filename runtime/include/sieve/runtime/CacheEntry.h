//===- CacheEntry.h - one artifact as one checksummed file ------*- C++ -*-===//
//
// A disk cache entry is a single file, so that one rename publishes the
// metadata and the code together:
//
//   sieve-cache-entry <version> <metadata bytes> <code bytes> <checksum>\n
//   <metadata JSON><code>
//
// The checksum (checksum64, 16 hex digits) covers everything after the
// header line, metadata included; the artifact's own code size and hash are
// checked again when the metadata is parsed.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_CACHEENTRY_H
#define SIEVE_RUNTIME_CACHEENTRY_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"

#include <string>

namespace sieve::runtime {

constexpr int kCacheEntryVersion = 1;

std::string encodeCacheEntry(const Artifact &artifact);

/// The artifact in `bytes`, or ErrorCode::CorruptArtifact saying what is
/// wrong: a bad header, a truncated or overlong file, a checksum mismatch,
/// metadata that does not parse, or an artifact for another key.
Expected<Artifact> decodeCacheEntry(const std::string &bytes, const std::string &expectedKey);

/// The metadata JSON of the entry file at `path`, read without its code
/// and without checking the checksum (for listing a folder: a damaged entry
/// is found when it is loaded). ErrorCode::CorruptArtifact when the header
/// or the length is wrong, Io when the file cannot be read.
Expected<std::string> readCacheEntryMetadata(const std::string &path);

/// Keys name files, so only lowercase hex digests (16 to 128 digits) pass.
bool isValidCacheKey(const std::string &key);

} // namespace sieve::runtime

#endif
