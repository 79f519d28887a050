//===- StatsFileTest.cpp - the attention stats file format ----------------===//
#include "sieve/calibration/Stats.h"
#include "sieve/runtime/MaskFile.h"
#include "sieve/runtime/Npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace sieve;
using namespace sieve::calibration;
namespace fs = std::filesystem;

namespace {

class StatsFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::path(SIEVE_TEST_TMPDIR) / "stats" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  std::string path(const std::string &name) const { return (dir_ / name).string(); }
  std::string read(const std::string &name) const {
    std::ifstream in(path(name), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void write(const std::string &name, const std::string &bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  // 2 layers (self, cross) x 3 heads, 10 x 7 tokens in 4 x 4 tiles: 3 x 2 tiles.
  static AttentionStats sample() {
    auto s = AttentionStats::create(2, 3, 10, 7, 4, 4);
    EXPECT_TRUE(s);
    s->layers[1].name = "decoder.cross";
    s->layers[1].kind = LayerKind::Cross;
    for (int64_t l = 0; l < 2; ++l) {
      s->layers[l].calls = 2;
      s->layers[l].rows = {8, 8, 4};
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t qb = 0; qb < 3; ++qb) {
          double rows = static_cast<double>(s->layers[l].rows[qb]);
          double a = 0.1 * (1 + h + qb + l);
          s->at(l, h, qb, 0) = rows * a;
          s->at(l, h, qb, 1) = rows * (1 - a);
        }
    }
    s->comment = "test";
    return *s;
  }
  // Writes sample() with its sidecar replaced by `json`, and expects an
  // InvalidArgument error containing `needle`.
  void expectRejected(const std::string &json, const std::string &needle) {
    ASSERT_FALSE(writeStatsFile(path("s.npy"), sample()));
    write("s.json", json);
    auto back = readStatsFile(path("s.npy"));
    ASSERT_FALSE(back) << "expected an error containing: " << needle;
    EXPECT_EQ(back.error().code(), ErrorCode::InvalidArgument) << back.error().str();
    EXPECT_NE(back.error().message().find(needle), std::string::npos) << back.error().str();
    EXPECT_NE(back.error().message().find("stats file"), std::string::npos);
  }
  static constexpr const char *kHeader =
      R"("format": "sieve-attention-stats", "version": 1, "heads": 3, "block_q": 4, "block_k": 4, "seq_q": 10, "seq_k": 7)";
  static std::string layersJson(const std::string &rows0 = "[8, 8, 4]") {
    return R"("layers": [{"name": "layer0", "kind": "self", "calls": 2, "rows": )" + rows0 +
           R"(}, {"name": "decoder.cross", "kind": "cross", "calls": 2, "rows": [8, 8, 4]}])";
  }
  fs::path dir_;
};

TEST_F(StatsFileTest, RoundTrip) {
  AttentionStats s = sample();
  ASSERT_FALSE(writeStatsFile(path("s.npy"), s));
  EXPECT_TRUE(fs::exists(path("s.json")));
  // Only the two files: the temporaries were renamed away.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
  auto back = readStatsFile(path("s.npy"));
  ASSERT_TRUE(back) << back.error().str();
  EXPECT_EQ(back->heads, 3);
  EXPECT_EQ(back->seqQ, 10);
  EXPECT_EQ(back->seqK, 7);
  EXPECT_EQ(back->queryBlocks(), 3);
  EXPECT_EQ(back->keyBlocks(), 2);
  ASSERT_EQ(back->numLayers(), 2);
  EXPECT_EQ(back->layers[1].name, "decoder.cross");
  EXPECT_EQ(back->layers[1].kind, LayerKind::Cross);
  EXPECT_EQ(back->layers[0].kind, LayerKind::Self);
  EXPECT_EQ(back->layers[0].rows, (std::vector<int64_t>{8, 8, 4}));
  EXPECT_EQ(back->layers[0].calls, 2);
  EXPECT_EQ(back->comment, "test");
  EXPECT_EQ(back->mass, s.mass); // bit-exact float64
}

TEST_F(StatsFileTest, TableIsFloat64NumpyLayersHeadsBlocks) {
  ASSERT_FALSE(writeStatsFile(path("s.npy"), sample()));
  auto array = runtime::parseNpy(read("s.npy"), runtime::NpyElements::Float64);
  ASSERT_TRUE(array) << array.error().str();
  EXPECT_EQ(array->descr, "<f8");
  EXPECT_EQ(array->shape, (std::vector<int64_t>{2, 3, 3, 2}));
  // A mask reader does not take it for a mask.
  EXPECT_FALSE(runtime::parseNpy(read("s.npy")));
}

TEST_F(StatsFileTest, RejectsMalformedSidecars) {
  std::string h = kHeader, l = layersJson();
  expectRejected("not json", "not valid JSON");
  expectRejected("[1]", "not a JSON object");
  expectRejected("{" + h + ", " + l + ", \"blockq\": 4}", "unknown key \"blockq\"");
  expectRejected(R"({"format": "sieve-block-mask", "version": 1})", "\"format\" must be");
  expectRejected(R"({"format": "sieve-attention-stats", "version": 2})", "version 2");
  expectRejected(R"({"format": "sieve-attention-stats", "version": 1, "heads": 3})",
                 "lacks \"block_q\"");
  expectRejected("{" + h + "}", "\"layers\" must be a non-empty array");
  expectRejected("{" + h +
                     R"(, "layers": [{"name": "a", "kind": "both", "calls": 1, "rows": []}]})",
                 "\"kind\" must be \"self\" or \"cross\"");
  expectRejected("{" + h + ", " + layersJson("[8, -1, 4]") + "}", "integers >= 0");
  expectRejected("{" + h + ", " + layersJson("[8, 8]") + "}", "rows for 2 query blocks, not 3");
  // Fewer rows than the table's mass claims.
  expectRejected("{" + h + ", " + layersJson("[8, 1, 4]") + "}", "only 1 rows were seen");
  // A sidecar for another grid: the table's shape no longer matches.
  std::string other = kHeader;
  other.replace(other.find("\"seq_q\": 10"), 11, "\"seq_q\": 20");
  expectRejected("{" + other + ", " + l + "}", "the table's shape is [2, 3, 3, 2]");
}

TEST_F(StatsFileTest, RejectsBadTables) {
  ASSERT_FALSE(writeStatsFile(path("s.npy"), sample()));
  std::string json = read("s.json");
  // A mask table is not stats.
  auto mask = runtime::BlockMask::create(3, 3, 2, 4, 4);
  ASSERT_FALSE(runtime::writeMaskFile(path("s.npy"), *mask));
  write("s.json", json);
  auto back = readStatsFile(path("s.npy"));
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message().find("is not float64"), std::string::npos) << back.error().str();

  // Negative and NaN mass.
  for (double bad : {-1.0, std::nan("")}) {
    AttentionStats s = sample();
    runtime::NpyArray a{"<f8", false, {2, 3, 3, 2}, std::string(s.mass.size() * 8, '\0')};
    s.mass[5] = bad;
    std::memcpy(a.data.data(), s.mass.data(), a.data.size());
    write("s.npy", *runtime::serializeNpy(a));
    auto r = readStatsFile(path("s.npy"));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("must be finite and not negative"), std::string::npos)
        << r.error().str();
  }
  // Truncated data.
  std::string bytes = read("s.npy");
  write("s.npy", bytes.substr(0, bytes.size() - 8));
  auto r = readStatsFile(path("s.npy"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().str();
}

TEST_F(StatsFileTest, MissingFilesAreIoErrors) {
  auto r = readStatsFile(path("absent.npy"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::Io);
  ASSERT_FALSE(writeStatsFile(path("s.npy"), sample()));
  fs::remove(path("s.json"));
  r = readStatsFile(path("s.npy"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("sidecar"), std::string::npos) << r.error().str();
}

TEST_F(StatsFileTest, WriterValidates) {
  AttentionStats s = sample();
  s.layers[1].name = "layer0";
  Error e = writeStatsFile(path("s.npy"), s);
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("appears twice"), std::string::npos) << e.str();
  EXPECT_FALSE(fs::exists(path("s.npy")));
  EXPECT_FALSE(AttentionStats::create(1, 0, 8, 8, 4, 4));
}

} // namespace
