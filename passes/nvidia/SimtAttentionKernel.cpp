//===- SimtAttentionKernel.cpp - the scalar GPU body ----------------------===//
//
// One thread block per (work row, batch entry), one thread per query row.
// Key and value chunks are staged through shared memory in f32 by all
// threads of the block, then each thread runs the same streaming softmax
// as the CPU lowering. It fixes the ABI, the schedule and the numerics for
// any shape and dtype, and alone has the calibration pass and threshold
// mode.
//
//===----------------------------------------------------------------------===//
#include "nvidia/SimtAttentionKernel.h"

#include "conversions/LoweringUtils.h"
#include "conversions/SplitKvWorkspace.h"
#include "nvidia/NvvmIntrinsics.h"
#include "nvidia/SplitParts.h"
#include "nvidia/ZeroRows.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace sieve::passes {

namespace {

/// Largest divisor of blockK whose chunk (keys x headDim f32) fits the budget,
/// so chunks never straddle two key blocks.
int64_t chunkKeys(int64_t blockK, int64_t headDim, int64_t chunkElements) {
  int64_t limit = std::max<int64_t>(1, chunkElements / headDim);
  for (int64_t keys = std::min(blockK, limit); keys > 1; --keys)
    if (blockK % keys == 0)
      return keys;
  return 1;
}

/// The simt body's key chunks: staging a chunk of one key head through
/// shared memory (f32, keys past Sk as zeros) and this thread's score of a
/// staged key. The attention pass and the calibration pass share them.
struct SimtChunks {
  Value k, v, kStage, vStage, qRow, bi, kvh, tid, i;
  int64_t blockQ, headDim, seqK, chunk;
  bool causal;
  int64_t causalOffset; // ProblemGeometry::causalOffset

  /// Stages keys [chunkStart, chunkStart + chunk) (and their values when
  /// `withValues`) between two barriers: everyone finished reading the
  /// previous chunk, then everyone sees this one.
  void stage(ImplicitLocOpBuilder &b, Value chunkStart, bool withValues) const {
    Value zero = f32Const(b, 0.0);
    gpu::BarrierOp::create(b);
    buildFor(b, tid, indexConst(b, chunk * headDim), indexConst(b, blockQ), {},
             [&](ImplicitLocOpBuilder &b, Value x, ValueRange) {
               Value jj = arith::DivUIOp::create(b, x, indexConst(b, headDim));
               Value d = arith::RemUIOp::create(b, x, indexConst(b, headDim));
               Value j = arith::AddIOp::create(b, chunkStart, jj);
               Value inRange =
                   arith::CmpIOp::create(b, arith::CmpIPredicate::ult, j, indexConst(b, seqK));
               Value jRead = arith::MinUIOp::create(b, j, indexConst(b, seqK - 1));
               Value kx = toF32(b, memref::LoadOp::create(b, k, ValueRange{bi, kvh, jRead, d}));
               Value vx =
                   withValues
                       ? toF32(b, memref::LoadOp::create(b, v, ValueRange{bi, kvh, jRead, d}))
                       : Value();
               memref::StoreOp::create(b, arith::SelectOp::create(b, inRange, kx, zero), kStage,
                                       ValueRange{jj, d});
               if (withValues)
                 memref::StoreOp::create(b, arith::SelectOp::create(b, inRange, vx, zero), vStage,
                                         ValueRange{jj, d});
               return SmallVector<Value>{};
             });
    gpu::BarrierOp::create(b);
  }

  /// This thread's query row against staged key `jj`: the score (log2
  /// units, q was scaled) and whether the key counts (inside Sk, and not
  /// after the query's position under causal).
  std::pair<Value, Value> scoreAndValid(ImplicitLocOpBuilder &b, Value chunkStart, Value jj) const {
    Value c0 = indexConst(b, 0), c1 = indexConst(b, 1);
    Value j = arith::AddIOp::create(b, chunkStart, jj);
    auto dot = buildFor(b, c0, indexConst(b, headDim), c1, {f32Const(b, 0.0)},
                        [&](ImplicitLocOpBuilder &b, Value d, ValueRange s) {
                          Value qx = memref::LoadOp::create(b, qRow, ValueRange{d});
                          Value kx = memref::LoadOp::create(b, kStage, ValueRange{jj, d});
                          return SmallVector<Value>{math::FmaOp::create(b, qx, kx, s[0])};
                        });
    Value valid = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, j, indexConst(b, seqK));
    if (causal)
      valid = arith::AndIOp::create(b, valid, causalSees(b, i, j, causalOffset));
    return {dot.getResult(0), valid};
  }
};

