//===- SplitParts.cpp - split-KV on the GPU: a part's store, its group's merge ===//
#include "nvidia/SplitParts.h"
#include "nvidia/NvvmIntrinsics.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
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
// Parts merged per step of the merge loop: the merge runs in one block,
// after its own part, so it is a chain of L2 round trips (a decode step's
// 16 parts take two at 8, four at 4).
constexpr int64_t kMergeUnroll = 8;

Value getGlobal(ImplicitLocOpBuilder &b, memref::GlobalOp global) {
  return memref::GetGlobalOp::create(b, global.getType(), global.getSymName());
}

} // namespace

void emitFragmentPartialStore(FragmentBuilder &fb, const ProblemGeometry &g,
                              const WorkspaceLayout &layout, Value workspace, Value slot,
                              Value batchIndex, Value blockStart, const Value queryRow[2],
                              Value laneCol, ArrayRef<Value> acc, const Value m[2],
                              const Value l[2]) {
  ImplicitLocOpBuilder &b = fb.b;
  auto v2f32 = VectorType::get({2}, b.getF32Type());
  for (int64_t half = 0; half < 2; ++half) {
    // The quad's shuffles run on every lane, before any lane branches.
    Value sum = fb.quadReduce(l[half], /*isMax=*/false);
    Value logMax = arith::MulFOp::create(b, m[half], fb.f32(g.scaleLog2));
    auto [inv, lse] = partScales(b, sum, logMax, emitNvvmLog2);
    Value query = queryRow[half];
    fb.ifThen(fb.ult(query, fb.idx(g.seqQ)), [&] {
      Value row = arith::SubIOp::create(b, query, blockStart);
      for (int64_t j = 0; j < g.headDim / 8; ++j) {
        Value lo = arith::MulFOp::create(b, acc[j * 4 + 2 * half], inv);
        Value hi = arith::MulFOp::create(b, acc[j * 4 + 2 * half + 1], inv);
        Value pair = vector::FromElementsOp::create(b, v2f32, ValueRange{lo, hi});
        Value at = layout.partialIndex(b, slot, batchIndex, row, fb.add(laneCol, j * 8));
        vector::StoreOp::create(b, pair, workspace, ValueRange{at}).setAlignment(8);
      }
      // One lane of the quad writes the row's log-sum-exp.
      Value firstLane = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, laneCol, fb.idx(0));
      fb.ifThen(firstLane, [&] {
        memref::StoreOp::create(b, lse, workspace,
                                ValueRange{layout.lseIndex(b, slot, batchIndex, row)});
      });
    });
  }
}

PartTile splitRowTile(FragmentBuilder &e, Value blockX, int64_t blocksPerRow, int64_t queryTile) {
  PartTile t;
  t.tile = blocksPerRow > 1 ? e.rem(blockX, blocksPerRow) : e.idx(0);
  t.firstRow = e.mul(t.tile, queryTile);
  t.rows = queryTile;
  t.tilesPerGroup = blocksPerRow;
  return t;
}

PartTile generationPartTile(FragmentBuilder &e, BlockSparseAttentionOp op, Value firstRow,
                            int64_t tilesPerRow, int64_t queryTile) {
  PartTile t;
  t.tilesPerGroup = tilesPerRow;
  if (op.isGqaPacked()) {
    // Packed rows [firstRow, + queryTile) of the key head's g.
    t.tile = e.div(firstRow, queryTile);
    t.firstRow = firstRow;
    t.rows = queryTile;
  } else {
    // A split step decodes (sieve-split-rows splits no chunk): its one
    // query lies in one tile of the row, so the parts meet at one counter.
    t.tile = e.idx(0);
    t.firstRow = e.idx(0);
    t.rows = WorkspaceLayout::of(op).blockQ;
  }
  return t;
}

