//===- Coverage.h - stats reweighted by the rows that reach each tile -*- C++ -*-===//
//
// Short sentences reach only the first tiles of the stats grid, so total
// mass favours them; `--coverage-from` (sieve prune and sieve evaluate)
// ranks tiles by the mean mass per query row that could reach them
// instead. Both commands read the calibration sentences the same way here.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TOOLS_COVERAGE_H
#define SIEVE_TOOLS_COVERAGE_H

#include "sieve/calibration/Stats.h"
#include "sieve/models/WordPiece.h"

#include <string>

namespace sieve::tools {

/// Replaces `stats` by calibration::normalizeByCoverage of it, with the
/// token lengths of the non-blank lines of `sentencesPath` under `tokenizer`.
Error normalizeByCoverageOf(calibration::AttentionStats &stats, const std::string &sentencesPath,
                            const models::WordPieceTokenizer &tokenizer);

} // namespace sieve::tools

#endif
