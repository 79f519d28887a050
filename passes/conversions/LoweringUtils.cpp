//===- LoweringUtils.cpp - helpers shared by the CPU and GPU lowerings ----===//
#include "conversions/LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;

namespace sieve::passes {

memref::GlobalOp createConstantTable(OpBuilder &builder, Location loc, StringRef name,
                                     ArrayRef<int32_t> values, Attribute memorySpace) {
  SmallVector<int32_t> data(values.begin(), values.end());
  if (data.empty())
    data.push_back(0);
  auto type = MemRefType::get({static_cast<int64_t>(data.size())}, builder.getI32Type(),
                              MemRefLayoutAttrInterface(), memorySpace);
  auto init = DenseElementsAttr::get(RankedTensorType::get(type.getShape(), builder.getI32Type()),
                                     ArrayRef<int32_t>(data));
  return memref::GlobalOp::create(builder, loc, name, builder.getStringAttr("private"), type, init,
                                  /*constant=*/true, /*alignment=*/nullptr);
}

RowTableGlobals createRowTableGlobals(OpBuilder &builder, Location loc,
                                      dialect::BlockSparseAttentionOp op, StringRef prefix,
                                      Attribute memorySpace) {
  RowTableGlobals g;
  g.heads = createConstantTable(builder, loc, (prefix + "_row_heads").str(), op.getRowHeads(),
                                memorySpace);
  g.queryBlocks = createConstantTable(builder, loc, (prefix + "_row_query_blocks").str(),
                                      op.getRowQueryBlocks(), memorySpace);
  g.spans = createConstantTable(builder, loc, (prefix + "_row_spans").str(), op.getRowSpans(),
                                memorySpace);
  g.keyBlocks = createConstantTable(builder, loc, (prefix + "_key_blocks").str(), op.getKeyBlocks(),
                                    memorySpace);
  if (op.hasSplitRows())
    g.rowSlots = createConstantTable(builder, loc, (prefix + "_row_slots").str(), *op.getRowSlots(),
                                     memorySpace);
  if (op.hasSplitParts()) { // (a split generation op has groups and no row slots)
    ArrayRef<int32_t> groups = *op.getSplitGroups();
    g.splitGroups =
        createConstantTable(builder, loc, (prefix + "_split_groups").str(), groups, memorySpace);
    // A group's slots are [first, first + count).
    SmallVector<int32_t> slotGroups(op.getNumSlots(), 0);
    for (size_t group = 0; group < groups.size() / 4; ++group)
      for (int32_t s = 0; s < groups[4 * group + 3]; ++s)
        slotGroups[groups[4 * group + 2] + s] = static_cast<int32_t>(group);
    g.slotGroups =
        createConstantTable(builder, loc, (prefix + "_slot_groups").str(), slotGroups, memorySpace);
  }
  if (op.isGqaPacked())
    g.segments = createConstantTable(builder, loc, (prefix + "_key_block_segments").str(),
                                     *op.getKeyBlockSegments(), memorySpace);
  return g;
}

ProblemGeometry problemGeometryOf(MemRefType query, MemRefType key, int64_t blockQ, int64_t blockK,
                                  bool causal, int64_t causalOffset, double scale) {
  ProblemGeometry g;
  g.elt = query.getElementType();
  g.batch = query.getDimSize(0);
  g.headsQ = query.getDimSize(1);
  g.seqQ = query.getDimSize(2);
  g.headDim = query.getDimSize(3);
  g.headsKv = key.getDimSize(1);
  g.seqK = key.getDimSize(2);
  g.group = g.headsQ / g.headsKv;
  g.blockQ = blockQ;
  g.blockK = blockK;
  g.causal = causal;
  g.causalOffset = causal ? causalOffset : 0;
  g.scaleLog2 = scale * kLog2e;
  return g;
}

ProblemGeometry problemGeometryOf(dialect::BlockSparseAttentionOp op) {
  ProblemGeometry g = problemGeometryOf(op.getQuery().getType(), op.getKey().getType(),
                                        op.getBlockQ(), op.getBlockK(), op.getCausal(),
                                        op.getCausalOffset(), op.getScale().convertToDouble());
  g.packed = PackedQueries::of(op);
  if (g.packed) { // the packed problem: a key head's g x Sq rows are one head's
    g.headsQ = g.headsKv;
    g.seqQ = g.packed.group * g.packed.queries;
    g.group = 1;
  }
  return g;
}

PackedQueries PackedQueries::of(dialect::BlockSparseAttentionOp op) {
  PackedQueries p;
  if (!op.isGqaPacked())
    return p;
  p.group = op.getPackedGroup();
  p.queries = op.getQuery().getType().getDimSize(2);
  p.maskBlockQ = *op.getMaskBlockQ();
  return p;
}

std::pair<Value, Value> PackedQueries::at(ImplicitLocOpBuilder &b, Value keyHead, Value row) const {
  Value inHead = arith::DivUIOp::create(b, row, indexConst(b, queries));
  Value head =
      arith::AddIOp::create(b, arith::MulIOp::create(b, keyHead, indexConst(b, group)), inHead);
  return {head, query(b, row)};
}

Value PackedQueries::query(ImplicitLocOpBuilder &b, Value row) const {
  return arith::RemUIOp::create(b, row, indexConst(b, queries));
}

Value PackedQueries::segmentShift(ImplicitLocOpBuilder &b, Value firstRow, Value row) const {
  const int64_t perHead = (queries + maskBlockQ - 1) / maskBlockQ;
  auto segment = [&](Value r) -> Value {
    Value head = arith::DivUIOp::create(b, r, indexConst(b, queries));
    Value block = arith::DivUIOp::create(b, query(b, r), indexConst(b, maskBlockQ));
    return arith::AddIOp::create(b, arith::MulIOp::create(b, head, indexConst(b, perHead)), block);
  };
  Value bit = arith::SubIOp::create(b, segment(row), segment(firstRow));
  // Rows past the packed rows (a tile's padding, never stored) may count
  // past the word's 32 bits: clamped, so the shift is never poison.
  Value clamped = arith::MinUIOp::create(b, bit, indexConst(b, 31));
  return arith::IndexCastOp::create(b, b.getI32Type(), clamped);
}

Value PackedQueries::keepsAt(ImplicitLocOpBuilder &b, Value word, Value shift) const {
  Value shifted = arith::ShRUIOp::create(b, word, shift);
  Value one = arith::ConstantOp::create(b, b.getI32IntegerAttr(1));
  Value set = arith::AndIOp::create(b, shifted, one);
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ne, set,
                               arith::ConstantOp::create(b, b.getI32IntegerAttr(0)));
}

