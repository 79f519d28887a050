//===- MaskFileTest.cpp - .npy + JSON sidecar masks -------------------------===//
#include "sieve/runtime/MaskFile.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/Npy.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace sieve;
using namespace sieve::runtime;
namespace fs = std::filesystem;

namespace {

class MaskFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::path(SIEVE_TEST_TMPDIR) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  std::string path(const std::string &name) const { return (dir_ / name).string(); }
  void write(const std::string &name, const std::string &bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  // A valid single-layer table of the given descr and bytes, plus a sidecar.
  std::string npy(const std::string &descr, std::vector<int64_t> shape, std::string data,
                  bool fortran = false) {
    NpyArray a{descr, fortran, std::move(shape), std::move(data)};
    auto bytes = serializeNpy(a);
    EXPECT_TRUE(bytes);
    return *bytes;
  }
  void sidecar(const std::string &name, const std::string &json) { write(name, json); }
  static constexpr const char *kGoodSidecar =
      R"({"format": "sieve-block-mask", "version": 1, "block_q": 64, "block_k": 32})";

  // Reads m.npy/m.json and expects a MalformedMask error whose message
  // contains `needle`.
  void expectMalformed(const std::string &needle) {
    auto m = readMaskFile(path("m.npy"));
    ASSERT_FALSE(m) << "expected an error containing: " << needle;
    EXPECT_EQ(m.error().code(), ErrorCode::MalformedMask) << m.error().str();
    EXPECT_NE(m.error().message().find(needle), std::string::npos) << m.error().str();
  }

  fs::path dir_;
};

TEST_F(MaskFileTest, RoundTripSingleLayer) {
  BlockMask mask = BlockMask::random(3, 5, 7, 64, 32, 0.3, 5, true);
  mask.setHead(2, false);
  ASSERT_FALSE(writeMaskFile(path("m.npy"), mask, 300, 224));
  MaskFileMeta meta;
  auto back = readMaskFile(path("m.npy"), 0, &meta);
  ASSERT_TRUE(back) << back.error().str();
  EXPECT_EQ(*back, mask);
  EXPECT_EQ(meta.blockQ, 64);
  EXPECT_EQ(meta.blockK, 32);
  EXPECT_EQ(meta.seqQ, 300);
  EXPECT_EQ(meta.seqK, 224);
  EXPECT_EQ(meta.layers, 0);
  EXPECT_TRUE(fs::exists(path("m.json")));
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(MaskFileTest, RoundTripLayerStack) {
  std::vector<BlockMask> layers;
  for (int l = 0; l < 3; ++l)
    layers.push_back(BlockMask::random(2, 4, 4, 16, 16, 0.5, 100 + l, false));
  ASSERT_FALSE(writeMaskStack(path("m.npy"), layers));
  MaskFileMeta meta;
  auto all = readMaskStack(path("m.npy"), &meta);
  ASSERT_TRUE(all) << all.error().str();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(meta.layers, 3);
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ((*all)[l], layers[l]);
    auto one = readMaskFile(path("m.npy"), l);
    ASSERT_TRUE(one);
    EXPECT_EQ(*one, layers[l]);
  }
  auto outOfRange = readMaskFile(path("m.npy"), 3);
  ASSERT_FALSE(outOfRange);
  EXPECT_EQ(outOfRange.error().code(), ErrorCode::InvalidArgument);
  EXPECT_NE(outOfRange.error().message().find("layers 0..2"), std::string::npos);
}

TEST_F(MaskFileTest, AcceptsUint8Tables) {
  write("m.npy", npy("|u1", {1, 2, 2}, std::string("\x01\x00\x00\x01", 4)));
  sidecar("m.json", kGoodSidecar);
  auto m = readMaskFile(path("m.npy"));
  ASSERT_TRUE(m) << m.error().str();
  EXPECT_TRUE(m->get(0, 0, 0));
  EXPECT_FALSE(m->get(0, 0, 1));
  EXPECT_TRUE(m->get(0, 1, 1));
  EXPECT_EQ(m->blockQ(), 64);
  EXPECT_EQ(m->blockK(), 32);
}

TEST_F(MaskFileTest, RejectsMissingFile) {
  auto m = readMaskFile(path("absent.npy"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::Io);
  EXPECT_NE(m.error().message().find("absent.npy"), std::string::npos);
}

TEST_F(MaskFileTest, RejectsMissingSidecar) {
  write("m.npy", npy("|b1", {1, 1, 1}, std::string("\x01", 1)));
  expectMalformed("m.json");
}

TEST_F(MaskFileTest, RejectsBadMagic) {
  write("m.npy", "PK\x03\x04 this is a zip, not a table");
  sidecar("m.json", kGoodSidecar);
  expectMalformed("magic");
}

TEST_F(MaskFileTest, RejectsTruncatedHeaderAndData) {
  std::string good = npy("|b1", {1, 4, 4}, std::string(16, '\x01'));
  sidecar("m.json", kGoodSidecar);
  write("m.npy", good.substr(0, 20));
  expectMalformed("header");
  write("m.npy", good.substr(0, good.size() - 3));
  expectMalformed("truncated");
  write("m.npy", good + "extra");
  expectMalformed("bytes but the shape needs");
}

TEST_F(MaskFileTest, RejectsGarbledHeaderDictionary) {
  std::string good = npy("|b1", {1, 1, 1}, std::string("\x01", 1));
  sidecar("m.json", kGoodSidecar);
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"'shape': (", "'shape': ["}, {"'descr'", "'dexcr'"}, {"False", "Nope!"}, {"{", " "}}) {
    std::string bad = good;
    bad.replace(bad.find(from), from.size(), to);
    write("m.npy", bad);
    expectMalformed(".npy header");
  }
}

