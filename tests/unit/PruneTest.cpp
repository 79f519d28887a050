//===- PruneTest.cpp - stats to masks, on small stats with known answers --===//
#include "sieve/calibration/Prune.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace sieve;
using namespace sieve::calibration;

namespace {

// Stats of `layers` x `heads`, 8 x 8 tokens in 4 x 4 tiles (2 x 2 tiles),
// every query block having seen `rows` rows; mass[l][h] lists the 4 tiles
// row-major and each pair must sum to `rows`.
AttentionStats make(const std::vector<std::vector<std::vector<double>>> &mass,
                    std::vector<int64_t> rows = {4, 4}) {
  auto s = AttentionStats::create(static_cast<int64_t>(mass.size()),
                                  static_cast<int64_t>(mass[0].size()), 8, 8, 4, 4);
  EXPECT_TRUE(s);
  for (size_t l = 0; l < mass.size(); ++l) {
    s->layers[l].rows = rows;
    s->layers[l].calls = 1;
    for (size_t h = 0; h < mass[l].size(); ++h)
      for (int64_t t = 0; t < 4; ++t)
        s->at(l, h, t / 2, t % 2) = mass[l][h][t];
  }
  EXPECT_FALSE(s->validate()) << s->validate().str();
  return *s;
}

// The kept tiles of (layer, head), row-major, as "1001".
std::string kept(const PruneResult &r, int64_t l, int64_t h) {
  std::string out;
  const runtime::BlockMask &m = r.masks[l];
  for (int64_t qb = 0; qb < m.queryBlocks(); ++qb)
    for (int64_t kb = 0; kb < m.keyBlocks(); ++kb)
      out += m.get(h, qb, kb) ? '1' : '0';
  return out;
}

Expected<PruneResult> run(const AttentionStats &s, PruneOptions o) { return prune(s, o); }

TEST(Prune, HeadScopeKeepsEachHeadsHeaviestTiles) {
  AttentionStats s = make({{{3, 1, 0.5, 3.5}, {1, 3, 2.5, 1.5}}});
  PruneOptions o;
  o.sparsity = 0.5;
  auto r = run(s, o);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(kept(*r, 0, 0), "1001");
  EXPECT_EQ(kept(*r, 0, 1), "0110");
  EXPECT_DOUBLE_EQ(r->retained[0][0], 6.5 / 8);
  EXPECT_DOUBLE_EQ(r->retained[0][1], 5.5 / 8);
  EXPECT_DOUBLE_EQ(r->layerRetained[0], 12.0 / 16);
  EXPECT_EQ(r->masks[0].blockQ(), 4);
  // Sparsity 0 keeps every tile with mass; 1 keeps nothing.
  o.sparsity = 0;
  EXPECT_EQ(kept(*run(s, o), 0, 0), "1111");
  o.sparsity = 1;
  EXPECT_EQ(kept(*run(s, o), 0, 1), "0000");
}

TEST(Prune, LayerScopeSharesTheBudgetBetweenHeads) {
  // Head 0 is concentrated, head 1 uniform.
  AttentionStats s = make({{{3.9, 0.1, 0.1, 3.9}, {2, 2, 2, 2}}});
  PruneOptions o;
  o.sparsity = 0.75; // 1 tile of 4 per head, or 2 of 8 per layer
  auto head = run(s, o);
  ASSERT_TRUE(head);
  EXPECT_EQ(kept(*head, 0, 0), "1000");
  EXPECT_EQ(kept(*head, 0, 1), "1000"); // ties go to the first tile
  o.scope = PruneScope::Layer;
  auto layer = run(s, o);
  ASSERT_TRUE(layer);
  EXPECT_EQ(kept(*layer, 0, 0), "1001");
  EXPECT_EQ(kept(*layer, 0, 1), "0000");
  EXPECT_DOUBLE_EQ(layer->retained[0][1], 0.0);
}

TEST(Prune, GlobalScopeComparesLayersPerRowSeen) {
  // Layer 1 saw twice the rows: its raw mass is larger, its mass per row
  // (4 / 16) smaller than layer 0's diagonal (3 / 8).
  AttentionStats s = make({{{3, 1, 1, 3}}, {{2, 2, 2, 2}}});
  s.layers[1].rows = {8, 8};
  for (int64_t t = 0; t < 4; ++t)
    s.at(1, 0, t / 2, t % 2) = 4;
  ASSERT_FALSE(s.validate());
  PruneOptions o;
  o.sparsity = 0.75;
  o.scope = PruneScope::Global;
  auto r = run(s, o);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(kept(*r, 0, 0), "1001");
  EXPECT_EQ(kept(*r, 1, 0), "0000");
  o.scope = PruneScope::Layer;
  r = run(s, o);
  EXPECT_EQ(kept(*r, 0, 0), "1000");
  EXPECT_EQ(kept(*r, 1, 0), "1000");
}

TEST(Prune, CrossAttentionHasItsOwnRatioAndPool) {
  AttentionStats s = make({{{3, 1, 1, 3}}, {{3, 1, 1, 3}}});
  s.layers[1].kind = LayerKind::Cross;
  PruneOptions o;
  o.sparsity = 0.75;
  o.crossSparsity = 0.25;
  for (PruneScope scope : {PruneScope::Head, PruneScope::Layer, PruneScope::Global}) {
    o.scope = scope;
    auto r = run(s, o);
    ASSERT_TRUE(r);
    EXPECT_EQ(kept(*r, 0, 0), "1000");
    EXPECT_EQ(r->masks[1].countKept(), 3);
  }
  // Without --cross-sparsity both use --sparsity.
  o.crossSparsity.reset();
  EXPECT_EQ(run(s, o)->masks[1].countKept(), 1);
}

TEST(Prune, KeepDiagonalIsForcedAndCountsAgainstTheBudget) {
  AttentionStats s = make({{{0.5, 3.5, 3.5, 0.5}}});
  PruneOptions o;
  o.sparsity = 0.5;
  o.keepDiagonal = true;
  auto r = run(s, o);
  ASSERT_TRUE(r);
  EXPECT_EQ(kept(*r, 0, 0), "1001");
  EXPECT_DOUBLE_EQ(r->retained[0][0], 1.0 / 8);
  o.sparsity = 1;
  EXPECT_EQ(kept(*run(s, o), 0, 0), "1001");
  // Tiles of 4 queries x 2 keys: query block i crosses key blocks 2i, 2i+1.
  auto wide = AttentionStats::create(1, 1, 8, 8, 4, 2);
  wide->layers[0].rows = {4, 4};
  auto w = prune(*wide, o);
  ASSERT_TRUE(w) << w.error().str();
  EXPECT_EQ(kept(*w, 0, 0), "11000011");
}

TEST(Prune, MinPerRowKeepsEachRowsHeaviest) {
  // Query block 1 saw no rows: its first tile is kept (ties go first).
  AttentionStats s = make({{{1, 3, 0, 0}}}, {4, 0});
  PruneOptions o;
  o.sparsity = 1;
  o.minPerRow = 1;
  auto r = run(s, o);
  ASSERT_TRUE(r);
  EXPECT_EQ(kept(*r, 0, 0), "0110");
  o.minPerRow = 5; // more than the row has: all
  EXPECT_EQ(kept(*run(s, o), 0, 0), "1111");
}

TEST(Prune, ZeroMassTilesAreNotChosenByTheBudget) {
  AttentionStats s = make({{{4, 0, 0, 4}}});
  PruneOptions o;
  o.sparsity = 0;
  EXPECT_EQ(kept(*run(s, o), 0, 0), "1001");
}

TEST(Prune, KeepHeadsByStatsConcentrationOrByScores) {
  // Concentration at sparsity 0.75 (top tile / total): 3.9/8, 2/8, 3/8, 3.5/8.
  AttentionStats s =
      make({{{3.9, 0.1, 0.1, 3.9}, {2, 2, 2, 2}}, {{3, 1, 1, 3}, {0.5, 3.5, 3.5, 0.5}}});
  auto importance = headImportanceFromStats(s, 0.75);
  EXPECT_DOUBLE_EQ(importance[0][0], 3.9 / 8);
  EXPECT_DOUBLE_EQ(importance[1][1], 3.5 / 8);
  PruneOptions o;
  o.sparsity = 0.75;
  o.keepHeads = 2;
  auto r = run(s, o);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->headKept, (std::vector<std::vector<bool>>{{true, false}, {false, true}}));
  EXPECT_EQ(kept(*r, 0, 1), "0000");
  EXPECT_EQ(kept(*r, 1, 0), "0000");
  EXPECT_EQ(kept(*r, 1, 1), "0100");
  EXPECT_EQ(r->retained[1][0], 0.0);
  // Pruned heads get nothing, even with the diagonal forced.
  o.keepDiagonal = true;
  EXPECT_EQ(kept(*run(s, o), 0, 1), "0000");
  // User scores decide instead.
  o.headScores = {{0, 5}, {1, 0}};
  r = run(s, o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headKept, (std::vector<std::vector<bool>>{{false, true}, {true, false}}));
  EXPECT_NE(formatRetained(s, *r).find("layer0  self"), std::string::npos) << formatRetained(s, *r);
  EXPECT_NE(formatRetained(s, *r).find(" - "), std::string::npos);
}

