//===- MaskFileFuzzer.cpp - mask files: the .npy table and its sidecar ----===//
//
// Mask files come from users and from other tools (numpy, a framework's
// exporter), so readMaskStack and readMaskFile must turn any bytes into
// masks or an error that names the problem, never a crash, an overflow or
// an allocation the file does not pay for. Both halves are fuzzed: the input
// holds the sidecar JSON and the .npy table (FuzzInputs.h), written beside
// each other as docs/mask-format.md places them.
//
// What reads successfully must also agree with the writer: written out with
// writeMaskFile/writeMaskStack and read again, it gives the same masks and
// metadata, and readMaskFile's one layer is the stack's.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"
#include "FuzzInputs.h"
#include "FuzzScratch.h"

#include "sieve/runtime/MaskFile.h"

using namespace sieve;
using namespace sieve::runtime;

namespace {

bool sameMeta(const MaskFileMeta &a, const MaskFileMeta &b) {
  return a.blockQ == b.blockQ && a.blockK == b.blockK && a.seqQ == b.seqQ && a.seqK == b.seqK &&
         a.layers == b.layers;
}

void checkRoundTrip(const std::vector<BlockMask> &masks, const MaskFileMeta &meta) {
  std::string copy = fuzz::ScratchDir::path() + "/copy.npy";
  Error written = meta.layers == 0 ? writeMaskFile(copy, masks.front(), meta.seqQ, meta.seqK)
                                   : writeMaskStack(copy, masks, meta.seqQ, meta.seqK);
  SIEVE_FUZZ_CHECK(!written, "a mask the reader accepted cannot be written: %s",
                   written.message().c_str());
  MaskFileMeta again;
  auto reread = readMaskStack(copy, &again);
  SIEVE_FUZZ_CHECK(reread, "a written mask does not read back: %s",
                   reread.error().message().c_str());
  SIEVE_FUZZ_CHECK(*reread == masks && sameMeta(again, meta),
                   "a mask read, written and read again changed");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::ByteReader in(data, size);
  int64_t layer = static_cast<int8_t>(in.u8());
  std::string sidecar = in.bytes(in.u16());
  fuzz::ScratchDir::write("mask.json", sidecar);
  std::string npy = fuzz::ScratchDir::write("mask.npy", in.rest());

  MaskFileMeta meta;
  auto stack = readMaskStack(npy, &meta);
  auto one = readMaskFile(npy, layer);
  if (!stack) {
    fuzz::checkReported(stack.error());
    SIEVE_FUZZ_CHECK(!one, "readMaskFile accepted what readMaskStack rejected");
    fuzz::checkReported(one.error());
    return 0;
  }
  SIEVE_FUZZ_CHECK(!stack->empty(), "a mask file read as no layers");
  SIEVE_FUZZ_CHECK(meta.layers == 0 ? stack->size() == 1
                                    : static_cast<int64_t>(stack->size()) == meta.layers,
                   "%zu layers read, the metadata says %lld", stack->size(),
                   static_cast<long long>(meta.layers));
  bool inRange = layer >= 0 && layer < static_cast<int64_t>(stack->size());
  SIEVE_FUZZ_CHECK(static_cast<bool>(one) == inRange, "readMaskFile(layer %lld) %s",
                   static_cast<long long>(layer), one ? "accepted a missing layer" : "failed");
  if (one)
    SIEVE_FUZZ_CHECK(*one == (*stack)[static_cast<size_t>(layer)],
                     "readMaskFile's layer differs from readMaskStack's");
  else
    fuzz::checkReported(one.error());
  checkRoundTrip(*stack, meta);
  return 0;
}