/// The calibration variant's second pass over a row's keys (simt body): with
/// the row's final max `rowMax` (log2 domain) and sum `rowSum`, each kept
/// key block's probability mass p_j = exp2(s_j - max) / sum is summed over
/// the block and added atomically to stats[h, query block, key block]: the
/// rows of a block, and the batch entries, add into the same cell. Key chunks
/// are staged through `kStage` as in the first pass; queries past Sq add
/// nothing.
void emitCalibrationPass(ImplicitLocOpBuilder &b, BlockSparseAttentionOp op,
                         const SimtChunks &chunks, Value stats, Value rowMax, Value rowSum,
                         std::array<Value, 4> tables, Value r, Value qValid) {
  const ProblemGeometry g = problemGeometryOf(op);
  auto [heads, qBlocks, spans, keyBlocks] = tables;
  Value c0 = indexConst(b, 0), c1 = indexConst(b, 1), zero = f32Const(b, 0.0);
  Value negInf = f32Const(b, -std::numeric_limits<double>::infinity());
  Value h = loadIndexEntry(b, heads, r), qb = loadIndexEntry(b, qBlocks, r);
  auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
  Value hasKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, rowSum, zero);
  Value invSum =
      arith::SelectOp::create(b, hasKeys, arith::DivFOp::create(b, f32Const(b, 1.0), rowSum), zero);
  // A row with every key masked keeps max -inf: weigh against 0 (p = 0).
  Value noMax = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, rowMax, negInf);
  Value base = arith::SelectOp::create(b, noMax, zero, rowMax);
  buildFor(b, rowBegin, rowEnd, c1, {}, [&](ImplicitLocOpBuilder &b, Value e, ValueRange) {
    Value kb = loadIndexEntry(b, keyBlocks, e);
    Value blockStart = arith::MulIOp::create(b, kb, indexConst(b, g.blockK));
    auto chunkLoop = buildFor(
        b, c0, indexConst(b, g.blockK), indexConst(b, chunks.chunk), {zero},
        [&](ImplicitLocOpBuilder &b, Value c, ValueRange mass) {
          Value chunkStart = arith::AddIOp::create(b, blockStart, c);
          chunks.stage(b, chunkStart, /*withValues=*/false);
          auto keyLoop = buildFor(
              b, c0, indexConst(b, chunks.chunk), c1, {mass[0]},
              [&](ImplicitLocOpBuilder &b, Value jj, ValueRange acc) {
                auto [score, valid] = chunks.scoreAndValid(b, chunkStart, jj);
                Value p = arith::MulFOp::create(
                    b, emitNvvmExp2(b, arith::SubFOp::create(b, score, base).getResult()), invSum);
                return SmallVector<Value>{
                    arith::AddFOp::create(b, acc[0], arith::SelectOp::create(b, valid, p, zero))};
              });
          return SmallVector<Value>{keyLoop.getResult(0)};
        });
    scf::IfOp::create(b, qValid, [&](OpBuilder &tb, Location loc) {
      ImplicitLocOpBuilder ib(loc, tb);
      memref::AtomicRMWOp::create(ib, arith::AtomicRMWKind::addf, chunkLoop.getResult(0), stats,
                                  ValueRange{h, qb, kb});
      scf::YieldOp::create(ib);
    });
    return SmallVector<Value>{};
  });
}

} // namespace

std::string simtKernelUnsupportedReason(BlockSparseAttentionOp op,
                                        const runtime::TargetInfo &target) {
  // One thread per query row of a block.
  if (op.getBlockQ() > target.maxThreadsPerBlock)
    return "block_q " + std::to_string(op.getBlockQ()) + " exceeds the " +
           std::to_string(target.maxThreadsPerBlock) + " threads of a GPU block";
  return "";
}

