//===- ArtifactTest.cpp - artifact files: round trip and corruption -------===//
#include "sieve/runtime/Artifact.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace sieve;
using namespace sieve::runtime;
namespace fs = std::filesystem;

namespace {

Artifact sampleArtifact() {
  Artifact a;
  a.backend = Backend::Cuda;
  a.chip = "sm_90a";
  a.code = "//\n.version 8.0\n.target sm_90a\n// body\n";
  KernelLaunch attention;
  attention.entry = "sieve_attention";
  attention.grid = {32, 2, 1};
  attention.block = {64, 1, 1};
  attention.sharedBytes = 81920;
  attention.params = memrefDescriptorParams();
  a.launches = {attention};
  a.variant = "mma";
  a.config = "mma block_q=64 block_k=64 key_tile=64 stages=2 warps=4";
  a.unitInnerStride = true;
  a.alignBytes = 16;
  a.shape = {2, 4, 2, 512, 384, 64, DType::BF16};
  a.causal = true;
  a.scale = 0.125;
  a.keptTiles = 61;
  a.totalTiles = 192;
  a.cacheKey = std::string(64, 'a');
  a.compilerVersion = "sieve test";
  return a;
}

class ArtifactTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::path(SIEVE_TEST_TMPDIR) / "artifact" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  std::string stem() const { return (dir_ / "k").string(); }
  fs::path dir_;
};