TEST(Prune, RejectsBadOptions) {
  AttentionStats s = make({{{3, 1, 1, 3}}});
  PruneOptions o;
  o.sparsity = 1.5;
  EXPECT_EQ(run(s, o).error().code(), ErrorCode::InvalidArgument);
  o.sparsity = 0.5;
  o.crossSparsity = -0.1;
  EXPECT_TRUE(run(s, o).error().message().find("cross-attention") != std::string::npos);
  o.crossSparsity.reset();
  o.keepHeads = 2;
  EXPECT_TRUE(run(s, o).error().message().find("[1, 1]") != std::string::npos);
  o.keepHeads = 1;
  o.headScores = {{1, 2}};
  EXPECT_TRUE(run(s, o).error().message().find("2 heads") != std::string::npos);
  o.headScores.clear();
  o.minPerRow = -1;
  EXPECT_FALSE(run(s, o));
  EXPECT_FALSE(parsePruneScope("model"));
}

TEST(Prune, ReadsHeadScoresJson) {
  std::filesystem::create_directories(SIEVE_TEST_TMPDIR);
  std::string path = std::string(SIEVE_TEST_TMPDIR) + "/scores.json";
  std::ofstream(path) << "[[1, 2.5], [0, -1]]";
  auto scores = readHeadScores(path, 2, 2);
  ASSERT_TRUE(scores) << scores.error().str();
  EXPECT_EQ((*scores)[0][1], 2.5);
  EXPECT_FALSE(readHeadScores(path, 2, 3));
  std::ofstream(path) << "[[1, \"x\"], [0, 1]]";
  EXPECT_FALSE(readHeadScores(path, 2, 2));
  EXPECT_EQ(readHeadScores(path + ".absent", 2, 2).error().code(), ErrorCode::Io);
}

} // namespace
