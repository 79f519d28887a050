//===- SafeTensorsTest.cpp - the safetensors reader, good and crafted-bad files ===//
//
// Each bad file is built byte by byte so that exactly one thing is wrong, and
// the error must name that thing.
//
//===----------------------------------------------------------------------===//
#include "sieve/models/SafeTensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace sieve;
using namespace sieve::models;

namespace {

/// A file: the 8-byte little-endian header length, the header, the data.
std::vector<uint8_t> makeFile(const std::string &header, const std::vector<uint8_t> &data,
                              uint64_t claimedLength = UINT64_MAX) {
  uint64_t n = claimedLength == UINT64_MAX ? header.size() : claimedLength;
  std::vector<uint8_t> bytes;
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<uint8_t>(n >> (8 * i)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

std::vector<uint8_t> floatBytes(std::initializer_list<float> values) {
  std::vector<uint8_t> out(values.size() * 4);
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

/// Expects parse() to fail with a message containing `needle`.
void expectMalformed(std::vector<uint8_t> bytes, const std::string &needle) {
  auto st = SafeTensors::parse(std::move(bytes), "crafted.safetensors");
  ASSERT_FALSE(st) << "expected an error mentioning '" << needle << "'";
  EXPECT_NE(st.error().message().find(needle), std::string::npos) << st.error().str();
  EXPECT_NE(st.error().message().find("crafted.safetensors"), std::string::npos)
      << st.error().str();
}

const char *kGood = R"({"__metadata__":{"format":"pt"},)"
                    R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                    R"("h":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},)"
                    R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},)"
                    R"("ids":{"dtype":"I64","shape":[1],"data_offsets":[24,32]}})";

std::vector<uint8_t> goodData() {
  std::vector<uint8_t> data = floatBytes({1.0f, -2.5f, 3.25f, 1e-3f});
  // F16 1.0 = 0x3C00, -2.0 = 0xC000; BF16 1.0 = 0x3F80, 0.5 = 0x3F00.
  for (uint16_t bits : {0x3C00, 0xC000, 0x3F80, 0x3F00}) {
    data.push_back(static_cast<uint8_t>(bits & 0xFF));
    data.push_back(static_cast<uint8_t>(bits >> 8));
  }
  for (int i = 0; i < 8; ++i)
    data.push_back(i == 0 ? 7 : 0);
  return data;
}

TEST(SafeTensors, ReadsF32F16AndBF16AsFloat) {
  auto st = SafeTensors::parse(makeFile(kGood, goodData()), "good");
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->tensors().size(), 4u);
  EXPECT_EQ(st->metadata().at("format"), "pt");
  auto a = st->loadFloat("a", {2, 2});
  ASSERT_TRUE(a) << a.error().str();
  EXPECT_EQ(*a, (std::vector<float>{1.0f, -2.5f, 3.25f, 1e-3f}));
  auto h = st->loadFloat("h");
  ASSERT_TRUE(h) << h.error().str();
  EXPECT_EQ(*h, (std::vector<float>{1.0f, -2.0f}));
  auto b = st->loadFloat("b");
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ(*b, (std::vector<float>{1.0f, 0.5f}));
  ASSERT_NE(st->find("ids"), nullptr);
  EXPECT_EQ(st->find("ids")->dtype, SafeDType::I64);
}

TEST(SafeTensors, OpensFilesAndReportsMissingOnes) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(SIEVE_TEST_TMPDIR) / "safetensors";
  fs::create_directories(dir);
  fs::path path = dir / "good.safetensors";
  std::vector<uint8_t> bytes = makeFile(kGood, goodData());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char *>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  auto st = SafeTensors::open(path.string());
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_EQ(st->tensors().size(), 4u);

  auto missing = SafeTensors::open((dir / "absent.safetensors").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::Io);
  EXPECT_NE(missing.error().message().find("absent.safetensors"), std::string::npos);
}

TEST(SafeTensors, RejectsATruncatedLengthField) { expectMalformed({1, 0, 0}, "truncated"); }

TEST(SafeTensors, RejectsAHeaderThatOverrunsTheFile) {
  expectMalformed(makeFile(kGood, {}, /*claimedLength=*/100000), "header overrun");
}

TEST(SafeTensors, RejectsAHeaderThatIsNotJson) {
  expectMalformed(makeFile("{\"a\": [1, 2", {}), "not valid JSON");
  expectMalformed(makeFile("[1, 2]", {}), "not a JSON object");
}

TEST(SafeTensors, RejectsAnUnknownDtype) {
  expectMalformed(makeFile(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}})", {0}),
                  "unknown dtype 'Q4'");
}

TEST(SafeTensors, RejectsAShapeThatDoesNotMatchItsBytes) {
  expectMalformed(
      makeFile(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floatBytes({1, 2})),
      "shape/size mismatch");
}

TEST(SafeTensors, RejectsDataPastTheEndOfTheFile) {
  std::vector<uint8_t> data = goodData();
  data.resize(data.size() - 4); // the last tensor is cut short
  expectMalformed(makeFile(kGood, data), "run past the");
}

TEST(SafeTensors, RejectsMalformedEntries) {
  expectMalformed(makeFile(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", floatBytes({1})),
                  "no \"dtype\"");
  expectMalformed(
      makeFile(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", floatBytes({1})),
      "not a non-negative integer");
  expectMalformed(
      makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", floatBytes({1})),
      "data_offsets");
  expectMalformed(makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                           floatBytes({1, 2})),
                  "overlap");
}

TEST(SafeTensors, NamesAMissingTensorAndAWrongShapeOrDtype) {
  auto st = SafeTensors::parse(makeFile(kGood, goodData()), "good");
  ASSERT_TRUE(st) << st.error().str();
  auto missing = st->loadFloat("nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("missing tensor 'nope'"), std::string::npos)
      << missing.error().str();
  auto shape = st->loadFloat("a", {4});
  ASSERT_FALSE(shape);
  EXPECT_EQ(shape.error().code(), ErrorCode::ShapeMismatch);
  EXPECT_NE(shape.error().message().find("[2, 2], expected [4]"), std::string::npos)
      << shape.error().str();
  auto ints = st->loadFloat("ids");
  ASSERT_FALSE(ints);
  EXPECT_EQ(ints.error().code(), ErrorCode::DTypeMismatch);
}

} // namespace
