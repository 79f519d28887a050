//===- Unicode.h - the Unicode the BERT basic tokenizer needs ---*- C++ -*-===//
//
// Private to sieve_models. Character classes and mappings come from range
// tables generated from Unicode data (UnicodeTables.inc), so no ICU is
// needed. What is covered, and what is not:
//  - punctuation: all of category P, plus ASCII symbols as BERT counts them
//    (Hugging Face's tables are older: a character that became punctuation
//    later, such as U+061D in Unicode 14, splits words here and not there);
//  - removed characters: categories Cc, Cf and Co (unassigned code points,
//    Cn, are kept: their set changes with each Unicode version);
//  - accents: the canonical decomposition (NFD) of every precomposed
//    character (Latin, Greek, Cyrillic, ..., CJK compatibility ideographs),
//    with nonspacing marks (Mn) dropped; Hangul syllables split into their
//    jamo as NFD does;
//  - lowercase: every simple one-to-one mapping (U+0130, the only two-code-
//    point lowercase, never reaches it: accent stripping makes it 'I').
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_MODELS_LIB_UNICODE_H
#define SIEVE_MODELS_LIB_UNICODE_H

#include <string>

namespace sieve::models::unicode {

/// UTF-8 to code points; each invalid or truncated sequence becomes U+FFFD.
std::u32string decodeUtf8(const std::string &text);
std::string encodeUtf8(const std::u32string &text);
void appendUtf8(char32_t cp, std::string &out);

bool isWhitespace(char32_t cp);   // the White_Space property
bool isControl(char32_t cp);      // Cc, Cf, Co, except tab, LF and CR
bool isPunctuation(char32_t cp);  // category P, or ASCII 33-47, 58-64, 91-96, 123-126
bool isCjkIdeograph(char32_t cp); // the CJK blocks BERT splits into single characters
bool isNonspacingMark(char32_t cp);

char32_t toLower(char32_t cp);
/// Appends `cp` in NFD with its nonspacing marks removed (nothing for a mark).
void appendWithoutAccents(char32_t cp, std::u32string &out);

} // namespace sieve::models::unicode

#endif
