//===- BackwardCommon.cpp - what the GPU backward kernels share -----------===//
#include "nvidia/BackwardCommon.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionBackwardOp;

namespace sieve::passes {

BackwardProblem backwardProblemOf(BlockSparseAttentionBackwardOp op) {
  BackwardProblem p;
  p.scale = op.getScale().convertToDouble();
  static_cast<ProblemGeometry &>(p) =
      problemGeometryOf(op.getQuery().getType(), op.getKey().getType(), op.getBlockQ(),
                        op.getBlockK(), op.getCausal(), op.getCausalOffset(), p.scale);
  p.paddedSeqQ = (p.seqQ + p.blockQ - 1) / p.blockQ * p.blockQ;
  return p;
}

BackwardTables createBackwardTables(OpBuilder &gb, BlockSparseAttentionBackwardOp op) {
  auto table = [&](StringRef name, ArrayRef<int32_t> values) {
    return createConstantTable(gb, op.getLoc(), ("sieve_bwd_" + name).str(), values);
  };
  return {table("row_heads", op.getRowHeads()),
          table("row_query_blocks", op.getRowQueryBlocks()),
          table("row_spans", op.getRowSpans()),
          table("key_blocks", op.getKeyBlocks()),
          table("col_kv_heads", op.getColKvHeads()),
          table("col_key_blocks", op.getColKeyBlocks()),
          table("col_spans", op.getColSpans()),
          table("col_query_heads", op.getColQueryHeads()),
          table("col_query_blocks", op.getColQueryBlocks())};
}

Value getGlobal(ImplicitLocOpBuilder &b, memref::GlobalOp g) {
  return memref::GetGlobalOp::create(b, g.getType(), g.getSymName());
}

gpu::GPUFuncOp createBackwardKernel(OpBuilder &gb, BlockSparseAttentionBackwardOp op,
                                    StringRef name, int64_t threads, TypeRange extraArgs) {
  SmallVector<Type> argTypes(TypeRange(op->getOperands().take_front(kScratch)));
  argTypes.push_back(MemRefType::get({ShapedType::kDynamic}, gb.getF32Type()));
  argTypes.append(extraArgs.begin(), extraArgs.end());
  if (Value thresholds = op.getThresholds())
    argTypes.push_back(thresholds.getType());
  auto func = gpu::GPUFuncOp::create(gb, op.getLoc(), name, gb.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), gb.getUnitAttr());
  func.setKnownBlockSizeAttr(gb.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  return func;
}

Value backwardThresholdsArgument(BlockSparseAttentionBackwardOp op, Block &entry) {
  return op.getThresholds() ? entry.getArguments().back() : Value();
}

Value scratchIndex(FragmentBuilder &e, const BackwardProblem &p, Value bi, Value h, Value query) {
  return e.add(e.mul(e.add(e.mul(bi, p.headsQ), h), p.paddedSeqQ), query);
}

std::string tensorCoreOperandsUnsupportedReason(BlockSparseAttentionBackwardOp op) {
  const BackwardProblem p = backwardProblemOf(op);
  if (!p.elt.isF16() && !p.elt.isBF16())
    return "needs f16 or bf16 elements";
  for (Value t : {op.getQuery(), op.getKey(), op.getValue(), op.getOut(), op.getDout(),
                  op.getDquery(), op.getDkey(), op.getDvalue()})
    if (!hasUnitInnerStride(cast<MemRefType>(t.getType())))
      return "needs a static unit stride on the head dimension (16-byte loads and stores)";
  return "";
}

int64_t activeRowsOf(BlockSparseAttentionBackwardOp op) {
  ArrayRef<int32_t> spans = op.getRowSpans();
  int64_t active = 0;
  for (int64_t i = 0; i < op.getNumRows(); ++i)
    active += spans[2 * i + 1] > spans[2 * i];
  return active;
}

void maskTransposed(FragmentBuilder &e, Fragment &p, Value firstQuery, Value warpLastKey,
                    Value laneCol, const Value keyRow[2], int64_t causalOffset) {
  ImplicitLocOpBuilder &b = e.b;
  maskFragmentIf(e, p, causalPrecedes(b, firstQuery, warpLastKey, causalOffset),
                 [&](int64_t j, int64_t i) -> Value {
                   Value query = e.add(e.add(firstQuery, laneCol), j * 8 + i % 2);
                   Value sees = causalSees(b, query, keyRow[i / 2], causalOffset);
                   return arith::SelectOp::create(b, sees, p[j][i], e.f32(0.0));
                 });
}

} // namespace sieve::passes
