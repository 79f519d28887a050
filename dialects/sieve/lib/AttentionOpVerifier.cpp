//===- AttentionOpVerifier.cpp - shape rules of the attention ops ----------===//
//
// Both attention ops share the tensor rules of shared/DESIGN.md; each error
// names the operand and the shape it should have had.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveOps.h"

#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <cmath>
#include <tuple>

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

// The optional thresholds operand: f32 [Hq], never beside stats.
LogicalResult verifyThresholds(Operation *op, Value thresholds, Value stats, int64_t headsQ) {
  if (!thresholds)
    return success();
  auto type = cast<MemRefType>(thresholds.getType());
  if (type.getShape() != ArrayRef<int64_t>{headsQ})
    return op->emitOpError() << "operand 'thresholds' has shape " << shapeString(type.getShape())
                             << ", expected [" << headsQ << "] (one per query head)";
  if (stats)
    return op->emitOpError() << "operand 'thresholds' cannot come with 'stats': calibration "
                                "measures the unthresholded attention";
  return success();
}

// The log-sum-exp operand: f32 [B, Hq, Sq], one per query row.
LogicalResult verifyLse(Operation *op, Value lse, MemRefType q) {
  if (!lse)
    return success();
  auto type = cast<MemRefType>(lse.getType());
  SmallVector<int64_t> expected = {q.getDimSize(0), q.getDimSize(1), q.getDimSize(2)};
  if (type.getShape() != ArrayRef<int64_t>(expected))
    return op->emitOpError() << "operand 'lse' has shape " << shapeString(type.getShape())
                             << ", expected " << shapeString(expected)
                             << " ([batch, query heads, query length])";
  return success();
}

/// The mask attribute must be [Hq, ceil(Sq / block_q), ceil(Sk / block_k)];
/// `expected` receives that shape.
/// A generation op's mask is over positions: its query blocks cover Sk
/// (the most positions), not the call's Sq queries.
LogicalResult verifyMaskShape(Operation *op, BlockMaskAttr mask, MemRefType q, MemRefType k,
                              int64_t blockQ, int64_t blockK, SmallVector<int64_t> &expected,
                              bool overPositions = false) {
  const int64_t rows = overPositions ? k.getDimSize(2) : q.getDimSize(2);
  expected = {q.getDimSize(1), ceilDiv(rows, blockQ), ceilDiv(k.getDimSize(2), blockK)};
  SmallVector<int64_t> actual = {mask.getHeads(), mask.getQueryBlocks(), mask.getKeyBlocks()};
  if (actual != expected)
    return op->emitOpError() << "attribute 'mask' has shape " << shapeString(actual)
                             << ", expected " << shapeString(expected)
                             << (overPositions
                                     ? " ([query heads, ceil(Sk / block_q), ceil(Sk / block_k)]: "
                                       "a generation op's mask is over positions)"
                                     : " ([query heads, ceil(Sq / block_q), ceil(Sk / block_k)])");
  return success();
}

/// Generation (a positions operand): a window of a causal square over
/// positions, which its own q_pos aligns; nothing per call row is kept.
LogicalResult verifyGeneration(Operation *op, Value positions, MemRefType q, MemRefType k,
                               std::optional<CausalAlign> align, Value stats, Value lse) {
  if (!positions)
    return success();
  auto type = cast<MemRefType>(positions.getType());
  if (type.getShape() != ArrayRef<int64_t>{2})
    return op->emitOpError() << "operand 'positions' has shape " << shapeString(type.getShape())
                             << ", expected [2] (q_pos, seq_k_live)";
  if (q.getDimSize(2) > k.getDimSize(2))
    return op->emitOpError() << "generation: query has " << q.getDimSize(2)
                             << " rows, more than key's " << k.getDimSize(2) << " positions";
  if (align)
    return op->emitOpError() << "generation takes no 'causal_align' (q_pos aligns each call)";
  if (stats || lse)
    return op->emitOpError() << "generation takes no 'stats' or 'lse'";
  return success();
}

