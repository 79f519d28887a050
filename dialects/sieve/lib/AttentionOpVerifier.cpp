//===- AttentionOpVerifier.cpp - shape rules of the attention ops ----------===//
//
// Both attention ops share the tensor rules of shared/DESIGN.md; each error
// names the operand and the shape it should have had.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveOps.h"

#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace sieve::dialect;

namespace {

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(d) ? "?" : std::to_string(d);
  }
  return s + "]";
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Checks q, k, v, out against each other; on success fills the problem sizes.
LogicalResult verifyTensors(Operation *op, MemRefType q, MemRefType k, MemRefType v, MemRefType out,
                            float scale) {
  for (auto [name, type] :
       {std::pair<StringRef, MemRefType>{"query", q}, {"key", k}, {"value", v}, {"out", out}}) {
    if (!type.hasStaticShape())
      return op->emitOpError() << "operand '" << name << "' must have a static shape, got "
                               << shapeString(type.getShape());
    if (llvm::any_of(type.getShape(), [](int64_t d) { return d <= 0; }))
      return op->emitOpError() << "operand '" << name << "' must have positive sizes, got "
                               << shapeString(type.getShape());
  }
  Type elt = q.getElementType();
  for (auto [name, type] : {std::pair<StringRef, MemRefType>{"key", k}, {"value", v}, {"out", out}})
    if (type.getElementType() != elt)
      return op->emitOpError() << "operand '" << name << "' has element type "
                               << type.getElementType() << ", expected " << elt << " like 'query'";

  int64_t b = q.getDimSize(0), hq = q.getDimSize(1), d = q.getDimSize(3);
  int64_t hkv = k.getDimSize(1), sk = k.getDimSize(2);
  SmallVector<int64_t> kvShape = {b, hkv, sk, d};
  if (k.getShape()[0] != b || k.getShape()[3] != d)
    return op->emitOpError() << "operand 'key' has shape " << shapeString(k.getShape())
                             << ", expected " << shapeString(kvShape)
                             << " (batch and head dim of 'query')";
  if (v.getShape() != ArrayRef<int64_t>(kvShape))
    return op->emitOpError() << "operand 'value' has shape " << shapeString(v.getShape())
                             << ", expected " << shapeString(kvShape) << " like 'key'";
  if (hq % hkv != 0)
    return op->emitOpError() << "query heads (" << hq << ") must be a multiple of key heads ("
                             << hkv << ")";
  if (out.getShape() != q.getShape())
    return op->emitOpError() << "operand 'out' has shape " << shapeString(out.getShape())
                             << ", expected " << shapeString(q.getShape()) << " like 'query'";
  if (!std::isfinite(scale) || scale == 0.0f)
    return op->emitOpError() << "scale must be finite and non-zero, got " << scale;
  return success();
}

// The optional stats operand must be shaped like the mask: [Hq, QB, KB].
LogicalResult verifyStats(Operation *op, Value stats, ArrayRef<int64_t> expected) {
  if (!stats)
    return success();
  auto type = cast<MemRefType>(stats.getType());
  if (type.getShape() != expected)
    return op->emitOpError() << "operand 'stats' has shape " << shapeString(type.getShape())
                             << ", expected " << shapeString(expected)
                             << " ([query heads, query blocks, key blocks])";
  return success();
}

} // namespace

LogicalResult AttentionOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType(),
       out = getOut().getType();
  if (failed(verifyTensors(*this, q, k, v, out, getScale().convertToFloat())))
    return failure();
  BlockMaskAttr mask = getMask();
  int64_t hq = q.getDimSize(1), sq = q.getDimSize(2), sk = k.getDimSize(2);
  SmallVector<int64_t> expected = {hq, ceilDiv(sq, getBlockQ()), ceilDiv(sk, getBlockK())};
  SmallVector<int64_t> actual = {mask.getHeads(), mask.getQueryBlocks(), mask.getKeyBlocks()};
  if (actual != expected)
    return emitOpError() << "attribute 'mask' has shape " << shapeString(actual) << ", expected "
                         << shapeString(expected)
                         << " ([query heads, ceil(Sq / block_q), ceil(Sk / "
                            "block_k)])";
  return verifyStats(*this, getStats(), expected);
}

int64_t BlockSparseAttentionOp::getNumActiveRows() {
  ArrayRef<int32_t> spans = getRowSpans();
  int64_t active = 0;
  for (int64_t r = 0, e = getNumRows(); r < e; ++r)
    active += spans[2 * r + 1] > spans[2 * r];
  return active;
}

LogicalResult BlockSparseAttentionOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType(),
       out = getOut().getType();
  if (failed(verifyTensors(*this, q, k, v, out, getScale().convertToFloat())))
    return failure();
  int64_t hq = q.getDimSize(1);
  int64_t qBlocks = ceilDiv(q.getDimSize(2), getBlockQ());
  int64_t kBlocks = ceilDiv(k.getDimSize(2), getBlockK());
  ArrayRef<int32_t> heads = getRowHeads(), qbs = getRowQueryBlocks(), spans = getRowSpans(),
                    keys = getKeyBlocks();
  if (qbs.size() != heads.size())
    return emitOpError() << "attribute 'row_query_blocks' has " << qbs.size()
                         << " entries, expected " << heads.size() << " like 'row_heads'";
  if (spans.size() != 2 * heads.size())
    return emitOpError() << "attribute 'row_spans' has " << spans.size() << " entries, expected "
                         << 2 * heads.size() << " (begin and end of each row)";
  // Every (head, query block) must be listed exactly once, or some of 'out'
  // would never be written.
  if (static_cast<int64_t>(heads.size()) != hq * qBlocks)
    return emitOpError() << "lists " << heads.size() << " rows, expected " << hq * qBlocks
                         << " (query heads x query blocks)";
  llvm::BitVector seen(hq * qBlocks);
  for (size_t r = 0; r < heads.size(); ++r) {
    if (heads[r] < 0 || heads[r] >= hq)
      return emitOpError() << "row " << r << " names head " << heads[r] << ", expected [0, " << hq
                           << ")";
    if (qbs[r] < 0 || qbs[r] >= qBlocks)
      return emitOpError() << "row " << r << " names query block " << qbs[r] << ", expected [0, "
                           << qBlocks << ")";
    if (seen.test(heads[r] * qBlocks + qbs[r]))
      return emitOpError() << "row " << r << " repeats (head " << heads[r] << ", query block "
                           << qbs[r] << ")";
    seen.set(heads[r] * qBlocks + qbs[r]);
    int32_t begin = spans[2 * r], end = spans[2 * r + 1];
    if (begin < 0 || end < begin || end > static_cast<int32_t>(keys.size()))
      return emitOpError() << "row " << r << " spans key_blocks[" << begin << ", " << end
                           << "), expected 0 <= begin <= end <= " << keys.size();
    for (int32_t e = begin; e < end; ++e)
      if (keys[e] < 0 || keys[e] >= kBlocks)
        return emitOpError() << "row " << r << " names key block " << keys[e] << ", expected [0, "
                             << kBlocks << ")";
  }
  return verifyStats(*this, getStats(), {hq, qBlocks, kBlocks});
}
