//===- MmaBackwardKernels.cpp - the tensor-core backward kernels ----------===//
//
// With P = exp2(scale log2e q.k - lse log2e) recomputed from the forward's
// log-sum-exp and delta_i = dout_i . out_i:
//   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - delta),  dQ = scale dS K,
//   dK = scale dSᵀ Q.
// The key-value kernel computes the transposed products directly (Sᵀ = K Qᵀ,
// dPᵀ = V dOᵀ) so its keys are the accumulator rows and Pᵀ, dSᵀ feed the
// next mma from registers, exactly as P does in the forward. P and dS are
// rounded to the element type for the mma, as the forward rounds P.
//
// A query row the mask leaves without keys (possible inside an active row
// under causal masking when block_q > block_k) has lse -inf; its lse is
// taken as +inf here so every P of it is 0 instead of exp2(-inf + inf).
//
//===----------------------------------------------------------------------===//
#include "nvidia/MmaBackwardKernels.h"
#include "conversions/LoweringUtils.h"
#include "conversions/TargetLimits.h"
#include "nvidia/BackwardCommon.h"
#include "nvidia/BackwardRowsKernel.h"
#include "nvidia/FragmentSoftmax.h"
#include "nvidia/MmaEmitter.h"
#include "nvidia/ZeroRows.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionBackwardOp;