/// Row r's span of the key-block table lies inside it and names key blocks
/// in [0, kBlocks).
LogicalResult verifyRowSpan(Operation *op, size_t r, ArrayRef<int32_t> spans,
                            ArrayRef<int32_t> keys, int64_t kBlocks) {
  int32_t begin = spans[2 * r], end = spans[2 * r + 1];
  if (begin < 0 || end < begin || end > static_cast<int32_t>(keys.size()))
    return op->emitOpError() << "row " << r << " spans key_blocks[" << begin << ", " << end
                             << "), expected 0 <= begin <= end <= " << keys.size();
  for (int32_t e = begin; e < end; ++e)
    if (keys[e] < 0 || keys[e] >= kBlocks)
      return op->emitOpError() << "row " << r << " names key block " << keys[e] << ", expected [0, "
                               << kBlocks << ")";
  return success();
}

/// The backward's extra tensors: dout like out, dquery like query, dkey
/// and dvalue like key, all of query's element type; lse per query row.
LogicalResult verifyGradients(Operation *op, MemRefType q, MemRefType k, MemRefType dout, Value lse,
                              MemRefType dq, MemRefType dk, MemRefType dv) {
  for (auto [name, type, like, likeName] :
       {std::tuple<StringRef, MemRefType, MemRefType, StringRef>{"dout", dout, q, "query"},
        {"dquery", dq, q, "query"},
        {"dkey", dk, k, "key"},
        {"dvalue", dv, k, "key"}}) {
    if (type.getShape() != like.getShape())
      return op->emitOpError() << "operand '" << name << "' has shape "
                               << shapeString(type.getShape()) << ", expected "
                               << shapeString(like.getShape()) << " like '" << likeName << "'";
    if (type.getElementType() != q.getElementType())
      return op->emitOpError() << "operand '" << name << "' has element type "
                               << type.getElementType() << ", expected " << q.getElementType()
                               << " like 'query'";
  }
  return verifyLse(op, lse, q);
}

/// `causal_align` places a causal mask's diagonal: alone it means nothing.
LogicalResult verifyCausal(Operation *op, bool causal, std::optional<CausalAlign> align) {
  if (align && !causal)
    return op->emitOpError() << "attribute 'causal_align' needs 'causal' (it places the causal "
                                "mask's diagonal)";
  return success();
}

/// A ragged batch (`sequences`) and paged KV (`pages`, `page_size`;
/// docs/ragged-paged.md): launch-time layouts of the padded problem the
/// operand types give, with B sequences. Forward only: not with stats, lse
/// or positions.
LogicalResult verifyBatchLayout(Operation *op, Value sequences, Value pages,
                                std::optional<uint64_t> pageSize, MemRefType q, MemRefType k,
                                int64_t blockK, Value stats, Value lse, Value positions) {
  if (!sequences && !pages && !pageSize)
    return success();
  const int64_t batch = q.getDimSize(0);
  if (sequences) {
    auto type = cast<MemRefType>(sequences.getType());
    SmallVector<int64_t> want = {2, batch + 1};
    if (type.getShape() != ArrayRef<int64_t>(want))
      return op->emitOpError() << "operand 'sequences' has shape " << shapeString(type.getShape())
                               << ", expected " << shapeString(want)
                               << " (cu_seqlens_q and cu_seqlens_k of the " << batch
                               << " sequences)";
  }
  if (static_cast<bool>(pages) != pageSize.has_value())
    return op->emitOpError() << "operand 'pages' and attribute 'page_size' come together";
  if (pages) {
    const int64_t page = static_cast<int64_t>(*pageSize);
    if (page % blockK != 0)
      return op->emitOpError() << "attribute 'page_size' (" << page
                               << ") must be a multiple of block_k (" << blockK
                               << "): a key block lies in one page";
    auto type = cast<MemRefType>(pages.getType());
    SmallVector<int64_t> want = {batch, ceilDiv(k.getDimSize(2), page)};
    if (type.getShape() != ArrayRef<int64_t>(want))
      return op->emitOpError() << "operand 'pages' has shape " << shapeString(type.getShape())
                               << ", expected " << shapeString(want)
                               << " ([batch, ceil(Sk / page_size)])";
  }
  if (stats || lse || positions)
    return op->emitOpError()
           << "a ragged or paged batch takes no 'stats', 'lse' or 'positions' (forward only)";
  return success();
}

} // namespace

