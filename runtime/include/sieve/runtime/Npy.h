//===- Npy.h - numpy's .npy format, the subset masks need -------*- C++ -*-===//
//
// Mask files are plain .npy so numpy reads and writes them with np.load and
// np.save. We parse the header dictionary ourselves (it is a Python literal,
// not JSON) and accept only what a mask can be: one-byte elements, C order.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_NPY_H
#define SIEVE_RUNTIME_NPY_H

#include "sieve/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sieve::runtime {

struct NpyArray {
  std::string descr; // numpy dtype string, e.g. "|b1", "|u1"
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  std::string data; // raw element bytes, exactly product(shape) * itemsize
};

/// Which element types a caller accepts: mask tables (one byte) or the
/// little-endian float64 ('<f8') of attention statistics.
enum class NpyElements { Mask, Float64 };

/// Parses a whole .npy file (versions 1.0, 2.0, 3.0). Every problem found -
/// bad magic, truncated header, unparsable dictionary, data size that does
/// not match the shape, an element type outside `elements` - is a
/// MalformedMask error naming it.
Expected<NpyArray> parseNpy(const std::string &bytes, NpyElements elements = NpyElements::Mask);

/// Serializes a version 1.0 .npy file (header padded to 64 bytes, as numpy
/// writes it). Writes mask descrs and '<f8'.
Expected<std::string> serializeNpy(const NpyArray &array);

/// Bytes per element for the mask descrs sieve accepts, or 0 for any other.
int64_t npyItemSize(const std::string &descr);
/// 8 for little-endian float64 ('<f8'), 0 for any other descr.
int64_t npyFloat64ItemSize(const std::string &descr);

} // namespace sieve::runtime

#endif