Value PackedQueries::keeps(ImplicitLocOpBuilder &b, Value word, Value firstRow, Value row) const {
  return keepsAt(b, word, segmentShift(b, firstRow, row));
}

std::string describeGqaPacking(dialect::BlockSparseAttentionOp op) {
  if (!op.isGqaPacked())
    return "";
  return "; pack-gqa g=" + std::to_string(op.getPackedGroup()) +
         " rows=" + std::to_string(op.getBlockQ());
}

namespace {
/// A kernel takes the op's operands first, in order.
Value argumentOfOperand(Operation *op, Block &entry, Value operand) {
  if (!operand)
    return {};
  for (auto [i, candidate] : llvm::enumerate(op->getOperands()))
    if (candidate == operand)
      return entry.getArgument(i);
  return {};
}
} // namespace

Value lseArgument(dialect::BlockSparseAttentionOp op, Block &entry) {
  return argumentOfOperand(op, entry, op.getLse());
}

Value statsArgument(dialect::BlockSparseAttentionOp op, Block &entry) {
  return argumentOfOperand(op, entry, op.getStats());
}

Value thresholdsArgument(dialect::BlockSparseAttentionOp op, Block &entry) {
  return argumentOfOperand(op, entry, op.getThresholds());
}

Value sequencesArgument(dialect::BlockSparseAttentionOp op, Block &entry) {
  return argumentOfOperand(op, entry, op.getSequences());
}

Value pagesArgument(dialect::BlockSparseAttentionOp op, Block &entry) {
  return argumentOfOperand(op, entry, op.getPages());
}

Value headThresholdLog2(ImplicitLocOpBuilder &b, Value thresholds, Value head) {
  return arith::MulFOp::create(b, memref::LoadOp::create(b, thresholds, ValueRange{head}),
                               f32Const(b, kLog2e));
}

bool hasUnitInnerStride(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  return !strides.empty() && strides.back() == 1;
}

