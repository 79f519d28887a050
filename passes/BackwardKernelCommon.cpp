//===- BackwardKernelCommon.cpp - what the GPU backward kernels share -----===//
#include "BackwardKernelCommon.h"
#include "LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionBackwardOp;

namespace sieve::passes {

namespace {
/// Rows of the rows kernel's thread block (8 threads per row).
constexpr int64_t kRowsPerBlock = 32;
/// Elements of one 16-byte vector load.
constexpr int64_t kVector = 8;
} // namespace

BackwardProblem backwardProblemOf(BlockSparseAttentionBackwardOp op) {
  BackwardProblem p;
  auto qType = op.getQuery().getType();
  auto kType = op.getKey().getType();
  p.elt = qType.getElementType();
  p.batch = qType.getDimSize(0);
  p.headsQ = qType.getDimSize(1);
  p.seqQ = qType.getDimSize(2);
  p.headDim = qType.getDimSize(3);
  p.headsKv = kType.getDimSize(1);
  p.seqK = kType.getDimSize(2);
  p.group = p.headsQ / p.headsKv;
  p.blockQ = op.getBlockQ();
  p.blockK = op.getBlockK();
  p.causal = op.getCausal();
  p.scale = op.getScale().convertToDouble();
  p.scaleLog2 = p.scale * kLog2e;
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
  SmallVector<Type> argTypes(op->getOperandTypes());
  argTypes.push_back(MemRefType::get({ShapedType::kDynamic}, gb.getF32Type()));
  argTypes.append(extraArgs.begin(), extraArgs.end());
  auto func = gpu::GPUFuncOp::create(gb, op.getLoc(), name, gb.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), gb.getUnitAttr());
  func.setKnownBlockSizeAttr(gb.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  return func;
}

Value scratchIndex(FragmentBuilder &e, const BackwardProblem &p, Value bi, Value h, Value query) {
  return e.add(e.mul(e.add(e.mul(bi, p.headsQ), h), p.paddedSeqQ), query);
}

std::string tensorCoreOperandsUnsupportedReason(BlockSparseAttentionBackwardOp op) {
  const BackwardProblem p = backwardProblemOf(op);
  if (!p.elt.isF16() && !p.elt.isBF16())
    return "needs f16 or bf16 elements";
  if (p.headDim != 64 && p.headDim != 128)
    return "needs head dim 64 or 128";
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

BackwardLaunch buildBackwardRowsKernel(BlockSparseAttentionBackwardOp op,
                                       gpu::GPUModuleOp gpuModule, const BackwardProblem &p) {
  const int64_t threads = kRowsPerBlock * 8, D = p.headDim;
  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());
  gpu::GPUFuncOp func = createBackwardKernel(gb, op, "sieve_backward_rows", threads);
  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  FragmentBuilder e{b, p.elt};
  const int64_t rowBlocks = (p.paddedSeqQ + kRowsPerBlock - 1) / kRowsPerBlock;
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value h = e.div(blockX, rowBlocks);
  Value row = e.add(e.mul(e.rem(blockX, rowBlocks), kRowsPerBlock), e.div(tid, 8));
  Value part = e.rem(tid, 8);
  // Rows past Sq read the last row (every lane must join the shuffles).
  Value read = arith::MinUIOp::create(b, row, e.idx(p.seqQ - 1));
  Value sum = e.f32(0.0);
  const int64_t perThread = D / 8; // elements, in vectors of 8
  for (int64_t v = 0; v < perThread / kVector; ++v) {
    Value col = e.add(e.mul(part, perThread), v * kVector);
    auto vecType = VectorType::get({kVector}, p.elt);
    auto x =
        vector::LoadOp::create(b, vecType, entry.getArgument(kOut), ValueRange{bi, h, read, col});
    auto y =
        vector::LoadOp::create(b, vecType, entry.getArgument(kDout), ValueRange{bi, h, read, col});
    x.setAlignment(16);
    y.setAlignment(16);
    auto f32Vec = VectorType::get({kVector}, b.getF32Type());
    Value prod = arith::MulFOp::create(b, arith::ExtFOp::create(b, f32Vec, x.getResult()),
                                       arith::ExtFOp::create(b, f32Vec, y.getResult()));
    sum = arith::AddFOp::create(
        b, sum, vector::ReductionOp::create(b, vector::CombiningKind::ADD, prod).getResult());
  }
  for (int32_t offset : {1, 2, 4}) {
    Value off = arith::ConstantOp::create(b, b.getI32IntegerAttr(offset));
    Value width = arith::ConstantOp::create(b, b.getI32IntegerAttr(32));
    sum = arith::AddFOp::create(
        b, sum,
        gpu::ShuffleOp::create(b, sum, off, width, gpu::ShuffleMode::XOR).getShuffleResult());
  }
  const double inf = std::numeric_limits<double>::infinity();
  Value lse = memref::LoadOp::create(b, entry.getArgument(kLse), ValueRange{bi, h, read});
  Value valid = e.ult(row, e.idx(p.seqQ));
  Value finite = arith::CmpFOp::create(b, arith::CmpFPredicate::UGT, lse, e.f32(-inf));
  Value lse2 = arith::SelectOp::create(b, arith::AndIOp::create(b, valid, finite),
                                       arith::MulFOp::create(b, lse, e.f32(kLog2e)), e.f32(inf));
  Value delta = arith::SelectOp::create(b, valid, sum, e.f32(0.0));
  Value writes =
      arith::AndIOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, part, e.idx(0)),
                            e.ult(row, e.idx(p.paddedSeqQ)));
  e.ifThen(writes, [&] {
    Value at = scratchIndex(e, p, bi, h, row);
    memref::StoreOp::create(b, delta, entry.getArgument(kScratch), ValueRange{at});
    memref::StoreOp::create(b, lse2, entry.getArgument(kScratch),
                            ValueRange{e.add(at, p.scratchRows())});
  });
  gpu::ReturnOp::create(b);
  return {func,
          p.headsQ * rowBlocks,
          threads,
          0,
          "rows rows=" + std::to_string(kRowsPerBlock) + " threads=" + std::to_string(threads),
          {}};
}

void maskTransposed(FragmentBuilder &e, Fragment &p, Value firstQuery, Value warpLastKey,
                    Value laneCol, const Value keyRow[2]) {
  ImplicitLocOpBuilder &b = e.b;
  maskFragmentIf(e, p, e.ult(firstQuery, warpLastKey), [&](int64_t j, int64_t i) -> Value {
    Value query = e.add(e.add(firstQuery, laneCol), j * 8 + i % 2);
    Value sees = arith::CmpIOp::create(b, arith::CmpIPredicate::ule, keyRow[i / 2], query);
    return arith::SelectOp::create(b, sees, p[j][i], e.f32(0.0));
  });
}

} // namespace sieve::passes
