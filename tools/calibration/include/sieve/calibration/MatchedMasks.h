//===- MatchedMasks.h - baselines matched on the work actually run -*- C++ -*-===//
//
// A mask is made for the longest input (its grid); an input of n tokens runs
// only the top-left ceil(n / block) x ceil(n / block) tiles of it. Two masks
// with the same number of kept tiles can therefore run very different work
// on short inputs: a data mask keeps the top-left tiles every input reaches,
// a uniformly random one spreads its tiles over corners few inputs reach.
// Comparing their quality then compares unequal work.
//
// The baselines here are matched on the *as-run density*: over a set of
// evaluated inputs, the tiles the mask ran divided by the tiles the dense
// model ran. That is a weighted tile count -- tile (qb, kb) weighs the
// number of inputs whose crop holds it (tileRunCounts) -- so a baseline
// matches a data mask head by head by adding tiles until its weight is
// closest to the data mask's:
// - the random baseline adds, in a seeded random order, every tile that
//   fits under the data mask's weight, then the one tile that brings it
//   closest, then swaps of a tile it added for one it did not while that
//   brings it closer (accepting any tile that brings the weight closer
//   would overshoot by up to half a heavy tile: a bias);
// - the position-only baseline (no calibration) adds sink columns (the
//   first key blocks), then the diagonal band outwards: |qb - kb| = 0, 1,
//   2, ..., each band's tiles below the diagonal (keys before the query)
//   first, then by query block.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CALIBRATION_MATCHEDMASKS_H
#define SIEVE_CALIBRATION_MATCHEDMASKS_H

#include "sieve/Error.h"
#include "sieve/calibration/Prune.h"
#include "sieve/calibration/Stats.h"
#include "sieve/runtime/BlockMask.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sieve::calibration {

/// How often each tile of a queryBlocks x keyBlocks grid of square
/// `block`-token tiles runs over inputs of `lengths` tokens: entry qb *
/// keyBlocks + kb counts the inputs with ceil(n / block) > max(qb, kb).
/// Fails on a non-positive block or grid, or a length outside [1, grid].
Expected<std::vector<double>> tileRunCounts(const std::vector<int64_t> &lengths, int64_t block,
                                            int64_t queryBlocks, int64_t keyBlocks);

/// The fraction of the dense model's tile work that `masks` (one per layer,
/// all of the weights' grid) run: sum over layers, heads and tiles of
/// kept x weight, over (layers x heads x the weights' sum). 0 when no tile
/// has weight.
double asRunDensity(const std::vector<runtime::BlockMask> &masks,
                    const std::vector<double> &weights);

/// The kept tiles' weight of one head.
double headRunWeight(const runtime::BlockMask &mask, int64_t head,
                     const std::vector<double> &weights);

/// A random mask matched on as-run work to `like` (one layer): per head,
/// the forced tiles first (with `keepDiagonal` the tiles crossing the
/// diagonal; with `minPerRow`, each query block topped up to that many with
/// random tiles), then tiles with weight > 0 (and kept in `allowed`, when
/// given) in a random order, each added when it fits under `like`'s head
/// weight, then the remaining tile that brings the weight closest, then
/// swaps of an added tile for one not taken while they bring it closer. Heads
/// empty in `like` stay empty. Deterministic in `seed`.
Expected<runtime::BlockMask> matchedRandomMask(const runtime::BlockMask &like,
                                               const std::vector<double> &weights,
                                               bool keepDiagonal, int64_t minPerRow, uint64_t seed,
                                               const runtime::BlockMask *allowed = nullptr);

/// The position-only mask matched on as-run work to `like` (one layer): per
/// head, the order of this file's header (the first `sinkBlocks` key
/// columns, then the diagonal band outwards; `sinkBlocks` >= 0), cut at the
/// prefix whose weight is closest to `like`'s head. The same for every
/// head that keeps the same weight; heads empty in `like` stay empty.
/// Needs square tiles.
Expected<runtime::BlockMask> matchedPositionMask(const runtime::BlockMask &like,
                                                 const std::vector<double> &weights,
                                                 int64_t sinkBlocks);

/// One mask per layer, and what made it.
struct MaskSet {
  std::string kind;  ///< "data", "random" or "position"
  uint64_t seed = 0; ///< the random masks' seed (layer l uses seed + l)
  std::vector<runtime::BlockMask> masks;
};

/// The masks a fair comparison at one sparsity runs: the data mask
/// (prune(stats, options)), `randomSeeds` random masks (seeds firstSeed,
/// firstSeed + 1, ...) and the position-only mask, the baselines matched
/// layer by layer and head by head on as-run work under `weights`. The
/// random masks follow the data mask's forced-tile rules and draw only
/// tiles with calibration mass (tilesWithMass), as `sieve prune` keeps.
Expected<std::vector<MaskSet>> fairMaskSets(const AttentionStats &stats,
                                            const PruneOptions &options,
                                            const std::vector<double> &weights, int64_t randomSeeds,
                                            uint64_t firstSeed, int64_t sinkBlocks);

} // namespace sieve::calibration

#endif