TEST_F(ArtifactTest, SaveLoadRoundTrip) {
  Artifact a = sampleArtifact();
  ASSERT_FALSE(a.save(stem()));
  EXPECT_TRUE(fs::exists(stem() + ".ptx"));
  auto b = Artifact::load(stem() + ".json");
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ(b->code, a.code);
  ASSERT_EQ(b->launches.size(), 1u);
  EXPECT_EQ(b->mainLaunch().role, LaunchRole::Attention);
  EXPECT_EQ(b->mainLaunch().entry, "sieve_attention");
  EXPECT_EQ(b->mainLaunch().grid, a.mainLaunch().grid);
  EXPECT_EQ(b->mainLaunch().block, a.mainLaunch().block);
  EXPECT_EQ(b->mainLaunch().sharedBytes, a.mainLaunch().sharedBytes);
  EXPECT_EQ(b->variant, a.variant);
  EXPECT_EQ(b->config, a.config);
  EXPECT_EQ(b->unitInnerStride, a.unitInnerStride);
  EXPECT_EQ(b->alignBytes, a.alignBytes);
  EXPECT_EQ(b->mainLaunch().params, a.mainLaunch().params);
  EXPECT_EQ(b->shape, a.shape);
  EXPECT_EQ(b->causal, a.causal);
  EXPECT_EQ(b->scale, a.scale);
  EXPECT_EQ(b->cacheKey, a.cacheKey);
  EXPECT_EQ(b->chip, "sm_90a");
  // Only the two files: temporaries were renamed away.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

// What the compiler warned of travels with the artifact; metadata written
// before artifacts kept warnings (no "warnings" key) reads as none.
TEST_F(ArtifactTest, WarningsRoundTrip) {
  Artifact a = sampleArtifact();
  a.variant = "simt";
  a.warnings = {"the kernel runs on the scalar simt body: mma needs ..."};
  ASSERT_FALSE(a.save(stem()));
  auto b = Artifact::load(stem() + ".json");
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_EQ(b->warnings, a.warnings);

  const Artifact quiet = sampleArtifact();
  std::string meta = quiet.metadataJson();
  const size_t at = meta.find("\"warnings\": [],\n");
  ASSERT_NE(at, std::string::npos) << meta;
  meta.erase(at, meta.find('\n', at) + 1 - at);
  ASSERT_EQ(meta.find("warnings"), std::string::npos) << meta;
  auto c = Artifact::fromMetadataJson(meta, quiet.code);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_TRUE(c->warnings.empty());
}

// A GPU generation kernel takes its step by value (docs/generation.md):
// positions elements 0 and 1 round-trip; by value is for those alone.
TEST_F(ArtifactTest, StepByValueSlotsRoundTripAndAreChecked) {
  Artifact a = sampleArtifact();
  a.generation = true;
  const ParamSlot qPos{ParamSlot::kPositions, ParamField::Value, 0},
      live{ParamSlot::kPositions, ParamField::Value, 1};
  a.launches[0].params.push_back(qPos);
  a.launches[0].params.push_back(live);
  ASSERT_FALSE(a.save(stem()));
  auto b = Artifact::load(stem() + ".json");
  ASSERT_TRUE(b) << b.error().str();
  const auto &params = b->mainLaunch().params;
  ASSERT_GE(params.size(), 2u);
  EXPECT_EQ(params[params.size() - 2], qPos);
  EXPECT_EQ(params.back(), live);

  // The second step slot's dimension made 2, or its tensor the thresholds.
  const std::string meta = *readFile(stem() + ".json");
  const size_t field = meta.rfind("\"field\": \"value\"");
  ASSERT_NE(field, std::string::npos) << meta;
  const size_t dim = meta.rfind("\"dim\": 1", field), tensor = meta.find("\"tensor\": 16", field);
  ASSERT_NE(dim, std::string::npos);
  ASSERT_NE(tensor, std::string::npos);
  for (bool badDim : {true, false}) {
    std::string edited = meta;
    if (badDim)
      edited.replace(dim, 8, "\"dim\": 2");
    else
      edited.replace(tensor, 12, "\"tensor\": 10");
    std::ofstream(stem() + ".json") << edited;
    auto c = Artifact::load(stem() + ".json");
    ASSERT_FALSE(c) << (badDim ? "dim 2" : "tensor 10");
    EXPECT_EQ(c.error().code(), ErrorCode::CorruptArtifact);
    EXPECT_NE(c.error().message().find("bad parameter slot"), std::string::npos) << c.error().str();
  }
}

TEST_F(ArtifactTest, TensorMapSlotsRoundTripAndAreChecked) {
  Artifact a = sampleArtifact();
  ParamSlot map{1, ParamField::TensorMap, 0};
  map.boxRows = 128;
  map.boxCols = 64;
  a.launches[0].params.push_back(map);
  ASSERT_FALSE(a.save(stem()));
  auto b = Artifact::load(stem() + ".json");
  ASSERT_TRUE(b) << b.error().str();
  ASSERT_EQ(b->mainLaunch().params.back(), map);

  // A box TMA cannot load is a corrupt artifact, not a launch-time surprise.
  std::string meta = *readFile(stem() + ".json");
  meta.replace(meta.find("\"box_rows\": 128"), 15, "\"box_rows\": 999");
  std::ofstream(stem() + ".json") << meta;
  auto c = Artifact::load(stem() + ".json");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), ErrorCode::CorruptArtifact);
  EXPECT_NE(c.error().message().find("tensor map box"), std::string::npos) << c.error().str();

  // A box row is a swizzle width (16, 32 or 64 16-bit columns: 32, 64 or
  // 128 bytes); 32-column boxes load, 48-column ones are refused.
  for (const char *cols : {"32", "48"}) {
    std::string fixed = meta;
    fixed.replace(fixed.find("\"box_rows\": 999"), 15, "\"box_rows\": 128");
    const std::string wide = "\"box_cols\": 64";
    fixed.replace(fixed.find(wide), wide.size(), std::string("\"box_cols\": ") + cols);
    std::ofstream(stem() + ".json") << fixed;
    auto d = Artifact::load(stem() + ".json");
    if (std::string(cols) == "32") {
      ASSERT_TRUE(d) << d.error().str();
      EXPECT_EQ(d->mainLaunch().params.back().boxCols, 32);
      continue;
    }
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code(), ErrorCode::CorruptArtifact);
    EXPECT_NE(d.error().message().find("tensor map box"), std::string::npos) << d.error().str();
  }
}

/// A split-KV artifact: the attention kernel and the combine kernel both
/// take the workspace (parameter "tensor" 8).
Artifact splitArtifact() {
  Artifact a = sampleArtifact();
  auto workspaceSlots = [] {
    std::vector<ParamSlot> slots;
    for (ParamField f : {ParamField::AllocatedPtr, ParamField::AlignedPtr, ParamField::Offset,
                         ParamField::Size, ParamField::Stride})
      slots.push_back({ParamSlot::kWorkspace, f, 0});
    return slots;
  };
  for (const ParamSlot &slot : workspaceSlots())
    a.launches[0].params.push_back(slot);
  KernelLaunch combine;
  combine.role = LaunchRole::Combine;
  combine.entry = "sieve_combine";
  combine.grid = {96, 2, 1};
  combine.block = {256, 1, 1};
  combine.params = memrefDescriptorParams(1);
  for (ParamSlot &slot : combine.params)
    slot.tensor = kOut;
  for (const ParamSlot &slot : workspaceSlots())
    combine.params.push_back(slot);
  a.launches.push_back(combine);
  a.workspaceBytes = 6 * 2 * 64 * 65 * 4;
  return a;
}

