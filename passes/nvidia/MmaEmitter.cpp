//===- MmaEmitter.cpp - warp-level tensor-core building blocks ------------===//
#include "nvidia/MmaEmitter.h"
#include "nvidia/FragmentEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <algorithm>

using namespace mlir;

namespace sieve::passes {

int64_t MmaEmitter::swizzleChunks() const {
  const int64_t chunks = chunksPerRow();
  return std::min<int64_t>(8, chunks & -chunks);
}

Value MmaEmitter::swizzledCol(Value row, Value chunk) {
  const int64_t atom = swizzleChunks();
  // Rows in a run of 8 / atom start in distinct bank groups already.
  Value run = atom == 8 ? row : div(row, 8 / atom);
  Value phase = arith::AndIOp::create(b, run, idx(atom - 1));
  return mul(arith::XOrIOp::create(b, chunk, phase), kMmaChunk);
}

Value MmaEmitter::swizzledCol(Value row, Value laneChunk, int64_t chunk) {
  if (chunksPerRow() <= 16)
    return swizzledCol(row, add(laneChunk, chunk));
  // laneChunk + chunk % atom stays inside the atom (chunk is even, the
  // atom too), so the swizzle leaves the atom's first chunk as it is.
  const int64_t atom = swizzleChunks(), atomStart = chunk - chunk % atom;
  Value inAtom = swizzledCol(row, add(laneChunk, chunk % atom));
  return add(inAtom, atomStart * kMmaChunk);
}

Value MmaEmitter::mmaOperand(Value pair) {
  if (elt.isBF16())
    return LLVM::BitcastOp::create(b, b.getI32Type(), pair);
  return pair;
}

void MmaEmitter::mma(ArrayRef<Value> a, ArrayRef<Value> bFrag, MutableArrayRef<Value> acc) {
  auto f32Type = b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32Type, f32Type, f32Type, f32Type});
  NVVM::MMATypes ptx = elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  SmallVector<Value> aOps, bOps;
  for (Value v : a)
    aOps.push_back(mmaOperand(v));
  for (Value v : bFrag)
    bOps.push_back(mmaOperand(v));
  Value r = NVVM::MmaOp::create(
      b, resultType, aOps, bOps, SmallVector<Value>(acc), {16, 8, 16}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptx, ptx},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row, NVVM::MMALayout::col});
  for (int64_t i = 0; i < 4; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, r, i);
}

SmallVector<Value, 4> MmaEmitter::ldmatrix4(Value tile, Value row, Value col, bool transpose) {
  auto type = VectorType::get({4, 2}, elt);
  Value m = nvgpu::LdMatrixOp::create(b, type, tile, ValueRange{row, col}, transpose, 4);
  SmallVector<Value, 4> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(vector::ExtractOp::create(b, m, ArrayRef<int64_t>{i}));
  return out;
}

SmallVector<Value, 4> MmaEmitter::rowOperand(Value tile, Value row0, int64_t kk, Value lane) {
  // Lanes 0-15 address rows 0-15 at the first 8 columns, 16-31 the next 8.
  Value row = add(row0, rem(lane, 16));
  return ldmatrix4(tile, row, swizzledCol(row, div(lane, 16), 2 * kk), false);
}

SmallVector<Value, 4> MmaEmitter::colOperand(Value tile, Value row0, int64_t kk, Value lane) {
  // Quarter q of the lanes addresses matrix q: rows (q / 2) * 8 + lane % 8,
  // columns (q % 2) * 8 of the k16 step.
  Value quarter = div(lane, 8);
  Value row = add(add(row0, rem(lane, 8)), mul(div(quarter, 2), 8));
  return ldmatrix4(tile, row, swizzledCol(row, rem(quarter, 2), 2 * kk), false);
}

SmallVector<Value, 4> MmaEmitter::transposedOperand(Value tile, Value row0, int64_t kk, int64_t dp,
                                                    Value lane, Value firstChunk) {
  Value quarter = div(lane, 8);
  Value row = add(add(row0, rem(lane, 8)), add(mul(rem(quarter, 2), 8), idx(kk * 16)));
  // The window's offset joins the lane's chunk: swizzledCol stays exact for
  // any lane chunk, and its atom offset still folds into the address.
  Value laneChunk = div(quarter, 2);
  if (firstChunk)
    laneChunk = add(laneChunk, firstChunk);
  return ldmatrix4(tile, row, swizzledCol(row, laneChunk, 2 * dp), true);
}

