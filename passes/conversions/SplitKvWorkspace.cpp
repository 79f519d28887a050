//===- SplitKvWorkspace.cpp - split rows' parts and their merge ------------===//
#include "conversions/SplitKvWorkspace.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace sieve::passes {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

Value getGlobal(ImplicitLocOpBuilder &b, memref::GlobalOp global) {
  return memref::GetGlobalOp::create(b, global.getType(), global.getSymName());
}

} // namespace

/// (1 / sum, log2-sum-exp) of a part: a part with no key (sum 0) stores
/// zeros and -inf, so the combine gives it no weight; a NaN sum stays NaN.
std::pair<Value, Value> partScales(ImplicitLocOpBuilder &b, Value sum, Value logMax,
                                   const ScalarFn &log2) {
  Value zero = f32Const(b, 0.0);
  Value hasKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, sum, zero);
  Value inv =
      arith::SelectOp::create(b, hasKeys, arith::DivFOp::create(b, f32Const(b, 1.0), sum), zero);
  // One op per statement (argument order is unspecified in C++, and the IR
  // must not depend on the host compiler), in the order GCC built it.
  Value negInf = f32Const(b, kNegInf);
  Value logSum = arith::AddFOp::create(b, logMax, log2(b, sum));
  Value lse = arith::SelectOp::create(b, hasKeys, logSum, negInf);
  return {inv, lse};
}

PartsMerge mergeParts(ImplicitLocOpBuilder &b, PartsMerge running, ArrayRef<Value> lse,
                      ArrayRef<Value> parts, const ScalarFn &exp2) {
  auto splat = [&](Value x) -> Value {
    auto vecType = dyn_cast<VectorType>(running.acc.getType());
    return vecType ? vector::BroadcastOp::create(b, vecType, x).getResult() : x;
  };
  Value top = running.max;
  for (Value l : lse)
    top = arith::MaximumFOp::create(b, top, l);
  // While every part so far saw no key (max -inf) weigh against 0,
  // so exp2 sees -inf (0), never -inf - -inf (NaN).
  Value noKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, top, f32Const(b, kNegInf));
  Value base = arith::SelectOp::create(b, noKeys, f32Const(b, 0.0), top);
  Value rescale = exp2(b, arith::SubFOp::create(b, running.max, base).getResult());
  Value acc = arith::MulFOp::create(b, running.acc, splat(rescale));
  Value den = arith::MulFOp::create(b, running.den, rescale);
  for (size_t u = 0; u < parts.size(); ++u) {
    Value w = exp2(b, arith::SubFOp::create(b, lse[u], base).getResult());
    acc = math::FmaOp::create(b, splat(w), parts[u], acc);
    den = arith::AddFOp::create(b, den, w);
  }
  return {acc, den, top};
}

Value mergedScale(ImplicitLocOpBuilder &b, Value den) {
  // A row no part saw a key of (den 0) is zeros, as a whole row with no
  // kept key is; a NaN stays NaN.
  Value zero = f32Const(b, 0.0);
  Value hasKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, den, zero);
  return arith::SelectOp::create(b, hasKeys,
                                 arith::DivFOp::create(b, f32Const(b, 1.0), den).getResult(), zero);
}

WorkspaceLayout WorkspaceLayout::of(BlockSparseAttentionOp op) {
  auto q = op.getQuery().getType();
  // A split generation op's parts hold the call's queries: a decode step's
  // one per head, or a packed row's g.
  const int64_t rows =
      op.getGenerationParts() ? op.getPackedGroup() * q.getDimSize(2) : op.getBlockQ();
  const int64_t groups =
      op.getSplitGroups() ? static_cast<int64_t>(op.getSplitGroups()->size() / 4) : 0;
  return {op.getNumSlots(), q.getDimSize(0), rows, q.getDimSize(3), groups};
}

