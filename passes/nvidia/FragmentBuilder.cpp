//===- FragmentBuilder.cpp ------------------------------------------------===//
#include "nvidia/FragmentBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace sieve::passes {

Value FragmentBuilder::add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
Value FragmentBuilder::mul(Value x, int64_t y) { return arith::MulIOp::create(b, x, idx(y)); }
Value FragmentBuilder::div(Value x, int64_t y) { return arith::DivUIOp::create(b, x, idx(y)); }
Value FragmentBuilder::rem(Value x, int64_t y) { return arith::RemUIOp::create(b, x, idx(y)); }
Value FragmentBuilder::ult(Value x, Value y) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y);
}

Value FragmentBuilder::pack(Value lo, Value hi) {
  auto v2f32 = VectorType::get({2}, b.getF32Type());
  Value v = vector::FromElementsOp::create(b, v2f32, ValueRange{lo, hi});
  return arith::TruncFOp::create(b, VectorType::get({2}, elt), v);
}

Value FragmentBuilder::packI32(Value lo, Value hi) {
  return LLVM::BitcastOp::create(b, b.getI32Type(), pack(lo, hi));
}

Value FragmentBuilder::quadReduce(Value x, bool isMax) {
  for (int32_t offset : {1, 2}) {
    Value off = arith::ConstantOp::create(b, b.getI32IntegerAttr(offset));
    Value width = arith::ConstantOp::create(b, b.getI32IntegerAttr(32));
    Value other =
        gpu::ShuffleOp::create(b, x, off, width, gpu::ShuffleMode::XOR).getShuffleResult();
    x = isMax ? arith::MaximumFOp::create(b, x, other).getResult()
              : arith::AddFOp::create(b, x, other).getResult();
  }
  return x;
}

Value FragmentBuilder::warpSum(Value x) {
  Value width = arith::ConstantOp::create(b, b.getI32IntegerAttr(32));
  for (int32_t offset : {16, 8, 4, 2, 1}) {
    Value off = arith::ConstantOp::create(b, b.getI32IntegerAttr(offset));
    Value other =
        gpu::ShuffleOp::create(b, x, off, width, gpu::ShuffleMode::XOR).getShuffleResult();
    x = arith::AddFOp::create(b, x, other);
  }
  return x;
}

void FragmentBuilder::copyRowChunksAsync(Value src, Value bi, Value head, Value firstRow,
                                         int64_t limit, int64_t rows, int64_t chunksPerRow,
                                         Value tid, int64_t threads, bool queryRows, Value dst,
                                         const ChunkPlace &place, Value liveLimit) {
  constexpr int64_t chunkElements = 8; // 16 bytes of 16-bit elements
  const int64_t copies = rows * chunksPerRow;
  auto copyChunk = [&](Value c) {
    Value r = div(c, chunksPerRow), chunk = rem(c, chunksPerRow);
    Value row = add(firstRow, r);
    Value valid = ult(row, liveLimit ? liveLimit : idx(limit));
    Value readRow = arith::MinUIOp::create(
        b, row, liveLimit ? arith::SubIOp::create(b, liveLimit, idx(1)) : idx(limit - 1));
    Value srcElements = arith::SelectOp::create(b, valid, idx(chunkElements), idx(0));
    auto [srcHead, srcRow] = queryRows ? queryAt(head, readRow) : std::make_pair(head, readRow);
    Value srcCol = mul(chunk, chunkElements);
    auto [dstRow, dstCol] = place(r, chunk);
    nvgpu::DeviceAsyncCopyOp::create(b, dst, ValueRange{dstRow, dstCol}, src,
                                     ValueRange{bi, srcHead, srcRow, srcCol},
                                     b.getIndexAttr(chunkElements), srcElements, b.getUnitAttr());
  };
  for (int64_t i = 0; i < (copies + threads - 1) / threads; ++i) {
    Value c = add(tid, i * threads);
    // A last round that not every thread has a chunk of: the rest skip it.
    if ((i + 1) * threads > copies) {
      auto ifOp = scf::IfOp::create(b, TypeRange{}, ult(c, idx(copies)), false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      copyChunk(c);
      continue;
    }
    copyChunk(c);
  }
}

void FragmentBuilder::returnUnless(Value active) {
  Region *region = b.getInsertionBlock()->getParent();
  Block *idle = new Block(), *work = new Block();
  region->push_back(idle);
  region->push_back(work);
  cf::CondBranchOp::create(b, active, work, idle);
  b.setInsertionPointToStart(idle);
  gpu::ReturnOp::create(b);
  b.setInsertionPointToStart(work);
}

void FragmentBuilder::ifThen(Value cond, const std::function<void()> &body) {
  auto ifOp = scf::IfOp::create(b, TypeRange{}, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  body();
}

SmallVector<Value> FragmentBuilder::ifElseKeep(Value cond, ValueRange state,
                                               const std::function<SmallVector<Value>()> &body,
                                               const std::function<void()> &onSkip) {
  auto ifOp = scf::IfOp::create(b, state.getTypes(), cond, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, body());
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    if (onSkip)
      onSkip();
    scf::YieldOp::create(b, state);
  }
  return SmallVector<Value>(ifOp.getResults());
}

Value FragmentBuilder::warpAny(Value pred) {
  Value everyLane = arith::ConstantOp::create(b, b.getI32IntegerAttr(-1));
  return NVVM::VoteSyncOp::create(b, b.getI1Type(), everyLane, pred, NVVM::VoteSyncKind::any);
}

Value FragmentBuilder::groupAny(Value pred, Value barrierId, int64_t threads) {
  Value id = arith::IndexCastOp::create(b, b.getI32Type(), barrierId);
  Value count = arith::ConstantOp::create(b, b.getI32IntegerAttr(static_cast<int32_t>(threads)));
  return emitBarrierAny(b, id, count, pred);
}

} // namespace sieve::passes
