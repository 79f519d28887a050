//===- BlockMask.h - the [heads, query blocks, key blocks] tile table -*- C++ -*-===//
//
// One bit per tile, packed exactly as the #sieve.block_mask attribute packs it
// (row-major over head, query block, key block; bit n is bit n%8 of byte n/8),
// so the compiler hands the bytes over without repacking.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_BLOCKMASK_H
#define SIEVE_RUNTIME_BLOCKMASK_H

#include "sieve/Error.h"

#include <cstdint>
#include <vector>

namespace sieve::runtime {

class BlockMask {
public:
  /// An empty (0-tile) mask; create() makes usable ones.
  BlockMask() = default;
  /// An all-empty mask. Fails on non-positive sizes or an absurd tile count.
  static Expected<BlockMask> create(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                    int64_t blockQ, int64_t blockK);
  /// From one byte per tile (0 or 1; anything else is a malformed mask).
  static Expected<BlockMask> fromTileBytes(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                           int64_t blockQ, int64_t blockK, const uint8_t *tiles);
  /// From packed bits (the layout above). `size` must be exactly
  /// ceil(tiles / 8) and the padding bits of the last byte zero, so a buffer
  /// meant for another shape is caught rather than misread.
  static Expected<BlockMask> fromPackedBits(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                            int64_t blockQ, int64_t blockK, const uint8_t *bits,
                                            size_t size);
  /// Each tile kept with probability `density` (per head, independently);
  /// with `keepDiagonal` the tiles crossing the diagonal are always kept, as
  /// in the peers' benchmark masks.
  static BlockMask random(int64_t heads, int64_t queryBlocks, int64_t keyBlocks, int64_t blockQ,
                          int64_t blockK, double density, uint64_t seed, bool keepDiagonal);
  /// Exactly round(density x tiles of a head) tiles kept in every head,
  /// drawn uniformly; with `keepDiagonal` the tiles crossing the diagonal
  /// are among them (random() adds them on top, so its density is higher
  /// than asked), and when the diagonal alone is more than that, a head
  /// keeps the diagonal only. Fails on a density outside [0, 1] or a shape
  /// create() refuses.
  static Expected<BlockMask> randomExact(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                         int64_t blockQ, int64_t blockK, double density,
                                         uint64_t seed, bool keepDiagonal);
  /// Whether tile (qBlock, kBlock) crosses the diagonal: its key range
  /// meets its query range.
  bool crossesDiagonal(int64_t qBlock, int64_t kBlock) const {
    return kBlock * blockK_ <= (qBlock + 1) * blockQ_ - 1 &&
           qBlock * blockQ_ <= (kBlock + 1) * blockK_ - 1;
  }

  int64_t heads() const { return heads_; }
  int64_t queryBlocks() const { return queryBlocks_; }
  int64_t keyBlocks() const { return keyBlocks_; }
  int64_t blockQ() const { return blockQ_; }
  int64_t blockK() const { return blockK_; }
  int64_t numTiles() const { return heads_ * queryBlocks_ * keyBlocks_; }

  bool get(int64_t head, int64_t qBlock, int64_t kBlock) const {
    int64_t n = index(head, qBlock, kBlock);
    return (bits_[n / 8] >> (n % 8)) & 1;
  }
  void set(int64_t head, int64_t qBlock, int64_t kBlock, bool kept) {
    int64_t n = index(head, qBlock, kBlock);
    uint8_t bit = static_cast<uint8_t>(1u << (n % 8));
    bits_[n / 8] = kept ? (bits_[n / 8] | bit) : (bits_[n / 8] & ~bit);
  }
  void setHead(int64_t head, bool kept);

  int64_t countKept() const;
  double density() const { return static_cast<double>(countKept()) / numTiles(); }
  /// ceil(numTiles / 8) bytes, padding bits zero.
  const std::vector<uint8_t> &packedBits() const { return bits_; }

  /// Checks that the mask covers a problem of this size:
  /// heads == headsQ, queryBlocks == ceil(seqQ / blockQ), and likewise for keys.
  Error checkCovers(int64_t headsQ, int64_t seqQ, int64_t seqK) const;

  bool operator==(const BlockMask &o) const {
    return heads_ == o.heads_ && queryBlocks_ == o.queryBlocks_ && keyBlocks_ == o.keyBlocks_ &&
           blockQ_ == o.blockQ_ && blockK_ == o.blockK_ && bits_ == o.bits_;
  }

private:
  int64_t index(int64_t h, int64_t qb, int64_t kb) const {
    return (h * queryBlocks_ + qb) * keyBlocks_ + kb;
  }
  int64_t heads_ = 0, queryBlocks_ = 0, keyBlocks_ = 0, blockQ_ = 0, blockK_ = 0;
  std::vector<uint8_t> bits_;
};

} // namespace sieve::runtime

#endif
