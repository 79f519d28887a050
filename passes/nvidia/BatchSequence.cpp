//===- BatchSequence.cpp --------------------------------------------------===//
#include "nvidia/BatchSequence.h"
#include "nvidia/GenerationTile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace sieve::passes {

namespace {
Value sub(FragmentBuilder &e, Value x, Value y) { return arith::SubIOp::create(e.b, x, y); }
} // namespace

BatchSequence emitBatchSequence(FragmentBuilder &e, BlockSparseAttentionOp op, Block &entry,
                                Value bi) {
  ImplicitLocOpBuilder &b = e.b;
  BatchSequence seq;
  seq.batchEntry = bi;
  if (op.getPages()) {
    seq.pages = pagesArgument(op, entry);
    seq.pageSize = static_cast<int64_t>(*op.getPageSize());
  }
  if (!op.getSequences()) {
    seq.seqQ = e.idx(op.getQuery().getType().getDimSize(2));
    seq.seqK = e.idx(op.getKey().getType().getDimSize(2));
    return seq;
  }
  // i32 [2, B + 1]: cu_seqlens_q, then cu_seqlens_k.
  Value table = sequencesArgument(op, entry);
  auto at = [&](int64_t which, Value column) -> Value {
    Value v = memref::LoadOp::create(b, table, ValueRange{e.idx(which), column});
    return arith::IndexCastOp::create(b, b.getIndexType(), v);
  };
  Value next = e.add(bi, 1);
  seq.qOffset = at(0, bi);
  Value keyStart = at(1, bi);
  seq.seqQ = sub(e, at(0, next), seq.qOffset);
  seq.seqK = sub(e, at(1, next), keyStart);
  if (!seq.pages) // paged and ragged: the keys are in the pages, the offsets give lengths only
    seq.kOffset = keyStart;
  return seq;
}

TileRows BatchSequence::queryRows(FragmentBuilder &e, Value first) const {
  if (!qOffset)
    return {batchEntry, first, seqQ};
  return {e.idx(0), e.add(qOffset, first), e.add(qOffset, seqQ)};
}

TileRows BatchSequence::keyRows(FragmentBuilder &e, Value first) const {
  ImplicitLocOpBuilder &b = e.b;
  if (!pages) {
    if (!kOffset)
      return {batchEntry, first, seqK};
    return {e.idx(0), e.add(kOffset, first), e.add(kOffset, seqK)};
  }
  // The page of key `first`, or of the last key when the tile starts past
  // it (a key block's later sub-tiles may): an entry the sequence uses.
  Value lastKey = sub(e, seqK, e.idx(1));
  Value pageKey = arith::MinUIOp::create(b, first, lastKey);
  Value entry = memref::LoadOp::create(b, pages, ValueRange{batchEntry, e.div(pageKey, pageSize)});
  Value page = arith::IndexCastOp::create(b, b.getIndexType(), entry);
  Value row = e.rem(first, pageSize);
  // Live rows of the tile: the keys below seqK, none when it starts past.
  Value live = arith::SelectOp::create(b, e.ult(first, seqK), sub(e, seqK, first), e.idx(0));
  return {page, row, e.add(row, live)};
}

std::pair<Value, Value> batchSequenceRow(FragmentBuilder &e, const ProblemGeometry &g,
                                         const BatchSequence &seq, Value keyBlocks, Value rowBegin,
                                         Value rowEnd, Value qStart, int64_t queryTile,
                                         std::optional<dialect::CausalAlign> align) {
  ImplicitLocOpBuilder &b = e.b;
  Value live = seq.seqK, shift;
  if (g.causal && align == dialect::CausalAlign::BottomRight) {
    shift = sub(e, seq.seqK, seq.seqQ);
    // Keys up to the tile's last query's: below qStart + queryTile + shift,
    // clamped to [0, seqK].
    Value limit = e.add(e.add(qStart, queryTile), shift);
    limit = arith::MaxSIOp::create(b, limit, e.idx(0));
    live = arith::MinSIOp::create(b, limit, seq.seqK);
  }
  const int64_t maxEntries = (g.seqK + g.blockK - 1) / g.blockK;
  return {firstDeadEntry(e, keyBlocks, rowBegin, rowEnd, live, g.blockK, maxEntries), shift};
}

} // namespace sieve::passes
