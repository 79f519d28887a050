//===- RowCheck.h - kernel outputs against float64, row by row ---*- C++ -*-===//
//
// Every kernel test judges its output one (batch, head, query row) at a
// time: a single row left zero, stale or unwritten among thousands of right
// ones must fail, which an error over the whole tensor hides (one zeroed row
// of 4096 moves the tensor's relative error by 1.6%). A row's error is
// ||got - ref|| / ||ref|| over its head dimension; a row the reference
// leaves zero (no kept key) must be exactly zero; NaN or Inf where the
// reference is finite never passes.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_ROWCHECK_H
#define SIEVE_TESTING_ROWCHECK_H

#include "sieve/runtime/DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sieve::testing {

/// The largest row error a correct kernel shows for outputs of `dtype`,
/// with f32 accumulation, against float64. f32: accumulation-order rounding
/// (about 1e-6). f16 and bf16: the probabilities are rounded to the dtype
/// before P.V and the output on its store, 2^-11 and 2^-8 relative each.
double rowTolerance(runtime::DType dtype);

/// The outcome of a row-by-row comparison, with the worst row named.
struct RowComparison {
  int64_t rows = 0, badRows = 0;
  double worstError = 0;
  int64_t worstBatch = -1, worstHead = -1, worstRow = -1;
  /// "(b 0, h 3, row 17): error 1, got ... want ..." for the first few bad rows.
  std::string report;
  bool ok() const { return badRows == 0; }
};

/// Compares `got` with `ref`, both contiguous [batch, heads, seq, dim].
RowComparison compareRows(const float *got, const std::vector<double> &ref, int64_t batch,
                          int64_t heads, int64_t seq, int64_t dim, double tolerance);

} // namespace sieve::testing

#endif
