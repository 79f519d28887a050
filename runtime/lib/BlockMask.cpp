//===- BlockMask.cpp ------------------------------------------------------===//
#include "sieve/runtime/BlockMask.h"

#include <fmt/format.h>

#include <algorithm>
#include <bitset>
#include <cmath>
#include <random>
#include <string>

namespace sieve::runtime {

namespace {
// 2^40 tiles (128 GiB of bits) is far past any real mask and keeps the
// products below int64 overflow.
constexpr int64_t kMaxTiles = int64_t(1) << 40;

Error checkShape(int64_t heads, int64_t queryBlocks, int64_t keyBlocks, int64_t blockQ,
                 int64_t blockK) {
  if (heads <= 0 || queryBlocks <= 0 || keyBlocks <= 0)
    return Error(ErrorCode::MalformedMask,
                 "mask shape must be positive, got [" + std::to_string(heads) + ", " +
                     std::to_string(queryBlocks) + ", " + std::to_string(keyBlocks) + "]");
  if (blockQ <= 0 || blockK <= 0)
    return Error(ErrorCode::MalformedMask,
                 "block sizes must be positive, got block_q=" + std::to_string(blockQ) +
                     " block_k=" + std::to_string(blockK));
  if (heads > kMaxTiles / queryBlocks || heads * queryBlocks > kMaxTiles / keyBlocks)
    return Error(ErrorCode::MalformedMask, "mask has too many tiles");
  return Error::success();
}
} // namespace

Expected<BlockMask> BlockMask::create(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                      int64_t blockQ, int64_t blockK) {
  if (Error e = checkShape(heads, queryBlocks, keyBlocks, blockQ, blockK))
    return e;
  BlockMask m;
  m.heads_ = heads;
  m.queryBlocks_ = queryBlocks;
  m.keyBlocks_ = keyBlocks;
  m.blockQ_ = blockQ;
  m.blockK_ = blockK;
  m.bits_.assign((m.numTiles() + 7) / 8, 0);
  return m;
}

Expected<BlockMask> BlockMask::fromTileBytes(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                             int64_t blockQ, int64_t blockK, const uint8_t *tiles) {
  auto mask = create(heads, queryBlocks, keyBlocks, blockQ, blockK);
  if (!mask)
    return mask;
  for (int64_t n = 0, e = mask->numTiles(); n < e; ++n) {
    if (tiles[n] > 1)
      return Error(ErrorCode::MalformedMask, "tile " + std::to_string(n) + " holds " +
                                                 std::to_string(tiles[n]) +
                                                 "; a mask holds only 0 or 1");
    if (tiles[n])
      mask->bits_[n / 8] |= static_cast<uint8_t>(1u << (n % 8));
  }
  return mask;
}

Expected<BlockMask> BlockMask::fromPackedBits(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                              int64_t blockQ, int64_t blockK, const uint8_t *bits,
                                              size_t size) {
  // The size is checked before anything is allocated: a shape the caller's
  // buffer does not pay for (up to 2^40 tiles pass checkShape) must not cost
  // gigabytes of zeroed bits first.
  if (Error e = checkShape(heads, queryBlocks, keyBlocks, blockQ, blockK))
    return e;
  int64_t tiles = heads * queryBlocks * keyBlocks;
  size_t expected = static_cast<size_t>((tiles + 7) / 8);
  if (size != expected)
    return Error(ErrorCode::MalformedMask,
                 "mask of " + std::to_string(tiles) + " tiles needs " + std::to_string(expected) +
                     " bytes of packed bits, got " + std::to_string(size));
  if (!bits)
    return Error(ErrorCode::InvalidArgument, "mask bits are null");
  auto mask = create(heads, queryBlocks, keyBlocks, blockQ, blockK);
  if (!mask)
    return mask;
  std::copy(bits, bits + size, mask->bits_.begin());
  int64_t used = mask->numTiles() % 8;
  if (used != 0 && (mask->bits_.back() >> used) != 0)
    return Error(ErrorCode::MalformedMask,
                 "padding bits after the last tile are set: the bits are for a larger mask");
  return mask;
}

BlockMask BlockMask::random(int64_t heads, int64_t queryBlocks, int64_t keyBlocks, int64_t blockQ,
                            int64_t blockK, double density, uint64_t seed, bool keepDiagonal) {
  BlockMask m = *create(heads, queryBlocks, keyBlocks, blockQ, blockK);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t qb = 0; qb < queryBlocks; ++qb)
      for (int64_t kb = 0; kb < keyBlocks; ++kb) {
        // A tile crosses the diagonal when its key range meets its query range.
        bool diagonal =
            kb * blockK <= (qb + 1) * blockQ - 1 && qb * blockQ <= (kb + 1) * blockK - 1;
        m.set(h, qb, kb, (keepDiagonal && diagonal) || uniform(rng) < density);
      }
  return m;
}

