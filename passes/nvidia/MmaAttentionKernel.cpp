//===- MmaAttentionKernel.cpp - the tensor-core attention kernel -----------===//
//
// One thread block computes one work row (a head and a query block) for one
// batch entry. Each warp owns 16 query rows and keeps, in registers, its Q
// fragments, the score tile S = Q·Kᵀ, and the f32 output accumulator; the
// online softmax runs on S in place and P = softmax(S) feeds P·V straight
// from registers (an mma accumulator's layout is the next mma's A operand).
//
// Key and value tiles stream through `stages` shared-memory buffers filled
// by cp.async (16 bytes per thread and copy, bypassing L1), so the loads of
// tile t+stages-1 overlap the math of tile t. Rows of shared memory are
// swizzled by 16-byte chunks (chunk ^ row%8 when the head dim is a
// multiple of 64; MmaEmitter::swizzledCol for the others) so that the
// ldmatrix reads (8 rows, same logical chunk) are free of bank conflicts.
//
// One body serves every head dim that is a multiple of 16 up to 256: the
// accumulator holds D/8 chunks of 4 f32 per thread, and up to D = 128 the
// warp's Q fragments (D/4 registers) stay in registers for the whole row;
// above, they are read from the shared Q tile at each key tile instead,
// and the key tile defaults to 32 keys (defaultMmaKeyTile).
//
// The element mask (ragged key tails, and the diagonal under `causal`) is
// applied only to the tiles that need it; interior tiles run the unmasked
// body.
//
//===----------------------------------------------------------------------===//
#include "nvidia/MmaAttentionKernel.h"
#include "conversions/TargetLimits.h"
#include "nvidia/BatchSequence.h"
#include "nvidia/FragmentSoftmax.h"
#include "nvidia/GenerationTile.h"
#include "nvidia/MmaEmitter.h"
#include "nvidia/SplitParts.h"
#include "nvidia/ZeroRows.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace sieve::passes {

namespace {

constexpr int64_t kWarp = 32;
constexpr int64_t kChunk = kMmaChunk; // elements per 16-byte chunk

/// The kernel's view of the problem, fixed at compile time.
struct Geometry : ProblemGeometry {
  int64_t queryTile, keyTile, stages, warps, threads, subTiles, split;
  int64_t chunksPerRow() const { return headDim / kChunk; }
  /// Whether the warp's Q fragments live in registers for the whole row
  /// (else they are read from shared memory at each key tile).
  bool queryInRegisters() const { return headDim <= 128; }
  int64_t sharedBytes() const {
    return (queryTile + 2 * stages * keyTile) * headDim * 2; // 16-bit elements
  }
};

Geometry geometryOf(BlockSparseAttentionOp op, const MmaKernelOptions &o) {
  Geometry g;
  static_cast<ProblemGeometry &>(g) = problemGeometryOf(op);
  g.keyTile =
      std::min(o.keyTile > 0 ? o.keyTile : defaultMmaKeyTile(g.headDim, g.blockK), g.blockK);
  g.queryTile = o.queryTile > 0 ? std::min(o.queryTile, g.blockQ) : g.blockQ;
  g.split = g.blockQ / g.queryTile;
  g.stages = o.stages;
  g.warps = g.queryTile / 16;
  g.threads = g.warps * kWarp;
  g.subTiles = g.blockK / g.keyTile;
  return g;
}

/// Emission helpers over one builder; all index arithmetic is on `index`.
struct Emitter : MmaEmitter {
  const Geometry &g;
  Emitter(ImplicitLocOpBuilder &b, const Geometry &g)
      : MmaEmitter(b, g.elt, g.headDim, g.threads), g(g) {}
};

} // namespace

int64_t defaultMmaKeyTile(int64_t headDim, int64_t blockK) {
  const int64_t preferred = headDim > 128 ? 32 : 64;
  if (blockK <= preferred)
    return blockK;
  for (int64_t keys = preferred; keys >= 16; keys -= 16)
    if (blockK % keys == 0)
      return keys;
  return preferred; // block_k is no multiple of 16: refused below
}

