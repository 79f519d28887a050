//===- Unicode.cpp --------------------------------------------------------===//
#include "Unicode.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace sieve::models::unicode {

namespace {

struct CodeRange {
  char32_t first, last;
};
struct CaseRun {
  char32_t first, last;
  int32_t delta;
  int32_t step; // 1: every code point in the run; 2: every other one
};
struct CodeMapping {
  char32_t from, to;
};
struct Decomposition {
  char32_t cp;
  char32_t parts[3]; // zero-padded
};

#include "UnicodeTables.inc"

template <size_t N> bool inRanges(const CodeRange (&table)[N], char32_t cp) {
  // The tables are sorted and disjoint: find the last range starting at or
  // before cp.
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](char32_t c, const CodeRange &r) { return c < r.first; });
  return it != std::begin(table) && cp <= std::prev(it)->last;
}

constexpr char32_t kReplacement = 0xFFFD;

// Hangul syllables decompose by arithmetic (Unicode chapter 3.12).
constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;
constexpr char32_t kLeadBase = 0x1100, kVowelBase = 0x1161, kTrailBase = 0x11A7;
constexpr int kVowelCount = 21, kTrailCount = 28;

} // namespace

std::u32string decodeUtf8(const std::string &text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0, n = text.size();
  while (i < n) {
    uint8_t b = static_cast<uint8_t>(text[i]);
    int extra;
    char32_t cp, minimum;
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      extra = 1, cp = b & 0x1F, minimum = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, cp = b & 0x0F, minimum = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, cp = b & 0x07, minimum = 0x10000;
    } else {
      out.push_back(kReplacement); // a stray continuation or invalid lead byte
      ++i;
      continue;
    }
    size_t j = i + 1;
    for (; j < n && j <= i + extra; ++j) {
      uint8_t c = static_cast<uint8_t>(text[j]);
      if ((c & 0xC0) != 0x80)
        break;
      cp = (cp << 6) | (c & 0x3F);
    }
    bool complete = j == i + 1 + extra;
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (!complete || cp < minimum || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      out.push_back(kReplacement);
    else
      out.push_back(cp);
    i = j;
  }
  return out;
}

void appendUtf8(char32_t cp, std::string &out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encodeUtf8(const std::u32string &text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text)
    appendUtf8(cp, out);
  return out;
}

bool isWhitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

bool isControl(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r')
    return false; // whitespace to BERT, not control
  return inRanges(kControlFormatPrivate, cp);
}

bool isPunctuation(char32_t cp) {
  // BERT counts every non-alphanumeric ASCII symbol ($, +, ^, ...) as
  // punctuation, though Unicode files some of them under S.
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126))
    return true;
  return cp >= 0x80 && inRanges(kPunctuation, cp);
}

bool isCjkIdeograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool isNonspacingMark(char32_t cp) { return cp >= 0x300 && inRanges(kNonspacingMarks, cp); }

char32_t toLower(char32_t cp) {
  if (cp < 0x80)
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  auto it = std::upper_bound(std::begin(kLowercase), std::end(kLowercase), cp,
                             [](char32_t c, const CaseRun &r) { return c < r.first; });
  if (it == std::begin(kLowercase))
    return cp;
  const CaseRun &run = *std::prev(it);
  if (cp > run.last || (cp - run.first) % run.step != 0)
    return cp;
  return static_cast<char32_t>(static_cast<int32_t>(cp) + run.delta);
}

void appendWithoutAccents(char32_t cp, std::u32string &out) {
  if (cp < 0xC0) { // nothing below Latin-1's letters decomposes
    out.push_back(cp);
    return;
  }
  if (cp >= kHangulFirst && cp <= kHangulLast) {
    int s = static_cast<int>(cp - kHangulFirst);
    out.push_back(kLeadBase + s / (kVowelCount * kTrailCount));
    out.push_back(kVowelBase + (s % (kVowelCount * kTrailCount)) / kTrailCount);
    if (s % kTrailCount != 0)
      out.push_back(kTrailBase + s % kTrailCount);
    return;
  }
  if (isNonspacingMark(cp))
    return;
  auto one = std::lower_bound(std::begin(kStrippedToOne), std::end(kStrippedToOne), cp,
                              [](const CodeMapping &m, char32_t c) { return m.from < c; });
  if (one != std::end(kStrippedToOne) && one->from == cp) {
    out.push_back(one->to);
    return;
  }
  auto many = std::lower_bound(std::begin(kStrippedToMany), std::end(kStrippedToMany), cp,
                               [](const Decomposition &d, char32_t c) { return d.cp < c; });
  if (many != std::end(kStrippedToMany) && many->cp == cp) {
    for (char32_t part : many->parts)
      if (part != 0)
        out.push_back(part);
    return;
  }
  out.push_back(cp);
}

} // namespace sieve::models::unicode
