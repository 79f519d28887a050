//===- SafeTensors.cpp ----------------------------------------------------===//
#include "sieve/models/SafeTensors.h"

#include "sieve/runtime/DType.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

namespace sieve::models {

namespace {

// A header is a few hundred bytes per tensor; anything near this size is a
// corrupt length field, and refusing it avoids a huge allocation.
constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;

struct DTypeName {
  const char *name;
  SafeDType dtype;
  size_t bytes;
};
constexpr DTypeName kDTypes[] = {
    {"F64", SafeDType::F64, 8},   {"F32", SafeDType::F32, 4}, {"F16", SafeDType::F16, 2},
    {"BF16", SafeDType::BF16, 2}, {"I64", SafeDType::I64, 8}, {"I32", SafeDType::I32, 4},
    {"I16", SafeDType::I16, 2},   {"I8", SafeDType::I8, 1},   {"U64", SafeDType::U64, 8},
    {"U32", SafeDType::U32, 4},   {"U16", SafeDType::U16, 2}, {"U8", SafeDType::U8, 1},
    {"BOOL", SafeDType::Bool, 1},
};

Error malformed(const std::string &source, const std::string &what) {
  return Error(ErrorCode::InvalidArgument,
               fmt::format("{}: malformed safetensors file: {}", source, what));
}

std::string shapeStr(const std::vector<int64_t> &shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

/// Checks one header entry and fills `info`; `dataBytes` is the size of the
/// data section, which every tensor must lie inside.
Error parseEntry(const std::string &source, const std::string &name, const nlohmann::json &entry,
                 uint64_t dataBytes, SafeTensorInfo &info) {
  auto bad = [&](const std::string &what) {
    return malformed(source, fmt::format("tensor '{}': {}", name, what));
  };
  if (!entry.is_object())
    return bad("entry is not a JSON object");
  info.name = name;

  auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string())
    return bad("no \"dtype\" string");
  const std::string dtypeName = dtype->get<std::string>();
  const DTypeName *known = nullptr;
  for (const DTypeName &d : kDTypes)
    if (dtypeName == d.name)
      known = &d;
  if (!known)
    return bad(fmt::format("unknown dtype '{}'", dtypeName));
  info.dtype = known->dtype;

  auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array())
    return bad("no \"shape\" array");
  uint64_t elements = 1;
  for (const nlohmann::json &dim : *shape) {
    if (!dim.is_number_unsigned())
      return bad(fmt::format("shape entry {} is not a non-negative integer", dim.dump()));
    uint64_t d = dim.get<uint64_t>();
    if (d != 0 && elements > std::numeric_limits<int64_t>::max() / known->bytes / d)
      return bad("shape overflows");
    elements *= d;
    info.shape.push_back(static_cast<int64_t>(d));
  }

  auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
    return bad("\"data_offsets\" is not two non-negative integers");
  info.begin = (*offsets)[0].get<uint64_t>();
  info.end = (*offsets)[1].get<uint64_t>();
  if (info.begin > info.end)
    return bad(fmt::format("data_offsets [{}, {}] run backwards", info.begin, info.end));
  if (info.end > dataBytes)
    return bad(fmt::format("data_offsets [{}, {}] run past the {}-byte data section (truncated "
                           "file?)",
                           info.begin, info.end, dataBytes));
  if (info.end - info.begin != elements * known->bytes)
    return bad(fmt::format("shape/size mismatch: shape {} of {} needs {} bytes, data_offsets "
                           "[{}, {}] hold {}",
                           shapeStr(info.shape), dtypeName, elements * known->bytes, info.begin,
                           info.end, info.end - info.begin));
  return Error::success();
}

} // namespace

const char *safeDTypeName(SafeDType dtype) {
  for (const DTypeName &d : kDTypes)
    if (d.dtype == dtype)
      return d.name;
  return "?";
}

size_t safeDTypeBytes(SafeDType dtype) {
  for (const DTypeName &d : kDTypes)
    if (d.dtype == dtype)
      return d.bytes;
  return 0;
}

