//===- Npy.cpp ------------------------------------------------------------===//
#include "sieve/runtime/Npy.h"

#include <cctype>
#include <cstring>
#include <limits>
#include <map>

namespace sieve::runtime {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

Error malformed(const std::string &what) { return Error(ErrorCode::MalformedMask, what); }

// A value in the header dictionary: a quoted string, True/False, or a tuple
// of non-negative integers. That is all numpy writes there.
struct HeaderValue {
  enum Kind { String, Bool, Tuple } kind = String;
  std::string text;
  bool flag = false;
  std::vector<int64_t> ints;
};

// Recursive-descent reader over the header text. Each method returns false
// and sets `problem` on bad input; nothing here can read out of bounds.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : s_(text) {}

  bool parse(std::map<std::string, HeaderValue> &out) {
    skipSpace();
    if (!consume('{'))
      return fail("header does not start with '{'");
    skipSpace();
    while (!peekIs('}')) {
      std::string key;
      if (!parseString(key))
        return false;
      skipSpace();
      if (!consume(':'))
        return fail("expected ':' after key '" + key + "'");
      skipSpace();
      HeaderValue value;
      if (!parseValue(value))
        return false;
      if (out.count(key))
        return fail("key '" + key + "' appears twice");
      out[key] = std::move(value);
      skipSpace();
      if (consume(',')) {
        skipSpace();
        continue;
      }
      if (!peekIs('}'))
        return fail("expected ',' or '}' after the value of '" + key + "'");
    }
    consume('}');
    skipSpace();
    if (pos_ != s_.size())
      return fail("unexpected text after the header dictionary");
    return true;
  }

  std::string problem;

private:
  bool fail(const std::string &why) {
    if (problem.empty())
      problem = why + " (at header offset " + std::to_string(pos_) + ")";
    return false;
  }
  void skipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool peekIs(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool consume(char c) {
    if (!peekIs(c))
      return false;
    ++pos_;
    return true;
  }
  bool parseString(std::string &out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"'))
      return fail("expected a quoted string");
    char quote = s_[pos_++];
    size_t end = s_.find(quote, pos_);
    if (end == std::string::npos)
      return fail("unterminated string");
    out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }
  bool parseInt(int64_t &out) {
    size_t start = pos_;
    out = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      int digit = s_[pos_] - '0';
      if (out > (std::numeric_limits<int64_t>::max() - digit) / 10)
        return fail("dimension too large");
      out = out * 10 + digit;
      ++pos_;
    }
    // numpy on some platforms wrote "3L" for longs.
    if (pos_ > start && peekIs('L'))
      ++pos_;
    return pos_ > start ? true : fail("expected a non-negative integer");
  }
  bool parseValue(HeaderValue &v) {
    if (peekIs('\'') || peekIs('"')) {
      v.kind = HeaderValue::String;
      return parseString(v.text);
    }
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      v.kind = HeaderValue::Bool;
      v.flag = true;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      v.kind = HeaderValue::Bool;
      v.flag = false;
      return true;
    }
    if (consume('(')) {
      v.kind = HeaderValue::Tuple;
      skipSpace();
      while (!peekIs(')')) {
        int64_t n;
        if (!parseInt(n))
          return false;
        v.ints.push_back(n);
        skipSpace();
        if (consume(',')) {
          skipSpace();
          continue;
        }
        if (!peekIs(')'))
          return fail("expected ',' or ')' in the shape");
      }
      consume(')');
      return true;
    }
    return fail("expected a string, True, False or a tuple");
  }

  const std::string &s_;
  size_t pos_ = 0;
};

uint32_t readLittleEndian(const std::string &bytes, size_t at, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return v;
}

} // namespace

int64_t npyItemSize(const std::string &descr) {
  // Bool and 8-bit integers; byte order is irrelevant for one byte, so numpy
  // writes '|' but '<' and '=' are seen in hand-written files too.
  static const char *const kOneByte[] = {"|b1", "<b1", "=b1", "|u1", "<u1", "=u1",
                                         "|i1", "<i1", "=i1", "b1",  "u1"};
  for (const char *d : kOneByte)
    if (descr == d)
      return 1;
  return 0;
}

int64_t npyFloat64ItemSize(const std::string &descr) {
  // '=' is native order, little-endian on every machine sieve runs on.
  return descr == "<f8" || descr == "=f8" || descr == "f8" ? 8 : 0;
}

