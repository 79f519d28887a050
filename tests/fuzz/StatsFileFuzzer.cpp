//===- StatsFileFuzzer.cpp - stats files: the float64 table and sidecar ---===//
//
// `sieve prune` reads stats files that calibration runs (perhaps elsewhere,
// perhaps by another version) wrote, so readStatsFile must reject any
// malformed table or sidecar with a message, never crash or size an
// allocation by a number the file merely claims. The input holds the
// sidecar JSON and the .npy table (FuzzInputs.h; docs/stats-format.md).
//
// Stats that read successfully have been validated, so the writer must
// accept them, and reading its output must give the same stats back.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"
#include "FuzzInputs.h"
#include "FuzzScratch.h"

#include "sieve/calibration/Stats.h"

#include <cstring>

using namespace sieve;
using namespace sieve::calibration;

namespace {

bool sameStats(const AttentionStats &a, const AttentionStats &b) {
  if (a.heads != b.heads || a.blockQ != b.blockQ || a.blockK != b.blockK || a.seqQ != b.seqQ ||
      a.seqK != b.seqK || a.comment != b.comment || a.layers.size() != b.layers.size() ||
      a.mass.size() != b.mass.size())
    return false;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const LayerStats &x = a.layers[l], &y = b.layers[l];
    if (x.name != y.name || x.kind != y.kind || x.calls != y.calls || x.rows != y.rows)
      return false;
  }
  // Bitwise: the table is copied, never recomputed.
  return a.mass.empty() ||
         std::memcmp(a.mass.data(), b.mass.data(), a.mass.size() * sizeof(double)) == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::ByteReader in(data, size);
  fuzz::ScratchDir::write("stats.json", in.bytes(in.u16()));
  std::string npy = fuzz::ScratchDir::write("stats.npy", in.rest());

  auto stats = readStatsFile(npy);
  if (!stats) {
    fuzz::checkReported(stats.error());
    return 0;
  }
  Error valid = stats->validate();
  SIEVE_FUZZ_CHECK(!valid, "readStatsFile returned stats that do not validate: %s",
                   valid.message().c_str());
  std::string copy = fuzz::ScratchDir::path() + "/copy.npy";
  Error written = writeStatsFile(copy, *stats);
  SIEVE_FUZZ_CHECK(!written, "stats the reader accepted cannot be written: %s",
                   written.message().c_str());
  auto reread = readStatsFile(copy);
  SIEVE_FUZZ_CHECK(reread, "written stats do not read back: %s", reread.error().message().c_str());
  SIEVE_FUZZ_CHECK(sameStats(*stats, *reread), "stats read, written and read again changed");
  return 0;
}