TEST_F(ArtifactTest, CombineLaunchRoundTripsAndIsChecked) {
  Artifact a = splitArtifact();
  ASSERT_FALSE(a.save(stem()));
  auto b = Artifact::load(stem() + ".json");
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_TRUE(b->hasCombine());
  ASSERT_EQ(b->launches.size(), 2u);
  const KernelLaunch *combine = b->launch(LaunchRole::Combine);
  ASSERT_NE(combine, nullptr);
  EXPECT_EQ(combine->entry, "sieve_combine");
  EXPECT_EQ(combine->grid, a.launches[1].grid);
  EXPECT_EQ(combine->block, a.launches[1].block);
  EXPECT_EQ(combine->params, a.launches[1].params);
  EXPECT_EQ(b->workspaceBytes, a.workspaceBytes);
  EXPECT_EQ(b->mainLaunch().params, a.mainLaunch().params);
  EXPECT_FALSE(b->maskAtLaunch()) << "the workspace is not a run-time mask table";
  EXPECT_FALSE(Artifact::load((dir_ / "none.json").string()));

  // A workspace parameter with no workspace bytes, a combine kernel with no
  // workspace, or a combine launch first is corrupt: one would launch
  // without its buffer, another leave the parts unmerged.
  Artifact noCombine = a;
  noCombine.launches.pop_back();
  noCombine.workspaceBytes = 0;
  Artifact noWorkspace = sampleArtifact();
  noWorkspace.launches.push_back(a.launches[1]);
  Artifact emptyWorkspace = a;
  emptyWorkspace.workspaceBytes = 0;
  Artifact combineFirst = a;
  std::swap(combineFirst.launches[0], combineFirst.launches[1]);
  for (const Artifact *bad : {&noCombine, &noWorkspace, &emptyWorkspace, &combineFirst}) {
    auto c = Artifact::fromMetadataJson(bad->metadataJson(), bad->code);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::CorruptArtifact) << c.error().str();
  }
}

// A combine launched as a programmatic dependent launch (it waits on the
// parts itself) keeps the flag through a save; the first launch has nothing
// to wait on, so the flag there is corrupt.
TEST_F(ArtifactTest, WaitsOnPreviousRoundTripsAndIsChecked) {
  Artifact a = splitArtifact();
  a.launches[1].waitsOnPrevious = true;
  ASSERT_FALSE(a.save(stem()));
  auto b = Artifact::load(stem() + ".json");
  ASSERT_TRUE(b) << b.error().str();
  EXPECT_FALSE(b->mainLaunch().waitsOnPrevious);
  const KernelLaunch *combine = b->launch(LaunchRole::Combine);
  ASSERT_NE(combine, nullptr);
  EXPECT_TRUE(combine->waitsOnPrevious);
  // Absent from the metadata (an artifact of an older compiler): no wait.
  Artifact plain = splitArtifact();
  auto c = Artifact::fromMetadataJson(plain.metadataJson(), plain.code);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_FALSE(c->launch(LaunchRole::Combine)->waitsOnPrevious);

  Artifact firstWaits = splitArtifact();
  firstWaits.launches[0].waitsOnPrevious = true;
  auto d = Artifact::fromMetadataJson(firstWaits.metadataJson(), firstWaits.code);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::CorruptArtifact);
  EXPECT_NE(d.error().str().find("waits on a previous one"), std::string::npos) << d.error().str();
}

// A GPU calibration kernel takes the stats table (tensor 9); the flag and the
// parameters must agree, or a launch would pass a null table or none.
TEST_F(ArtifactTest, CalibrationFlagAndStatsParametersAgree) {
  Artifact a = sampleArtifact();
  a.calibrate = true;
  for (ParamField f : {ParamField::AllocatedPtr, ParamField::AlignedPtr, ParamField::Offset})
    a.launches[0].params.push_back({ParamSlot::kStats, f, 0});
  for (ParamField f : {ParamField::Size, ParamField::Stride})
    for (int d = 0; d < 3; ++d)
      a.launches[0].params.push_back({ParamSlot::kStats, f, d});
  auto good = Artifact::fromMetadataJson(a.metadataJson(), a.code);
  ASSERT_TRUE(good) << good.error().str();
  EXPECT_EQ(good->mainLaunch().params, a.mainLaunch().params);
  Artifact flagOnly = sampleArtifact();
  flagOnly.calibrate = true;
  Artifact slotsOnly = a;
  slotsOnly.calibrate = false;
  for (const Artifact *bad : {&flagOnly, &slotsOnly}) {
    auto c = Artifact::fromMetadataJson(bad->metadataJson(), bad->code);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::CorruptArtifact) << c.error().str();
  }
}

