//===- PackGqa.cpp - pack a key head's query heads into shared rows -------===//
//
// Decoding runs a few queries per head against a long key range: one work
// row per (query head, query block) reads a key head's keys and values once
// for each of its g = Hq / Hkv query heads, and fills a 64-row tile with
// one or a few rows. Packing GQA (as FlashAttention-3 does for decode)
// gives a key head's g x Sq (head, query) pairs the rows of one tile
// instead, so K and V are read once per key head and the tile's rows are
// used. The mask stays exact: a packed row lists the union of its heads'
// key blocks, and each entry carries which of the row's (head, query
// block) segments keep it; the kernels drop the scores of the others.
// A generation op's decode step (one query per head) packs per position
// block: its rows are (key head, position block), picked at launch.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <map>

namespace sieve::passes {
#define GEN_PASS_DEF_PACKGQA
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace {

/// Segments a packed row's entry word can name (one bit each).
constexpr int64_t kMaxSegments = 32;

struct PackedRow {
  int32_t keyHead, block;
  std::vector<int32_t> keyBlocks, words;
};

/// Why `op` is not packed, or "" when it can be with `rows` packed rows
/// per work row.
std::string unpackableReason(BlockSparseAttentionOp op, int64_t rows, int64_t maxQueries) {
  const int64_t hq = op.getQuery().getType().getDimSize(1);
  const int64_t hkv = op.getKey().getType().getDimSize(1);
  const int64_t sq = op.getQuery().getType().getDimSize(2);
  if (op.isGqaPacked())
    return "packed already";
  if (hq == hkv)
    return "no grouped query heads";
  if (sq > maxQueries)
    return "too many queries";
  if (op.getStats() || op.getThresholds())
    return "stats and thresholds are per query head";
  if (op.hasSplitRows())
    return "rows are split already";
  // A generation chunk's queries may straddle two position blocks, whose
  // rows differ: only one query per head packs (docs/generation.md).
  if (op.isGeneration() && sq != 1)
    return "a generation op packs one query per head";
  if (op.hasBatchLayout()) // docs/ragged-paged.md: lengths and key rows come at launch
    return "a ragged or paged batch's rows run per sequence";
  if (op.isGeneration()) // a row's segments are its g query heads
    return hq / hkv > std::min(rows, kMaxSegments)
               ? "a packed row would span more than 32 (head, query block) segments"
               : "";
  // Each work row's segments must fit the entry words' bits.
  const int64_t perHead = (sq + op.getBlockQ() - 1) / op.getBlockQ();
  auto segmentOf = [&](int64_t p) { return p / sq * perHead + p % sq / op.getBlockQ(); };
  const int64_t packedRows = hq / hkv * sq;
  for (int64_t first = 0; first < packedRows; first += rows)
    if (segmentOf(std::min(packedRows, first + rows) - 1) - segmentOf(first) >= kMaxSegments)
      return "a packed row would span more than 32 (head, query block) segments";
  return "";
}

/// The union of the key blocks of `rows` (segment s is rows[s]), each
/// with the word of the segments that keep it.
PackedRow unionRow(BlockSparseAttentionOp op, int32_t keyHead, int32_t block,
                   ArrayRef<int64_t> rows) {
  ArrayRef<int32_t> spans = op.getRowSpans(), keys = op.getKeyBlocks();
  std::map<int32_t, int32_t> words; // key block -> segments keeping it
  for (auto [s, r] : llvm::enumerate(rows))
    for (int32_t e = spans[2 * r]; e < spans[2 * r + 1]; ++e)
      words[keys[e]] |= static_cast<int32_t>(1u << s);
  PackedRow row{keyHead, block, {}, {}};
  for (auto [kb, word] : words) {
    row.keyBlocks.push_back(kb);
    row.words.push_back(word);
  }
  return row;
}

/// (query head, query block) -> its row; `perHead` query blocks a head.
llvm::DenseMap<int64_t, int64_t> rowsByCell(BlockSparseAttentionOp op, int64_t perHead) {
  ArrayRef<int32_t> heads = op.getRowHeads(), qbs = op.getRowQueryBlocks();
  llvm::DenseMap<int64_t, int64_t> rowOf;
  for (int64_t r = 0; r < op.getNumRows(); ++r)
    rowOf[int64_t(heads[r]) * perHead + qbs[r]] = r;
  return rowOf;
}

/// The packed rows of a decode or prefill op: (key head, packed block) of
/// `rows` packed rows each.
std::vector<PackedRow> packQueryRows(BlockSparseAttentionOp op, int64_t rows) {
  const int64_t hq = op.getQuery().getType().getDimSize(1);
  const int64_t hkv = op.getKey().getType().getDimSize(1);
  const int64_t sq = op.getQuery().getType().getDimSize(2);
  const int64_t g = hq / hkv, blockQ = op.getBlockQ();
  const int64_t perHead = (sq + blockQ - 1) / blockQ;
  llvm::DenseMap<int64_t, int64_t> rowOf = rowsByCell(op, perHead);
  auto segmentOf = [&](int64_t p) { return p / sq * perHead + p % sq / blockQ; };

  const int64_t packedRows = g * sq, blocks = (packedRows + rows - 1) / rows;
  std::vector<PackedRow> packed;
  for (int32_t kvh = 0; kvh < hkv; ++kvh)
    for (int32_t pb = 0; pb < blocks; ++pb) {
      const int64_t first = segmentOf(pb * rows);
      const int64_t last = segmentOf(std::min(packedRows, (pb + 1) * rows) - 1);
      SmallVector<int64_t> segments;
      for (int64_t s = first; s <= last; ++s)
        segments.push_back(rowOf.lookup((kvh * g + s / perHead) * perHead + s % perHead));
      packed.push_back(unionRow(op, kvh, pb, segments));
    }
  return packed;
}

/// The packed rows of a generation op of one query per head: (key head,
/// position block), whose segment p is query head kvh x g + p at that
/// position block (docs/generation.md).
std::vector<PackedRow> packPositionRows(BlockSparseAttentionOp op) {
  const int64_t hq = op.getQuery().getType().getDimSize(1);
  const int64_t hkv = op.getKey().getType().getDimSize(1);
  const int64_t positionBlocks = op.getPositionBlockCount(); // the op is not packed yet
  const int64_t g = hq / hkv;
  llvm::DenseMap<int64_t, int64_t> rowOf = rowsByCell(op, positionBlocks);
  std::vector<PackedRow> packed;
  for (int32_t kvh = 0; kvh < hkv; ++kvh)
    for (int32_t pb = 0; pb < positionBlocks; ++pb) {
      SmallVector<int64_t> segments;
      for (int64_t s = 0; s < g; ++s)
        segments.push_back(rowOf.lookup((kvh * g + s) * positionBlocks + pb));
      packed.push_back(unionRow(op, kvh, pb, segments));
    }
  return packed;
}

void pack(BlockSparseAttentionOp op, int64_t rows) {
  const int64_t blockQ = op.getBlockQ();
  std::vector<PackedRow> packed =
      op.isGeneration() ? packPositionRows(op) : packQueryRows(op, rows);
  // Longest first, empty rows last (SpecializeMask's order).
  std::stable_sort(packed.begin(), packed.end(), [](const PackedRow &a, const PackedRow &b) {
    return a.keyBlocks.size() > b.keyBlocks.size();
  });
  SmallVector<int32_t> newHeads, newBlocks, newSpans, newKeys, newWords;
  for (const PackedRow &row : packed) {
    newHeads.push_back(row.keyHead);
    newBlocks.push_back(row.block);
    newSpans.push_back(static_cast<int32_t>(newKeys.size()));
    newKeys.append(row.keyBlocks.begin(), row.keyBlocks.end());
    newWords.append(row.words.begin(), row.words.end());
    newSpans.push_back(static_cast<int32_t>(newKeys.size()));
  }
  Builder b(op.getContext());
  op.setRowHeadsAttr(b.getDenseI32ArrayAttr(newHeads));
  op.setRowQueryBlocksAttr(b.getDenseI32ArrayAttr(newBlocks));
  op.setRowSpansAttr(b.getDenseI32ArrayAttr(newSpans));
  op.setKeyBlocksAttr(b.getDenseI32ArrayAttr(newKeys));
  op.setKeyBlockSegmentsAttr(b.getDenseI32ArrayAttr(newWords));
  op.setMaskBlockQAttr(b.getI64IntegerAttr(blockQ));
  op.setBlockQAttr(b.getI64IntegerAttr(rows));
}

struct PackGqaPass : public sieve::passes::impl::PackGqaBase<PackGqaPass> {
  using PackGqaBase::PackGqaBase;
  void runOnOperation() override {
    if (rows <= 0 || maxQueries <= 0) {
      getOperation().emitError() << "sieve-pack-gqa: rows and max-queries must be positive";
      return signalPassFailure();
    }
    getOperation()->walk([&](BlockSparseAttentionOp op) {
      if (unpackableReason(op, rows, maxQueries).empty())
        pack(op, rows);
    });
  }
};

} // namespace