TEST_F(MaskFileTest, RejectsNonMaskElementTypes) {
  write("m.npy",
        std::string(npy("|u1", {1, 1, 1}, std::string(1, '\x01')))
            .replace(std::string(npy("|u1", {1, 1, 1}, std::string(1, '\x01'))).find("|u1"), 3,
                     "<f4"));
  sidecar("m.json", kGoodSidecar);
  expectMalformed("'<f4' is not a mask type");
}

TEST_F(MaskFileTest, RejectsFortranOrderAndWrongRank) {
  sidecar("m.json", kGoodSidecar);
  write("m.npy", npy("|b1", {1, 2, 2}, std::string(4, '\x01'), /*fortran=*/true));
  expectMalformed("Fortran");
  write("m.npy", npy("|b1", {4, 4}, std::string(16, '\x01')));
  expectMalformed("2 dimensions");
  write("m.npy", npy("|b1", {1, 0, 4}, ""));
  expectMalformed("zero-length");
}

TEST_F(MaskFileTest, RejectsNonBooleanValues) {
  write("m.npy", npy("|u1", {1, 2, 2}, std::string("\x01\x00\x07\x01", 4)));
  sidecar("m.json", kGoodSidecar);
  expectMalformed("tile 2 holds 7");
}

TEST_F(MaskFileTest, RejectsBadSidecars) {
  write("m.npy", npy("|b1", {1, 2, 2}, std::string(4, '\x01')));
  struct Case {
    const char *json;
    const char *needle;
  };
  for (Case c : {
           Case{"{not json", "not valid JSON"},
           Case{"[1, 2]", "not a JSON object"},
           Case{R"({"format": "other", "version": 1, "block_q": 64, "block_k": 64})", "format"},
           Case{R"({"format": "sieve-block-mask", "version": 9, "block_q": 64, "block_k": 64})",
                "version 9"},
           Case{R"({"format": "sieve-block-mask", "version": 1, "block_k": 64})", "block_q"},
           Case{R"({"format": "sieve-block-mask", "version": 1, "block_q": -64, "block_k": 64})",
                "positive integer"},
           Case{R"({"format": "sieve-block-mask", "version": 1, "block_q": 64, "block_k": "64"})",
                "positive integer"},
           Case{R"({"format": "sieve-block-mask", "version": 1, "block_q": 64, "block_k": 64,
                    "blockq": 3})",
                "unknown key \"blockq\""},
           Case{R"({"format": "sieve-block-mask", "version": 1, "block_q": 64, "block_k": 64,
                    "seq_q": 300})",
                "seq_q=300 needs 5 blocks"},
       }) {
    sidecar("m.json", c.json);
    expectMalformed(c.needle);
  }
}

