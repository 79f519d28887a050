//===- GenerationTile.cpp - a GPU generation kernel's step and tile -------===//
#include "nvidia/GenerationTile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace sieve::passes {

SmallVector<Type> kernelOperandTypes(BlockSparseAttentionOp op) {
  SmallVector<Type> types;
  for (Value operand : op->getOperands()) {
    if (operand == op.getPositions()) {
      types.append(2, IntegerType::get(op.getContext(), 32));
      continue;
    }
    types.push_back(operand.getType());
  }
  return types;
}

unsigned kernelOperandCount(BlockSparseAttentionOp op) {
  return op->getNumOperands() + (op.isGeneration() ? 1 : 0);
}

int64_t generationGridX(BlockSparseAttentionOp op, int64_t tilesPerRow) {
  return op.getGenerationWindows() * op.getGenerationRowHeads() * tilesPerRow *
         op.getGenerationPartCount();
}

Value firstDeadEntry(FragmentBuilder &e, Value keyBlocks, Value begin, Value end, Value live,
                     int64_t blockK, int64_t maxEntries) {
  ImplicitLocOpBuilder &b = e.b;
  Value lo = begin, hi = end;
  for (int64_t span = maxEntries; span > 0; span /= 2) {
    Value open = e.ult(lo, hi);
    Value mid = e.div(e.add(lo, hi), 2);
    // A closed search reads entry 0 (every table has one) and moves no bound.
    Value at = arith::SelectOp::create(b, open, mid, e.idx(0));
    Value holdsLive = e.ult(e.mul(loadIndexEntry(b, keyBlocks, at), blockK), live);
    Value up = arith::AndIOp::create(b, open, holdsLive);
    Value down = arith::AndIOp::create(
        b, open,
        arith::XOrIOp::create(b, holdsLive, arith::ConstantOp::create(b, b.getBoolAttr(true))));
    lo = arith::SelectOp::create(b, up, e.add(mid, 1), lo);
    hi = arith::SelectOp::create(b, down, mid, hi);
  }
  return lo;
}

GenerationTile emitGenerationTile(FragmentBuilder &e, BlockSparseAttentionOp op, Block &entry,
                                  Value blockX, int64_t tilesPerRow, int64_t queryTile, Value spans,
                                  Value keyBlocks, const RowTableGlobals &tables) {
  ImplicitLocOpBuilder &b = e.b;
  const int64_t heads = op.getGenerationRowHeads();
  const int64_t seqQ = op.getQuery().getType().getDimSize(2);
  const int64_t positions = op.getKey().getType().getDimSize(2);
  const int64_t blockQ = op.getPositionBlock(), blockK = op.getBlockK();
  const int64_t positionBlocks = op.getPositionBlockCount();
  // The step's two numbers follow the operands before the positions.
  const unsigned stepArg = op->getNumOperands() - 1;
  auto asIndex = [&](unsigned arg) -> Value {
    return arith::IndexCastUIOp::create(b, b.getIndexType(), entry.getArgument(arg));
  };
  GenerationTile t;
  t.qPos = asIndex(stepArg);
  t.liveKeys = asIndex(stepArg + 1);
  // Block x = ((window * heads + head) * tilesPerRow + query tile) * parts
  // + part: a split step's parts of one row are neighbours.
  const int64_t parts = op.getGenerationPartCount();
  Value part = parts > 1 ? e.rem(blockX, parts) : Value();
  Value unitX = parts > 1 ? e.div(blockX, parts) : blockX;
  Value tile = e.rem(unitX, tilesPerRow), unit = e.div(unitX, tilesPerRow);
  t.head = e.rem(unit, heads);
  Value window = e.div(unit, heads);
  Value positionBlock = e.add(e.div(t.qPos, blockQ), window);
  Value firstPosition = e.add(e.mul(positionBlock, blockQ), e.mul(tile, queryTile));
  // The tile holds a query of the call: first < q_pos + Sq and
  // first + queryTile > q_pos. (Then its position block is below
  // ceil(M / block_q), as q_pos + Sq <= seq_k_live <= M.) A packed tile's
  // rows are the key head's g query heads at q_pos (Sq = 1): rows
  // [tile * queryTile, +queryTile) of the g.
  Value active;
  if (op.isGqaPacked()) {
    active = e.ult(e.mul(tile, queryTile), e.idx(op.getPackedGroup()));
  } else {
    Value callEnd = e.add(t.qPos, seqQ);
    active = arith::AndIOp::create(b, e.ult(firstPosition, callEnd),
                                   e.ult(t.qPos, e.add(firstPosition, queryTile)));
  }
  e.returnUnless(active);

  memref::GlobalOp global = tables.positionRows;
  Value positionRows = memref::GetGlobalOp::create(b, global.getType(), global.getSymName());
  t.row = loadIndexEntry(b, positionRows, e.add(e.mul(t.head, positionBlocks), positionBlock));
  t.firstRow = op.isGqaPacked() ? e.mul(tile, queryTile)
                                : arith::SubIOp::create(b, firstPosition, t.qPos).getResult();
  auto [begin, end] = loadRowSpan(b, spans, t.row);
  t.rowBegin = begin;
  t.liveEnd = firstDeadEntry(e, keyBlocks, begin, end, t.liveKeys, blockK,
                             (positions + blockK - 1) / blockK);
  if (parts > 1) {
    // Part s: entries [begin + s L, begin + (s + 1) L) of the row, clamped
    // to its live ones. A part at or past the live end runs no tile: it
    // leaves zeros and a log-sum-exp of -inf, which the combine weighs 0.
    const int64_t length = op.getGenerationPartLength();
    Value first = arith::MinUIOp::create(b, e.add(begin, e.mul(part, length)), t.liveEnd);
    t.rowBegin = first;
    t.liveEnd = arith::MinUIOp::create(b, e.add(first, length), t.liveEnd);
    t.slot = e.add(e.mul(t.head, parts), part);
  }
  return t;
}

} // namespace sieve::passes