SimtKernel buildSimtAttentionKernel(BlockSparseAttentionOp op, gpu::GPUModuleOp gpuModule,
                                    const RowTableGlobals &tables, int64_t chunkElements) {
  auto qType = op.getQuery().getType();
  auto kType = op.getKey().getType();
  Type elt = qType.getElementType();
  const int64_t batch = qType.getDimSize(0), headsQ = qType.getDimSize(1),
                seqQ = qType.getDimSize(2), headDim = qType.getDimSize(3);
  const int64_t headsKv = kType.getDimSize(1), seqK = kType.getDimSize(2);
  const int64_t group = headsQ / headsKv;
  const int64_t blockQ = op.getBlockQ(), blockK = op.getBlockK();
  const bool causal = op.getCausal();
  const int64_t causalOffset = causal ? op.getCausalOffset() : 0;
  const double scaleLog2 = op.getScale().convertToDouble() * kLog2e;
  const int64_t chunk = chunkKeys(blockK, headDim, chunkElements);
  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());

  auto f32 = gb.getF32Type();
  auto workgroup = gpu::AddressSpaceAttr::get(gb.getContext(), gpu::AddressSpace::Workgroup);
  auto priv = gpu::AddressSpaceAttr::get(gb.getContext(), gpu::AddressSpace::Private);
  auto stageType = MemRefType::get({chunk, headDim}, f32, MemRefLayoutAttrInterface(), workgroup);
  auto rowType = MemRefType::get({headDim}, f32, MemRefLayoutAttrInterface(), priv);
  auto scoreType = MemRefType::get({chunk}, f32, MemRefLayoutAttrInterface(), priv);
  SmallVector<Type> argTypes(op->getOperandTypes());
  if (op.hasSplitRows()) // split-KV parts write partial results there
    argTypes.push_back(workspaceType(gb.getContext()));
  auto funcType = gb.getFunctionType(argTypes, {});
  auto func = gpu::GPUFuncOp::create(gb, op.getLoc(), "sieve_attention", funcType,
                                     TypeRange{stageType, stageType},
                                     TypeRange{rowType, rowType, scoreType});
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), gb.getUnitAttr());
  func.setKnownBlockSizeAttr(gb.getDenseI32ArrayAttr({static_cast<int32_t>(blockQ), 1, 1}));

  Block &entry = func.getBody().front();
  Value q = entry.getArgument(0), k = entry.getArgument(1), v = entry.getArgument(2),
        out = entry.getArgument(3);
  Value kStage = func.getWorkgroupAttributions()[0], vStage = func.getWorkgroupAttributions()[1];
  Value qRow = func.getPrivateAttributions()[0], acc = func.getPrivateAttributions()[1],
        scores = func.getPrivateAttributions()[2];

  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  auto getGlobal = [&](memref::GlobalOp g) -> Value {
    return memref::GetGlobalOp::create(b, g.getType(), g.getSymName());
  };
  Value heads = getGlobal(tables.heads), qBlocks = getGlobal(tables.queryBlocks),
        spans = getGlobal(tables.spans), keyBlocks = getGlobal(tables.keyBlocks);
  Value c0 = indexConst(b, 0), c1 = indexConst(b, 1);
  Value negInf = f32Const(b, -std::numeric_limits<double>::infinity());
  Value zero = f32Const(b, 0.0);

  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value r = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  // Scalar zero stores: this kernel accepts any strides.
  const RowLaunch rowLaunch = rowLaunchOf(op, /*blocksPerRow=*/1, /*generic=*/false);
  Value lse = lseArgument(op, entry);
  emitZeroRowBlocks(b, problemGeometryOf(op), rowLaunch, out, heads, qBlocks, r, bi, tid, blockQ,
                    /*vectorWidth=*/1, lse);
  Value h = loadIndexEntry(b, heads, r);
  Value qb = loadIndexEntry(b, qBlocks, r);
  Value kvh = arith::DivUIOp::create(b, h, indexConst(b, group));
  auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
  Value i = arith::AddIOp::create(b, arith::MulIOp::create(b, qb, indexConst(b, blockQ)), tid);
  // Threads past Sq (ragged last block) still stage keys and meet every
  // barrier; they read a valid row and never write.
  Value qValid = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, i, indexConst(b, seqQ));
  // Threshold mode: the head's threshold in the scores' log2 units (q is
  // scaled by scale * log2(e) below).
  Value threshold;
  if (op.getThresholds())
    threshold = headThresholdLog2(b, thresholdsArgument(op, entry), h);
  Value iRead = arith::MinUIOp::create(b, i, indexConst(b, seqQ - 1));

  buildFor(b, c0, indexConst(b, headDim), c1, {},
           [&](ImplicitLocOpBuilder &b, Value d, ValueRange) {
             Value x = toF32(b, memref::LoadOp::create(b, q, ValueRange{bi, h, iRead, d}));
             memref::StoreOp::create(b, arith::MulFOp::create(b, x, f32Const(b, scaleLog2)), qRow,
                                     ValueRange{d});
             memref::StoreOp::create(b, zero, acc, ValueRange{d});
             return SmallVector<Value>{};
           });

  const SimtChunks chunks{k, v,      kStage,  vStage, qRow,  bi,     kvh,         tid,
                          i, blockQ, headDim, seqK,   chunk, causal, causalOffset};
  auto blockLoop = buildFor(
      b, rowBegin, rowEnd, c1, {negInf, zero},
      [&](ImplicitLocOpBuilder &b, Value e, ValueRange blockState) {
        Value kb = loadIndexEntry(b, keyBlocks, e);
        Value blockStart = arith::MulIOp::create(b, kb, indexConst(b, blockK));
        auto chunkLoop = buildFor(
            b, c0, indexConst(b, blockK), indexConst(b, chunk), {blockState[0], blockState[1]},
            [&](ImplicitLocOpBuilder &b, Value c, ValueRange state) {
              Value chunkStart = arith::AddIOp::create(b, blockStart, c);
              chunks.stage(b, chunkStart, /*withValues=*/true);
              auto scoreLoop = buildFor(
                  b, c0, indexConst(b, chunk), c1, {negInf},
                  [&](ImplicitLocOpBuilder &b, Value jj, ValueRange mx) {
                    auto [dot, valid] = chunks.scoreAndValid(b, chunkStart, jj);
                    if (threshold) // a score under it is dropped like a masked key
                      valid = arith::AndIOp::create(
                          b, valid,
                          arith::CmpFOp::create(b, arith::CmpFPredicate::UGE, dot, threshold));
                    Value s = arith::SelectOp::create(b, valid, dot, negInf);
                    memref::StoreOp::create(b, s, scores, ValueRange{jj});
                    return SmallVector<Value>{arith::MaximumFOp::create(b, mx[0], s)};
                  });
              SoftmaxState next =
                  buildSoftmaxUpdate(b, {state[0], state[1]}, scoreLoop.getResult(0), scores,
                                     indexConst(b, chunk), acc, headDim, emitNvvmExp2,
                                     [&](ImplicitLocOpBuilder &b, Value jj, Value d) -> Value {
                                       return memref::LoadOp::create(b, vStage, ValueRange{jj, d});
                                     });
              return SmallVector<Value>{next.max, next.sum};
            });
        return SmallVector<Value>{chunkLoop.getResult(0), chunkLoop.getResult(1)};
      });

  if (op.getStats())
    emitCalibrationPass(b, op, chunks, entry.getArgument(4), blockLoop.getResult(0),
                        blockLoop.getResult(1), {heads, qBlocks, spans, keyBlocks}, r, qValid);

  auto ifValid = scf::IfOp::create(b, TypeRange{}, qValid, /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifValid.getThenRegion().front());
    // The scores were scaled by scale * log2(e) with q: the running max is
    // already in the log2 domain a split-KV part stores.
    emitSlotBranch(
        b, tables, r,
        [&](Value slot) {
          // The workspace follows the op's operands; the attributions come after it.
          emitScalarPartialStore(b, WorkspaceLayout::of(op),
                                 entry.getArgument(op->getNumOperands()), slot, bi, tid, acc,
                                 blockLoop.getResult(0), blockLoop.getResult(1), emitNvvmLog2);
        },
        [&] {
          if (lse) {
            // max (log2 units) + log2 sum, in natural log; -inf for no key.
            Value log2Sum = emitNvvmLog2(b, blockLoop.getResult(1));
            Value lse2 = arith::AddFOp::create(b, blockLoop.getResult(0), log2Sum);
            memref::StoreOp::create(b, arith::MulFOp::create(b, lse2, f32Const(b, 1.0 / kLog2e)),
                                    lse, ValueRange{bi, h, i});
          }
          buildNormalizeAndStore(
              b, acc, blockLoop.getResult(1), headDim,
              [&](ImplicitLocOpBuilder &b, Value d, Value x) {
                memref::StoreOp::create(b, fromF32(b, x, elt), out, ValueRange{bi, h, i, d});
              });
        });
  }
  if (op.hasSplitRows()) {
    // Every thread, past Sq or not, meets the part's arrival (its barriers);
    // the group's last part merges the parts into out.
    emitSlotBranch(
        b, tables, r,
        [&](Value slot) {
          FragmentBuilder e{b, elt};
          emitPartArrival(e, op, tables, out, entry.getArgument(op->getNumOperands()), slot, bi,
                          splitRowTile(e, r, /*blocksPerRow=*/1, blockQ),
                          {tid, blockQ, /*barrier=*/0});
        },
        [] {});
  }
  gpu::ReturnOp::create(b);
  return SimtKernel{func, rowLaunch.gridX(), blockQ,
                    "simt block_q=" + std::to_string(blockQ) +
                        " block_k=" + std::to_string(blockK) + " chunk=" + std::to_string(chunk) +
                        " threads=" + std::to_string(blockQ)};
}

} // namespace sieve::passes
