//===- ZeroRows.cpp -------------------------------------------------------===//
#include "nvidia/ZeroRows.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <algorithm>

#include <limits>

using namespace mlir;

namespace sieve::passes {

RowLaunch rowLaunchOf(dialect::BlockSparseAttentionOp op, int64_t blocksPerRow, bool generic) {
  const int64_t rows = op.getNumRows();
  // A ragged or paged batch's rows are written per sequence, up to its own
  // query count, which only the attention blocks know: its empty rows run
  // as attention blocks of no key tile (zeros), like a generic kernel's.
  if (generic || op.hasBatchLayout()) {
    RowLaunch launch;
    launch.attentionBlocks = rows * blocksPerRow;
    launch.firstEmptyRow = rows;
    return launch;
  }
  auto outType = op.getOut().getType();
  return rowLaunchOf(rows, op.getNumActiveRows(), op.getBlockQ(), outType.getDimSize(3),
                     std::max<int64_t>(1, outType.getElementTypeBitWidth() / 8), blocksPerRow);
}

RowLaunch rowLaunchOf(int64_t rows, int64_t activeRows, int64_t blockQ, int64_t headDim,
                      int64_t elementBytes, int64_t blocksPerRow) {
  RowLaunch launch;
  const int64_t rowBytes = blockQ * headDim * elementBytes;
  // About 64 KiB of stores per zero block: enough to amortize a block's
  // start, few enough that the blocks spread over the SMs.
  launch.rowsPerZeroBlock = std::max<int64_t>(1, (64 << 10) / rowBytes);
  launch.attentionBlocks = activeRows * blocksPerRow;
  launch.firstEmptyRow = activeRows;
  launch.zeroBlocks = (rows - activeRows + launch.rowsPerZeroBlock - 1) / launch.rowsPerZeroBlock;
  return launch;
}

void emitZeroRowBlocks(ImplicitLocOpBuilder &b, const ProblemGeometry &g, const RowLaunch &launch,
                       Value out, Value heads, Value queryBlocks, Value blockX, Value batchIndex,
                       Value threadIndex, int64_t threads, int64_t vectorWidth, Value lse) {
  if (launch.zeroBlocks == 0)
    return;
  Block *current = b.getInsertionBlock();
  Region *region = current->getParent();
  Block *zeroPath = new Block(), *attentionPath = new Block();
  region->push_back(zeroPath);
  region->push_back(attentionPath);
  Value isZeroBlock = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, blockX,
                                            indexConst(b, launch.attentionBlocks));
  cf::CondBranchOp::create(b, isZeroBlock, zeroPath, attentionPath);

  // Block z clears empty rows [first + z * G, min(first + (z + 1) * G, rows)):
  // each row is blockQ queries (fewer in the last query block) x D, split
  // over the threads in vectors of `vectorWidth` elements.
  b.setInsertionPointToStart(zeroPath);
  Value z = arith::SubIOp::create(b, blockX, indexConst(b, launch.attentionBlocks));
  Value firstRow =
      arith::AddIOp::create(b, indexConst(b, launch.firstEmptyRow),
                            arith::MulIOp::create(b, z, indexConst(b, launch.rowsPerZeroBlock)));
  const int64_t vectorsPerRow = g.blockQ * g.headDim / vectorWidth;
  const int64_t vectorsPerBlock = launch.rowsPerZeroBlock * vectorsPerRow;
  auto numRowsTotal = cast<MemRefType>(heads.getType()).getDimSize(0);
  Value zero = vectorWidth > 1
                   ? Value(arith::ConstantOp::create(
                         b, DenseElementsAttr::get(VectorType::get({vectorWidth}, g.elt),
                                                   b.getZeroAttr(g.elt))))
                   : Value(arith::ConstantOp::create(b, b.getZeroAttr(g.elt)));
  Value c0 = indexConst(b, 0);
  scf::ForOp::create(
      b, threadIndex, indexConst(b, vectorsPerBlock), indexConst(b, threads), ValueRange{},
      [&](OpBuilder &nb, Location loc, Value i, ValueRange) {
        ImplicitLocOpBuilder lb(loc, nb);
        Value row = arith::AddIOp::create(
            lb, firstRow, arith::DivUIOp::create(lb, i, indexConst(lb, vectorsPerRow)));
        Value within = arith::RemUIOp::create(lb, i, indexConst(lb, vectorsPerRow));
        Value query = arith::DivUIOp::create(lb, within, indexConst(lb, g.headDim / vectorWidth));
        Value col = arith::MulIOp::create(
            lb, arith::RemUIOp::create(lb, within, indexConst(lb, g.headDim / vectorWidth)),
            indexConst(lb, vectorWidth));
        // Rows past the table (the last block's group is short) and queries
        // past seqQ (a ragged last query block) are skipped.
        Value rowLimit = numRowsTotal == ShapedType::kDynamic
                             ? Value(memref::DimOp::create(lb, heads, c0))
                             : indexConst(lb, numRowsTotal);
        Value inTable = arith::CmpIOp::create(lb, arith::CmpIPredicate::ult, row, rowLimit);
        scf::IfOp::create(lb, inTable, [&](OpBuilder &tb, Location tl) {
          ImplicitLocOpBuilder ib(tl, tb);
          Value hRow = loadIndexEntry(ib, heads, row);
          Value qRow =
              arith::AddIOp::create(ib,
                                    arith::MulIOp::create(ib, loadIndexEntry(ib, queryBlocks, row),
                                                          indexConst(ib, g.blockQ)),
                                    query);
          Value inSeq =
              arith::CmpIOp::create(ib, arith::CmpIPredicate::ult, qRow, indexConst(ib, g.seqQ));
          scf::IfOp::create(ib, inSeq, [&](OpBuilder &sb, Location sl) {
            ImplicitLocOpBuilder kb(sl, sb);
            // (GQA packing: the packed row's query head and query.)
            std::pair<Value, Value> at = g.queryIndices(kb, hRow, qRow);
            Value h = at.first, q = at.second;
            if (vectorWidth > 1) {
              auto store =
                  vector::StoreOp::create(kb, zero, out, ValueRange{batchIndex, h, q, col});
              store.setAlignment(
                  static_cast<unsigned>(vectorWidth * g.elt.getIntOrFloatBitWidth() / 8));
            } else {
              memref::StoreOp::create(kb, zero, out, ValueRange{batchIndex, h, q, col});
            }
            if (lse) { // the thread of the row's first vector
              Value first = arith::CmpIOp::create(kb, arith::CmpIPredicate::eq, col, c0);
              scf::IfOp::create(kb, first, [&](OpBuilder &fb, Location fl) {
                ImplicitLocOpBuilder lb2(fl, fb);
                memref::StoreOp::create(lb2,
                                        f32Const(lb2, -std::numeric_limits<double>::infinity()),
                                        lse, ValueRange{batchIndex, h, q});
                scf::YieldOp::create(lb2);
              });
            }
            scf::YieldOp::create(kb);
          });
          scf::YieldOp::create(ib);
        });
        scf::YieldOp::create(lb);
      });
  gpu::ReturnOp::create(b);
  b.setInsertionPointToStart(attentionPath);
}

} // namespace sieve::passes
