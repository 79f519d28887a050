//===- WordPiece.cpp ------------------------------------------------------===//
#include "sieve/models/WordPiece.h"

#include "Unicode.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sieve::models {

using namespace unicode;

Expected<WordPieceTokenizer> WordPieceTokenizer::fromVocabFile(const std::string &path,
                                                               WordPieceOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(ErrorCode::Io,
                 fmt::format("{}: cannot open the vocabulary: {}", path, std::strerror(errno)));
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back(); // a vocabulary saved on Windows
    tokens.push_back(line);
  }
  auto tokenizer = fromTokens(std::move(tokens), std::move(options));
  if (!tokenizer)
    return tokenizer.error().withContext(path);
  return tokenizer;
}

Expected<WordPieceTokenizer> WordPieceTokenizer::fromTokens(std::vector<std::string> tokens,
                                                            WordPieceOptions options) {
  if (options.maxLength < 2)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("maxLength {} leaves no room for [CLS] and [SEP]", options.maxLength));
  WordPieceTokenizer t;
  t.options_ = std::move(options);
  t.tokens_ = std::move(tokens);
  t.ids_.reserve(t.tokens_.size());
  for (size_t i = 0; i < t.tokens_.size(); ++i)
    t.ids_[t.tokens_[i]] = static_cast<int64_t>(i); // a repeated token keeps its last id
  for (auto [name, slot] :
       {std::pair<const std::string &, int64_t *>{t.options_.unknown, &t.unknownId_},
        {t.options_.classify, &t.classifyId_},
        {t.options_.separator, &t.separatorId_}}) {
    *slot = t.id(name);
    if (*slot < 0)
      return Error(
          ErrorCode::InvalidArgument,
          fmt::format("the vocabulary ({} tokens) has no '{}' token", t.tokens_.size(), name));
  }
  return t;
}

int64_t WordPieceTokenizer::id(const std::string &token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> WordPieceTokenizer::basicTokenize(const std::string &text) const {
  // Steps 1-3, one code point at a time: each step maps a code point to zero
  // or more, and none looks at its neighbours.
  std::u32string normalized;
  std::u32string stripped;
  for (char32_t cp : decodeUtf8(text)) {
    if (cp == 0 || cp == 0xFFFD || isControl(cp))
      continue;
    if (isWhitespace(cp)) {
      normalized.push_back(U' ');
      continue;
    }
    bool cjk = isCjkIdeograph(cp);
    if (cjk)
      normalized.push_back(U' ');
    stripped.clear();
    if (options_.stripAccents)
      appendWithoutAccents(cp, stripped);
    else
      stripped.push_back(cp);
    for (char32_t c : stripped)
      normalized.push_back(options_.lowercase ? toLower(c) : c);
    if (cjk)
      normalized.push_back(U' ');
  }

  // Step 4.
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty())
      words.push_back(std::move(word));
    word.clear();
  };
  for (char32_t cp : normalized) {
    if (cp == U' ') {
      flush();
    } else if (isPunctuation(cp)) {
      flush();
      appendUtf8(cp, word);
      flush();
    } else {
      appendUtf8(cp, word);
    }
  }
  flush();
  return words;
}

std::vector<int64_t> WordPieceTokenizer::wordPiece(const std::string &word) const {
  std::u32string chars = decodeUtf8(word);
  if (static_cast<int64_t>(chars.size()) > options_.maxWordChars)
    return {unknownId_};
  std::vector<int64_t> pieces;
  size_t start = 0;
  while (start < chars.size()) {
    // The longest prefix of what is left that the vocabulary has.
    int64_t found = -1;
    size_t end = chars.size();
    for (; end > start; --end) {
      std::string piece = start > 0 ? options_.continuation : std::string();
      for (size_t i = start; i < end; ++i)
        appendUtf8(chars[i], piece);
      found = id(piece);
      if (found >= 0)
        break;
    }
    if (found < 0)
      return {unknownId_}; // one unmatched part makes the whole word unknown
    pieces.push_back(found);
    start = end;
  }
  return pieces;
}

std::vector<int64_t> WordPieceTokenizer::encode(const std::string &text) const {
  std::vector<int64_t> ids{classifyId_};
  const size_t limit = static_cast<size_t>(options_.maxLength - 1); // room for [SEP]
  for (const std::string &word : basicTokenize(text)) {
    for (int64_t piece : wordPiece(word)) {
      if (ids.size() == limit)
        break;
      ids.push_back(piece);
    }
    if (ids.size() == limit)
      break;
  }
  ids.push_back(separatorId_);
  return ids;
}

} // namespace sieve::models