namespace sieve::passes {

namespace {

constexpr int64_t kWarp = 32;
constexpr int64_t kStages = 2;

/// The largest multiple of 16 that divides `block` and is at most `cap`
/// (0 when `block` is not a multiple of 16).
int64_t tileOf(int64_t block, int64_t cap) {
  for (int64_t t = std::min(block, cap) / 16 * 16; t >= 16; t -= 16)
    if (block % t == 0)
      return t;
  return 0;
}

/// The backward's problem and the tiles each kernel uses, fixed at
/// compile time.
struct Geometry {
  BackwardProblem p;
  // query kernel: rows per block, blocks per query block, keys per step
  int64_t queryTile, querySplit, queryKeyTile;
  // key-value kernel: keys per block, blocks per key block, queries per step
  int64_t kvKeys, kvSplit, kvQueryStep;
  // key-value kernel: warps that share each 16 keys, each owning an equal
  // window of dK's and dV's columns
  int64_t kvColumnGroups;
  bool kvFragmentsInRegisters; // K and V A-operands kept for the whole column
  /// Whether the query kernel keeps its warp's Q and dO A-operands in
  /// registers for the whole row (else it reads them at each key step).
  bool queryFragmentsInRegisters() const { return p.headDim <= 128; }
  int64_t queryThreads() const { return queryTile / 16 * kWarp; }
  int64_t kvThreads() const { return kvKeys / 16 * kvColumnGroups * kWarp; }
  int64_t kvWindowColumns() const { return p.headDim / kvColumnGroups; }
  int64_t querySharedBytes() const {
    return (2 * queryTile + 2 * kStages * queryKeyTile) * p.headDim * 2;
  }
  int64_t kvSharedBytes() const { return (2 * kvKeys + 2 * kStages * kvQueryStep) * p.headDim * 2; }
};

Geometry geometryOf(BlockSparseAttentionBackwardOp op, const runtime::TargetInfo &target) {
  Geometry g;
  g.p = backwardProblemOf(op);
  // Register budgets (per lane, f32 values): the query kernel holds dQ
  // (D/2), two score tiles (keyTile/4 each) and, up to D = 128, the Q and
  // dO fragments (D/4 each); above, it reads them from shared memory at
  // each step. Its key steps are 64 keys up to D = 80, 32 up to D = 192
  // and 16 above (ptxas -v: 64-key steps spilled at D = 96 and 128, 32-key
  // ones at D = 256). The key-value
  // kernel holds dK and dV (D/2 each) and two transposed score tiles, plus
  // the K and V fragments up to D = 64. It streams 64 queries a step up to
  // D = 64, 32 up to D = 192 (64 spill at D = 128) and 16 above (32 spilled
  // at D = 224); above D = 128 dK and dV no longer fit one warp's
  // registers, so two warps share each 16 keys, each computing the scores
  // in full and owning half of dK's and dV's columns.
  const int64_t D = g.p.headDim;
  const bool wide = D > 64, wider = D > 128;
  g.queryKeyTile = tileOf(g.p.blockK, D <= 80 ? 64 : D <= 192 ? 32 : 16);
  g.kvQueryStep = tileOf(g.p.blockQ, D <= 64 ? 64 : D <= 192 ? 32 : 16);
  g.kvFragmentsInRegisters = !wide;
  g.kvColumnGroups = wider ? 2 : 1;
  // The tiles a block keeps for its whole run (Q and dO rows, K and V
  // rows) shrink, 16 rows at a time, until the block fits the chip's
  // shared memory (the defaults fit sm_86's 99 KiB up to D = 256; a device
  // that reports less shared memory shrinks them).
  g.queryTile = tileOf(g.p.blockQ, 64);
  while (g.queryTile > 16 && g.querySharedBytes() > target.sharedBytesPerBlock)
    g.queryTile = tileOf(g.p.blockQ, g.queryTile - 16);
  g.kvKeys = tileOf(g.p.blockK, 64);
  while (g.kvKeys > 16 && g.kvSharedBytes() > target.sharedBytesPerBlock)
    g.kvKeys = tileOf(g.p.blockK, g.kvKeys - 16);
  g.querySplit = g.queryTile ? g.p.blockQ / g.queryTile : 0;
  g.kvSplit = g.kvKeys ? g.p.blockK / g.kvKeys : 0;
  return g;
}

/// Kernels of head dims other than 64 and 128 may use every register:
/// unless told one block per SM will do, ptxas trades spills for
/// occupancy (as in the forward, MmaAttentionKernel.cpp). The 64- and
/// 128-column kernels spill nothing without it and keep the PTX their GPU
/// runs attested.
void allowAllRegisters(gpu::GPUFuncOp func, int64_t headDim) {
  if (headDim != 64 && headDim != 128)
    func->setAttr("nvvm.minctasm", OpBuilder(func).getI32IntegerAttr(1));
}

/// The shared-memory views of a kernel: tiles of `rows` x D elements at
/// consecutive offsets.
struct SharedTiles {
  ImplicitLocOpBuilder &b;
  Value smem;
  int64_t headDim;
  Type elt;
  int64_t offset = 0;
  Value next(int64_t rows) {
    auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
    auto type = MemRefType::get({rows, headDim}, elt, MemRefLayoutAttrInterface(), workgroup);
    Value view = memref::ViewOp::create(b, type, smem, indexConst(b, offset), ValueRange{});
    offset += rows * headDim * 2;
    return view;
  }
};

/// The subtrahend of P's exponent (lse log2 e, +inf where P is 0) and
/// delta of `query`, from the scratch.
std::pair<Value, Value> rowStatistics(FragmentBuilder &e, const BackwardProblem &p, Value scratch,
                                      Value bi, Value h, Value query) {
  Value at = scratchIndex(e, p, bi, h, query);
  Value lse2 = memref::LoadOp::create(e.b, scratch, ValueRange{e.add(at, p.scratchRows())});
  Value delta = memref::LoadOp::create(e.b, scratch, ValueRange{at});
  return {lse2, delta};
}

Value dynamicShared(ImplicitLocOpBuilder &b) {
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface(), workgroup);
  return gpu::DynamicSharedMemoryOp::create(b, bytesType);
}

//===----------------------------------------------------------------------===//
// dQ by rows
//===----------------------------------------------------------------------===//

BackwardLaunch buildQueryKernel(BlockSparseAttentionBackwardOp op, gpu::GPUModuleOp gpuModule,
                                const Geometry &g, const BackwardTables &tables) {
  const int64_t D = g.p.headDim, KT = g.queryKeyTile, S = kStages;
  const int64_t threads = g.queryThreads(), dTiles = D / 8, kTiles = KT / 8;
  const int64_t subTiles = g.p.blockK / KT;
  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());
  gpu::GPUFuncOp func = createBackwardKernel(gb, op, "sieve_backward_query", threads);
  allowAllRegisters(func, D);
  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  MmaEmitter e(b, g.p.elt, D, threads);
  Value q = entry.getArgument(kQ), k = entry.getArgument(kK), v = entry.getArgument(kV),
        dout = entry.getArgument(kDout), dq = entry.getArgument(kDq),
        scratch = entry.getArgument(kScratch);

