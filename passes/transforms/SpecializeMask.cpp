//===- SpecializeMask.cpp - block mask -> constant row tables -------------===//
//
// The mask is a compile-time constant, so the work it implies can be laid out
// here once: which (head, query block) rows have work, which key blocks each
// one visits, and in what order rows should be scheduled.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"
#include "sieve/runtime/ColumnTables.h"
#include "sieve/runtime/RowTables.h"

#include "mlir/IR/Builders.h"

namespace sieve::passes {
#define GEN_PASS_DEF_SPECIALIZEMASK
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using namespace sieve::dialect;

namespace {

/// The op's causal rule as the tables apply it.
template <typename Op> sieve::runtime::CausalRule causalRuleOf(Op op) {
  return {op.getCausal(), op.getCausal() ? op.getCausalOffset() : 0};
}

/// The rows of the mask's query blocks: the op's queries, or for a
/// generation op the positions (its mask is over them, causal in position
/// space: a position sees the keys up to itself).
template <typename Op>
sieve::runtime::RowTables buildRowTables(Op op, bool overPositions = false,
                                         bool raggedLengths = false) {
  BlockMaskAttr mask = op.getMask();
  // A ragged batch's sequences each align bottom-right causal by their own
  // lengths, which come at launch: no tile is dropped here (the kernel
  // drops what each sequence's diagonal hides). Top-left holds for any crop.
  sieve::runtime::CausalRule rule = causalRuleOf(op);
  if (raggedLengths && op.getCausalAlign() == CausalAlign::BottomRight)
    rule = sieve::runtime::CausalRule::none();
  StringRef bits = mask.getBits();
  const int64_t rows =
      overPositions ? op.getKey().getType().getDimSize(2) : op.getQuery().getType().getDimSize(2);
  return sieve::runtime::buildRowTables(reinterpret_cast<const uint8_t *>(bits.data()),
                                        mask.getHeads(), mask.getQueryBlocks(), mask.getKeyBlocks(),
                                        op.getBlockQ(), op.getBlockK(), rows, rule);
}

/// The backward's dK/dV work list: the same tiles by (key head, key block).
sieve::runtime::ColumnTables buildColumnTables(AttentionBackwardOp op) {
  BlockMaskAttr mask = op.getMask();
  StringRef bits = mask.getBits();
  return sieve::runtime::buildColumnTables(
      reinterpret_cast<const uint8_t *>(bits.data()), mask.getHeads(),
      op.getKey().getType().getDimSize(1), mask.getQueryBlocks(), mask.getKeyBlocks(),
      op.getBlockQ(), op.getBlockK(), op.getQuery().getType().getDimSize(2), causalRuleOf(op));
}

void specializeBackward(AttentionBackwardOp op) {
  sieve::runtime::RowTables rows = buildRowTables(op);
  sieve::runtime::ColumnTables cols = buildColumnTables(op);
  OpBuilder b(op);
  BlockSparseAttentionBackwardOp::create(
      b, op.getLoc(), op.getQuery(), op.getKey(), op.getValue(), op.getOut(), op.getDout(),
      op.getLse(), op.getDquery(), op.getDkey(), op.getDvalue(), op.getThresholds(),
      b.getDenseI32ArrayAttr(rows.heads), b.getDenseI32ArrayAttr(rows.queryBlocks),
      b.getDenseI32ArrayAttr(rows.spans), b.getDenseI32ArrayAttr(rows.keyBlocks),
      b.getDenseI32ArrayAttr(cols.kvHeads), b.getDenseI32ArrayAttr(cols.keyBlocks),
      b.getDenseI32ArrayAttr(cols.spans), b.getDenseI32ArrayAttr(cols.queryHeads),
      b.getDenseI32ArrayAttr(cols.queryBlocks), op.getScaleAttr(), op.getBlockQAttr(),
      op.getBlockKAttr(), op.getCausalAttr(), op.getCausalAlignAttr());
  op.erase();
}

struct SpecializeMaskPass : public sieve::passes::impl::SpecializeMaskBase<SpecializeMaskPass> {
  void runOnOperation() override {
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops) {
      sieve::runtime::RowTables t = buildRowTables(op, static_cast<bool>(op.getPositions()),
                                                   static_cast<bool>(op.getSequences()));
      OpBuilder b(op);
      BlockSparseAttentionOp::create(
          b, op.getLoc(), op.getQuery(), op.getKey(), op.getValue(), op.getOut(), op.getStats(),
          op.getThresholds(), op.getLse(), op.getPositions(), op.getSequences(), op.getPages(),
          b.getDenseI32ArrayAttr(t.heads), b.getDenseI32ArrayAttr(t.queryBlocks),
          b.getDenseI32ArrayAttr(t.spans), b.getDenseI32ArrayAttr(t.keyBlocks), op.getScaleAttr(),
          op.getBlockQAttr(), op.getBlockKAttr(), op.getCausalAttr(), op.getCausalAlignAttr(),
          /*row_slots=*/DenseI32ArrayAttr(), /*split_groups=*/DenseI32ArrayAttr(),
          /*key_block_segments=*/DenseI32ArrayAttr(), /*mask_block_q=*/IntegerAttr(),
          op.getPageSizeAttr(), /*generation_parts=*/IntegerAttr());
      op.erase();
    }
    SmallVector<AttentionBackwardOp> backward;
    getOperation()->walk([&](AttentionBackwardOp op) { backward.push_back(op); });
    for (AttentionBackwardOp op : backward)
      specializeBackward(op);
  }
};

} // namespace
