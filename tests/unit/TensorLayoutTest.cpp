//===- TensorLayoutTest.cpp - launch-time layout checks -------------------===//
//
// The tensor-core kernel loads 16 bytes at a time along the head dimension;
// a launch with a layout it cannot read must fail with a message that names
// the tensor and the fault, never run.
//
//===----------------------------------------------------------------------===//
#include "sieve/runtime/TensorView.h"

#include <gtest/gtest.h>

#include <cstdint>

using namespace sieve;
using namespace sieve::runtime;

namespace {

alignas(64) uint16_t storage[4096];

TensorView bhsd(void *data) {
  return TensorView::contiguous(data, DType::BF16, {1, 2, 16, 64}, DeviceKind::Cuda);
}

void expectError(const Error &e, const char *needle) {
  ASSERT_TRUE(e) << "expected an error mentioning " << needle;
  EXPECT_NE(e.message().find(needle), std::string::npos) << e.str();
  EXPECT_NE(e.message().find("'key'"), std::string::npos) << e.str();
}

TEST(TensorLayout, AcceptsBhsdAndBshd) {
  EXPECT_FALSE(checkTensorLayout(bhsd(storage), "key", true, 16));
  TensorView bshd = bhsd(storage);
  bshd.strides = {16 * 2 * 64, 64, 2 * 64, 1};
  EXPECT_FALSE(checkTensorLayout(bshd, "key", true, 16));
}

TEST(TensorLayout, RejectsStridedHeadDimension) {
  TensorView t = bhsd(storage);
  t.strides = {2 * 16 * 128, 16 * 128, 128, 2};
  expectError(checkTensorLayout(t, "key", true, 0), "stride 2 on the head dimension");
}

TEST(TensorLayout, RejectsMisalignedBase) {
  expectError(checkTensorLayout(bhsd(storage + 1), "key", true, 16), "not 16-byte aligned");
  // Without an alignment requirement the same view is fine.
  EXPECT_FALSE(checkTensorLayout(bhsd(storage + 1), "key", true, 0));
}

TEST(TensorLayout, RejectsRowStrideOffTheChunk) {
  TensorView t = bhsd(storage);
  t.strides = {2 * 16 * 68, 16 * 68, 68, 1}; // rows padded to 68 elements: 136 bytes
  expectError(checkTensorLayout(t, "key", true, 16), "stride 68 in dimension 2");
}

} // namespace