  SharedTiles shared{b, dynamicShared(b), D, g.p.elt};
  Value qTile = shared.next(g.queryTile), doTile = shared.next(g.queryTile);
  Value kTile = shared.next(S * KT), vTile = shared.next(S * KT);

  Value heads = getGlobal(b, tables.rowHeads), qBlocks = getGlobal(b, tables.rowQueryBlocks),
        spans = getGlobal(b, tables.rowSpans), keyBlocks = getGlobal(b, tables.keyBlocks);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value lane = e.rem(tid, kWarp), warp = e.div(tid, kWarp);
  const LaneCoords coords = e.laneCoords(lane);
  Value laneRow = coords.row, laneCol = coords.col;
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value r = e.div(blockX, g.querySplit);
  // Empty rows: dQ is zeros, written by a few blocks that read nothing.
  const RowLaunch launch = rowLaunchOf(op.getNumRows(), activeRowsOf(op), g.p.blockQ, D,
                                       g.p.elt.getIntOrFloatBitWidth() / 8, g.querySplit);
  emitZeroRowBlocks(b, g.p, launch, dq, heads, qBlocks, blockX, bi, tid, threads, kMmaChunk);

  Value h = loadIndexEntry(b, heads, r);
  Value kvh = e.div(h, g.p.group);
  Value thresholds = backwardThresholdsArgument(op, entry);
  Value thresholdLog2 = thresholds ? headThresholdLog2(b, thresholds, h) : Value();
  Value qStart = e.add(e.mul(loadIndexEntry(b, qBlocks, r), g.p.blockQ),
                       e.mul(e.rem(blockX, g.querySplit), g.queryTile));
  auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
  Value numSteps = e.mul(arith::SubIOp::create(b, rowEnd, rowBegin), subTiles);
  auto stepKey = [&](Value t) {
    Value kb = loadIndexEntry(b, keyBlocks, e.add(rowBegin, e.div(t, subTiles)));
    return e.add(e.mul(kb, g.p.blockK), e.mul(e.rem(t, subTiles), KT));
  };
  auto load = [&](Value t) {
    Value first = stepKey(t);
    Value stageRow = e.mul(e.rem(t, S), KT);
    e.copyRowsAsync(k, bi, kvh, first, g.p.seqK, kTile, stageRow, KT, tid);
    e.copyRowsAsync(v, bi, kvh, first, g.p.seqK, vTile, stageRow, KT, tid);
  };
  e.copyRowsAsync(q, bi, h, qStart, g.p.seqQ, qTile, e.idx(0), g.queryTile, tid);
  e.copyRowsAsync(dout, bi, h, qStart, g.p.seqQ, doTile, e.idx(0), g.queryTile, tid);
  e.commitGroup();
  e.prologue(numSteps, S, load);
  e.waitGroups(static_cast<int32_t>(S - 1));
  gpu::BarrierOp::create(b);

  Value warpRow0 = e.mul(warp, 16);
  SmallVector<SmallVector<Value, 4>> qFrag, doFrag;
  if (g.queryFragmentsInRegisters())
    for (int64_t kk = 0; kk < D / 16; ++kk) {
      qFrag.push_back(e.rowOperand(qTile, warpRow0, kk, lane));
      doFrag.push_back(e.rowOperand(doTile, warpRow0, kk, lane));
    }
  Value warpFirstQuery = e.add(qStart, warpRow0);
  Value queryRow[2] = {e.add(warpFirstQuery, laneRow), e.add(e.add(warpFirstQuery, laneRow), 8)};
  Value lse2[2], rowDelta[2];
  for (int half = 0; half < 2; ++half)
    std::tie(lse2[half], rowDelta[half]) = rowStatistics(e, g.p, scratch, bi, h, queryRow[half]);