int64_t sieve::dialect::causalOffsetOf(std::optional<CausalAlign> align, MemRefType query,
                                       MemRefType key) {
  if (align != CausalAlign::BottomRight)
    return 0;
  return key.getDimSize(2) - query.getDimSize(2);
}

LogicalResult AttentionOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType(),
       out = getOut().getType();
  if (failed(verifyTensors(*this, q, k, v, out, getScale().convertToFloat())) ||
      failed(verifyCausal(*this, getCausal(), getCausalAlign())))
    return failure();
  const int64_t hq = q.getDimSize(1);
  SmallVector<int64_t> expected;
  if (failed(
          verifyGeneration(*this, getPositions(), q, k, getCausalAlign(), getStats(), getLse())) ||
      failed(verifyMaskShape(*this, getMask(), q, k, getBlockQ(), getBlockK(), expected,
                             static_cast<bool>(getPositions()))))
    return failure();
  if (failed(verifyThresholds(*this, getThresholds(), getStats(), hq)) ||
      failed(verifyLse(*this, getLse(), q)) ||
      failed(verifyBatchLayout(*this, getSequences(), getPages(), getPageSize(), q, k, getBlockK(),
                               getStats(), getLse(), getPositions())))
    return failure();
  return verifyStats(*this, getStats(), expected);
}

LogicalResult AttentionBackwardOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType(),
       out = getOut().getType();
  if (failed(verifyTensors(*this, q, k, v, out, getScale().convertToFloat())) ||
      failed(verifyGradients(*this, q, k, getDout().getType(), getLse(), getDquery().getType(),
                             getDkey().getType(), getDvalue().getType())) ||
      failed(verifyCausal(*this, getCausal(), getCausalAlign())))
    return failure();
  if (failed(verifyThresholds(*this, getThresholds(), /*stats=*/nullptr, q.getDimSize(1))))
    return failure();
  SmallVector<int64_t> expected;
  return verifyMaskShape(*this, getMask(), q, k, getBlockQ(), getBlockK(), expected);
}

int64_t BlockSparseAttentionOp::getNumActiveRows() {
  ArrayRef<int32_t> spans = getRowSpans();
  int64_t active = 0;
  for (int64_t r = 0, e = getNumRows(); r < e; ++r)
    active += spans[2 * r + 1] > spans[2 * r];
  return active;
}

int64_t BlockSparseAttentionOp::getNumSlots() {
  std::optional<ArrayRef<int32_t>> groups = getSplitGroups();
  int64_t slots = 0;
  if (groups)
    for (size_t g = 3; g < groups->size(); g += 4)
      slots += (*groups)[g];
  return slots;
}

int64_t BlockSparseAttentionOp::getLongestRowLength() {
  ArrayRef<int32_t> spans = getRowSpans();
  int64_t longest = 0;
  for (int64_t r = 0, e = getNumRows(); r < e; ++r)
    longest = std::max<int64_t>(longest, spans[2 * r + 1] - spans[2 * r]);
  return longest;
}

int64_t BlockSparseAttentionOp::getGenerationPartLength() {
  const int64_t parts = getGenerationPartCount();
  return (getLongestRowLength() + parts - 1) / parts;
}

SmallVector<int32_t> BlockSparseAttentionOp::generationSplitGroups(int64_t rowHeads,
                                                                   int64_t parts) {
  SmallVector<int32_t> groups;
  for (int64_t h = 0; h < rowHeads; ++h)
    groups.append(
        {static_cast<int32_t>(h), 0, static_cast<int32_t>(h * parts), static_cast<int32_t>(parts)});
  return groups;
}