void MmaEmitter::copyRowsAsync(Value src, Value bi, Value head, Value firstRow, int64_t limit,
                               Value dst, Value dstRow0, int64_t rows, Value tid, bool queryRows,
                               Value liveLimit) {
  copyRowChunksAsync(
      src, bi, head, firstRow, limit, rows, chunksPerRow(), tid, threads, queryRows, dst,
      [&](Value r, Value chunk) {
        Value dstRow = add(dstRow0, r);
        return std::make_pair(dstRow, swizzledCol(dstRow, chunk));
      },
      liveLimit);
}

LaneCoords MmaEmitter::laneCoords(Value lane) { return {lane, div(lane, 4), mul(rem(lane, 4), 2)}; }

void MmaEmitter::storeWarpRows(ArrayRef<Value> acc, const Value *factor, Value tile, Value warpRow0,
                               const LaneCoords &coords, Value dst, Value bi, Value head,
                               Value firstRow, int64_t limit, Value firstChunk, Value liveLimit) {
  // A warp is its own group; its lanes synchronize on the block's barrier.
  StoreGroup warp{32, coords.lane, warpRow0, warpRow0, coords.row, coords.col, Value()};
  if (!firstChunk) {
    // Staged in the warp's rows of a tile of whole, swizzled rows.
    StagingLayout swizzledRows{
        [&](Value row, int64_t chunk) { return std::make_pair(row, swizzledCol(row, idx(chunk))); },
        [&](Value row, Value chunk) { return std::make_pair(row, swizzledCol(row, chunk)); }};
    storeFragmentRows(*this, headDim, acc, factor, warp, swizzledRows, tile, dst, bi, head,
                      firstRow, limit, liveLimit);
    return;
  }
  // The window's chunks keep their places in the swizzled rows, and the
  // window of `dst` is its columns from 8 firstChunk on.
  const int64_t columns = static_cast<int64_t>(acc.size()) / 4 * kMmaChunk;
  StagingLayout windowRows{[&](Value row, int64_t chunk) {
                             return std::make_pair(row, swizzledCol(row, add(firstChunk, chunk)));
                           },
                           [&](Value row, Value chunk) {
                             return std::make_pair(row, swizzledCol(row, add(chunk, firstChunk)));
                           }};
  Value window = columnWindow(*this, dst, firstChunk, columns);
  storeFragmentRows(*this, columns, acc, factor, warp, windowRows, tile, window, bi, head, firstRow,
                    limit, liveLimit);
}

void MmaEmitter::commitGroup() { NVVM::CpAsyncCommitGroupOp::create(b); }
void MmaEmitter::waitGroups(int32_t pending) { NVVM::CpAsyncWaitGroupOp::create(b, pending); }

void MmaEmitter::prologue(Value numSteps, int64_t stages, const std::function<void(Value)> &load) {
  for (int64_t s = 0; s + 1 < stages; ++s) {
    ifThen(ult(idx(s), numSteps), [&] { load(idx(s)); });
    commitGroup();
  }
}

scf::ForOp
MmaEmitter::pipelinedLoop(Value numSteps, int64_t stages, ValueRange inits,
                          const std::function<void(Value)> &load,
                          const std::function<SmallVector<Value>(Value, ValueRange)> &body) {
  auto loop = scf::ForOp::create(b, idx(0), numSteps, idx(1), inits);
  OpBuilder::InsertionGuard loopGuard(b);
  // Without loop state the body came with its yield: the body's own ends it.
  if (inits.empty())
    loop.getBody()->getTerminator()->erase();
  b.setInsertionPointToStart(loop.getBody());
  Value t = loop.getInductionVar();
  // Step t has landed once at most min(numSteps-1-t, stages-2) younger
  // groups are pending; wait_group takes an immediate, so branch on the count.
  Value younger = arith::SubIOp::create(b, add(numSteps, -1), t);
  std::function<void(int64_t)> waitFor = [&](int64_t pending) {
    if (pending == 0)
      return waitGroups(0);
    auto ifOp = scf::IfOp::create(
        b, TypeRange{}, arith::CmpIOp::create(b, arith::CmpIPredicate::uge, younger, idx(pending)),
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    waitGroups(static_cast<int32_t>(pending));
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    waitFor(pending - 1);
  };
  waitFor(stages - 2);
  gpu::BarrierOp::create(b);
  // Every warp is past step t-1, so its buffer may be refilled.
  Value next = add(t, stages - 1);
  ifThen(ult(next, numSteps), [&] { load(next); });
  commitGroup();
  scf::YieldOp::create(b, body(t, loop.getRegionIterArgs()));
  return loop;
}

} // namespace sieve::passes