  SmallVector<Value> inits(dTiles * 4, e.f32(0.0));
  auto loop = e.pipelinedLoop(numSteps, S, inits, load, [&](Value t, ValueRange state) {
    Value stageRow = e.mul(e.rem(t, S), KT);
    Fragment s(kTiles, SmallVector<Value, 4>(4, e.f32(0.0)));
    Fragment dp(kTiles, SmallVector<Value, 4>(4, e.f32(0.0)));
    // S = Q Kᵀ and dP = dO Vᵀ over keys [16 jp, +16) at k16 step kk.
    auto scoreStep = [&](int64_t jp, int64_t kk, ArrayRef<Value> qA, ArrayRef<Value> doA) {
      auto kFrag = e.colOperand(kTile, e.add(stageRow, jp * 16), kk, lane);
      e.mma(qA, {kFrag[0], kFrag[1]}, s[2 * jp]);
      e.mma(qA, {kFrag[2], kFrag[3]}, s[2 * jp + 1]);
      auto vFrag = e.colOperand(vTile, e.add(stageRow, jp * 16), kk, lane);
      e.mma(doA, {vFrag[0], vFrag[1]}, dp[2 * jp]);
      e.mma(doA, {vFrag[2], vFrag[3]}, dp[2 * jp + 1]);
    };
    if (g.queryFragmentsInRegisters()) {
      for (int64_t jp = 0; jp < KT / 16; ++jp)
        for (int64_t kk = 0; kk < D / 16; ++kk)
          scoreStep(jp, kk, qFrag[kk], doFrag[kk]);
    } else {
      // Each Q and dO fragment is read once per step, for all its keys.
      for (int64_t kk = 0; kk < D / 16; ++kk) {
        SmallVector<Value, 4> qA = e.rowOperand(qTile, warpRow0, kk, lane);
        SmallVector<Value, 4> doA = e.rowOperand(doTile, warpRow0, kk, lane);
        for (int64_t jp = 0; jp < KT / 16; ++jp)
          scoreStep(jp, kk, qA, doA);
      }
    }
    // P, masked to 0 after the exponent (a -inf score times a negative
    // scale would give +inf), then dS = P (dP - delta) in place of dP.
    if (thresholdLog2) // scores the forward dropped: P = 0, so dS = 0
      dropScoresUnderThreshold(e, s, thresholdLog2, g.p.scaleLog2);
    recomputeProbabilities(e, s, g.p.scaleLog2, byRowHalf(lse2));
    maskScores(e, s, stepKey(t), KT, warpFirstQuery, laneCol, queryRow, g.p.seqK, g.p.causal,
               g.p.causalOffset, /*fill=*/0.0);
    softmaxGradient(e, s, dp, byRowHalf(rowDelta));
    SmallVector<Value> acc(state);
    for (int64_t kk = 0; kk < KT / 16; ++kk) {
      SmallVector<Value, 4> dsFrag = probabilityOperand(e, dp, kk);
      for (int64_t dpi = 0; dpi < D / 16; ++dpi) {
        auto frag = e.transposedOperand(kTile, stageRow, kk, dpi, lane);
        e.mma(dsFrag, {frag[0], frag[1]}, MutableArrayRef<Value>(acc).slice(2 * dpi * 4, 4));
        e.mma(dsFrag, {frag[2], frag[3]}, MutableArrayRef<Value>(acc).slice((2 * dpi + 1) * 4, 4));
      }
    }
    return acc;
  });
  e.waitGroups(0);
  gpu::BarrierOp::create(b); // every warp is done with the Q tile
  Value scale[2] = {e.f32(g.p.scale), e.f32(g.p.scale)};
  e.storeWarpRows(SmallVector<Value>(loop.getResults()), scale, qTile, warpRow0, coords, dq, bi, h,
                  qStart, g.p.seqQ);
  gpu::ReturnOp::create(b);
  return {func, launch.gridX(), threads, g.querySharedBytes(),
          "query_tile=" + std::to_string(g.queryTile) + " key_tile=" + std::to_string(KT) +
              " warps=" + std::to_string(threads / kWarp)};
}

//===----------------------------------------------------------------------===//
// dK and dV by columns
//===----------------------------------------------------------------------===//

