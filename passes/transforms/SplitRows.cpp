//===- SplitRows.cpp - split-KV for rows too long to balance ---------------===//
//
// The GPU runs one thread block per work row (and batch entry); blocks are
// dispatched in row order, longest first, onto the SMs as they free up. That
// is a good schedule until one row is longer than an SM's balanced share of
// all the work: then that row is the critical path and the rest of the GPU
// idles behind it (a few dense rows in a sparse mask, or a mask with fewer
// rows than SMs). Such rows are cut here into near-equal pieces of their key
// list; the pieces run in parallel, each leaving a partial output and its
// log-sum-exp in a workspace slot, and a combine step merges them
// (LowerToGpu emits both). The cut is decided from the constant mask, so the
// tables stay compile-time constants.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/GenerationSplit.h"
#include "sieve/passes/Passes.h"

#include "mlir/IR/Builders.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace sieve::passes {
#define GEN_PASS_DEF_SPLITROWS
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace {

struct WorkRow {
  int32_t head, queryBlock, begin, end, slot;
  int32_t length() const { return end - begin; }
};

/// The balanced share of one SM, in key blocks: rows longer than this are cut.
int64_t partLimit(BlockSparseAttentionOp op, int64_t sms, int64_t minPartKeys) {
  ArrayRef<int32_t> spans = op.getRowSpans();
  int64_t kept = 0;
  for (int64_t r = 0; r < op.getNumRows(); ++r)
    kept += spans[2 * r + 1] - spans[2 * r];
  const int64_t batch = op.getQuery().getType().getDimSize(0);
  const int64_t minPart = std::max<int64_t>(1, (minPartKeys + op.getBlockK() - 1) / op.getBlockK());
  return std::max(minPart, (batch * kept + sms - 1) / sms);
}

/// GQA-packed (decode) ops have a few long rows of about equal length, read
/// at memory speed by one thread block per SM: cut at the balanced share,
/// they can leave a last wave of a few blocks (136 parts on 132 SMs take
/// two part-times, 2x the floor). Their limit is the one from the share up
/// to the longest row that minimizes waves x limit, the time of the
/// busiest SM; ties go to the longer limit (fewer parts to combine).
int64_t packedPartLimit(BlockSparseAttentionOp op, int64_t sms, int64_t share) {
  ArrayRef<int32_t> spans = op.getRowSpans();
  const int64_t batch = op.getQuery().getType().getDimSize(0);
  const int64_t longest = op.getLongestRowLength();
  int64_t best = share, bestTime = std::numeric_limits<int64_t>::max();
  for (int64_t limit = share; limit <= std::max(share, longest); ++limit) {
    int64_t blocks = 0;
    for (int64_t r = 0; r < op.getNumRows(); ++r)
      blocks += std::max<int64_t>(1, (spans[2 * r + 1] - spans[2 * r] + limit - 1) / limit);
    const int64_t time = (batch * blocks + sms - 1) / sms * limit;
    if (time <= bestTime) {
      best = limit;
      bestTime = time;
    }
  }
  return best;
}

void splitOne(BlockSparseAttentionOp op, int64_t limit, double imbalance) {
  ArrayRef<int32_t> heads = op.getRowHeads(), qbs = op.getRowQueryBlocks(),
                    spans = op.getRowSpans();
  // The longest row is the critical path the cut would shorten.
  const int64_t longest = op.getLongestRowLength();
  if (static_cast<double>(longest) < imbalance * static_cast<double>(limit))
    return;
  SmallVector<WorkRow> rows;
  SmallVector<int32_t> groups;
  int32_t slots = 0;
  for (int64_t r = 0; r < op.getNumRows(); ++r) {
    WorkRow row{heads[r], qbs[r], spans[2 * r], spans[2 * r + 1], -1};
    if (row.length() <= limit) {
      rows.push_back(row);
      continue;
    }
    // Near-equal parts: the first `longer` parts take one block more.
    const int32_t parts = static_cast<int32_t>((row.length() + limit - 1) / limit);
    const int32_t base = row.length() / parts, longer = row.length() % parts;
    groups.append({row.head, row.queryBlock, slots, parts});
    int32_t begin = row.begin;
    for (int32_t p = 0; p < parts; ++p) {
      int32_t end = begin + base + (p < longer ? 1 : 0);
      rows.push_back({row.head, row.queryBlock, begin, end, slots++});
      begin = end;
    }
  }
  if (groups.empty())
    return;
  // Longest first again; stable, so empty rows stay last and equal rows
  // keep their order.
  std::stable_sort(rows.begin(), rows.end(),
                   [](const WorkRow &a, const WorkRow &b) { return a.length() > b.length(); });
  SmallVector<int32_t> newHeads, newQbs, newSpans, newSlots;
  for (const WorkRow &row : rows) {
    newHeads.push_back(row.head);
    newQbs.push_back(row.queryBlock);
    newSpans.append({row.begin, row.end});
    newSlots.push_back(row.slot);
  }
  Builder b(op.getContext());
  op.setRowHeadsAttr(b.getDenseI32ArrayAttr(newHeads));
  op.setRowQueryBlocksAttr(b.getDenseI32ArrayAttr(newQbs));
  op.setRowSpansAttr(b.getDenseI32ArrayAttr(newSpans));
  op.setRowSlotsAttr(b.getDenseI32ArrayAttr(newSlots));
  op.setSplitGroupsAttr(b.getDenseI32ArrayAttr(groups));
}

} // namespace