int64_t SafeTensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Expected<SafeTensors> SafeTensors::open(const std::string &path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::streamoff size = in.tellg();
  if (size < 0)
    return Error(ErrorCode::Io, fmt::format("{}: cannot read its size", path));
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char *>(bytes.data()), size))
    return Error(ErrorCode::Io, fmt::format("{}: read failed", path));
  return parse(std::move(bytes), path);
}

Expected<SafeTensors> SafeTensors::parse(std::vector<uint8_t> bytes, std::string source) {
  if (bytes.size() < 8)
    return malformed(source, fmt::format("truncated: {} bytes, shorter than the 8-byte header "
                                         "length",
                                         bytes.size()));
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i)
    headerBytes = (headerBytes << 8) | bytes[i];
  if (headerBytes > bytes.size() - 8)
    return malformed(source, fmt::format("header overrun: the header claims {} bytes but only {} "
                                         "follow the length field",
                                         headerBytes, bytes.size() - 8));
  if (headerBytes > kMaxHeaderBytes)
    return malformed(source, fmt::format("header of {} bytes exceeds the {}-byte limit",
                                         headerBytes, kMaxHeaderBytes));

  const char *text = reinterpret_cast<const char *>(bytes.data() + 8);
  nlohmann::json header = nlohmann::json::parse(text, text + headerBytes, /*cb=*/nullptr,
                                                /*allow_exceptions=*/false);
  if (header.is_discarded())
    return malformed(source, "the header is not valid JSON");
  if (!header.is_object())
    return malformed(source, "the header is not a JSON object");

  SafeTensors st;
  st.source_ = std::move(source);
  st.dataStart_ = 8 + headerBytes;
  uint64_t dataBytes = bytes.size() - st.dataStart_;
  for (const auto &[name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        return malformed(st.source_, "\"__metadata__\" is not an object");
      for (const auto &[key, value] : entry.items()) {
        if (!value.is_string())
          return malformed(st.source_, fmt::format("metadata '{}' is not a string", key));
        st.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    SafeTensorInfo info;
    if (Error e = parseEntry(st.source_, name, entry, dataBytes, info))
      return e;
    st.tensors_.emplace(name, std::move(info));
  }

  // Overlapping byte ranges mean a corrupt header: two tensors would alias.
  std::vector<const SafeTensorInfo *> byOffset;
  for (const auto &[name, info] : st.tensors_)
    if (info.end > info.begin)
      byOffset.push_back(&info);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const SafeTensorInfo *a, const SafeTensorInfo *b) { return a->begin < b->begin; });
  for (size_t i = 1; i < byOffset.size(); ++i)
    if (byOffset[i]->begin < byOffset[i - 1]->end)
      return malformed(st.source_, fmt::format("tensors '{}' and '{}' overlap",
                                               byOffset[i - 1]->name, byOffset[i]->name));

  st.bytes_ = std::move(bytes);
  return st;
}

const SafeTensorInfo *SafeTensors::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Expected<std::vector<float>>
SafeTensors::loadFloat(const std::string &name, const std::vector<int64_t> &expectedShape) const {
  const SafeTensorInfo *info = find(name);
  if (!info)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{}: missing tensor '{}' (the file has {} tensors)", source_, name,
                             tensors_.size()));
  if (!expectedShape.empty() && info->shape != expectedShape)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("{}: tensor '{}' has shape {}, expected {}", source_, name,
                             shapeStr(info->shape), shapeStr(expectedShape)));
  size_t n = static_cast<size_t>(info->numElements());
  std::vector<float> out(n);
  const uint8_t *src = bytes_.data() + dataStart_ + info->begin;
  // The format is little-endian, as is every host sieve runs on.
  switch (info->dtype) {
  case SafeDType::F32:
    std::memcpy(out.data(), src, n * sizeof(float));
    break;
  case SafeDType::F16:
  case SafeDType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t bits = static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
      out[i] = info->dtype == SafeDType::F16 ? runtime::halfBitsToFloat(bits)
                                             : runtime::bfloat16BitsToFloat(bits);
    }
    break;
  default:
    return Error(ErrorCode::DTypeMismatch,
                 fmt::format("{}: tensor '{}' is {}; only F32, F16 and BF16 load as float", source_,
                             name, safeDTypeName(info->dtype)));
  }
  return out;
}

} // namespace sieve::models
