//===- TargetInfoTest.cpp - the chips the generator targets ---------------===//
#include "sieve/runtime/TargetInfo.h"
#include "sieve/runtime/CudaDriver.h"

#include <gtest/gtest.h>

using namespace sieve;
using namespace sieve::runtime;

TEST(TargetInfo, DescribesEachKnownChip) {
  for (const std::string &chip : TargetInfo::knownChips()) {
    auto t = TargetInfo::forChip(chip);
    ASSERT_TRUE(t) << t.error().str();
    EXPECT_EQ(t->chip, chip);
    EXPECT_TRUE(t->mmaSync) << chip << ": every supported chip has sm_80's mma.sync";
    EXPECT_GT(t->multiprocessors, 0) << chip;
    EXPECT_GE(t->sharedBytesPerBlock, 99 * 1024) << chip;
    EXPECT_EQ(t->maxThreadsPerBlock, 1024) << chip;
    EXPECT_EQ(t->maxGrid[1], 65535) << chip;
    // Only the arch-specific Hopper target has the warp-specialized kernels'
    // instructions.
    EXPECT_EQ(t->hopperKernels(), chip == "sm_90a") << chip;
  }
  EXPECT_EQ(TargetInfo::forChip("sm_90a")->sharedBytesPerBlock, 227 * 1024);
  EXPECT_EQ(TargetInfo::forChip("sm_90a")->multiprocessors, 132);
  EXPECT_EQ(TargetInfo::forChip("sm_80")->sharedBytesPerBlock, 163 * 1024);
  EXPECT_TRUE(TargetInfo::forChip("sm_90")->tma);
  EXPECT_FALSE(TargetInfo::forChip("sm_90")->wgmma);
}

TEST(TargetInfo, RefusesUnknownChipsByName) {
  for (const char *chip : {"sm_75", "sm_100", "", "SM_90A"}) {
    auto t = TargetInfo::forChip(chip);
    ASSERT_FALSE(t) << chip;
    EXPECT_EQ(t.error().code(), ErrorCode::Unsupported);
    EXPECT_NE(t.error().message().find(std::string("'") + chip + "'"), std::string::npos)
        << t.error().message();
    EXPECT_NE(t.error().message().find("sm_90a"), std::string::npos) << t.error().message();
  }
}

TEST(TargetInfo, ADeviceReportsItsOwnFigures) {
  DeviceInfo h100pcie;
  h100pcie.name = "NVIDIA H100 PCIe";
  h100pcie.major = 9;
  h100pcie.minor = 0;
  h100pcie.multiprocessors = 114;
  h100pcie.sharedBytesPerBlock = 232448;
  auto t = h100pcie.target();
  ASSERT_TRUE(t) << t.error().str();
  EXPECT_EQ(t->chip, "sm_90a");
  EXPECT_EQ(t->multiprocessors, 114) << "the device's SMs, not the table's 132";
  EXPECT_EQ(t->sharedBytesPerBlock, 232448);
  EXPECT_TRUE(t->hopperKernels());
  // What the driver did not report stays the chip's.
  EXPECT_EQ(t->registersPerBlock, 65536);

  DeviceInfo turing;
  turing.name = "Tesla T4";
  turing.major = 7;
  turing.minor = 5;
  auto old = turing.target();
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code(), ErrorCode::Unsupported);
  EXPECT_NE(old.error().message().find("Tesla T4"), std::string::npos) << old.error().message();
}