namespace {

/// A split generation op's tables (`generation_parts` = S): one split group
/// per row head h, (h, 0, h S, S), and no `row_slots` (its rows are picked
/// at run time, each cut the same way).
LogicalResult verifyGenerationSplit(BlockSparseAttentionOp op, int64_t rowHeads) {
  std::optional<int64_t> parts = op.getGenerationParts();
  std::optional<ArrayRef<int32_t>> groups = op.getSplitGroups();
  if (!parts) {
    if (op.isGeneration() && (op.getRowSlots() || groups))
      return op.emitOpError() << "generation rows are split only by 'generation_parts' (its "
                                 "rows are picked at run time)";
    return success();
  }
  if (!op.isGeneration())
    return op.emitOpError() << "attribute 'generation_parts' needs a generation op (operand "
                               "'positions')";
  if (op.getQuery().getType().getDimSize(2) != 1)
    return op.emitOpError() << "generation parts split decode steps (one query per head), not "
                            << op.getQuery().getType().getDimSize(2) << " queries";
  if (*parts < 2)
    return op.emitOpError() << "attribute 'generation_parts' is " << *parts
                            << ", expected at least 2";
  if (op.getRowSlots())
    return op.emitOpError() << "a split generation op has no 'row_slots' (its rows are picked "
                               "at run time)";
  SmallVector<int32_t> want = BlockSparseAttentionOp::generationSplitGroups(rowHeads, *parts);
  if (!groups || ArrayRef<int32_t>(want) != *groups)
    return op.emitOpError() << "attribute 'split_groups' of a generation op split into " << *parts
                            << " parts must be (h, 0, h x " << *parts << ", " << *parts
                            << ") for each of its " << rowHeads << " row heads";
  return success();
}

/// The split-KV tables: `split_groups` is a list of (head, query block,
/// first slot, slots) with consecutive slots from 0, and `row_slots` gives
/// every row -1 or a slot of the group of its own (head, query block), each
/// slot exactly once. Fills `groupOf` ((head, query block) -> group) so the
/// caller can check that split rows and whole rows do not overlap.
LogicalResult verifySplits(BlockSparseAttentionOp op, int64_t hq, int64_t qBlocks,
                           llvm::DenseMap<int64_t, int64_t> &groupOf) {
  std::optional<ArrayRef<int32_t>> slots = op.getRowSlots(), groups = op.getSplitGroups();
  if (op.getGenerationParts()) // verifyGenerationSplit's
    return success();
  if (slots.has_value() != groups.has_value())
    return op.emitOpError() << "attributes 'row_slots' and 'split_groups' come together";
  if (!slots)
    return success();
  if (op.getStats())
    return op.emitOpError() << "split rows cannot calibrate: operand 'stats' needs whole rows";
  ArrayRef<int32_t> heads = op.getRowHeads(), qbs = op.getRowQueryBlocks();
  if (slots->size() != heads.size())
    return op.emitOpError() << "attribute 'row_slots' has " << slots->size()
                            << " entries, expected " << heads.size() << " like 'row_heads'";
  if (groups->empty() || groups->size() % 4 != 0)
    return op.emitOpError() << "attribute 'split_groups' has " << groups->size()
                            << " entries, expected a positive multiple of 4 (head, query block, "
                               "first slot, slots)";
  SmallVector<int64_t> groupOfSlot;
  for (size_t g = 0; g < groups->size() / 4; ++g) {
    int32_t head = (*groups)[4 * g], qb = (*groups)[4 * g + 1], first = (*groups)[4 * g + 2],
            count = (*groups)[4 * g + 3];
    if (head < 0 || head >= hq || qb < 0 || qb >= qBlocks)
      return op.emitOpError() << "split group " << g << " names (head " << head << ", query block "
                              << qb << "), outside [0, " << hq << ") x [0, " << qBlocks << ")";
    if (first != static_cast<int32_t>(groupOfSlot.size()) || count < 2)
      return op.emitOpError() << "split group " << g << " has slots [" << first << ", "
                              << first + count << "), expected at least 2 slots from "
                              << groupOfSlot.size();
    if (!groupOf.try_emplace(int64_t(head) * qBlocks + qb, g).second)
      return op.emitOpError() << "split group " << g << " repeats (head " << head
                              << ", query block " << qb << ")";
    groupOfSlot.append(count, g);
  }
  llvm::BitVector used(groupOfSlot.size());
  for (size_t r = 0; r < slots->size(); ++r) {
    int32_t slot = (*slots)[r];
    if (slot == -1)
      continue;
    if (slot < 0 || slot >= static_cast<int32_t>(groupOfSlot.size()))
      return op.emitOpError() << "row " << r << " has slot " << slot << ", expected -1 or [0, "
                              << groupOfSlot.size() << ")";
    if (used.test(slot))
      return op.emitOpError() << "row " << r << " reuses slot " << slot;
    used.set(slot);
    int64_t g = groupOfSlot[slot];
    if ((*groups)[4 * g] != heads[r] || (*groups)[4 * g + 1] != qbs[r])
      return op.emitOpError() << "row " << r << " (head " << heads[r] << ", query block " << qbs[r]
                              << ") writes slot " << slot << " of split group " << g
                              << ", which is (head " << (*groups)[4 * g] << ", query block "
                              << (*groups)[4 * g + 1] << ")";
  }
  if (!used.all())
    return op.emitOpError() << "slot " << used.find_first_unset()
                            << " of 'split_groups' belongs to no row";
  return success();
}

} // namespace