Value WorkspaceLayout::arrivalIndex(ImplicitLocOpBuilder &b, Value batchIndex, Value group,
                                    Value tile, int64_t tilesPerGroup) const {
  Value bg =
      arith::AddIOp::create(b, arith::MulIOp::create(b, batchIndex, indexConst(b, groups)), group);
  Value at =
      arith::AddIOp::create(b, arith::MulIOp::create(b, bg, indexConst(b, tilesPerGroup)), tile);
  return arith::AddIOp::create(b, at, indexConst(b, floats()));
}

Value WorkspaceLayout::rowIndex(ImplicitLocOpBuilder &b, Value slot, Value batchIndex,
                                Value row) const {
  Value sb =
      arith::AddIOp::create(b, arith::MulIOp::create(b, slot, indexConst(b, batch)), batchIndex);
  return arith::AddIOp::create(b, arith::MulIOp::create(b, sb, indexConst(b, blockQ)), row);
}

Value WorkspaceLayout::partialIndex(ImplicitLocOpBuilder &b, Value slot, Value batchIndex,
                                    Value row, Value d) const {
  Value r = rowIndex(b, slot, batchIndex, row);
  return arith::AddIOp::create(b, arith::MulIOp::create(b, r, indexConst(b, headDim)), d);
}

Value WorkspaceLayout::lseIndex(ImplicitLocOpBuilder &b, Value slot, Value batchIndex,
                                Value row) const {
  return arith::AddIOp::create(b, rowIndex(b, slot, batchIndex, row),
                               indexConst(b, slots * batch * blockQ * headDim));
}

MemRefType workspaceType(MLIRContext *ctx) {
  return MemRefType::get({ShapedType::kDynamic}, Float32Type::get(ctx));
}

void emitSlotBranch(ImplicitLocOpBuilder &b, const RowTableGlobals &tables, Value row,
                    const std::function<void(Value)> &partial, const std::function<void()> &whole) {
  if (!tables.rowSlots) {
    whole();
    return;
  }
  Value raw = memref::LoadOp::create(b, getGlobal(b, tables.rowSlots), ValueRange{row});
  Value isPart = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, raw,
                                       arith::ConstantOp::create(b, b.getI32IntegerAttr(0)));
  auto branch = scf::IfOp::create(b, TypeRange{}, isPart, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&branch.getThenRegion().front());
  partial(arith::IndexCastOp::create(b, b.getIndexType(), raw));
  b.setInsertionPointToStart(&branch.getElseRegion().front());
  whole();
}

void emitScalarPartialStore(ImplicitLocOpBuilder &b, const WorkspaceLayout &layout, Value workspace,
                            Value slot, Value batchIndex, Value rowInBlock, Value acc, Value max,
                            Value sum, const ScalarFn &log2) {
  auto [inv, lse] = partScales(b, sum, max, log2);
  buildFor(b, indexConst(b, 0), indexConst(b, layout.headDim), indexConst(b, 1), {},
           [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
             Value a = memref::LoadOp::create(ib, acc, ValueRange{d});
             memref::StoreOp::create(
                 ib, arith::MulFOp::create(ib, a, inv), workspace,
                 ValueRange{layout.partialIndex(ib, slot, batchIndex, rowInBlock, d)});
             return SmallVector<Value>{};
           });
  memref::StoreOp::create(b, lse, workspace,
                          ValueRange{layout.lseIndex(b, slot, batchIndex, rowInBlock)});
}

std::string describeSplit(BlockSparseAttentionOp op) {
  if (op.getGenerationParts())
    return " split_kv=" + std::to_string(op.getGenerationRowHeads()) + " row heads into " +
           std::to_string(op.getGenerationPartCount()) + " parts of " +
           std::to_string(op.getGenerationPartLength()) + " key blocks (generation)";
  if (!op.hasSplitRows())
    return "";
  return " split_kv=" + std::to_string(op.getSplitGroups()->size() / 4) + " rows into " +
         std::to_string(op.getNumSlots()) + " parts";
}

} // namespace sieve::passes
