//===- Reach.cpp ----------------------------------------------------------===//
#include "Reach.h"

#include <fmt/format.h>

#include <algorithm>

namespace sieve::tools {

namespace {

/// The query blocks whose rows some calibration call reached, in the layer
/// that reached the fewest (all layers of one model see the same rows).
int64_t reachedQueryBlocks(const calibration::AttentionStats &stats) {
  int64_t fewest = stats.queryBlocks();
  for (const calibration::LayerStats &layer : stats.layers)
    fewest = std::min<int64_t>(fewest, std::count_if(layer.rows.begin(), layer.rows.end(),
                                                     [](int64_t rows) { return rows > 0; }));
  return fewest;
}

} // namespace

std::string calibrationReachNote(const calibration::AttentionStats &stats) {
  const int64_t reached = reachedQueryBlocks(stats), grid = stats.queryBlocks();
  if (2 * reached >= grid)
    return "";
  return fmt::format(
      "note: the sentences reach {} of the grid's {} query blocks ({} of {} tokens). Tiles "
      "past them get no mass, so `sieve prune` drops those first and keeps every tile the "
      "sentences used; --max-seq {} fits the grid to these sentences",
      reached, grid, reached * stats.blockQ, stats.seqQ, reached * stats.blockQ);
}

std::string unreachedPruneWarning(const calibration::AttentionStats &stats,
                                  const calibration::PruneResult &result) {
  int64_t pruned = 0, unreached = 0, reached = 0, reachedKept = 0;
  for (int64_t l = 0; l < stats.numLayers(); ++l) {
    const runtime::BlockMask &mask = result.masks[static_cast<size_t>(l)];
    for (int64_t h = 0; h < stats.heads; ++h)
      for (int64_t qb = 0; qb < stats.queryBlocks(); ++qb)
        for (int64_t kb = 0; kb < stats.keyBlocks(); ++kb) {
          const bool kept = mask.get(h, qb, kb), hasMass = stats.at(l, h, qb, kb) > 0;
          pruned += !kept;
          unreached += !kept && !hasMass;
          reached += hasMass;
          reachedKept += hasMass && kept;
        }
  }
  if (unreached == 0)
    return "";
  return fmt::format(
      "warning: {} of the {} tiles pruned ({:.0f}%) lie outside what the calibration set "
      "reached (its sentences reach {} of {} query blocks): they hold no mass, and pruning "
      "them drops nothing the model ran on such sentences. Of the {} tiles it reached, the "
      "mask keeps {:.0f}%. Calibrate with --max-seq near your inputs' length, or on longer "
      "sentences",
      unreached, pruned, 100.0 * double(unreached) / double(pruned), reachedQueryBlocks(stats),
      stats.queryBlocks(), reached,
      reached > 0 ? 100.0 * double(reachedKept) / double(reached) : 0.0);
}

} // namespace sieve::tools