SmallVector<Type, 4> rowTableArgumentTypes(MLIRContext *ctx) {
  return SmallVector<Type, 4>(4,
                              MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32)));
}

std::array<Value, 4> rowTableValues(ImplicitLocOpBuilder &b, const RowTableGlobals &tables,
                                    Block &entry, unsigned firstArg) {
  if (tables.atLaunch)
    return {entry.getArgument(firstArg), entry.getArgument(firstArg + 1),
            entry.getArgument(firstArg + 2), entry.getArgument(firstArg + 3)};
  auto get = [&](memref::GlobalOp global) -> Value {
    return memref::GetGlobalOp::create(b, global.getType(), global.getSymName());
  };
  return {get(tables.heads), get(tables.queryBlocks), get(tables.spans), get(tables.keyBlocks)};
}

Value segmentTableValue(ImplicitLocOpBuilder &b, const RowTableGlobals &tables) {
  if (!tables.segments)
    return {};
  memref::GlobalOp global = tables.segments;
  return memref::GetGlobalOp::create(b, global.getType(), global.getSymName());
}

std::pair<Value, Value> loadRowSpan(ImplicitLocOpBuilder &b, Value spans, Value row) {
  Value at = arith::MulIOp::create(b, row, indexConst(b, 2));
  return {loadIndexEntry(b, spans, at),
          loadIndexEntry(b, spans, arith::AddIOp::create(b, at, indexConst(b, 1)))};
}

Value loadIndexEntry(ImplicitLocOpBuilder &b, Value table, Value index) {
  Value v = memref::LoadOp::create(b, table, ValueRange{index});
  return arith::IndexCastOp::create(b, b.getIndexType(), v);
}

Value indexConst(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}

Value causalPosition(ImplicitLocOpBuilder &b, Value query, int64_t causalOffset) {
  if (causalOffset == 0)
    return query;
  return arith::AddIOp::create(b, query, indexConst(b, causalOffset));
}

// Top-left (offset 0) compares unsigned, as the kernels always did, so
// their code is unchanged; a shifted diagonal compares signed: a query's
// position is negative when it sees no key.
Value causalSees(ImplicitLocOpBuilder &b, Value query, Value key, int64_t causalOffset) {
  if (causalOffset == 0)
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ule, key, query);
  return arith::CmpIOp::create(b, arith::CmpIPredicate::sle, key,
                               causalPosition(b, query, causalOffset));
}

Value causalPrecedes(ImplicitLocOpBuilder &b, Value query, Value key, int64_t causalOffset) {
  if (causalOffset == 0)
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, query, key);
  return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, causalPosition(b, query, causalOffset),
                               key);
}

// Signed: a ragged sequence's bottom-right shift is negative where it has
// fewer keys than queries, and a generation tile's rows before the call's
// first query wrap below 0 (row + q_pos is their position all the same).
Value causalSees(ImplicitLocOpBuilder &b, Value query, Value key, Value causalOffset) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::sle, key,
                               arith::AddIOp::create(b, query, causalOffset));
}

Value causalPrecedes(ImplicitLocOpBuilder &b, Value query, Value key, Value causalOffset) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                               arith::AddIOp::create(b, query, causalOffset), key);
}

SmallVector<int32_t> positionRowTable(dialect::BlockSparseAttentionOp op) {
  const int64_t positionBlocks = op.getPositionBlockCount();
  // Packed rows are a key head's, others a query head's.
  const int64_t rowHeads = op.getGenerationRowHeads();
  SmallVector<int32_t> table(rowHeads * positionBlocks, -1);
  ArrayRef<int32_t> heads = op.getRowHeads(), blocks = op.getRowQueryBlocks();
  for (size_t r = 0; r < heads.size(); ++r)
    table[heads[r] * positionBlocks + blocks[r]] = static_cast<int32_t>(r);
  return table;
}

Value f32Const(ImplicitLocOpBuilder &b, double v) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(static_cast<float>(v)));
}

Value emitHostExp2(ImplicitLocOpBuilder &b, Value x) { return math::Exp2Op::create(b, x); }

Value emitHostLog2(ImplicitLocOpBuilder &b, Value x) { return math::Log2Op::create(b, x); }

Value toF32(ImplicitLocOpBuilder &b, Value v) {
  if (v.getType().isF32())
    return v;
  return arith::ExtFOp::create(b, b.getF32Type(), v);
}

