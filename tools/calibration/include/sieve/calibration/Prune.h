//===- Prune.h - attention statistics to a block mask ----------*- C++ -*-===//
//
// `sieve prune`: keep the tiles that hold the most attention mass, at a
// target sparsity, per head, per layer or over the model; optionally keep
// the diagonal, at least k tiles per query block, and only the K most
// important heads. docs/stats-format.md describes the rules exactly.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CALIBRATION_PRUNE_H
#define SIEVE_CALIBRATION_PRUNE_H

#include "sieve/calibration/Stats.h"
#include "sieve/runtime/BlockMask.h"

#include <optional>
#include <string>
#include <vector>

namespace sieve::calibration {

/// Where the budget of kept tiles is shared: each head keeps its own top
/// tiles, each layer its top tiles over all its heads, or the whole model
/// (self- and cross-attention layers are separate pools).
enum class PruneScope { Head, Layer, Global };
Expected<PruneScope> parsePruneScope(const std::string &name);

struct PruneOptions {
  /// Fraction of tiles dropped, in [0, 1], in self-attention layers.
  double sparsity = 0.9;
  /// The same for cross-attention layers; unset: `sparsity`.
  std::optional<double> crossSparsity;
  PruneScope scope = PruneScope::Head;
  /// Always keep tiles that cross the diagonal (query i and key i in one tile).
  bool keepDiagonal = false;
  /// Keep at least this many tiles (the heaviest) in every query block of
  /// every kept head.
  int64_t minPerRow = 0;
  /// Keep only this many heads over the whole model (the most important);
  /// the others get empty masks. Unset: all heads.
  std::optional<int64_t> keepHeads;
  /// Head importance, [layers][heads], higher is kept first; empty: from the
  /// stats (headImportanceFromStats).
  std::vector<std::vector<double>> headScores;
};

struct PruneResult {
  /// One mask per layer, [heads, query blocks, key blocks].
  std::vector<runtime::BlockMask> masks;
  /// [layers][heads]: the fraction of the head's mass in its kept tiles (0
  /// for a pruned head, 1 for a head with no mass that keeps all).
  std::vector<std::vector<double>> retained;
  /// [layers]: the fraction of the layer's mass kept.
  std::vector<double> layerRetained;
  std::vector<std::vector<double>> importance;
  std::vector<std::vector<bool>> headKept;
};

/// The stats' head importance: the fraction of a head's mass held by its
/// heaviest ceil((1 - sparsity) x tiles) tiles, i.e. how well a tile mask
/// at that density preserves the head. Diffuse heads score low.
std::vector<std::vector<double>> headImportanceFromStats(const AttentionStats &stats,
                                                         double sparsity);

Expected<PruneResult> prune(const AttentionStats &stats, const PruneOptions &options);

/// Reads head scores: a JSON array of `layers` arrays of `heads` numbers.
Expected<std::vector<std::vector<double>>> readHeadScores(const std::string &path, int64_t layers,
                                                          int64_t heads);

/// A table of retained mass per layer and head, for people.
std::string formatRetained(const AttentionStats &stats, const PruneResult &result);

} // namespace sieve::calibration

#endif