std::string mmaKernelUnsupportedReason(BlockSparseAttentionOp op, const MmaKernelOptions &o,
                                       const runtime::TargetInfo &target) {
  Geometry g = geometryOf(op, o);
  if (!g.elt.isF16() && !g.elt.isBF16())
    return "needs f16 or bf16 elements";
  // The online softmax keeps the running maximum of the raw dot products
  // and exponentiates scale * (s - max): with a negative scale that is the
  // minimum's side, and exp2 overflows for spread scores.
  if (g.scaleLog2 <= 0)
    return "needs a positive scale (the online softmax subtracts the raw scores' maximum)";
  // k16 steps over the head dim, and at most 256 columns of f32
  // accumulator (128 registers a thread) with the scores beside them.
  if (g.headDim % 16 != 0 || g.headDim <= 0 || g.headDim > 256)
    return "needs a head dim that is a multiple of 16, at most 256 (k16 steps, registers)";
  if (g.blockQ % g.queryTile != 0)
    return "needs a query tile that divides block_q";
  if (g.queryTile % 16 != 0 || g.queryTile > 128)
    return "needs a query tile (block_q by default) that is a multiple of 16, at most 128 (one "
           "warp per 16 rows)";
  if (g.keyTile % 16 != 0 || g.keyTile <= 0 || g.blockK % g.keyTile != 0)
    return "needs block_k a multiple of the key tile, itself a multiple of 16";
  if (o.stages < 2 || o.stages > 4)
    return "needs 2 to 4 stages";
  // (A tile copy that does not split evenly over the threads leaves the
  // last round to the threads that have a chunk: MmaEmitter::copyRowsAsync.)
  for (Value v : {op.getQuery(), op.getKey(), op.getValue(), op.getOut()})
    if (!hasUnitInnerStride(cast<MemRefType>(v.getType())))
      return "needs a static unit stride on the head dimension (16-byte loads)";
  if (!target.mmaSync)
    return "needs mma.sync with 16-bit operands (sm_80 or later), not " + target.chip;
  if (std::string reason = sharedMemoryUnsupportedReason(target, g.sharedBytes()); !reason.empty())
    return reason;
  return "";
}