Expected<BlockMask> BlockMask::randomExact(int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                                           int64_t blockQ, int64_t blockK, double density,
                                           uint64_t seed, bool keepDiagonal) {
  if (!(density >= 0.0 && density <= 1.0))
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("density must be in [0, 1], got {}", density));
  auto made = create(heads, queryBlocks, keyBlocks, blockQ, blockK);
  if (!made)
    return made;
  BlockMask &m = *made;
  const int64_t perHead = queryBlocks * keyBlocks;
  const int64_t target = std::llround(density * static_cast<double>(perHead));
  int64_t diagonal = 0;
  if (keepDiagonal)
    for (int64_t qb = 0; qb < queryBlocks; ++qb)
      for (int64_t kb = 0; kb < keyBlocks; ++kb)
        diagonal += m.crossesDiagonal(qb, kb);
  // Selection sampling (Knuth's algorithm S): each free tile is kept with
  // probability needed / left, which keeps exactly `needed` of them, every
  // subset equally likely, in one pass and no memory beyond the mask.
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick;
  for (int64_t h = 0; h < heads; ++h) {
    int64_t needed = std::max<int64_t>(0, target - diagonal), left = perHead - diagonal;
    for (int64_t qb = 0; qb < queryBlocks; ++qb)
      for (int64_t kb = 0; kb < keyBlocks; ++kb) {
        if (keepDiagonal && m.crossesDiagonal(qb, kb)) {
          m.set(h, qb, kb, true);
          continue;
        }
        bool keep = pick(rng, decltype(pick)::param_type(0, left - 1)) < needed;
        m.set(h, qb, kb, keep);
        needed -= keep;
        --left;
      }
  }
  return made;
}

void BlockMask::setHead(int64_t head, bool kept) {
  for (int64_t qb = 0; qb < queryBlocks_; ++qb)
    for (int64_t kb = 0; kb < keyBlocks_; ++kb)
      set(head, qb, kb, kept);
}

int64_t BlockMask::countKept() const {
  int64_t kept = 0;
  for (uint8_t byte : bits_)
    kept += std::bitset<8>(byte).count();
  return kept;
}

Error BlockMask::checkCovers(int64_t headsQ, int64_t seqQ, int64_t seqK) const {
  // ceil(seq / block) without the overflow of seq + block - 1 (sequence
  // lengths come from callers unchecked); no length <= 0 is covered.
  auto blocks = [](int64_t seq, int64_t block) { return seq <= 0 ? 0 : (seq - 1) / block + 1; };
  int64_t wantQ = blocks(seqQ, blockQ_), wantK = blocks(seqK, blockK_);
  if (heads_ != headsQ || queryBlocks_ != wantQ || keyBlocks_ != wantK)
    return Error(ErrorCode::ShapeMismatch,
                 "mask is [" + std::to_string(heads_) + ", " + std::to_string(queryBlocks_) + ", " +
                     std::to_string(keyBlocks_) + "] but heads=" + std::to_string(headsQ) +
                     ", Sq=" + std::to_string(seqQ) + ", Sk=" + std::to_string(seqK) + " with " +
                     std::to_string(blockQ_) + "x" + std::to_string(blockK_) + " tiles need [" +
                     std::to_string(headsQ) + ", " + std::to_string(wantQ) + ", " +
                     std::to_string(wantK) + "]");
  return Error::success();
}

} // namespace sieve::runtime
