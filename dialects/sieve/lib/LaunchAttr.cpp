//===- LaunchAttr.cpp - #sieve.launch and #sieve.param ---------------------===//
//
// The launch contract in the IR: printed and parsed with the slot, field and
// role names of runtime/include/sieve/runtime/LaunchContract.h, the one
// numbering the passes and the runtime share.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveAttrs.h"
#include "sieve/dialect/SieveDialect.h"
#include "sieve/runtime/LaunchContract.h"

using namespace mlir;
using namespace sieve::dialect;
namespace rt = sieve::runtime;

ParamAttr ParamAttr::get(MLIRContext *ctx, const rt::ParamSlot &slot) {
  return get(ctx, slot.tensor, static_cast<int32_t>(slot.field), slot.dim, slot.boxRows,
             slot.boxCols);
}

rt::ParamSlot ParamAttr::getSlot() const {
  rt::ParamSlot s;
  s.tensor = getTensor();
  s.field = static_cast<rt::ParamField>(getField());
  s.dim = getDim();
  s.boxRows = getBoxRows();
  s.boxCols = getBoxCols();
  return s;
}

LogicalResult ParamAttr::verify(function_ref<InFlightDiagnostic()> emitError, int32_t tensor,
                                int32_t field, int32_t dim, int64_t boxRows, int64_t boxCols) {
  if (!rt::tensorSlotName(tensor))
    return emitError() << "param: tensor slot " << tensor << " is not one of the "
                       << rt::kTensorSlots << " slots";
  if (field < 0 || field > static_cast<int32_t>(rt::ParamField::Value))
    return emitError() << "param: unknown descriptor field " << field;
  const auto f = static_cast<rt::ParamField>(field);
  // By value: one of the positions' two step numbers (q_pos, seq_k_live).
  if (f == rt::ParamField::Value && (tensor != rt::kPositions || dim < 0 || dim > 1))
    return emitError() << "param: only the positions' elements 0 and 1 pass by value, not "
                       << rt::tensorSlotName(tensor) << "[" << dim << "]";
  const bool sized = f == rt::ParamField::Size || f == rt::ParamField::Stride;
  if (f != rt::ParamField::Value &&
      (sized ? (dim < 0 || dim >= rt::tensorSlotRank(tensor)) : dim != 0))
    return emitError() << "param: dimension " << dim << " of " << rt::tensorSlotName(tensor)
                       << " (rank " << rt::tensorSlotRank(tensor) << ")";
  if (f == rt::ParamField::TensorMap ? (rt::tensorSlotRank(tensor) != 4 || boxRows < 1 ||
                                        boxRows > 256 || boxCols < 1 || boxCols > 256)
                                     : (boxRows != 0 || boxCols != 0))
    return emitError() << "param: a tensor map takes a rank-4 tensor and a box of 1-256 by 1-256 "
                          "elements, and only a tensor map has a box";
  return success();
}

void ParamAttr::print(AsmPrinter &p) const {
  const auto f = static_cast<rt::ParamField>(getField());
  p << "<" << rt::tensorSlotName(getTensor()) << "." << rt::paramFieldName(f);
  if (f == rt::ParamField::Size || f == rt::ParamField::Stride || f == rt::ParamField::Value)
    p << "[" << getDim() << "]";
  if (f == rt::ParamField::TensorMap)
    p << "[" << getBoxRows() << "x" << getBoxCols() << "]";
  p << ">";
}

