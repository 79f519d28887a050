//===- Stats.h - attention mass per layer, head and tile --------*- C++ -*-===//
//
// What calibration measures and pruning reads: for every attention layer,
// head, query block and key block, the softmax probability mass that fell in
// the tile, summed over every query row the calibration set produced, and
// how many query rows each query block saw. docs/stats-format.md is the
// file format (a float64 .npy table and a JSON sidecar).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CALIBRATION_STATS_H
#define SIEVE_CALIBRATION_STATS_H

#include "sieve/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sieve::calibration {

/// Self-attention (queries and keys from the same sequence) or cross-
/// attention (keys from another one); pruning can treat them apart.
enum class LayerKind { Self, Cross };
const char *layerKindName(LayerKind kind);

struct LayerStats {
  std::string name;
  LayerKind kind = LayerKind::Self;
  /// Attention calls accumulated (each call may hold a batch).
  int64_t calls = 0;
  /// Query rows seen per query block, over all calls and batch entries
  /// (the same for every head). Every row's probabilities sum to 1, so a
  /// head's mass over all tiles of query block i is rows[i] (dense
  /// calibration keeps every key).
  std::vector<int64_t> rows;
};

struct AttentionStats {
  int64_t heads = 0;
  int64_t blockQ = 0, blockK = 0;
  /// The grid's sequence lengths: the longest query and key sequence the
  /// stats can hold; shorter calls fill the top-left blocks.
  int64_t seqQ = 0, seqK = 0;
  std::vector<LayerStats> layers;
  /// [layers, heads, queryBlocks, keyBlocks], row-major.
  std::vector<double> mass;
  std::string comment;

  /// Zeroed stats for `layers` layers, named "layer0", ... and all Self.
  static Expected<AttentionStats> create(int64_t layers, int64_t heads, int64_t seqQ, int64_t seqK,
                                         int64_t blockQ, int64_t blockK);

  int64_t numLayers() const { return static_cast<int64_t>(layers.size()); }
  /// ceil(seq / block), without the overflow of seq + block - 1 for the
  /// sequence lengths a sidecar may claim.
  int64_t queryBlocks() const { return seqQ <= 0 ? 0 : (seqQ - 1) / blockQ + 1; }
  int64_t keyBlocks() const { return seqK <= 0 ? 0 : (seqK - 1) / blockK + 1; }
  size_t index(int64_t layer, int64_t head, int64_t qb, int64_t kb) const {
    return static_cast<size_t>(((layer * heads + head) * queryBlocks() + qb) * keyBlocks() + kb);
  }
  double &at(int64_t layer, int64_t head, int64_t qb, int64_t kb) {
    return mass[index(layer, head, qb, kb)];
  }
  double at(int64_t layer, int64_t head, int64_t qb, int64_t kb) const {
    return mass[index(layer, head, qb, kb)];
  }
  /// Query rows seen by `layer` over all query blocks.
  int64_t totalRows(int64_t layer) const;
  /// The mass of one head over all its tiles.
  double headMass(int64_t layer, int64_t head) const;

  /// Checks sizes, names, kinds, rows, and that the mass is finite, not
  /// negative, and per (layer, head, query block) at most the rows seen.
  /// Errors name the layer, head or field.
  Error validate() const;
};

/// "stats/s.npy" -> "stats/s.json"; any other name gets ".json" appended.
std::string statsSidecarPath(const std::string &npyPath);

/// Writes the table, then the sidecar, each to a temporary file renamed into
/// place. Validates first.
Error writeStatsFile(const std::string &npyPath, const AttentionStats &stats);

/// Reads and validates a stats file. A missing file is an Io error; a
/// malformed one an InvalidArgument error whose message starts with
/// "stats file PATH:" and names the problem.
Expected<AttentionStats> readStatsFile(const std::string &npyPath);

} // namespace sieve::calibration

#endif
