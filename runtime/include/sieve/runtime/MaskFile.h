//===- MaskFile.h - block masks on disk --------------------------*- C++ -*-===//
//
// A mask file is a .npy table of tiles (bool or uint8, [heads, query blocks,
// key blocks] or [layers, heads, query blocks, key blocks]) and a JSON
// sidecar beside it with the block sizes: numpy and any JSON reader can make
// and inspect one. docs/mask-format.md is the specification.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_MASKFILE_H
#define SIEVE_RUNTIME_MASKFILE_H

#include "sieve/Error.h"
#include "sieve/runtime/BlockMask.h"

#include <optional>
#include <string>
#include <vector>

namespace sieve::runtime {

struct MaskFileMeta {
  int64_t blockQ = 0, blockK = 0;
  /// Sequence lengths the mask was made for, when the sidecar records them
  /// (they may be less than blocks x block size: the last tile is partial).
  std::optional<int64_t> seqQ, seqK;
  /// Layers in the table; 0 for a 3-d (single-layer) table.
  int64_t layers = 0;
};

/// "masks/m.npy" -> "masks/m.json"; any other name gets ".json" appended.
std::string maskSidecarPath(const std::string &npyPath);

/// Reads every layer (a 3-d table reads as one layer).
Expected<std::vector<BlockMask>> readMaskStack(const std::string &npyPath,
                                               MaskFileMeta *meta = nullptr);
/// Reads one layer; `layer` must be 0 for a 3-d table.
Expected<BlockMask> readMaskFile(const std::string &npyPath, int64_t layer = 0,
                                 MaskFileMeta *meta = nullptr);

/// Writes a 3-d bool table and its sidecar, each atomically.
Error writeMaskFile(const std::string &npyPath, const BlockMask &mask,
                    std::optional<int64_t> seqQ = std::nullopt,
                    std::optional<int64_t> seqK = std::nullopt);
/// Writes a 4-d [layers, ...] table; every layer must have the same shape
/// and block sizes.
Error writeMaskStack(const std::string &npyPath, const std::vector<BlockMask> &layers,
                     std::optional<int64_t> seqQ = std::nullopt,
                     std::optional<int64_t> seqK = std::nullopt);

} // namespace sieve::runtime

#endif
