//===- RowCheck.cpp -------------------------------------------------------===//
#include "sieve/testing/RowCheck.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace sieve::testing {

double rowTolerance(runtime::DType dtype) {
  switch (dtype) {
  case runtime::DType::F32:
    return 1e-5;
  case runtime::DType::F16:
    return 4e-3;
  case runtime::DType::BF16:
    return 2e-2;
  }
  return 0;
}

namespace {

/// One row's error: relative 2-norm, 0 for an exactly zero row where the
/// reference is zero, infinite for anything non-finite or written into a
/// row that must stay zero.
double rowError(const float *got, const double *ref, int64_t dim) {
  double diff = 0, norm = 0;
  for (int64_t d = 0; d < dim; ++d) {
    if (!std::isfinite(got[d]))
      return std::numeric_limits<double>::infinity();
    const double e = double(got[d]) - ref[d];
    diff += e * e;
    norm += ref[d] * ref[d];
  }
  if (norm == 0)
    return diff == 0 ? 0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / norm);
}

} // namespace

RowComparison compareRows(const float *got, const std::vector<double> &ref, int64_t batch,
                          int64_t heads, int64_t seq, int64_t dim, double tolerance) {
  RowComparison c;
  std::ostringstream report;
  constexpr int kReported = 4;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < seq; ++i) {
        const size_t at = static_cast<size_t>(((b * heads + h) * seq + i) * dim);
        const double e = rowError(got + at, ref.data() + at, dim);
        ++c.rows;
        if (c.worstBatch < 0 || !(e <= c.worstError)) {
          c.worstError = e;
          c.worstBatch = b, c.worstHead = h, c.worstRow = i;
        }
        if (e <= tolerance)
          continue;
        if (c.badRows++ < kReported)
          report << "(b " << b << ", h " << h << ", row " << i << "): error " << e << ", got[" << 0
                 << "] " << got[at] << " want " << ref[at] << "; ";
      }
  c.report = report.str();
  if (c.badRows > kReported)
    c.report += "and " + std::to_string(c.badRows - kReported) + " more rows";
  return c;
}

} // namespace sieve::testing
