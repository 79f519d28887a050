//===- BlockMaskAttr.cpp - #sieve.block_mask -------------------------------===//
//
// Parsing, printing and checking of the bit-packed tile mask. The packed form
// is canonical (padding bits zero) so that equal masks give equal IR text and
// so equal cache keys.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveAttrs.h"
#include "sieve/dialect/SieveDialect.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace sieve::dialect;

namespace {
int64_t packedBytes(int64_t tiles) { return (tiles + 7) / 8; }
} // namespace

bool BlockMaskAttr::isKept(int64_t head, int64_t qBlock, int64_t kBlock) const {
  int64_t n = (head * getQueryBlocks() + qBlock) * getKeyBlocks() + kBlock;
  return (static_cast<uint8_t>(getBits()[n / 8]) >> (n % 8)) & 1;
}

int64_t BlockMaskAttr::countKept() const {
  int64_t kept = 0;
  for (char byte : getBits())
    kept += llvm::popcount(static_cast<uint8_t>(byte));
  return kept;
}

LogicalResult BlockMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t heads,
                                    int64_t queryBlocks, int64_t keyBlocks, StringRef bits) {
  if (heads <= 0 || queryBlocks <= 0 || keyBlocks <= 0)
    return emitError() << "block_mask shape must be positive, got " << heads << "x" << queryBlocks
                       << "x" << keyBlocks;
  // Guard the product against overflow before sizing anything from it.
  int64_t tiles = 0;
  if (llvm::MulOverflow(heads, queryBlocks, tiles) || llvm::MulOverflow(tiles, keyBlocks, tiles))
    return emitError() << "block_mask shape " << heads << "x" << queryBlocks << "x" << keyBlocks
                       << " is too large";
  int64_t expected = packedBytes(tiles);
  if (static_cast<int64_t>(bits.size()) != expected)
    return emitError() << "block_mask " << heads << "x" << queryBlocks << "x" << keyBlocks
                       << " needs " << expected << " packed bytes, got " << bits.size();
  if (tiles % 8 != 0) {
    uint8_t last = static_cast<uint8_t>(bits.back());
    if (last >> (tiles % 8))
      return emitError() << "block_mask has bits set past its last tile";
  }
  return success();
}

Attribute BlockMaskAttr::parse(AsmParser &parser, Type) {
  // #sieve.block_mask<HxQxK, "hex">
  SmallVector<int64_t, 3> shape;
  std::string hex;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/false,
                                /*withTrailingX=*/false) ||
      parser.parseComma() || parser.parseString(&hex) || parser.parseGreater())
    return {};
  if (shape.size() != 3) {
    parser.emitError(loc) << "block_mask shape must be heads x query blocks x "
                             "key blocks, got "
                          << shape.size() << " dimensions";
    return {};
  }
  std::string bytes;
  if (hex.size() % 2 != 0 || !llvm::tryGetFromHex(hex, bytes)) {
    parser.emitError(loc) << "block_mask bits must be an even-length hex "
                             "string";
    return {};
  }
  return parser.getChecked<BlockMaskAttr>(loc, parser.getContext(), shape[0], shape[1], shape[2],
                                          StringRef(bytes));
}

void BlockMaskAttr::print(AsmPrinter &printer) const {
  printer << "<" << getHeads() << "x" << getQueryBlocks() << "x" << getKeyBlocks() << ", \""
          << llvm::toHex(getBits(), /*LowerCase=*/true) << "\">";
}