BackwardLaunch buildKeyValueKernel(BlockSparseAttentionBackwardOp op, gpu::GPUModuleOp gpuModule,
                                   const Geometry &g, const BackwardTables &tables) {
  const int64_t D = g.p.headDim, QS = g.kvQueryStep, S = kStages;
  // dTiles: the n8 tiles of the warp's window of dK and dV.
  const int64_t threads = g.kvThreads(), dTiles = g.kvWindowColumns() / 8, qTiles = QS / 8;
  const int64_t stepsPerTile = g.p.blockQ / QS;
  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());
  gpu::GPUFuncOp func = createBackwardKernel(gb, op, "sieve_backward_key_value", threads);
  allowAllRegisters(func, D);
  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  MmaEmitter e(b, g.p.elt, D, threads);
  Value q = entry.getArgument(kQ), k = entry.getArgument(kK), v = entry.getArgument(kV),
        dout = entry.getArgument(kDout), dk = entry.getArgument(kDk),
        dvOut = entry.getArgument(kDv), scratch = entry.getArgument(kScratch);
  Value thresholds = backwardThresholdsArgument(op, entry);

  SharedTiles shared{b, dynamicShared(b), D, g.p.elt};
  Value kTile = shared.next(g.kvKeys), vTile = shared.next(g.kvKeys);
  Value qTile = shared.next(S * QS), doTile = shared.next(S * QS);

  Value cHeads = getGlobal(b, tables.colKvHeads), cBlocks = getGlobal(b, tables.colKeyBlocks),
        cSpans = getGlobal(b, tables.colSpans), tHeads = getGlobal(b, tables.colQueryHeads),
        tBlocks = getGlobal(b, tables.colQueryBlocks);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value lane = e.rem(tid, kWarp), warp = e.div(tid, kWarp);
  const LaneCoords coords = e.laneCoords(lane);
  Value laneRow = coords.row, laneCol = coords.col;
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value c = e.div(blockX, g.kvSplit);
  Value kvh = loadIndexEntry(b, cHeads, c);
  Value firstKey = e.add(e.mul(loadIndexEntry(b, cBlocks, c), g.p.blockK),
                         e.mul(e.rem(blockX, g.kvSplit), g.kvKeys));
  auto [colBegin, colEnd] = loadRowSpan(b, cSpans, c);
  Value numSteps = e.mul(arith::SubIOp::create(b, colEnd, colBegin), stepsPerTile);
  // Step t: tile colBegin + t / stepsPerTile, its queries from sub-step t % stepsPerTile.
  auto stepQuery = [&](Value t) -> std::pair<Value, Value> {
    Value tile = e.add(colBegin, e.div(t, stepsPerTile));
    Value h = loadIndexEntry(b, tHeads, tile);
    Value first = e.add(e.mul(loadIndexEntry(b, tBlocks, tile), g.p.blockQ),
                        e.mul(e.rem(t, stepsPerTile), QS));
    return {h, first};
  };
  auto load = [&](Value t) {
    auto [h, first] = stepQuery(t);
    Value stageRow = e.mul(e.rem(t, S), QS);
    e.copyRowsAsync(q, bi, h, first, g.p.seqQ, qTile, stageRow, QS, tid);
    e.copyRowsAsync(dout, bi, h, first, g.p.seqQ, doTile, stageRow, QS, tid);
  };
  e.copyRowsAsync(k, bi, kvh, firstKey, g.p.seqK, kTile, e.idx(0), g.kvKeys, tid);
  e.copyRowsAsync(v, bi, kvh, firstKey, g.p.seqK, vTile, e.idx(0), g.kvKeys, tid);
  e.commitGroup();
  e.prologue(numSteps, S, load);
  e.waitGroups(static_cast<int32_t>(S - 1));
  gpu::BarrierOp::create(b);

  // Warp w takes keys [16 (w % keyWarps), +16) and, with column groups,
  // window w / keyWarps of dK's and dV's columns.
  const int64_t keyWarps = g.kvKeys / 16;
  Value warpKey0 = e.mul(g.kvColumnGroups > 1 ? e.rem(warp, keyWarps) : warp, 16);
  Value firstChunk = g.kvColumnGroups > 1
                         ? e.mul(e.div(warp, keyWarps), g.kvWindowColumns() / kMmaChunk)
                         : Value();
  auto keyOperand = [&](Value tile, int64_t kk) { return e.rowOperand(tile, warpKey0, kk, lane); };
  SmallVector<SmallVector<Value, 4>> kFrag, vFrag;
  if (g.kvFragmentsInRegisters)
    for (int64_t kk = 0; kk < D / 16; ++kk) {
      kFrag.push_back(keyOperand(kTile, kk));
      vFrag.push_back(keyOperand(vTile, kk));
    }
  Value warpFirstKey = e.add(firstKey, warpKey0);
  Value keyRow[2] = {e.add(warpFirstKey, laneRow), e.add(e.add(warpFirstKey, laneRow), 8)};
  Value warpLastKey = e.add(warpFirstKey, 15);

  SmallVector<Value> inits(2 * dTiles * 4, e.f32(0.0)); // dK, then dV
  auto loop = e.pipelinedLoop(numSteps, S, inits, load, [&](Value t, ValueRange state) {
    auto [h, firstQuery] = stepQuery(t);
    Value stageRow = e.mul(e.rem(t, S), QS);
    // The lane's queries: column 8j + laneCol + {0, 1} of each chunk.
    SmallVector<Value> colLse2, colDelta;
    for (int64_t j = 0; j < qTiles; ++j)
      for (int64_t cc = 0; cc < 2; ++cc) {
        Value query = e.add(e.add(firstQuery, laneCol), j * 8 + cc);
        auto [lse2, rowDelta] = rowStatistics(e, g.p, scratch, bi, h, query);
        colLse2.push_back(lse2);
        colDelta.push_back(rowDelta);
      }
    // Sᵀ = K Qᵀ and dPᵀ = V dOᵀ: keys are the rows, queries the columns.
    Fragment st(qTiles, SmallVector<Value, 4>(4, e.f32(0.0)));
    Fragment dpt(qTiles, SmallVector<Value, 4>(4, e.f32(0.0)));
    for (int64_t kk = 0; kk < D / 16; ++kk) {
      SmallVector<Value, 4> kA = g.kvFragmentsInRegisters ? kFrag[kk] : keyOperand(kTile, kk);
      SmallVector<Value, 4> vA = g.kvFragmentsInRegisters ? vFrag[kk] : keyOperand(vTile, kk);
      for (int64_t jp = 0; jp < QS / 16; ++jp) {
        auto qB = e.colOperand(qTile, e.add(stageRow, jp * 16), kk, lane);
        e.mma(kA, {qB[0], qB[1]}, st[2 * jp]);
        e.mma(kA, {qB[2], qB[3]}, st[2 * jp + 1]);
        auto doB = e.colOperand(doTile, e.add(stageRow, jp * 16), kk, lane);
        e.mma(vA, {doB[0], doB[1]}, dpt[2 * jp]);
        e.mma(vA, {doB[2], doB[3]}, dpt[2 * jp + 1]);
      }
    }
    // Pᵀ, in place of the scores (those the forward dropped under the
    // step's head's threshold give 0).
    if (thresholds)
      dropScoresUnderThreshold(e, st, headThresholdLog2(b, thresholds, h), g.p.scaleLog2);
    recomputeProbabilities(e, st, g.p.scaleLog2, byColumn(colLse2));
    if (g.p.causal)
      maskTransposed(e, st, firstQuery, warpLastKey, laneCol, keyRow, g.p.causalOffset);
    SmallVector<Value> acc(state);
    MutableArrayRef<Value> dkAcc = MutableArrayRef<Value>(acc).take_front(dTiles * 4);
    MutableArrayRef<Value> dvAcc = MutableArrayRef<Value>(acc).drop_front(dTiles * 4);
    // dV += Pᵀ dO: dO rows are K of this product, read transposed.
    for (int64_t kk = 0; kk < QS / 16; ++kk) {
      SmallVector<Value, 4> pA = probabilityOperand(e, st, kk);
      for (int64_t dpi = 0; dpi < dTiles / 2; ++dpi) {
        auto frag = e.transposedOperand(doTile, stageRow, kk, dpi, lane, firstChunk);
        e.mma(pA, {frag[0], frag[1]}, dvAcc.slice(2 * dpi * 4, 4));
        e.mma(pA, {frag[2], frag[3]}, dvAcc.slice((2 * dpi + 1) * 4, 4));
      }
    }
    // dSᵀ = Pᵀ (dPᵀ - delta), then dK += dSᵀ Q.
    softmaxGradient(e, st, dpt, byColumn(colDelta));
    for (int64_t kk = 0; kk < QS / 16; ++kk) {
      SmallVector<Value, 4> dsA = probabilityOperand(e, dpt, kk);
      for (int64_t dpi = 0; dpi < dTiles / 2; ++dpi) {
        auto frag = e.transposedOperand(qTile, stageRow, kk, dpi, lane, firstChunk);
        e.mma(dsA, {frag[0], frag[1]}, dkAcc.slice(2 * dpi * 4, 4));
        e.mma(dsA, {frag[2], frag[3]}, dkAcc.slice((2 * dpi + 1) * 4, 4));
      }
    }
    return acc;
  });
  e.waitGroups(0);
  gpu::BarrierOp::create(b); // every warp is done with the K and V tiles
  SmallVector<Value> results(loop.getResults());
  ArrayRef<Value> all(results);
  Value scale[2] = {e.f32(g.p.scale), e.f32(g.p.scale)};
  e.storeWarpRows(all.take_front(dTiles * 4), scale, kTile, warpKey0, coords, dk, bi, kvh, firstKey,
                  g.p.seqK, firstChunk);
  e.storeWarpRows(all.drop_front(dTiles * 4), nullptr, vTile, warpKey0, coords, dvOut, bi, kvh,
                  firstKey, g.p.seqK, firstChunk);
  gpu::ReturnOp::create(b);
  return {func, op.getNumColumns() * g.kvSplit, threads, g.kvSharedBytes(),
          "keys=" + std::to_string(g.kvKeys) + " query_step=" + std::to_string(QS) +
              " warps=" + std::to_string(threads / kWarp) +
              (g.kvFragmentsInRegisters ? " kv_in_registers" : "") +
              (g.kvColumnGroups > 1 ? " column_groups=" + std::to_string(g.kvColumnGroups) : "")};
}

} // namespace

