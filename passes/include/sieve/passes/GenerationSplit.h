//===- GenerationSplit.h - how many parts a decode step's rows are cut into -*- C++ -*-===//
//
// The rule of `sieve-split-rows`' `generation` option (docs/generation.md,
// "With split-KV"), as a plain function: the pass applies it to an op, and
// the compiler's GQA-packing choice (KernelSpec::packsGqa) asks it whether
// a generation kernel's rows will be split at all. MLIR-free.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_GENERATIONSPLIT_H
#define SIEVE_PASSES_GENERATIONSPLIT_H

#include <cstdint>

namespace sieve::passes {

/// `sieve-split-rows`' default `min-part-keys` (Passes.td): a part reads at
/// least this many keys.
constexpr int64_t kMinPartKeys = 512;

/// The parts S every row of a generation op's decode step is cut into:
/// the S that minimizes ceil(units x S / sms) x ceil(longestRow / S), the
/// busiest SM's walk, with parts of at least `minPartBlocks` key blocks (or
/// S = 1); ties go to fewer parts. `units` is batch x row heads, the rows
/// one step runs; `longestRow` counts key blocks. 1: the rows stay whole.
int64_t generationPartCount(int64_t longestRow, int64_t units, int64_t sms, int64_t minPartBlocks);

} // namespace sieve::passes

#endif
