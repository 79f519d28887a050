//===- Evaluate.h - how far a pruned model's embeddings move ----*- C++ -*-===//
//
// `sieve evaluate`: the math behind the pruning result table. Compares
// sentence embeddings of a pruned model with the dense model's (mean cosine
// similarity, top-1 nearest-neighbour agreement) and ranks retrieval
// documents; the baselines a pruned mask is compared with are made in
// MatchedMasks.h.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CALIBRATION_EVALUATE_H
#define SIEVE_CALIBRATION_EVALUATE_H

#include "sieve/Error.h"
#include "sieve/calibration/Stats.h"
#include "sieve/runtime/BlockMask.h"

#include <cstdint>
#include <vector>

namespace sieve::calibration {

using Embeddings = std::vector<std::vector<float>>;

/// Cosine similarity of two vectors of equal length (0 when either is zero).
double cosine(const std::vector<float> &a, const std::vector<float> &b);

/// Mean over i of cosine(a[i], b[i]); a and b must have the same shape.
Expected<double> meanCosine(const Embeddings &a, const Embeddings &b);

/// For each i, the index j != i with the highest cosine(e[i], e[j]) (the
/// lowest index among ties); -1 when there is no other embedding.
std::vector<int64_t> nearestNeighbours(const Embeddings &e);

/// The fraction of i whose nearest neighbour (among the others) under
/// `pruned` is the one under `dense`.
Expected<double> top1Agreement(const Embeddings &dense, const Embeddings &pruned);

/// Retrieval: for each query i, the rank (1 = best) of documents[i] among
/// all documents by cosine similarity to the query: 1 + the number of
/// documents scoring strictly higher. queries and documents must have the
/// same shape and at least one entry.
Expected<std::vector<int64_t>> retrievalRanks(const Embeddings &queries,
                                              const Embeddings &documents);

/// Layer `layer`'s tiles whose mass is above zero, as a mask.
runtime::BlockMask tilesWithMass(const AttentionStats &stats, int64_t layer);

/// Stats whose tiles weigh the mean mass per query row that could reach
/// them instead of the total: tile (i, j) of a layer is divided by the number
/// of query rows in block i whose sequence (of `lengths`, the calibration
/// set's token counts, cut to the grid) reaches key block j, then by the
/// number of key blocks (so every query block still holds at most its rows).
/// With sentences of many lengths the total favours the top-left tiles that
/// every sentence reaches; the mean compares tiles as a fixed-length
/// calibration set would. Tiles no sentence reaches get 0.
Expected<AttentionStats> normalizeByCoverage(const AttentionStats &stats,
                                             const std::vector<int64_t> &lengths);

/// Whether tile (qBlock, kBlock) holds some (query i, key i) pair.
bool tileCrossesDiagonal(int64_t qBlock, int64_t kBlock, int64_t blockQ, int64_t blockK);

} // namespace sieve::calibration

#endif