std::string mmaBackwardUnsupportedReason(BlockSparseAttentionBackwardOp op,
                                         const runtime::TargetInfo &target) {
  Geometry g = geometryOf(op, target);
  if (std::string reason = tensorCoreOperandsUnsupportedReason(op); !reason.empty())
    return reason;
  const int64_t D = g.p.headDim;
  if (D % 16 != 0 || D <= 0 || D > 256)
    return "needs a head dim that is a multiple of 16, at most 256 (k16 steps; dK and dV take D/2 "
           "registers a thread each)";
  if (D > 128 && D % 32 != 0)
    return "needs a head dim that is a multiple of 32 above 128 (two warps split each 16 keys' dK "
           "and dV into equal windows of 16-column tiles)";
  if (g.p.blockQ % 16 != 0 || g.p.blockK % 16 != 0)
    return "needs block_q and block_k multiples of 16 (one warp per 16 rows)";
  if (!target.mmaSync)
    return "needs mma.sync with 16-bit operands (sm_80 or later), not " + target.chip;
  if (std::string reason =
          sharedMemoryUnsupportedReason(target, std::max(g.querySharedBytes(), g.kvSharedBytes()));
      !reason.empty())
    return reason;
  return gridUnsupportedReason(
      target, std::max(op.getNumRows() * g.querySplit, op.getNumColumns() * g.kvSplit), g.p.batch);
}

BackwardKernels buildMmaBackwardKernels(BlockSparseAttentionBackwardOp op,
                                        gpu::GPUModuleOp gpuModule,
                                        const runtime::TargetInfo &target) {
  const Geometry g = geometryOf(op, target);
  OpBuilder gb = OpBuilder::atBlockBegin(gpuModule.getBody());
  const BackwardTables tables = createBackwardTables(gb, op);
  BackwardKernels kernels;
  kernels.variant = "mma";
  kernels.rows = buildBackwardRowsKernel(op, gpuModule, g.p);
  kernels.keyValue = buildKeyValueKernel(op, gpuModule, g, tables);
  kernels.query = buildQueryKernel(op, gpuModule, g, tables);
  return kernels;
}

} // namespace sieve::passes