Expected<NpyArray> parseNpy(const std::string &bytes, NpyElements accepted) {
  if (bytes.size() < kMagicLen + 2 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    return malformed("not a .npy file (the magic string \\x93NUMPY is missing)");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3)
    return malformed(".npy format version " + std::to_string(major) +
                     " is not supported (expected 1, 2 or 3)");
  size_t lenWidth = major == 1 ? 2 : 4;
  size_t headerStart = 8 + lenWidth;
  if (bytes.size() < headerStart)
    return malformed("file ends inside the .npy preamble");
  size_t headerLen = readLittleEndian(bytes, 8, lenWidth);
  if (bytes.size() - headerStart < headerLen)
    return malformed("file ends inside the .npy header (header claims " +
                     std::to_string(headerLen) + " bytes, file has " +
                     std::to_string(bytes.size() - headerStart) + ")");
  std::string header = bytes.substr(headerStart, headerLen);

  std::map<std::string, HeaderValue> dict;
  HeaderParser parser(header);
  if (!parser.parse(dict))
    return malformed("unreadable .npy header: " + parser.problem);
  for (const char *key : {"descr", "fortran_order", "shape"})
    if (!dict.count(key))
      return malformed(std::string(".npy header lacks '") + key + "'");
  if (dict.size() != 3)
    return malformed(".npy header has keys beyond descr, fortran_order and shape");
  if (dict["descr"].kind != HeaderValue::String)
    return malformed(".npy 'descr' is not a string (structured arrays are not masks)");
  if (dict["fortran_order"].kind != HeaderValue::Bool)
    return malformed(".npy 'fortran_order' is not True or False");
  if (dict["shape"].kind != HeaderValue::Tuple)
    return malformed(".npy 'shape' is not a tuple");

  NpyArray array;
  array.descr = dict["descr"].text;
  array.fortranOrder = dict["fortran_order"].flag;
  array.shape = dict["shape"].ints;
  int64_t itemSize =
      accepted == NpyElements::Float64 ? npyFloat64ItemSize(array.descr) : npyItemSize(array.descr);
  if (itemSize == 0)
    return malformed("element type '" + array.descr +
                     (accepted == NpyElements::Float64
                          ? "' is not float64 (expected little-endian '<f8')"
                          : "' is not a mask type (expected bool or uint8: '|b1' or '|u1')"));
  int64_t elements = 1;
  for (int64_t d : array.shape) {
    if (d != 0 && elements > std::numeric_limits<int64_t>::max() / d)
      return malformed(".npy shape overflows");
    elements *= d;
  }
  // A shape can fit int64 in elements but not in bytes (float64).
  if (elements > std::numeric_limits<int64_t>::max() / itemSize)
    return malformed(".npy shape overflows");
  size_t dataStart = headerStart + headerLen;
  size_t expected = static_cast<size_t>(elements * itemSize);
  size_t have = bytes.size() - dataStart;
  if (have != expected)
    return malformed(".npy data is " + std::to_string(have) + " bytes but the shape needs " +
                     std::to_string(expected) + (have < expected ? " (file truncated?)" : ""));
  array.data = bytes.substr(dataStart);
  return array;
}

Expected<std::string> serializeNpy(const NpyArray &array) {
  int64_t itemSize = npyItemSize(array.descr);
  if (itemSize == 0)
    itemSize = npyFloat64ItemSize(array.descr);
  if (itemSize == 0)
    return Error(ErrorCode::InvalidArgument,
                 "cannot write .npy of element type '" + array.descr + "'");
  int64_t elements = 1;
  for (int64_t d : array.shape) {
    if (d < 0)
      return Error(ErrorCode::InvalidArgument, "negative .npy dimension");
    elements *= d;
  }
  if (static_cast<int64_t>(array.data.size()) != elements * itemSize)
    return Error(ErrorCode::Internal, "serializeNpy: data size does not match the shape");

  // Python tuple syntax: "(4,)" for one dimension, "(2, 3)" for more.
  std::string shape = "(";
  for (size_t i = 0; i < array.shape.size(); ++i)
    shape += (i ? ", " : "") + std::to_string(array.shape[i]);
  shape += array.shape.size() == 1 ? ",)" : ")";
  std::string dict = "{'descr': '" + array.descr +
                     "', 'fortran_order': " + (array.fortranOrder ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  // Pad with spaces so magic + version + length + header + '\n' is a multiple
  // of 64, which is what numpy does (it keeps the data aligned for mmap).
  size_t total = kMagicLen + 2 + 2 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 0xffff)
    return Error(ErrorCode::InvalidArgument, ".npy header too long for format 1.0");

  std::string out(kMagic, kMagicLen);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>((dict.size() >> 8) & 0xff);
  out += dict;
  out += array.data;
  return out;
}

} // namespace sieve::runtime