TEST_F(ArtifactTest, ParameterLayoutIsTheMemrefDescriptor) {
  // 4 tensors x (allocated, aligned, offset, 4 sizes, 4 strides).
  auto params = memrefDescriptorParams();
  ASSERT_EQ(params.size(), 44u);
  EXPECT_EQ(params[1], (ParamSlot{0, ParamField::AlignedPtr, 0}));
  EXPECT_EQ(params[10], (ParamSlot{0, ParamField::Stride, 3}));
  EXPECT_EQ(params[43], (ParamSlot{3, ParamField::Stride, 3}));
}

// The descriptor of a contiguous buffer as a launch fills it in (the row
// tables, the offsets and page table, the stats and lse): row-major strides.
TEST(ContiguousDescriptor, FieldsAreTheRowMajorMemrefDescriptor) {
  const uint64_t address = 0x7000;
  const uint64_t length = 9, table[2] = {4, 17}, stats[3] = {3, 5, 7};
  for (ParamField pointer : {ParamField::AllocatedPtr, ParamField::AlignedPtr})
    EXPECT_EQ(contiguousDescriptorField(pointer, address, stats, 3, 0), address);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Offset, address, stats, 3, 0), 0u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Size, address, &length, 1, 0), 9u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Stride, address, &length, 1, 0), 1u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Size, address, table, 2, 1), 17u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Stride, address, table, 2, 0), 17u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Stride, address, table, 2, 1), 1u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Size, address, stats, 3, 0), 3u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Stride, address, stats, 3, 0), 35u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Stride, address, stats, 3, 1), 7u);
  EXPECT_EQ(contiguousDescriptorField(ParamField::Stride, address, stats, 3, 2), 1u);
}

TEST_F(ArtifactTest, DetectsChangedOrTruncatedCode) {
  ASSERT_FALSE(sampleArtifact().save(stem()));
  std::string code = *readFile(stem() + ".ptx");
  std::string flipped = code;
  flipped[5] ^= 1;
  std::ofstream(stem() + ".ptx", std::ios::binary) << flipped;
  auto changed = Artifact::load(stem() + ".json");
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code(), ErrorCode::CorruptArtifact);
  EXPECT_NE(changed.error().message().find("checksum"), std::string::npos) << changed.error().str();

  std::ofstream(stem() + ".ptx", std::ios::binary) << code.substr(0, 10);
  auto truncated = Artifact::load(stem() + ".json");
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code(), ErrorCode::CorruptArtifact);
  EXPECT_NE(truncated.error().message().find("truncated"), std::string::npos);
}

TEST_F(ArtifactTest, DetectsBrokenMetadata) {
  ASSERT_FALSE(sampleArtifact().save(stem()));
  std::string meta = *readFile(stem() + ".json");
  struct Case {
    std::string text;
    std::string needle;
  };
  std::string noGrid = meta;
  noGrid.replace(noGrid.find("\"grid\""), 6, "\"grix\"");
  std::string badVersion = meta;
  const std::string version = "\"version\": " + std::to_string(Artifact::kVersion);
  badVersion.replace(badVersion.find(version), version.size(), "\"version\": 6");
  std::string badAlign = meta;
  badAlign.replace(badAlign.find("\"align_bytes\": 16"), 17, "\"align_bytes\": 12");
  std::string badDtype = meta;
  badDtype.replace(badDtype.find("\"bf16\""), 6, "\"f64\"");
  for (const Case &c :
       {Case{meta.substr(0, meta.size() / 2), "code_file"}, Case{noGrid, "grid"},
        Case{badVersion, "'version' 6"}, Case{badDtype, "f64"}, Case{badAlign, "power of two"}}) {
    std::ofstream(stem() + ".json") << c.text;
    auto a = Artifact::load(stem() + ".json");
    ASSERT_FALSE(a) << c.needle;
    EXPECT_EQ(a.error().code(), ErrorCode::CorruptArtifact) << a.error().str();
    EXPECT_NE(a.error().message().find(c.needle), std::string::npos) << a.error().str();
  }
}

TEST_F(ArtifactTest, MissingCodeFileIsAnIoError) {
  ASSERT_FALSE(sampleArtifact().save(stem()));
  fs::remove(stem() + ".ptx");
  auto a = Artifact::load(stem() + ".json");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::Io);
  EXPECT_NE(a.error().message().find("k.ptx"), std::string::npos);
}

} // namespace