namespace {

/// out[row, col .. col + width) of the group (head, qBlock) whose parts are
/// slots [first, first + count): the parts' outputs weighed by their
/// log-sum-exps (mergeParts), kMergeUnroll parts a step, each step issuing
/// all its loads before the arithmetic that needs them.
void emitMergeVector(FragmentBuilder &e, const ProblemGeometry &g, const WorkspaceLayout &layout,
                     Value out, Value workspace, Value batchIndex, Value head, Value query,
                     Value row, Value col, Value first, Value count, int64_t width) {
  ImplicitLocOpBuilder &b = e.b;
  Value last = e.add(first, count);
  auto vecType = VectorType::get({width}, b.getF32Type());
  Value zeros = arith::ConstantOp::create(
      b, DenseElementsAttr::get(vecType, b.getFloatAttr(b.getF32Type(), 0.0)));
  Value steps = e.div(e.add(count, kMergeUnroll - 1), kMergeUnroll);
  auto loop = buildFor(
      b, e.idx(0), steps, e.idx(1), {zeros, e.f32(0.0), e.f32(kNegInf)},
      [&](ImplicitLocOpBuilder &ib, Value step, ValueRange iters) {
        FragmentBuilder f{ib, g.elt};
        Value firstSlot = f.add(first, f.mul(step, kMergeUnroll));
        SmallVector<Value> lse, part;
        for (int64_t u = 0; u < kMergeUnroll; ++u) {
          Value slot = f.add(firstSlot, u);
          Value valid = f.ult(slot, last);
          // Past the group: read its last slot (valid memory), weigh it 0.
          Value readSlot = arith::MinUIOp::create(ib, slot, f.add(last, -1));
          Value l = memref::LoadOp::create(
              ib, workspace, ValueRange{layout.lseIndex(ib, readSlot, batchIndex, row)});
          lse.push_back(arith::SelectOp::create(ib, valid, l, f.f32(kNegInf)));
          auto o = vector::LoadOp::create(
              ib, vecType, workspace,
              ValueRange{layout.partialIndex(ib, readSlot, batchIndex, row, col)});
          o.setAlignment(static_cast<unsigned>(4 * width));
          part.push_back(arith::SelectOp::create(ib, valid, o, zeros));
        }
        PartsMerge merged = mergeParts(ib, {iters[0], iters[1], iters[2]}, lse, part, emitNvvmExp2);
        return SmallVector<Value>{merged.acc, merged.den, merged.max};
      });
  Value inv = mergedScale(b, loop.getResult(1));
  auto [outHead, outQuery] = g.queryIndices(b, head, query); // GQA packing maps rows
  for (int64_t i = 0; i < width; ++i) {
    Value x = vector::ExtractOp::create(b, loop.getResult(0), ArrayRef<int64_t>{i});
    Value y = fromF32(b, arith::MulFOp::create(b, x, inv), g.elt);
    memref::StoreOp::create(b, y, out, ValueRange{batchIndex, outHead, outQuery, e.add(col, i)});
  }
}

} // namespace

void emitPartArrival(FragmentBuilder &e, BlockSparseAttentionOp op, const RowTableGlobals &tables,
                     Value out, Value workspace, Value slot, Value batchIndex, const PartTile &tile,
                     const PartThreads &threads) {
  ImplicitLocOpBuilder &b = e.b;
  const ProblemGeometry g = problemGeometryOf(op);
  const WorkspaceLayout layout = WorkspaceLayout::of(op);
  auto i32 = [&](int64_t v) -> Value {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(static_cast<int32_t>(v)));
  };
  // A barrier counts whole warps.
  Value barrier = i32(threads.barrier), barrierThreads = i32((threads.threads + 31) / 32 * 32);
  // Every thread's stores of the part come before the block's arrival.
  NVVM::BarrierOp::create(b, TypeRange{}, barrier, barrierThreads, NVVM::BarrierReductionAttr(),
                          Value());
  Value groups = getGlobal(b, tables.splitGroups);
  Value group = loadIndexEntry(b, getGlobal(b, tables.slotGroups), slot);
  auto groupEntry = [&](int64_t field) {
    return loadIndexEntry(b, groups, e.add(e.mul(group, 4), field));
  };
  Value count = groupEntry(3);
  Value counter = layout.arrivalIndex(b, batchIndex, group, tile.tile, tile.tilesPerGroup);
  Value isFirstThread =
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, threads.thread, e.idx(0));
  auto arrive = scf::IfOp::create(b, TypeRange{b.getI1Type()}, isFirstThread,
                                  /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&arrive.getThenRegion().front());
    Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, workspace);
    Value address = arith::IndexCastUIOp::create(
        b, b.getI64Type(), e.add(base, e.mul(counter, int64_t(sizeof(float)))));
    Value lastBefore =
        arith::IndexCastUIOp::create(b, b.getI32Type(), e.add(count, -1)).getResult();
    Value before = emitCountArrival(b, address, lastBefore);
    scf::YieldOp::create(
        b, ValueRange{arith::CmpIOp::create(b, arith::CmpIPredicate::eq, before, lastBefore)});
    b.setInsertionPointToStart(&arrive.getElseRegion().front());
    scf::YieldOp::create(b, ValueRange{arith::ConstantOp::create(b, b.getBoolAttr(false))});
  }
  // The first thread's answer reaches the others with a second barrier.
  Value lastPart = emitBarrierAny(b, barrier, barrierThreads, arrive.getResult(0));
  e.ifThen(lastPart, [&] {
    const int64_t width = g.headDim % 4 == 0 ? 4 : 1; // f32 elements per thread
    const int64_t vectorsPerRow = g.headDim / width;
    Value head = groupEntry(0), qBlock = groupEntry(1), first = groupEntry(2);
    buildFor(b, threads.thread, e.idx(tile.rows * vectorsPerRow), e.idx(threads.threads), {},
             [&](ImplicitLocOpBuilder &ib, Value v, ValueRange) {
               FragmentBuilder f{ib, g.elt};
               Value row = f.add(tile.firstRow, f.div(v, vectorsPerRow));
               Value col = f.mul(f.rem(v, vectorsPerRow), width);
               // A group's rows: a query block's, or a split generation
               // step's call queries (WorkspaceLayout::of).
               Value query = f.add(f.mul(qBlock, layout.blockQ), row);
               Value live = arith::AndIOp::create(ib, f.ult(row, f.idx(layout.blockQ)),
                                                  f.ult(query, f.idx(g.seqQ)));
               f.ifThen(live, [&] {
                 emitMergeVector(f, g, layout, out, workspace, batchIndex, head, query, row, col,
                                 first, count, width);
               });
               return SmallVector<Value>{};
             });
  });
}

} // namespace sieve::passes
