//===- WordPiece.h - BERT's uncased WordPiece tokenizer ---------*- C++ -*-===//
//
// Text to token ids as Hugging Face's BertTokenizer (fast) does for an
// uncased vocabulary:
//  1. clean: drop NUL, U+FFFD and control/format characters, map every
//     whitespace character to a space;
//  2. put spaces around CJK ideographs, so each becomes its own word;
//  3. strip accents (NFD, drop nonspacing marks), then lowercase;
//  4. split on whitespace, and make each punctuation character a word;
//  5. WordPiece: greedy longest match from the left, pieces after the first
//     prefixed "##"; a word longer than maxWordChars or with any part that
//     matches nothing becomes [UNK];
//  6. [CLS] + pieces (cut to maxLength - 2) + [SEP].
// The Unicode coverage (no ICU) is described in lib/Unicode.h.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_MODELS_WORDPIECE_H
#define SIEVE_MODELS_WORDPIECE_H

#include "sieve/Error.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sieve::models {

struct WordPieceOptions {
  /// Steps 3's parts; BERT uncased does both.
  bool lowercase = true;
  bool stripAccents = true;
  /// Longest word, in code points, that is split rather than made [UNK].
  int64_t maxWordChars = 100;
  /// Tokens per sequence, [CLS] and [SEP] included (the model's
  /// max_seq_length; sentence-transformers cuts longer text there).
  int64_t maxLength = 256;
  std::string unknown = "[UNK]", classify = "[CLS]", separator = "[SEP]";
  std::string continuation = "##";
};

class WordPieceTokenizer {
public:
  /// From a vocab.txt: one token a line, the id is the line number. Fails if
  /// the file cannot be read or lacks the special tokens of `options`.
  static Expected<WordPieceTokenizer> fromVocabFile(const std::string &path,
                                                    WordPieceOptions options = {});
  /// From tokens in id order.
  static Expected<WordPieceTokenizer> fromTokens(std::vector<std::string> tokens,
                                                 WordPieceOptions options = {});

  /// Steps 1-4: the normalized words, UTF-8.
  std::vector<std::string> basicTokenize(const std::string &text) const;
  /// Step 5 for one normalized word: its pieces' ids.
  std::vector<int64_t> wordPiece(const std::string &word) const;
  /// Steps 1-6: the ids a BERT model takes.
  std::vector<int64_t> encode(const std::string &text) const;

  /// The token's id, or -1.
  int64_t id(const std::string &token) const;
  const std::string &token(int64_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  int64_t vocabSize() const { return static_cast<int64_t>(tokens_.size()); }
  const WordPieceOptions &options() const { return options_; }

private:
  WordPieceOptions options_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
  int64_t unknownId_ = -1, classifyId_ = -1, separatorId_ = -1;
};

} // namespace sieve::models

#endif
