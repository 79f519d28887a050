//===- LaunchContract.cpp -------------------------------------------------===//
#include "sieve/runtime/LaunchContract.h"

namespace sieve::runtime {

namespace {
constexpr const char *kSlotNames[kTensorSlots] = {
    "query",     "key",        "value",     "out",   "row_heads",  "row_query_blocks",
    "row_spans", "key_blocks", "workspace", "stats", "thresholds", "lse",
    "dout",      "dq",         "dk",        "dv",    "positions",  "sequences",
    "pages"};
constexpr ParamField kFields[] = {
    ParamField::AllocatedPtr, ParamField::AlignedPtr, ParamField::Offset, ParamField::Size,
    ParamField::Stride,       ParamField::TensorMap,  ParamField::Value};
constexpr LaunchRole kRoles[] = {LaunchRole::Attention,     LaunchRole::Combine,
                                 LaunchRole::BackwardRows,  LaunchRole::BackwardKeyValue,
                                 LaunchRole::BackwardQuery, LaunchRole::Pack};
} // namespace

const char *tensorSlotName(int slot) {
  return slot >= 0 && slot < kTensorSlots ? kSlotNames[slot] : nullptr;
}

std::optional<TensorSlot> parseTensorSlot(std::string_view name) {
  for (int s = 0; s < kTensorSlots; ++s)
    if (name == kSlotNames[s])
      return static_cast<TensorSlot>(s);
  return std::nullopt;
}

int tensorSlotRank(int slot) {
  if (slot <= kOut || (slot >= kDout && slot <= kDv))
    return 4;
  if (slot == kSequences || slot == kPages)
    return 2;
  return slot == kStats || slot == kLse ? 3 : 1;
}

const char *paramFieldName(ParamField field) {
  switch (field) {
  case ParamField::AllocatedPtr:
    return "allocated";
  case ParamField::AlignedPtr:
    return "aligned";
  case ParamField::Offset:
    return "offset";
  case ParamField::Size:
    return "size";
  case ParamField::Stride:
    return "stride";
  case ParamField::TensorMap:
    return "tensor_map";
  case ParamField::Value:
    return "value";
  }
  return "?";
}

std::optional<ParamField> parseParamField(std::string_view name) {
  for (ParamField f : kFields)
    if (name == paramFieldName(f))
      return f;
  return std::nullopt;
}

const char *launchRoleName(LaunchRole role) {
  switch (role) {
  case LaunchRole::Attention:
    return "attention";
  case LaunchRole::Combine:
    return "combine";
  case LaunchRole::BackwardRows:
    return "backward_rows";
  case LaunchRole::BackwardKeyValue:
    return "backward_key_value";
  case LaunchRole::BackwardQuery:
    return "backward_query";
  case LaunchRole::Pack:
    return "pack";
  }
  return "?";
}

std::optional<LaunchRole> parseLaunchRole(std::string_view name) {
  for (LaunchRole r : kRoles)
    if (name == launchRoleName(r))
      return r;
  return std::nullopt;
}

std::vector<ParamSlot> memrefDescriptorParams(int numTensors) {
  std::vector<ParamSlot> slots;
  for (int t = 0; t < numTensors; ++t) {
    slots.push_back({t, ParamField::AllocatedPtr, 0});
    slots.push_back({t, ParamField::AlignedPtr, 0});
    slots.push_back({t, ParamField::Offset, 0});
    for (int d = 0; d < 4; ++d)
      slots.push_back({t, ParamField::Size, d});
    for (int d = 0; d < 4; ++d)
      slots.push_back({t, ParamField::Stride, d});
  }
  return slots;
}

uint64_t contiguousDescriptorField(ParamField field, uint64_t address, const uint64_t *sizes,
                                   int rank, int dim) {
  switch (field) {
  case ParamField::AllocatedPtr:
  case ParamField::AlignedPtr:
    return address;
  case ParamField::Size:
    return sizes[dim];
  case ParamField::Stride: {
    uint64_t stride = 1;
    for (int d = dim + 1; d < rank; ++d)
      stride *= sizes[d];
    return stride;
  }
  default:
    return 0;
  }
}

} // namespace sieve::runtime