int64_t BlockSparseAttentionOp::getPackedGroup() {
  return isGqaPacked() ? getQuery().getType().getDimSize(1) / getKey().getType().getDimSize(1) : 1;
}

/// GQA packing: the segment words beside the key blocks and the mask's
/// block_q come together, and the operands that are per query head stay
/// unpacked.
static LogicalResult verifyGqaPacking(BlockSparseAttentionOp op) {
  std::optional<ArrayRef<int32_t>> segments = op.getKeyBlockSegments();
  if (segments.has_value() != op.getMaskBlockQ().has_value())
    return op.emitOpError() << "attributes 'key_block_segments' and 'mask_block_q' come together";
  if (!segments)
    return success();
  if (segments->size() != op.getKeyBlocks().size())
    return op.emitOpError() << "attribute 'key_block_segments' has " << segments->size()
                            << " entries, expected " << op.getKeyBlocks().size()
                            << " like 'key_blocks'";
  if (op.getStats() || op.getThresholds())
    return op.emitOpError() << "GQA-packed rows take no 'stats' or 'thresholds' (per query head)";
  return success();
}

LogicalResult BlockSparseAttentionOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType(),
       out = getOut().getType();
  if (failed(verifyTensors(*this, q, k, v, out, getScale().convertToFloat())) ||
      failed(verifyCausal(*this, getCausal(), getCausalAlign())))
    return failure();
  // Packed rows (GQA packing) are (key head, packed block) over g x Sq rows.
  if (failed(verifyGqaPacking(*this)) ||
      failed(verifyGeneration(*this, getPositions(), q, k, getCausalAlign(), getStats(), getLse())))
    return failure();
  if (failed(verifyGenerationSplit(*this, q.getDimSize(1) / getPackedGroup())))
    return failure();
  // A packed generation row holds every query head of a key head at one
  // position: the rows of one query each.
  if (isGeneration() && isGqaPacked() && q.getDimSize(2) != 1)
    return emitOpError() << "GQA-packed generation rows take one query per head, not "
                         << q.getDimSize(2);
  if (failed(verifyBatchLayout(*this, getSequences(), getPages(), getPageSize(), q, k, getBlockK(),
                               getStats(), getLse(), getPositions())))
    return failure();
  if (hasBatchLayout() && (isGqaPacked() || hasSplitRows()))
    return emitOpError() << "ragged or paged rows are neither packed nor split";
  const int64_t g = getPackedGroup();
  int64_t hq = q.getDimSize(1) / g;
  // A generation op's rows are over positions (Sk; packed: a key head's
  // query heads at each position block), others' over queries.
  int64_t qBlocks =
      isGeneration() ? getPositionBlockCount() : ceilDiv(g * q.getDimSize(2), getBlockQ());
  int64_t kBlocks = ceilDiv(k.getDimSize(2), getBlockK());
  ArrayRef<int32_t> heads = getRowHeads(), qbs = getRowQueryBlocks(), spans = getRowSpans(),
                    keys = getKeyBlocks();
  if (qbs.size() != heads.size())
    return emitOpError() << "attribute 'row_query_blocks' has " << qbs.size()
                         << " entries, expected " << heads.size() << " like 'row_heads'";
  if (spans.size() != 2 * heads.size())
    return emitOpError() << "attribute 'row_spans' has " << spans.size() << " entries, expected "
                         << 2 * heads.size() << " (begin and end of each row)";
  llvm::DenseMap<int64_t, int64_t> groupOf;
  if (failed(verifySplits(*this, hq, qBlocks, groupOf)))
    return failure();
  // Every (head, query block) must be listed exactly once (or, split, once
  // per part of its group), or some of 'out' would never be written.
  // (A split generation op's rows stay whole: its parts are picked at run time.)
  const int64_t expectedRows =
      hq * qBlocks - static_cast<int64_t>(groupOf.size()) + (hasSplitRows() ? getNumSlots() : 0);
  if (static_cast<int64_t>(heads.size()) != expectedRows)
    return emitOpError() << "lists " << heads.size() << " rows, expected " << expectedRows
                         << " (query heads x query blocks"
                         << (groupOf.empty() ? "" : ", split groups counted by their parts") << ")";
  std::optional<ArrayRef<int32_t>> slots = getRowSlots();
  llvm::BitVector seen(hq * qBlocks);
  for (size_t r = 0; r < heads.size(); ++r) {
    if (heads[r] < 0 || heads[r] >= hq)
      return emitOpError() << "row " << r << " names head " << heads[r] << ", expected [0, " << hq
                           << ")";
    if (qbs[r] < 0 || qbs[r] >= qBlocks)
      return emitOpError() << "row " << r << " names query block " << qbs[r] << ", expected [0, "
                           << qBlocks << ")";
    const int64_t cell = int64_t(heads[r]) * qBlocks + qbs[r];
    const bool isPart = slots && (*slots)[r] >= 0;
    if (!isPart && groupOf.count(cell))
      return emitOpError() << "row " << r << " (head " << heads[r] << ", query block " << qbs[r]
                           << ") is whole but its cell is split (split group "
                           << groupOf.lookup(cell) << ")";
    if (!isPart && seen.test(cell))
      return emitOpError() << "row " << r << " repeats (head " << heads[r] << ", query block "
                           << qbs[r] << ")";
    seen.set(cell);
    if (failed(verifyRowSpan(*this, r, spans, keys, kBlocks)))
      return failure();
  }
  if (failed(verifyThresholds(*this, getThresholds(), getStats(), q.getDimSize(1))) ||
      failed(verifyLse(*this, getLse(), q)))
    return failure();
  return verifyStats(*this, getStats(), {hq, qBlocks, kBlocks});
}