MmaKernel buildMmaAttentionKernel(BlockSparseAttentionOp op, gpu::GPUModuleOp gpuModule,
                                  const RowTableGlobals &tables, const MmaKernelOptions &options) {
  Geometry g = geometryOf(op, options); // (generation: the step's values, set below)
  const int64_t D = g.headDim, KT = g.keyTile, S = g.stages;
  const int64_t dTiles = D / 8, kTiles = KT / 8;

  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());
  SmallVector<Type> argTypes = kernelOperandTypes(op);
  if (tables.atLaunch)
    argTypes.append(rowTableArgumentTypes(op.getContext()));
  if (op.hasSplitParts()) // split-KV parts write partial results there
    argTypes.push_back(workspaceType(op.getContext()));
  auto funcType = gb.getFunctionType(argTypes, {});
  auto func = gpu::GPUFuncOp::create(gb, op.getLoc(), "sieve_attention", funcType);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), gb.getUnitAttr());
  func.setKnownBlockSizeAttr(gb.getDenseI32ArrayAttr({static_cast<int32_t>(g.threads), 1, 1}));
  // Unless told that one block per SM will do, ptxas trades spills for
  // occupancy: at head dim 80 it capped registers at 168 (three blocks of
  // 128 threads) and spilled. The 64- and 128-column kernels spill nothing
  // without the directive and keep the PTX their GPU runs attested, except
  // the calibration variant, whose second pass spilled at head dim 64 on
  // sm_80 (168 registers).
  if ((D != 64 && D != 128) || op.getStats())
    func->setAttr("nvvm.minctasm", gb.getI32IntegerAttr(1));

  Block &entry = func.getBody().front();
  Value q = entry.getArgument(0), k = entry.getArgument(1), v = entry.getArgument(2),
        out = entry.getArgument(3);
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  Emitter e(b, g);
  e.packed = g.packed; // GQA packing: q, out and lse rows map to (head, query)

  // Shared memory: Q (reused for the output), then the K and V stages.
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface(), workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(b, bytesType);
  auto tileType = [&](int64_t rows) {
    return MemRefType::get({rows, D}, g.elt, MemRefLayoutAttrInterface(), workgroup);
  };
  auto view = [&](int64_t byteOffset, int64_t rows) -> Value {
    return memref::ViewOp::create(b, tileType(rows), smem, e.idx(byteOffset), ValueRange{});
  };
  Value qTile = view(0, g.queryTile);
  Value kTile = view(g.queryTile * D * 2, S * KT);
  Value vTile = view((g.queryTile + S * KT) * D * 2, S * KT);

  // The generic kernel's tables follow the op's operands, whose number
  // depends on its optional ones (lse, thresholds).
  std::array<Value, 4> tableValues = rowTableValues(b, tables, entry, op->getNumOperands());
  Value heads = tableValues[0], qBlocks = tableValues[1], spans = tableValues[2],
        keyBlocks = tableValues[3];

  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value lane = e.rem(tid, kWarp), warp = e.div(tid, kWarp);
  Value laneRow = e.div(lane, 4);           // the accumulator row of c0, c1
  Value laneCol = e.mul(e.rem(lane, 4), 2); // its first column
  // Block x = work row * split + which query tile of the row's block.
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value r, bi, lse, h, kvh, qStart, rowBegin, rowEnd;
  Value generationSlot; // a split generation step's part (GenerationTile::slot)
  PartTile partTile;    // the rows a split part's block counts itself for
  BatchSequence seq;    // a ragged or paged batch's sequence (BatchSequence.h)
  if (!op.isGeneration()) {
    r = e.div(blockX, g.split);
    if (op.hasSplitParts())
      partTile = splitRowTile(e, blockX, g.split, g.queryTile);
    bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    lse = lseArgument(op, entry);
    emitZeroRowBlocks(b, g, rowLaunchOf(op, g.split, tables.atLaunch), out, heads, qBlocks, blockX,
                      bi, tid, g.threads, kChunk, lse);
    h = loadIndexEntry(b, heads, r);
    kvh = e.div(h, g.group);
    qStart = e.add(e.mul(loadIndexEntry(b, qBlocks, r), g.blockQ),
                   e.mul(e.rem(blockX, g.split), g.queryTile));
    std::tie(rowBegin, rowEnd) = loadRowSpan(b, spans, r);
    if (op.hasBatchLayout()) {
      seq = emitBatchSequence(e, op, entry, bi);
      e.returnUnless(e.ult(qStart, seq.seqQ)); // the sequence has no query in this tile
      std::tie(rowEnd, g.causalShift) = batchSequenceRow(e, g, seq, keyBlocks, rowBegin, rowEnd,
                                                         qStart, g.queryTile, op.getCausalAlign());
      if (g.causalShift)
        g.causalOffset = 0;
      g.liveKeys = seq.seqK;
    }
  } else {
    // Generation: the step's tile and row, only the row's live key blocks
    // (GenerationTile.h); q and out rows are positions - q_pos.
    bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    GenerationTile step =
        emitGenerationTile(e, op, entry, blockX, g.split, g.queryTile, spans, keyBlocks, tables);
    r = step.row;
    h = step.head;
    kvh = e.div(h, g.group);
    qStart = step.firstRow;
    rowBegin = step.rowBegin;
    rowEnd = step.liveEnd;
    generationSlot = step.slot;
    if (step.slot)
      partTile = generationPartTile(e, op, step.firstRow, g.split, g.queryTile);
    g.liveKeys = step.liveKeys;
    g.causalShift = step.qPos;
  }
  Value numTiles = e.mul(arith::SubIOp::create(b, rowEnd, rowBegin), g.subTiles);
  // Threshold mode: the head's threshold, read at run time.
  Value thresholds = thresholdsArgument(op, entry);
  Value thresholdLog2 = thresholds ? headThresholdLog2(b, thresholds, h) : Value();

  // First key of pipeline step t: key block rowBegin + t / subTiles, sub-tile t % subTiles.
  auto tileStart = [&](Value t) {
    Value kb = loadIndexEntry(b, keyBlocks, e.add(rowBegin, e.div(t, g.subTiles)));
    return e.add(e.mul(kb, g.blockK), e.mul(e.rem(t, g.subTiles), KT));
  };
  auto loadTile = [&](Value t) {
    Value first = tileStart(t);
    Value stageRow = e.mul(e.rem(t, S), KT);
    TileRows rows = seq.seqK ? seq.keyRows(e, first) : TileRows{bi, first, g.liveKeys};
    e.copyRowsAsync(k, rows.batch, kvh, rows.row, g.seqK, kTile, stageRow, KT, tid, false,
                    rows.liveLimit);
    e.copyRowsAsync(v, rows.batch, kvh, rows.row, g.seqK, vTile, stageRow, KT, tid, false,
                    rows.liveLimit);
  };
  // Prologue: Q, then the first stages-1 key/value tiles, one group each.
  TileRows queryRows = seq.seqQ ? seq.queryRows(e, qStart) : TileRows{bi, qStart, Value()};
  e.copyRowsAsync(q, queryRows.batch, h, queryRows.row, g.seqQ, qTile, e.idx(0), g.queryTile, tid,
                  /*queryRows=*/true, queryRows.liveLimit);
  e.commitGroup();
  e.prologue(numTiles, S, loadTile);
  e.waitGroups(static_cast<int32_t>(S - 1));
  gpu::BarrierOp::create(b);

  // This warp's Q fragments (A operands), kept in registers for the whole
  // row where they fit beside the accumulator.
  Value warpRow0 = e.mul(warp, 16);
  SmallVector<SmallVector<Value, 4>> qFrag;
  if (g.queryInRegisters())
    for (int64_t kk = 0; kk < D / 16; ++kk)
      qFrag.push_back(e.rowOperand(qTile, warpRow0, kk, lane));

  const double negInf = -std::numeric_limits<double>::infinity();
  SmallVector<Value> inits;
  for (int64_t i = 0; i < dTiles * 4; ++i)
    inits.push_back(e.f32(0.0));
  inits.append({e.f32(negInf), e.f32(negInf), e.f32(0.0), e.f32(0.0)}); // m0 m1 l0 l1
  // Rows (within the warp) of the accumulator halves: laneRow and laneRow + 8.
  Value warpFirstQuery = e.add(qStart, warpRow0);
  Value queryRow[2] = {e.add(warpFirstQuery, laneRow), e.add(e.add(warpFirstQuery, laneRow), 8)};
  // The element mask (GQA packing: per packed row's query and segment).
  RowScoreMask rowMask(e, g, tables, rowBegin, loadIndexEntry(b, qBlocks, r), warpFirstQuery,
                       queryRow);

  // The masked scores of pipeline step t, whose K tile is in stage rows
  // [stageRow, stageRow + KT).
  auto maskedScores = [&](Value t, Value stageRow) {
    // S = Q·Kᵀ: K rows are the B operand in "col" layout, read untransposed.
    Fragment s(kTiles, SmallVector<Value, 4>(4, e.f32(0.0)));
    auto scoreStep = [&](int64_t jp, int64_t kk, ArrayRef<Value> qOperand) {
      auto frag = e.colOperand(kTile, e.add(stageRow, jp * 16), kk, lane);
      e.mma(qOperand, {frag[0], frag[1]}, s[2 * jp]);
      e.mma(qOperand, {frag[2], frag[3]}, s[2 * jp + 1]);
    };
    if (g.queryInRegisters()) {
      for (int64_t jp = 0; jp < KT / 16; ++jp)
        for (int64_t kk = 0; kk < D / 16; ++kk)
          scoreStep(jp, kk, qFrag[kk]);
    } else {
      // Each Q fragment is read once per key tile, for all its keys.
      for (int64_t kk = 0; kk < D / 16; ++kk) {
        SmallVector<Value, 4> qOperand = e.rowOperand(qTile, warpRow0, kk, lane);
        for (int64_t jp = 0; jp < KT / 16; ++jp)
          scoreStep(jp, kk, qOperand);
      }
    }

    rowMask.apply(s, tileStart(t), KT, laneCol, t);
    return s;
  };

  auto loop = e.pipelinedLoop(numTiles, S, inits, loadTile, [&](Value t, ValueRange state) {
    Emitter &le = e;
    Value stageRow = le.mul(le.rem(t, S), KT);
    Fragment s = maskedScores(t, stageRow);

    auto accumulate = [&]() -> SmallVector<Value> {
      // Online softmax for the lane's two rows (c0,c1 and c2,c3).
      SmallVector<Value> acc(state.begin(), state.begin() + dTiles * 4);
      Value m[2] = {state[dTiles * 4], state[dTiles * 4 + 1]};
      Value l[2] = {state[dTiles * 4 + 2], state[dTiles * 4 + 3]};
      softmaxStep(le, s, acc, m, l, g.scaleLog2);

      // O += P·V: P's accumulator layout is the A operand; V rows are the
      // B operand in "row" layout, so ldmatrix transposes them.
      for (int64_t kk = 0; kk < KT / 16; ++kk) {
        SmallVector<Value, 4> pFrag = probabilityOperand(le, s, kk);
        for (int64_t dp = 0; dp < D / 16; ++dp) {
          auto frag = le.transposedOperand(vTile, stageRow, kk, dp, lane);
          le.mma(pFrag, {frag[0], frag[1]}, MutableArrayRef<Value>(acc).slice(2 * dp * 4, 4));
          le.mma(pFrag, {frag[2], frag[3]}, MutableArrayRef<Value>(acc).slice((2 * dp + 1) * 4, 4));
        }
      }
      SmallVector<Value> results(acc);
      results.append({m[0], m[1], l[0], l[1]});
      return results;
    };
    if (!thresholdLog2)
      return accumulate();
    // Threshold mode: a warp whose 16 rows keep no score of this key tile
    // skips the exponentials and P·V (its rows are its own: no other warp
    // waits on it).
    dropScoresUnderThreshold(le, s, thresholdLog2, g.scaleLog2);
    return le.ifElseKeep(le.warpAny(laneKeepsAnyScore(le, s)), state, accumulate);
  });

  auto storeWholeRow = [&] {
    Value m[2] = {loop.getResult(dTiles * 4), loop.getResult(dTiles * 4 + 1)};
    Value l[2] = {loop.getResult(dTiles * 4 + 2), loop.getResult(dTiles * 4 + 3)};
    finishWholeRows(
        e, lse, bi, h, queryRow, lane, m, l, g.scaleLog2, g.seqQ, [&](const Value *inv) {
          // Stage the warp's rows through its own part of the Q tile, then
          // write 16-byte chunks to global memory.
          gpu::BarrierOp::create(b);
          e.storeWarpRows(SmallVector<Value>(loop.getResults().take_front(dTiles * 4)), inv, qTile,
                          warpRow0, LaneCoords{lane, laneRow, laneCol}, out, queryRows.batch, h,
                          queryRows.row, g.seqQ, Value(), queryRows.liveLimit);
        });
  };
  // No copy may still be landing in shared memory, whichever path follows.
  e.waitGroups(0);
  if (Value stats = statsArgument(op, entry)) {
    // Calibration: a second pass over the row's key tiles, now that each
    // row's max and sum are final, adds every tile's probability mass to
    // stats[h, query block, key block]. It runs before the output is
    // staged through the Q tile, which head dims over 128 still read Q from.
    Value m[2] = {loop.getResult(dTiles * 4), loop.getResult(dTiles * 4 + 1)};
    Value l[2] = {loop.getResult(dTiles * 4 + 2), loop.getResult(dTiles * 4 + 3)};
    RowWeights w = calibrationWeights(e, m, l, queryRow, g.seqQ, g.scaleLog2);
    Value qb = loadIndexEntry(b, qBlocks, r);
    auto loadKeys = [&](Value t) {
      e.copyRowsAsync(k, bi, kvh, tileStart(t), g.seqK, kTile, e.mul(e.rem(t, S), KT), KT, tid);
    };
    // Every warp is past the first pass's last tile before its buffers refill.
    gpu::BarrierOp::create(b);
    e.prologue(numTiles, S, loadKeys);
    e.pipelinedLoop(numTiles, S, {}, loadKeys, [&](Value t, ValueRange) {
      Fragment s = maskedScores(t, e.mul(e.rem(t, S), KT));
      Value mass = e.warpSum(laneTileMass(e, s, w, g.scaleLog2));
      Value kb = loadIndexEntry(b, keyBlocks, e.add(rowBegin, e.div(t, g.subTiles)));
      e.ifThen(arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, e.idx(0)), [&] {
        memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addf, mass, stats,
                                    ValueRange{h, qb, kb});
      });
      return SmallVector<Value>{};
    });
    e.waitGroups(0);
  }
  // A split-KV part leaves its partial result in the workspace (and the
  // group's last part merges them); a whole row is normalized and stored
  // through shared memory.
  Value workspace = op.hasSplitParts() ? entry.getArgument(func.getNumArguments() - 1) : Value();
  auto storePartial = [&](Value slot) {
    SmallVector<Value> acc(loop.getResults().take_front(dTiles * 4));
    Value m[2] = {loop.getResult(dTiles * 4), loop.getResult(dTiles * 4 + 1)};
    Value l[2] = {loop.getResult(dTiles * 4 + 2), loop.getResult(dTiles * 4 + 3)};
    // A generation part's workspace rows are the call's queries already.
    Value blockStart =
        op.isGeneration() ? e.idx(0) : e.mul(loadIndexEntry(b, qBlocks, r), g.blockQ);
    emitFragmentPartialStore(e, g, WorkspaceLayout::of(op), workspace, slot, bi, blockStart,
                             queryRow, laneCol, acc, m, l);
    emitPartArrival(e, op, tables, out, workspace, slot, bi, partTile,
                    {tid, g.threads, /*barrier=*/0});
  };
  if (generationSlot)
    storePartial(generationSlot);
  else
    emitSlotBranch(b, tables, r, storePartial, storeWholeRow);
  gpu::ReturnOp::create(b);
  std::string config = "mma block_q=" + std::to_string(g.blockQ) +
                       " query_tile=" + std::to_string(g.queryTile) +
                       " block_k=" + std::to_string(g.blockK) + " key_tile=" + std::to_string(KT) +
                       " stages=" + std::to_string(S) + " warps=" + std::to_string(g.warps) +
                       " shared=" + std::to_string(g.sharedBytes());
  if (op.isGeneration())
    config += " generation";
  return {func, g.threads, g.split, g.sharedBytes(), config};
}

} // namespace sieve::passes
