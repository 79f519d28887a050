//===- WordPieceTest.cpp - the BERT tokenizer on a toy vocabulary ---------===//
//
// Each rule on its own, with a vocabulary small enough to see the answer;
// MiniLmTest checks the real vocabulary against the reference ids.
//
//===----------------------------------------------------------------------===//
#include "sieve/models/WordPiece.h"

#include <gtest/gtest.h>

using namespace sieve;
using namespace sieve::models;

namespace {

WordPieceTokenizer toy(WordPieceOptions options = {}) {
  auto t = WordPieceTokenizer::fromTokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff",
                                           "##able", "want", "##ed", "runn", "##ing", ",", "cafe",
                                           "\xe6\x9d\xb1", "lodz", "\xc5\x82odz", "a", "##a"},
                                          std::move(options));
  EXPECT_TRUE(t) << t.error().str();
  return std::move(*t);
}

TEST(WordPiece, SplitsGreedilyWithContinuationPieces) {
  WordPieceTokenizer t = toy();
  EXPECT_EQ(t.wordPiece("unaffable"), (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(t.wordPiece("wanted"), (std::vector<int64_t>{7, 8}));
  // "unwanted": "un" matches, but "##wanted" has no piece: the word is [UNK].
  EXPECT_EQ(t.wordPiece("unwanted"), (std::vector<int64_t>{1}));
}

TEST(WordPiece, NormalizesAndSplitsLikeBert) {
  WordPieceTokenizer t = toy();
  // Lowercase, accents stripped (Latin-1 é, combining acute), ł kept (it
  // has no decomposition), control characters dropped, NBSP a space,
  // punctuation a word of its own, CJK ideographs single words.
  EXPECT_EQ(t.basicTokenize("  UnAffABLE,Caf\xc3\xa9\xc2\xa0"
                            "cafe\xcc\x81\x01 \xc5\x81\xc3\xb3"
                            "d\xc5\xba"
                            "\xe6\x9d\xb1\xe4\xba\xac!"),
            (std::vector<std::string>{"unaffable", ",", "cafe", "cafe", "\xc5\x82odz",
                                      "\xe6\x9d\xb1", "\xe4\xba\xac", "!"}));
  WordPieceOptions cased;
  cased.lowercase = false;
  cased.stripAccents = false;
  EXPECT_EQ(toy(cased).basicTokenize("Caf\xc3\xa9"), (std::vector<std::string>{"Caf\xc3\xa9"}));
}

TEST(WordPiece, EncodesWithSpecialTokensAndUnknowns) {
  WordPieceTokenizer t = toy();
  EXPECT_EQ(t.encode("Unaffable, wanted running zzz"),
            (std::vector<int64_t>{2, 4, 5, 6, 11, 7, 8, 9, 10, 1, 3}));
  EXPECT_EQ(t.encode(""), (std::vector<int64_t>{2, 3}));
  // Invalid UTF-8 becomes U+FFFD, which cleaning drops.
  EXPECT_EQ(t.encode("a\xff\xfe"
                     "a"),
            (std::vector<int64_t>{2, 16, 17, 3}));
}

TEST(WordPiece, MakesOverlongWordsUnknown) {
  WordPieceTokenizer t = toy();
  std::vector<int64_t> hundred(100, 17); // "a", then 99 of "##a"
  hundred[0] = 16;
  EXPECT_EQ(t.wordPiece(std::string(100, 'a')), hundred);
  EXPECT_EQ(t.wordPiece(std::string(101, 'a')), (std::vector<int64_t>{1}));
}

TEST(WordPiece, CutsAtMaxLength) {
  WordPieceOptions options;
  options.maxLength = 4;
  WordPieceTokenizer t = toy(options);
  EXPECT_EQ(t.encode("a a a a a"), (std::vector<int64_t>{2, 16, 16, 3}));
  EXPECT_EQ(t.encode("unaffable"), (std::vector<int64_t>{2, 4, 5, 3}));
}

TEST(WordPiece, RequiresTheSpecialTokens) {
  auto t = WordPieceTokenizer::fromTokens({"[CLS]", "[SEP]", "a"});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("[UNK]"), std::string::npos) << t.error().str();
}

} // namespace