int64_t sieve::passes::generationPartCount(int64_t longestRow, int64_t units, int64_t sms,
                                           int64_t minPartBlocks) {
  int64_t best = 1, bestTime = (units + sms - 1) / sms * longestRow;
  for (int64_t parts = 2; parts <= longestRow; ++parts) {
    const int64_t length = (longestRow + parts - 1) / parts;
    if (length < minPartBlocks)
      break;
    const int64_t time = (units * parts + sms - 1) / sms * length;
    if (time < bestTime) {
      best = parts;
      bestTime = time;
    }
  }
  return best;
}

namespace {

/// A generation op's decode step: its row is picked at run time (the
/// position block of q_pos), so every row gets the same S parts, planned
/// for the longest row (generationPartCount). Early steps, whose live keys
/// are a short prefix, leave their later parts empty.
void splitGeneration(BlockSparseAttentionOp op, int64_t sms, int64_t minPart) {
  const int64_t units = op.getQuery().getType().getDimSize(0) * op.getGenerationRowHeads();
  const int64_t best =
      sieve::passes::generationPartCount(op.getLongestRowLength(), units, sms, minPart);
  if (best < 2)
    return;
  Builder b(op.getContext());
  op.setGenerationPartsAttr(b.getI64IntegerAttr(best));
  op.setSplitGroupsAttr(b.getDenseI32ArrayAttr(
      BlockSparseAttentionOp::generationSplitGroups(op.getGenerationRowHeads(), best)));
}

struct SplitRowsPass : public sieve::passes::impl::SplitRowsBase<SplitRowsPass> {
  using SplitRowsBase::SplitRowsBase;
  void runOnOperation() override {
    if (sms <= 0 || minPartKeys <= 0 || !(imbalance >= 1.0) || !(packedImbalance >= 1.0)) {
      getOperation().emitError() << "sieve-split-rows: sms and min-part-keys must be positive, "
                                    "imbalance and packed-imbalance at least 1";
      return signalPassFailure();
    }
    getOperation()->walk([&](BlockSparseAttentionOp op) {
      // Calibration needs whole rows, and a row's log-sum-exp is written by
      // the kernel that sees all of it; an op split already stays as it is.
      // A generation op's rows are picked at run time: a decode step's
      // split is planned for the longest row (splitGeneration), a chunk's
      // is not built. A ragged or paged batch's row lengths come at launch
      // (its parts would be planned for the longest sequence; not built).
      if (op.getStats() || op.getLse() || op.hasSplitParts() || op.hasBatchLayout())
        return;
      if (op.isGeneration()) {
        if (generation && op.getQuery().getType().getDimSize(2) == 1)
          splitGeneration(op, sms, (minPartKeys + op.getBlockK() - 1) / op.getBlockK());
        return;
      }
      const int64_t share = partLimit(op, sms, minPartKeys);
      if (op.isGqaPacked())
        splitOne(op, packedPartLimit(op, sms, share), packedImbalance);
      else
        splitOne(op, share, imbalance);
    });
  }
};

} // namespace
