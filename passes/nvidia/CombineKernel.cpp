//===- CombineKernel.cpp - split-KV on the GPU: parts' stores, the combine -===//
#include "nvidia/CombineKernel.h"
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
constexpr int64_t kCombineThreads = 256;
constexpr int64_t kCombineUnroll = 4; // parts merged per step of the combine loop

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

void emitEarlyDependentLaunch(gpu::GPUFuncOp kernel) {
  Block &entry = kernel.getBody().front();
  auto b = ImplicitLocOpBuilder::atBlockBegin(kernel.getLoc(), &entry);
  NVVM::GriddepcontrolOp::create(b, NVVM::GridDepActionKind::launch_dependents);
}

CombineKernel buildCombineKernel(BlockSparseAttentionOp op, gpu::GPUModuleOp gpuModule,
                                 const RowTableGlobals &tables, bool waitsOnPrevious) {
  const ProblemGeometry g = problemGeometryOf(op);
  const WorkspaceLayout layout = WorkspaceLayout::of(op);
  MLIRContext *ctx = op.getContext();
  const int64_t width = g.headDim % 4 == 0 ? 4 : 1; // f32 elements per thread
  const int64_t vectorsPerRow = g.headDim / width;
  // A group's rows: a query block's, or a split generation step's call
  // queries (WorkspaceLayout::of).
  const int64_t groupRows = layout.blockQ;
  const int64_t vectorsPerGroup = groupRows * vectorsPerRow;
  const int64_t blocksPerGroup = (vectorsPerGroup + kCombineThreads - 1) / kCombineThreads;
  const int64_t groups = static_cast<int64_t>(op.getSplitGroups()->size() / 4);

  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());
  auto funcType = gb.getFunctionType({op.getOut().getType(), workspaceType(ctx)}, {});
  auto func = gpu::GPUFuncOp::create(gb, op.getLoc(), "sieve_combine", funcType);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), gb.getUnitAttr());
  func.setKnownBlockSizeAttr(
      gb.getDenseI32ArrayAttr({static_cast<int32_t>(kCombineThreads), 1, 1}));
  Block &entry = func.getBody().front();
  Value out = entry.getArgument(0), workspace = entry.getArgument(1);
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  FragmentBuilder e{b, g.elt};
  // The parts' results are visible past this wait (the attention kernel's
  // grid has ended and its writes are flushed).
  if (waitsOnPrevious)
    NVVM::GriddepcontrolOp::create(b, NVVM::GridDepActionKind::wait);

  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value group = e.div(blockX, blocksPerGroup);
  Value vector = e.add(e.mul(e.rem(blockX, blocksPerGroup), kCombineThreads), tid);
  Value table = getGlobal(b, tables.splitGroups);
  auto entryOf = [&](int64_t field) {
    return loadIndexEntry(b, table, e.add(e.mul(group, 4), field));
  };
  Value head = entryOf(0), qBlock = entryOf(1), first = entryOf(2), count = entryOf(3);
  Value row = e.div(vector, vectorsPerRow);
  Value col = e.mul(e.rem(vector, vectorsPerRow), width);
  Value query = e.add(e.mul(qBlock, groupRows), row);
  Value live =
      arith::AndIOp::create(b, e.ult(vector, e.idx(vectorsPerGroup)), e.ult(query, e.idx(g.seqQ)));
  e.ifThen(live, [&] {
    Value last = e.add(first, count);
    auto vecType = VectorType::get({width}, b.getF32Type());
    Value zeros = arith::ConstantOp::create(
        b, DenseElementsAttr::get(vecType, b.getFloatAttr(b.getF32Type(), 0.0)));
    // One pass with a running max, kCombineUnroll parts a step: each step
    // issues all its loads before the arithmetic that needs them, so the
    // loads of a step are in flight together (a loop of one part a step
    // waits a full memory latency per part).
    Value steps = e.div(e.add(count, kCombineUnroll - 1), kCombineUnroll);
    auto loop = buildFor(
        b, e.idx(0), steps, e.idx(1), {zeros, e.f32(0.0), e.f32(kNegInf)},
        [&](ImplicitLocOpBuilder &ib, Value step, ValueRange iters) {
          FragmentBuilder f{ib, g.elt};
          Value firstSlot = f.add(first, f.mul(step, kCombineUnroll));
          SmallVector<Value> valid, lse, part;
          for (int64_t u = 0; u < kCombineUnroll; ++u) {
            Value slot = f.add(firstSlot, u);
            valid.push_back(f.ult(slot, last));
            // Past the group: read its last slot (valid memory), weigh it 0.
            Value readSlot = arith::MinUIOp::create(ib, slot, f.add(last, -1));
            Value l = memref::LoadOp::create(ib, workspace,
                                             ValueRange{layout.lseIndex(ib, readSlot, bi, row)});
            lse.push_back(arith::SelectOp::create(ib, valid.back(), l, f.f32(kNegInf)));
            auto o =
                vector::LoadOp::create(ib, vecType, workspace,
                                       ValueRange{layout.partialIndex(ib, readSlot, bi, row, col)});
            o.setAlignment(static_cast<unsigned>(4 * width));
            part.push_back(arith::SelectOp::create(ib, valid.back(), o, zeros));
          }
          PartsMerge merged =
              mergeParts(ib, {iters[0], iters[1], iters[2]}, lse, part, emitNvvmExp2);
          return SmallVector<Value>{merged.acc, merged.den, merged.max};
        });
    Value inv = mergedScale(b, loop.getResult(1));
    auto [outHead, outQuery] = g.queryIndices(b, head, query); // GQA packing maps rows
    for (int64_t i = 0; i < width; ++i) {
      Value x = vector::ExtractOp::create(b, loop.getResult(0), ArrayRef<int64_t>{i});
      Value y = fromF32(b, arith::MulFOp::create(b, x, inv), g.elt);
      memref::StoreOp::create(b, y, out, ValueRange{bi, outHead, outQuery, e.add(col, i)});
    }
  });
  gpu::ReturnOp::create(b);
  return {func, groups * blocksPerGroup, kCombineThreads, waitsOnPrevious};
}

} // namespace sieve::passes