LogicalResult BlockSparseAttentionBackwardOp::verify() {
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType(),
       out = getOut().getType();
  if (failed(verifyTensors(*this, q, k, v, out, getScale().convertToFloat())) ||
      failed(verifyGradients(*this, q, k, getDout().getType(), getLse(), getDquery().getType(),
                             getDkey().getType(), getDvalue().getType())) ||
      failed(verifyCausal(*this, getCausal(), getCausalAlign())))
    return failure();
  const int64_t hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (failed(verifyThresholds(*this, getThresholds(), /*stats=*/nullptr, hq)))
    return failure();
  const int64_t qBlocks = ceilDiv(q.getDimSize(2), getBlockQ());
  const int64_t kBlocks = ceilDiv(k.getDimSize(2), getBlockK());
  // The rows: every (query head, query block) once, key blocks in range.
  ArrayRef<int32_t> heads = getRowHeads(), qbs = getRowQueryBlocks(), spans = getRowSpans(),
                    keys = getKeyBlocks();
  if (qbs.size() != heads.size() || spans.size() != 2 * heads.size())
    return emitOpError() << "row tables disagree: " << heads.size() << " 'row_heads', "
                         << qbs.size() << " 'row_query_blocks', " << spans.size()
                         << " 'row_spans' (expected one, one and two per row)";
  if (static_cast<int64_t>(heads.size()) != hq * qBlocks)
    return emitOpError() << "lists " << heads.size() << " rows, expected " << hq * qBlocks
                         << " (query heads x query blocks)";
  llvm::BitVector seenRow(hq * qBlocks);
  int64_t rowTiles = 0;
  for (size_t r = 0; r < heads.size(); ++r) {
    if (heads[r] < 0 || heads[r] >= hq || qbs[r] < 0 || qbs[r] >= qBlocks)
      return emitOpError() << "row " << r << " names (head " << heads[r] << ", query block "
                           << qbs[r] << "), outside [0, " << hq << ") x [0, " << qBlocks << ")";
    const int64_t cell = int64_t(heads[r]) * qBlocks + qbs[r];
    if (seenRow.test(cell))
      return emitOpError() << "row " << r << " repeats (head " << heads[r] << ", query block "
                           << qbs[r] << ")";
    seenRow.set(cell);
    if (failed(verifyRowSpan(*this, r, spans, keys, kBlocks)))
      return failure();
    rowTiles += spans[2 * r + 1] - spans[2 * r];
  }
  // The columns: every (key head, key block) once, tiles of query heads
  // that share the key head, as many tiles as the rows hold.
  ArrayRef<int32_t> cHeads = getColKvHeads(), cBlocks = getColKeyBlocks(), cSpans = getColSpans(),
                    tHeads = getColQueryHeads(), tBlocks = getColQueryBlocks();
  if (cBlocks.size() != cHeads.size() || cSpans.size() != 2 * cHeads.size() ||
      tBlocks.size() != tHeads.size())
    return emitOpError() << "column tables disagree: " << cHeads.size() << " 'col_kv_heads', "
                         << cBlocks.size() << " 'col_key_blocks', " << cSpans.size()
                         << " 'col_spans', " << tHeads.size() << " 'col_query_heads', "
                         << tBlocks.size() << " 'col_query_blocks'";
  if (static_cast<int64_t>(cHeads.size()) != hkv * kBlocks)
    return emitOpError() << "lists " << cHeads.size() << " columns, expected " << hkv * kBlocks
                         << " (key heads x key blocks)";
  const int64_t group = hq / hkv;
  llvm::BitVector seenColumn(hkv * kBlocks);
  int64_t columnTiles = 0;
  for (size_t c = 0; c < cHeads.size(); ++c) {
    if (cHeads[c] < 0 || cHeads[c] >= hkv || cBlocks[c] < 0 || cBlocks[c] >= kBlocks)
      return emitOpError() << "column " << c << " names (key head " << cHeads[c] << ", key block "
                           << cBlocks[c] << "), outside [0, " << hkv << ") x [0, " << kBlocks
                           << ")";
    const int64_t cell = int64_t(cHeads[c]) * kBlocks + cBlocks[c];
    if (seenColumn.test(cell))
      return emitOpError() << "column " << c << " repeats (key head " << cHeads[c] << ", key block "
                           << cBlocks[c] << ")";
    seenColumn.set(cell);
    int32_t begin = cSpans[2 * c], end = cSpans[2 * c + 1];
    if (begin < 0 || end < begin || end > static_cast<int32_t>(tHeads.size()))
      return emitOpError() << "column " << c << " spans tiles [" << begin << ", " << end
                           << "), expected 0 <= begin <= end <= " << tHeads.size();
    for (int32_t e = begin; e < end; ++e)
      if (tHeads[e] / group != cHeads[c] || tHeads[e] < 0 || tBlocks[e] < 0 ||
          tBlocks[e] >= qBlocks)
        return emitOpError() << "column " << c << " (key head " << cHeads[c]
                             << ") lists tile (head " << tHeads[e] << ", query block " << tBlocks[e]
                             << "), expected a query head of that key head and a block in [0, "
                             << qBlocks << ")";
    columnTiles += end - begin;
  }
  if (rowTiles != columnTiles)
    return emitOpError() << "row tables hold " << rowTiles << " tiles but column tables "
                         << columnTiles << "; both must list the same tiles";
  return success();
}
