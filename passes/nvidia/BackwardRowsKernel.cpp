//===- BackwardRowsKernel.cpp - the backward's first kernel: delta and lse ===//
#include "nvidia/BackwardRowsKernel.h"

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
  // The row's D/8 vectors, consecutive ones to a thread: ceil(D/64) each.
  // Where 8 threads do not split them evenly (head dims not a multiple of
  // 64) the last threads' surplus vectors read the row's last vector and
  // add nothing.
  const int64_t vectors = D / kVector, perThread = (vectors + 7) / 8;
  for (int64_t v = 0; v < perThread; ++v) {
    const bool uneven = vectors != 8 * perThread;
    Value col, inRow;
    if (uneven) {
      Value at = e.add(e.mul(part, perThread), v);
      inRow = e.ult(at, e.idx(vectors));
      col = e.mul(arith::MinUIOp::create(b, at, e.idx(vectors - 1)), kVector);
    } else {
      col = e.add(e.mul(part, perThread * kVector), v * kVector);
    }
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
    Value partial = vector::ReductionOp::create(b, vector::CombiningKind::ADD, prod).getResult();
    if (uneven)
      partial = arith::SelectOp::create(b, inRow, partial, e.f32(0.0));
    sum = arith::AddFOp::create(b, sum, partial);
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

} // namespace sieve::passes
