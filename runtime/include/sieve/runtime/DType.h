//===- DType.h - element types and host conversions -------------*- C++ -*-===//
#ifndef SIEVE_RUNTIME_DTYPE_H
#define SIEVE_RUNTIME_DTYPE_H

#include "sieve/Error.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace sieve::runtime {

enum class DType { F16, BF16, F32 };

const char *dtypeName(DType dtype); // "f16", "bf16", "f32"
size_t dtypeSize(DType dtype);
Expected<DType> parseDType(const std::string &name);

/// Round-to-nearest-even conversions, for filling device inputs from host
/// floats and reading results back. NaN stays NaN; overflow goes to inf.
uint16_t floatToHalfBits(float value);
float halfBitsToFloat(uint16_t bits);
uint16_t floatToBFloat16Bits(float value);
float bfloat16BitsToFloat(uint16_t bits);

/// Converts `count` floats into `dtype` storage at `dst` and back.
void encodeFloats(DType dtype, const float *src, void *dst, size_t count);
void decodeFloats(DType dtype, const void *src, float *dst, size_t count);

} // namespace sieve::runtime

#endif
