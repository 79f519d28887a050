//===- Reach.h - how much of the stats grid calibration reached -*- C++ -*-===//
//
// The stats grid is as long as --max-seq (the model's 512 tokens by
// default); sentences shorter than that fill only its top-left tiles. A
// tile no sentence reached has no mass, so `sieve prune` drops it first:
// on short sentences with the defaults, a 90% mask drops only tiles that
// never ran and keeps every tile that did. Neither command may let that
// pass in silence.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TOOLS_REACH_H
#define SIEVE_TOOLS_REACH_H

#include "sieve/calibration/Prune.h"
#include "sieve/calibration/Stats.h"

#include <string>

namespace sieve::tools {

/// For `sieve calibrate`: a note when the sentences reached less than half
/// of the grid's query blocks (in some layer), saying how to fit the grid;
/// empty otherwise.
std::string calibrationReachNote(const calibration::AttentionStats &stats);

/// For `sieve prune`: a warning when some pruned tiles lie outside what
/// the calibration set reached (no mass), with how many, and how much of
/// what it did reach the mask keeps; empty when every pruned tile was
/// reached.
std::string unreachedPruneWarning(const calibration::AttentionStats &stats,
                                  const calibration::PruneResult &result);

} // namespace sieve::tools

#endif