Attribute ParamAttr::parse(AsmParser &parser, Type) {
  // #sieve.param<slot.field>, <slot.size[d]>, <slot.tensor_map[RxC]>, <positions.value[i]>
  SMLoc loc = parser.getCurrentLocation();
  std::string text;
  if (parser.parseLess() || parser.parseKeywordOrString(&text))
    return {};
  // The keyword lexer takes "query.size" whole.
  size_t dot = text.find('.');
  auto slot = rt::parseTensorSlot(dot == std::string::npos ? text : text.substr(0, dot));
  auto field = dot == std::string::npos ? std::nullopt : rt::parseParamField(text.substr(dot + 1));
  if (!slot || !field) {
    parser.emitError(loc) << "param: expected <slot>.<field>, got '" << text << "'";
    return {};
  }
  int64_t dim = 0, rows = 0, cols = 0;
  if (*field == rt::ParamField::Size || *field == rt::ParamField::Stride ||
      *field == rt::ParamField::Value) {
    if (parser.parseLSquare() || parser.parseInteger(dim) || parser.parseRSquare())
      return {};
  } else if (*field == rt::ParamField::TensorMap) {
    SmallVector<int64_t, 2> box;
    if (parser.parseLSquare() ||
        parser.parseDimensionList(box, /*allowDynamic=*/false, /*withTrailingX=*/false) ||
        parser.parseRSquare())
      return {};
    if (box.size() != 2) {
      parser.emitError(loc) << "param: a tensor map's box is rows x columns";
      return {};
    }
    rows = box[0], cols = box[1];
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<ParamAttr>(loc, parser.getContext(), static_cast<int32_t>(*slot),
                                      static_cast<int32_t>(*field), static_cast<int32_t>(dim), rows,
                                      cols);
}

rt::KernelLaunch LaunchAttr::getLaunch(StringRef entry) const {
  rt::KernelLaunch l;
  l.role = static_cast<rt::LaunchRole>(getRole());
  l.entry = entry.str();
  for (int i = 0; i < 3; ++i) {
    l.grid[i] = static_cast<uint32_t>(getGrid()[i]);
    l.block[i] = static_cast<uint32_t>(getBlock()[i]);
  }
  l.sharedBytes = static_cast<uint32_t>(getSharedBytes());
  l.waitsOnPrevious = getWaitsOnPrevious();
  for (ParamAttr p : getParams())
    l.params.push_back(p.getSlot());
  return l;
}

LogicalResult LaunchAttr::verify(function_ref<InFlightDiagnostic()> emitError, int32_t role,
                                 ArrayRef<int32_t> grid, ArrayRef<int32_t> block,
                                 int64_t sharedBytes, int64_t workspaceBytes, int64_t alignBytes,
                                 ArrayRef<ParamAttr> params, bool waitsOnPrevious) {
  if (role < 0 || role > static_cast<int32_t>(rt::LaunchRole::Pack))
    return emitError() << "launch: unknown role " << role;
  if (grid.size() != 3 || block.size() != 3)
    return emitError() << "launch: grid and block are three dimensions each";
  for (int32_t d : grid)
    if (d < 1)
      return emitError() << "launch: grid dimensions must be positive";
  for (int32_t d : block)
    if (d < 1)
      return emitError() << "launch: block dimensions must be positive";
  if (sharedBytes < 0 || sharedBytes > UINT32_MAX || workspaceBytes < 0 || alignBytes < 0 ||
      (alignBytes & (alignBytes - 1)) != 0)
    return emitError() << "launch: shared and workspace bytes are non-negative and the "
                          "alignment a power of two (or 0)";
  bool workspaceParam = false;
  for (ParamAttr p : params)
    workspaceParam |= p.getTensor() == rt::kWorkspace;
  if (workspaceParam && workspaceBytes == 0)
    return emitError() << "launch: a workspace parameter needs workspace bytes";
  if (waitsOnPrevious && role == static_cast<int32_t>(rt::LaunchRole::Attention))
    return emitError() << "launch: the attention launch comes first and waits on no previous one";
  return success();
}

void LaunchAttr::print(AsmPrinter &p) const {
  p << "<" << rt::launchRoleName(static_cast<rt::LaunchRole>(getRole())) << ", grid = [";
  llvm::interleaveComma(getGrid(), p);
  p << "], block = [";
  llvm::interleaveComma(getBlock(), p);
  p << "], shared = " << getSharedBytes() << ", workspace = " << getWorkspaceBytes()
    << ", align = " << getAlignBytes() << ", params = [";
  llvm::interleaveComma(getParams(), p, [&](ParamAttr a) { p.printAttribute(a); });
  p << "]";
  if (getWaitsOnPrevious())
    p << ", waits_on_previous";
  p << ">";
}

Attribute LaunchAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  std::string roleName;
  if (parser.parseLess() || parser.parseKeywordOrString(&roleName) || parser.parseComma())
    return {};
  auto role = rt::parseLaunchRole(roleName);
  if (!role) {
    parser.emitError(loc) << "launch: unknown role '" << roleName << "'";
    return {};
  }
  auto parseDims = [&](StringRef key, SmallVector<int32_t> &dims) -> ParseResult {
    return failure(parser.parseKeyword(key) || parser.parseEqual() ||
                   parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
                     int32_t d = 0;
                     if (parser.parseInteger(d))
                       return failure();
                     dims.push_back(d);
                     return success();
                   }));
  };
  SmallVector<int32_t> grid, block;
  int64_t shared = 0, workspace = 0, align = 0;
  SmallVector<ParamAttr> params;
  if (parseDims("grid", grid) || parser.parseComma() || parseDims("block", block) ||
      parser.parseComma() || parser.parseKeyword("shared") || parser.parseEqual() ||
      parser.parseInteger(shared) || parser.parseComma() || parser.parseKeyword("workspace") ||
      parser.parseEqual() || parser.parseInteger(workspace) || parser.parseComma() ||
      parser.parseKeyword("align") || parser.parseEqual() || parser.parseInteger(align) ||
      parser.parseComma() || parser.parseKeyword("params") || parser.parseEqual() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
        ParamAttr p;
        if (parser.parseAttribute(p))
          return failure();
        params.push_back(p);
        return success();
      }))
    return {};
  bool waitsOnPrevious = false;
  if (succeeded(parser.parseOptionalComma())) {
    if (parser.parseKeyword("waits_on_previous"))
      return {};
    waitsOnPrevious = true;
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<LaunchAttr>(loc, parser.getContext(), static_cast<int32_t>(*role),
                                       ArrayRef<int32_t>(grid), ArrayRef<int32_t>(block), shared,
                                       workspace, align, ArrayRef<ParamAttr>(params),
                                       waitsOnPrevious);
}
