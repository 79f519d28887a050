//===- DType.cpp - element types and host conversions ---------------------===//
#include "sieve/runtime/DType.h"

#include <cmath>
#include <cstring>

namespace sieve::runtime {

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::F32:
    return "f32";
  }
  return "?";
}

size_t dtypeSize(DType dtype) { return dtype == DType::F32 ? 4 : 2; }

Expected<DType> parseDType(const std::string &name) {
  if (name == "f16" || name == "float16")
    return DType::F16;
  if (name == "bf16" || name == "bfloat16")
    return DType::BF16;
  if (name == "f32" || name == "float32")
    return DType::F32;
  return Error(ErrorCode::InvalidArgument,
               "unknown dtype '" + name + "' (expected f16, bf16 or f32)");
}

static uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t floatToHalfBits(float value) {
  uint32_t x = bitsOf(value);
  uint16_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
  if (exp == 0xff) // inf or NaN (keep a quiet NaN)
    return sign | 0x7c00 | (mant ? 0x200 : 0);
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 0x1f)
    return sign | 0x7c00;
  if (e <= 0) { // subnormal half or zero
    if (e < -10)
      return sign;
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent, which is the right rounding
  return sign | static_cast<uint16_t>(half);
}

float halfBitsToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f)
    return floatOf(sign | 0x7f800000 | (mant << 13));
  if (exp == 0) {
    if (mant == 0)
      return floatOf(sign);
    float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  return floatOf(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t floatToBFloat16Bits(float value) {
  uint32_t x = bitsOf(value);
  if ((x & 0x7fffffff) > 0x7f800000)
    return static_cast<uint16_t>((x >> 16) | 0x40); // quiet NaN
  uint32_t rounding = 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

float bfloat16BitsToFloat(uint16_t bits) { return floatOf(static_cast<uint32_t>(bits) << 16); }

void encodeFloats(DType dtype, const float *src, void *dst, size_t count) {
  switch (dtype) {
  case DType::F32:
    std::memcpy(dst, src, count * 4);
    return;
  case DType::F16:
    for (size_t i = 0; i < count; ++i)
      static_cast<uint16_t *>(dst)[i] = floatToHalfBits(src[i]);
    return;
  case DType::BF16:
    for (size_t i = 0; i < count; ++i)
      static_cast<uint16_t *>(dst)[i] = floatToBFloat16Bits(src[i]);
    return;
  }
}

void decodeFloats(DType dtype, const void *src, float *dst, size_t count) {
  switch (dtype) {
  case DType::F32:
    std::memcpy(dst, src, count * 4);
    return;
  case DType::F16:
    for (size_t i = 0; i < count; ++i)
      dst[i] = halfBitsToFloat(static_cast<const uint16_t *>(src)[i]);
    return;
  case DType::BF16:
    for (size_t i = 0; i < count; ++i)
      dst[i] = bfloat16BitsToFloat(static_cast<const uint16_t *>(src)[i]);
    return;
  }
}

} // namespace sieve::runtime