Value fromF32(ImplicitLocOpBuilder &b, Value v, Type elementType) {
  if (elementType.isF32())
    return v;
  return arith::TruncFOp::create(b, elementType, v);
}

scf::ForOp
buildFor(ImplicitLocOpBuilder &b, Value lb, Value ub, Value step, ValueRange inits,
         const std::function<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)> &body) {
  return scf::ForOp::create(b, lb, ub, step, inits,
                            [&](OpBuilder &nested, Location loc, Value iv, ValueRange iters) {
                              ImplicitLocOpBuilder ib(loc, nested);
                              SmallVector<Value> results = body(ib, iv, iters);
                              scf::YieldOp::create(ib, results);
                            });
}

SoftmaxState
buildSoftmaxUpdate(ImplicitLocOpBuilder &b, SoftmaxState state, Value chunkMax, Value scores,
                   Value count, Value acc, int64_t headDim,
                   const std::function<Value(ImplicitLocOpBuilder &, Value)> &exp2,
                   const std::function<Value(ImplicitLocOpBuilder &, Value, Value)> &valueAt) {
  Value c0 = indexConst(b, 0), c1 = indexConst(b, 1), dim = indexConst(b, headDim);
  Value newMax = arith::MaximumFOp::create(b, state.max, chunkMax);
  // A chunk whose every key is masked (or under its head's threshold) is
  // skipped: it would add exp2(-inf) = 0 to everything, and while the max
  // is still -inf, exp2(-inf - -inf) would be NaN.
  Value negInf = f32Const(b, -std::numeric_limits<double>::infinity());
  Value allMasked = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, chunkMax, negInf);
  auto ifOp = scf::IfOp::create(b, TypeRange{b.getF32Type(), b.getF32Type()}, allMasked,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, ValueRange{state.max, state.sum});

    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    Value correction = exp2(b, arith::SubFOp::create(b, state.max, newMax).getResult());
    Value sum = arith::MulFOp::create(b, state.sum, correction);
    buildFor(b, c0, dim, c1, {}, [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
      Value a = memref::LoadOp::create(ib, acc, ValueRange{d});
      memref::StoreOp::create(ib, arith::MulFOp::create(ib, a, correction), acc, ValueRange{d});
      return SmallVector<Value>{};
    });
    auto sumLoop =
        buildFor(b, c0, count, c1, {sum}, [&](ImplicitLocOpBuilder &ib, Value j, ValueRange iters) {
          Value s = memref::LoadOp::create(ib, scores, ValueRange{j});
          Value p = exp2(ib, arith::SubFOp::create(ib, s, newMax).getResult());
          buildFor(ib, c0, dim, c1, {}, [&](ImplicitLocOpBuilder &db, Value d, ValueRange) {
            Value a = memref::LoadOp::create(db, acc, ValueRange{d});
            Value v = valueAt(db, j, d);
            Value fma = math::FmaOp::create(db, p, v, a);
            memref::StoreOp::create(db, fma, acc, ValueRange{d});
            return SmallVector<Value>{};
          });
          return SmallVector<Value>{arith::AddFOp::create(ib, iters[0], p)};
        });
    scf::YieldOp::create(b, ValueRange{newMax, sumLoop.getResult(0)});
  }
  return {ifOp.getResult(0), ifOp.getResult(1)};
}

void buildNormalizeAndStore(
    ImplicitLocOpBuilder &b, Value acc, Value sum, int64_t headDim,
    const std::function<void(ImplicitLocOpBuilder &, Value, Value)> &store) {
  Value zero = f32Const(b, 0.0), one = f32Const(b, 1.0);
  // UNE, not OGT: a NaN sum (NaN in the inputs) must reach the output as it
  // would in dense attention; only a row with no kept key writes zeros.
  Value hasKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, sum, zero);
  Value inv =
      arith::SelectOp::create(b, hasKeys, arith::DivFOp::create(b, one, sum).getResult(), zero);
  buildFor(b, indexConst(b, 0), indexConst(b, headDim), indexConst(b, 1), {},
           [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
             Value a = memref::LoadOp::create(ib, acc, ValueRange{d});
             store(ib, d, arith::MulFOp::create(ib, a, inv));
             return SmallVector<Value>{};
           });
}

} // namespace sieve::passes
