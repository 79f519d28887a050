//===- Throughput.h - the FLOP rate `sieve run` reports ---------*- C++ -*-===//
//
// A rate counts the work the attention needs, not the work a kernel might
// do: of each kept tile only the query-key pairs inside Sq x Sk, less the
// keys causal masks, and in threshold mode the P.V products of the scores
// over the thresholds only. FlashAttention's causal figures count the same
// way, so the numbers compare.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TOOLS_THROUGHPUT_H
#define SIEVE_TOOLS_THROUGHPUT_H

#include "sieve/compiler/KernelSpec.h"

#include <cstdint>
#include <string>

namespace sieve::tools {

/// The (head, query, key) pairs of one batch element that the kernel
/// scores: those in kept tiles, inside the sequences, not causally masked.
int64_t scoredPairs(const compiler::KernelSpec &spec);

/// "812.3 GFLOP/s", or from 1000 GFLOP/s on "1.24 TFLOP/s".
std::string formatFlopRate(double flops, double milliseconds);

} // namespace sieve::tools

#endif
