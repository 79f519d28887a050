//===- SafeTensors.h - read tensors from a .safetensors file ----*- C++ -*-===//
//
// The safetensors format: an 8-byte little-endian header length N, N bytes
// of JSON mapping each tensor name to {dtype, shape, data_offsets: [begin,
// end]} (offsets relative to the byte after the header), an optional
// "__metadata__" object of strings, then the raw little-endian data.
//
// The whole file is checked when it is opened, so a damaged download fails
// with one clear error (truncated, header overrun, unknown dtype, a shape
// that does not match its byte range) rather than with garbage weights.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_MODELS_SAFETENSORS_H
#define SIEVE_MODELS_SAFETENSORS_H

#include "sieve/Error.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sieve::models {

/// The element types the format defines. Only F32, F16 and BF16 convert to
/// float; the others are recognized so that files holding them (the
/// int64 position ids of a BERT checkpoint) still open.
enum class SafeDType { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, Bool };

const char *safeDTypeName(SafeDType dtype);
size_t safeDTypeBytes(SafeDType dtype);

struct SafeTensorInfo {
  std::string name;
  SafeDType dtype = SafeDType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; // byte range inside the data section
  int64_t numElements() const;
};

class SafeTensors {
public:
  /// Reads and checks `path`. Errors (ErrorCode::Io for the file system,
  /// InvalidArgument for a malformed file) start with the path.
  static Expected<SafeTensors> open(const std::string &path);
  /// Checks and takes `bytes`, a whole file's content; `source` names it in
  /// errors.
  static Expected<SafeTensors> parse(std::vector<uint8_t> bytes, std::string source);

  /// Null when there is no such tensor.
  const SafeTensorInfo *find(const std::string &name) const;
  const std::map<std::string, SafeTensorInfo> &tensors() const { return tensors_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }

  /// The tensor's elements as float, row-major. Fails naming the tensor when
  /// it is missing, its dtype does not convert, or `expectedShape` (when not
  /// empty) differs from its shape.
  Expected<std::vector<float>> loadFloat(const std::string &name,
                                         const std::vector<int64_t> &expectedShape = {}) const;

private:
  std::string source_;
  std::vector<uint8_t> bytes_;
  size_t dataStart_ = 0;
  std::map<std::string, SafeTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

} // namespace sieve::models

#endif
