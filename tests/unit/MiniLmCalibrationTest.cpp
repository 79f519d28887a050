//===- MiniLmCalibrationTest.cpp - calibrate, prune and run the real model -===//
#include "sieve/calibration/Calibrator.h"
#include "sieve/calibration/Prune.h"
#include "sieve/models/MiniLm.h"
#include "sieve/runtime/MaskFile.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

using namespace sieve;
using namespace sieve::calibration;

namespace {

std::string modelDir() {
  const char *env = std::getenv("SIEVE_MINILM_DIR");
  return env && *env ? env : SIEVE_MINILM_DIR;
}

const std::vector<std::string> kSentences = {
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street while people walk by and listen.",
    "Attention pruning keeps the tiles that hold most of the probability mass.", "Short one."};

TEST(MiniLmCalibration, StatsSumToTheRowsSeen) {
  MiniLmCalibration options;
  options.modelDir = modelDir();
  options.blockQ = options.blockK = 8;
  options.maxSeq = 32;
  size_t progressCalls = 0;
  options.progress = [&](size_t done, size_t total) {
    ++progressCalls;
    EXPECT_EQ(total, kSentences.size());
    EXPECT_EQ(done, progressCalls);
  };
  auto stats = calibrateMiniLm(kSentences, options);
  ASSERT_TRUE(stats) << stats.error().str();
  EXPECT_EQ(progressCalls, kSentences.size());
  ASSERT_EQ(stats->numLayers(), 6);
  EXPECT_EQ(stats->heads, 12);
  EXPECT_EQ(stats->queryBlocks(), 4);
  // Rows seen = tokens of every sentence, the same for every layer.
  auto encoder = models::MiniLmEncoder::load(*models::findMiniLmDir(options.modelDir));
  ASSERT_TRUE(encoder) << encoder.error().str();
  int64_t tokens = 0;
  for (const std::string &s : kSentences)
    tokens += static_cast<int64_t>((*encoder)->tokenizer().encode(s).size());
  for (int64_t l = 0; l < stats->numLayers(); ++l) {
    EXPECT_EQ(stats->totalRows(l), tokens);
    EXPECT_EQ(stats->layers[l].calls, 4);
    EXPECT_EQ(stats->layers[l].rows, stats->layers[0].rows);
    for (int64_t h = 0; h < stats->heads; ++h)
      for (int64_t qb = 0; qb < stats->queryBlocks(); ++qb) {
        double sum = 0;
        for (int64_t kb = 0; kb < stats->keyBlocks(); ++kb)
          sum += stats->at(l, h, qb, kb);
        EXPECT_NEAR(sum, double(stats->layers[l].rows[qb]),
                    1e-5 * std::max<int64_t>(1, stats->layers[l].rows[qb]));
      }
  }

  // Prune, write, read back, and run the model with the pruned masks.
  PruneOptions prune;
  prune.sparsity = 0.5;
  prune.keepDiagonal = true;
  auto result = calibration::prune(*stats, prune);
  ASSERT_TRUE(result) << result.error().str();
  for (int64_t l = 0; l < 6; ++l)
    EXPECT_GT(result->layerRetained[l], 0.5);
  std::filesystem::create_directories(SIEVE_TEST_TMPDIR);
  std::string path = std::string(SIEVE_TEST_TMPDIR) + "/minilm-pruned.npy";
  ASSERT_FALSE(runtime::writeMaskStack(path, result->masks, stats->seqQ, stats->seqK));
  auto masks = runtime::readMaskStack(path);
  ASSERT_TRUE(masks) << masks.error().str();
  (*encoder)->setPlan(models::AttentionPlan::perLayer(*masks));
  auto pruned = (*encoder)->embed(kSentences);
  ASSERT_TRUE(pruned) << pruned.error().str();
  EXPECT_EQ((*pruned)[0].size(), 384u);
}

TEST(MiniLmCalibration, KernelAndReferenceEnginesAgree) {
  MiniLmCalibration options;
  options.modelDir = modelDir();
  options.blockQ = options.blockK = 8;
  options.maxSeq = 32;
  options.engine = CalibrationEngine::CpuKernel;
  auto kernel = calibrateMiniLm(kSentences, options);
  options.engine = CalibrationEngine::Reference;
  auto reference = calibrateMiniLm(kSentences, options);
  ASSERT_TRUE(kernel) << kernel.error().str();
  ASSERT_TRUE(reference) << reference.error().str();
  for (size_t n = 0; n < kernel->mass.size(); ++n)
    EXPECT_NEAR(kernel->mass[n], reference->mass[n], 1e-4 * std::max(1.0, reference->mass[n]));
  EXPECT_EQ(kernel->layers[3].rows, reference->layers[3].rows);
  // The comment names the engine and the device that ran it.
  EXPECT_NE(kernel->comment.find("CPU calibration kernel on the host CPU"), std::string::npos)
      << kernel->comment;
  EXPECT_NE(reference->comment.find("float64 host reference on the host CPU"), std::string::npos)
      << reference->comment;
}

TEST(MiniLmCalibration, LongSentencesAreCutToTheGrid) {
  MiniLmCalibration options;
  options.modelDir = modelDir();
  options.maxSeq = 8;
  options.blockQ = options.blockK = 4;
  auto stats = calibrateMiniLm({kSentences[1]}, options);
  ASSERT_TRUE(stats) << stats.error().str();
  EXPECT_EQ(stats->layers[0].rows, (std::vector<int64_t>{4, 4}));
}

} // namespace