TEST_F(MaskFileTest, ReadsNpyFormatVersions2And3) {
  // Versions 2 and 3 differ from 1 only in a 4-byte header length.
  std::string v1 = npy("|b1", {1, 1, 2}, std::string("\x01\x00", 2));
  uint16_t len = static_cast<uint8_t>(v1[8]) | (static_cast<uint8_t>(v1[9]) << 8);
  for (char major : {'\x02', '\x03'}) {
    std::string v =
        v1.substr(0, 6) + major + '\x00' +
        std::string({static_cast<char>(len & 0xff), static_cast<char>(len >> 8), 0, 0}) +
        v1.substr(10);
    write("m.npy", v);
    sidecar("m.json", kGoodSidecar);
    auto m = readMaskFile(path("m.npy"));
    ASSERT_TRUE(m) << m.error().str();
    EXPECT_TRUE(m->get(0, 0, 0));
    EXPECT_FALSE(m->get(0, 0, 1));
  }
  v1[6] = '\x07';
  write("m.npy", v1);
  expectMalformed("version 7");
}

TEST_F(MaskFileTest, WriteRejectsInconsistentInput) {
  BlockMask a = BlockMask::random(2, 4, 4, 16, 16, 0.5, 1, false);
  BlockMask b = BlockMask::random(2, 4, 5, 16, 16, 0.5, 1, false);
  Error e = writeMaskStack(path("m.npy"), {a, b});
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  EXPECT_TRUE(writeMaskFile(path("m.npy"), a, /*seqQ=*/100)); // 100 rows need 7 blocks of 16
  EXPECT_TRUE(writeMaskFile(path("m.npy"), BlockMask()));
  EXPECT_FALSE(fs::exists(path("m.npy")));
}

// numpy must read what sieve writes and sieve must read what numpy writes.
// The interpreter is the one CMake found with numpy; without one, skip.
TEST_F(MaskFileTest, NumpyInterop) {
  std::string python = SIEVE_TEST_PYTHON;
  if (python.empty())
    GTEST_SKIP() << "no python3 with numpy found at configure time";
  BlockMask mask = BlockMask::random(2, 3, 5, 64, 64, 0.4, 9, false);
  ASSERT_FALSE(writeMaskFile(path("ours.npy"), mask));
  // numpy reads ours, checks a few tiles, and writes its own uint8 stack.
  std::string script = path("interop.py");
  std::ofstream(script)
      << "import json, sys, numpy as np\n"
         "d = sys.argv[1]\n"
         "a = np.load(d + '/ours.npy')\n"
         "assert a.dtype == np.bool_ and a.shape == (2, 3, 5), (a.dtype, a.shape)\n"
         "print(''.join('1' if x else '0' for x in a.ravel()))\n"
         "t = (np.arange(2*2*3*4).reshape(2, 2, 3, 4) % 3 == 0).astype(np.uint8)\n"
         "np.save(d + '/theirs.npy', t)\n"
         "json.dump({'format': 'sieve-block-mask', 'version': 1, 'block_q': 128,\n"
         "           'block_k': 64, 'seq_q': 300, 'seq_k': 256},\n"
         "          open(d + '/theirs.json', 'w'))\n";
  std::string out = path("interop.out");
  int rc = std::system((python + " " + script + " " + dir_.string() + " > " + out).c_str());
  ASSERT_EQ(rc, 0) << "numpy script failed";
  std::string bits;
  std::ifstream(out) >> bits;
  ASSERT_EQ(bits.size(), 30u);
  for (int h = 0, n = 0; h < 2; ++h)
    for (int q = 0; q < 3; ++q)
      for (int k = 0; k < 5; ++k, ++n)
        EXPECT_EQ(bits[n] == '1', mask.get(h, q, k)) << n;

  MaskFileMeta meta;
  auto theirs = readMaskStack(path("theirs.npy"), &meta);
  ASSERT_TRUE(theirs) << theirs.error().str();
  ASSERT_EQ(theirs->size(), 2u);
  EXPECT_EQ(meta.seqQ, 300);
  for (int l = 0, n = 0; l < 2; ++l)
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 3; ++q)
        for (int k = 0; k < 4; ++k, ++n)
          EXPECT_EQ((*theirs)[l].get(h, q, k), n % 3 == 0) << n;
}

} // namespace
