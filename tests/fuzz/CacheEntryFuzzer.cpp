//===- CacheEntryFuzzer.cpp - disk cache entries and artifact metadata ----===//
//
// The kernel cache folder is shared between processes and survives
// upgrades, crashes and full disks, so decodeCacheEntry must treat every
// entry as untrusted: a bad header, sizes that do not add up, a checksum
// mismatch or metadata JSON that is not an artifact's must each come back
// as CorruptArtifact with a message. Half of the inputs (FuzzInputs.h) get a
// correct header and checksum made for them, so the artifact metadata
// parser (Artifact::fromMetadataJson) is fuzzed past the checksum too.
//
// An entry that decodes must encode again to an entry that decodes to the
// same artifact, and its metadata must also load with the code hash
// checked, as Artifact::load reads artifact files.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"
#include "FuzzInputs.h"

#include "sieve/runtime/CacheEntry.h"
#include "sieve/runtime/Checksum.h"

#include <cinttypes>

using namespace sieve;
using namespace sieve::runtime;

namespace {

// The entry layout of CacheEntry.h, written independently of the encoder.
std::string wrapInEntry(const std::string &meta, const std::string &code) {
  std::string body = meta + code;
  char head[160];
  std::snprintf(head, sizeof head, "sieve-cache-entry %d %zu %zu %016" PRIx64 "\n",
                kCacheEntryVersion, meta.size(), code.size(), checksum64(body));
  return head + body;
}

void checkRoundTrip(const Artifact &a) {
  auto again = decodeCacheEntry(encodeCacheEntry(a), fuzz::kCacheEntryKey);
  SIEVE_FUZZ_CHECK(again, "a re-encoded entry does not decode: %s",
                   again.error().message().c_str());
  SIEVE_FUZZ_CHECK(again->metadataJson() == a.metadataJson() && again->code == a.code,
                   "an entry decoded, encoded and decoded again changed");
  auto hashed = Artifact::fromMetadataJson(a.metadataJson(), a.code, /*verifyCodeHash=*/true);
  SIEVE_FUZZ_CHECK(hashed, "the metadata of a decoded entry fails its code hash: %s",
                   hashed.error().message().c_str());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::ByteReader in(data, size);
  std::string entry;
  if (in.u8() % 2 == 0) {
    entry = in.rest();
  } else {
    std::string meta = in.bytes(in.u16());
    entry = wrapInEntry(meta, in.rest());
  }
  auto artifact = decodeCacheEntry(entry, fuzz::kCacheEntryKey);
  if (!artifact) {
    fuzz::checkReported(artifact.error());
    SIEVE_FUZZ_CHECK(artifact.error().code() == ErrorCode::CorruptArtifact,
                     "a bad entry is reported as %s, not CorruptArtifact",
                     errorCodeName(artifact.error().code()));
    return 0;
  }
  SIEVE_FUZZ_CHECK(artifact->cacheKey == fuzz::kCacheEntryKey, "an entry of key '%s' was served",
                   artifact->cacheKey.c_str());
  checkRoundTrip(*artifact);
  return 0;
}
