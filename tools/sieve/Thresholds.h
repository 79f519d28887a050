//===- Thresholds.h - per-head score thresholds files (threshold mode) -*- C++ -*-===//
//
// Learned-threshold pruning gives every layer and head a score threshold;
// sieve keeps them as JSON: a list of numbers (one per head), or a list of
// such lists (one per layer). `sieve prune --thresholds` checks them against
// the stats and keeps them beside the mask; `sieve run --thresholds` runs
// the threshold-mode kernel with one layer's.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TOOLS_THRESHOLDS_H
#define SIEVE_TOOLS_THRESHOLDS_H

#include "sieve/Error.h"

#include <string>
#include <vector>

namespace sieve::tools {

/// Thresholds per layer (a flat list is one layer); every layer has `heads`
/// numbers. Errors name the file and what is wrong.
Expected<std::vector<std::vector<float>>> readThresholdsFile(const std::string &path,
                                                             int64_t heads);

/// Writes per-layer thresholds as a JSON list of lists, atomically.
Error writeThresholdsFile(const std::string &path, const std::vector<std::vector<float>> &layers);

} // namespace sieve::tools

#endif
