//===- WgmmaAttentionKernel.cpp - the Hopper attention kernel --------------===//
//
// One thread block computes one query tile (64 rows per consumer warp group)
// of one work row for one batch entry. Warp group 0 is the producer: it
// gives registers back (setmaxnreg) and one of its threads issues every TMA
// load. Q is loaded once (under GQA packing, whose tile rows come from
// several query heads, by every thread with cp.async before the roles
// split); K and V tiles stream through `stages` buffers,
// each guarded by mbarriers: `full` completes when the TMA bytes have landed
// (arrive.expect_tx + complete_tx), `empty` when every consumer thread is
// done reading the buffer. Consumer warp groups take the registers the
// producer gave back and, per tile:
//
//   S = Q·Kᵀ   wgmma, both operands in shared memory (K-major descriptors)
//   mask the tiles that need it, online softmax on the S fragment
//   O += P·V   wgmma with P from registers (an accumulator's layout is the
//              A operand's) and V in shared memory (MN-major, transposed B)
//
// Every tile in shared memory is a stack of column slabs as wide as the
// widest swizzle that divides a row (128 bytes, 64 16-bit elements, at head
// dims that are multiples of 64; 64 or 32 bytes otherwise: SlabLayout in
// WgmmaEmitter.h) written by TMA with that swizzle; the wgmma descriptors
// name the same swizzle, so neither side ever sees a bank conflict.
// The output is staged through the warp group's own rows of the Q tile and
// written with 16-byte stores.
//
// Upstream MLIR has no wgmma with a register A operand, so O += P·V is an
// inline PTX `wgmma.mma_async` (nvidia/NvvmIntrinsics.h).
//
//===----------------------------------------------------------------------===//
#include "nvidia/WgmmaAttentionKernel.h"
#include "conversions/TargetLimits.h"
#include "nvidia/FragmentSoftmax.h"
#include "nvidia/GenerationTile.h"
#include "nvidia/SplitParts.h"
#include "nvidia/TmaPipeline.h"
#include "nvidia/WgmmaEmitter.h"
#include "nvidia/ZeroRows.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionOp;

namespace sieve::passes {

namespace {

constexpr int32_t kProducerRegisters = 40;
constexpr int32_t kConsumerRegisters = 232;

/// The kernel's view of the problem, fixed at compile time.
struct Geometry : ProblemGeometry {
  int64_t queryTile, keyTile, stages, consumers, threads, subTiles, split;

  int64_t tileBytes(int64_t rows) const { return rows * headDim * 2; }
  // Shared memory, from a 1024-byte aligned base: Q, K stages, V stages.
  int64_t queryOffset() const { return 0; }
  int64_t keyOffset(int64_t stage) const {
    return tileBytes(queryTile) + stage * tileBytes(keyTile);
  }
  int64_t valueOffset(int64_t stage) const {
    return tileBytes(queryTile) + (stages + stage) * tileBytes(keyTile);
  }
  int64_t usedBytes() const { return tileBytes(queryTile) + 2 * stages * tileBytes(keyTile); }
};

Geometry geometryOf(BlockSparseAttentionOp op, const WgmmaKernelOptions &o) {
  Geometry g;
  static_cast<ProblemGeometry &>(g) = problemGeometryOf(op);
  g.queryTile = o.queryTile;
  g.keyTile = o.keyTile;
  g.stages = o.stages;
  g.consumers = g.queryTile / 64;
  g.threads = kWarpGroup * (1 + g.consumers);
  g.subTiles = g.keyTile > 0 ? g.blockK / g.keyTile : 0;
  g.split = g.queryTile > 0 ? g.blockQ / g.queryTile : 0;
  return g;
}

/// Generation: zeroes the rows of the V tile at byte `tileOffset` of the
/// layout whose keys (`firstKey` on) are at or past `live`. TMA loads whole
/// boxes of the cache, whose rows past seq_k_live may hold anything (NaN):
/// their scores are masked, so their probabilities are 0, but 0 x NaN is
/// NaN in P·V. K needs nothing (its NaN scores are replaced by the mask's
/// selects). Each consumer group zeroes the rows itself (the groups write
/// the same zeros, so neither waits for the other), fences its writes for
/// wgmma's async-proxy reads and meets at its own named barrier. Only the
/// last live tile of a row has such rows.
void zeroDeadValueRows(WgmmaEmitter &e, const SwizzledShared &sh, Value tileOffset, Value firstKey,
                       Value live, int64_t keyTile, Value groupThread, Value groupBarrier) {
  ImplicitLocOpBuilder &b = e.b;
  Value liveRows = arith::SelectOp::create(b, e.ult(firstKey, live),
                                           arith::SubIOp::create(b, live, firstKey), e.idx(0));
  e.ifThen(e.ult(liveRows, e.idx(keyTile)), [&] {
    const SlabLayout slab = e.slab;
    const int64_t slabRows = slab.count(e.headDim) * keyTile, chunks = slab.chunks();
    auto type =
        MemRefType::get({slabRows, slab.columns()}, e.elt, MemRefLayoutAttrInterface(),
                        gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
    Value tile = memref::ViewOp::create(b, type, sh.smem, e.add(sh.pad, tileOffset), ValueRange{});
    Value zeros = arith::ConstantOp::create(
        b, DenseElementsAttr::get(VectorType::get({8}, e.elt), b.getZeroAttr(e.elt)));
    // A row's chunks stay in its own slab row under every swizzle, so a
    // whole slab row is zeroed without reading the pattern.
    scf::ForOp::create(b, groupThread, e.idx(slabRows * chunks), e.idx(kWarpGroup), ValueRange{},
                       [&](OpBuilder &nb, Location loc, Value i, ValueRange) {
                         OpBuilder::InsertionGuard guard(b);
                         b.restoreInsertionPoint(nb.saveInsertionPoint());
                         Value slabRow = e.div(i, chunks);
                         Value dead = arith::CmpIOp::create(b, arith::CmpIPredicate::uge,
                                                            e.rem(slabRow, keyTile), liveRows);
                         e.ifThen(dead, [&] {
                           auto store = vector::StoreOp::create(
                               b, zeros, tile, ValueRange{slabRow, e.mul(e.rem(i, chunks), 8)});
                           store.setAlignment(16u); // a whole 16-byte chunk
                         });
                         scf::YieldOp::create(b);
                       });
    e.asyncProxyFence();
    Value id = arith::IndexCastOp::create(b, b.getI32Type(), groupBarrier).getResult();
    NVVM::BarrierOp::create(b, TypeRange{}, id,
                            arith::ConstantOp::create(b, b.getI32IntegerAttr(kWarpGroup)),
                            NVVM::BarrierReductionAttr(), Value());
  });
}

} // namespace

std::string wgmmaKernelUnsupportedReason(BlockSparseAttentionOp op, const WgmmaKernelOptions &o,
                                         const runtime::TargetInfo &target) {
  Geometry g = geometryOf(op, o);
  if (!target.hopperKernels())
    return "needs wgmma, TMA and setmaxnreg (sm_90a), not " + target.chip;
  if (!g.elt.isF16() && !g.elt.isBF16())
    return "needs f16 or bf16 elements";
  // The online softmax keeps the running maximum of the raw dot products
  // and exponentiates scale * (s - max): with a negative scale that is the
  // minimum's side, and exp2 overflows for spread scores.
  if (g.scaleLog2 <= 0)
    return "needs a positive scale (the online softmax subtracts the raw scores' maximum)";
  // k16 steps over the head dim, which is also P·V's wgmma N (a multiple
  // of 8 up to 256) and its accumulator's columns (D/2 registers a thread).
  if (g.headDim % 16 != 0 || g.headDim <= 0 || g.headDim > 256)
    return "needs a head dim that is a multiple of 16, at most 256 (k16 steps, wgmma N)";
  if (o.queryTile != 64 && o.queryTile != 128)
    return "needs a query tile of 64 or 128 (64 rows per consumer warp group)";
  if (g.blockQ % o.queryTile != 0)
    return "needs block_q a multiple of the query tile (" + std::to_string(o.queryTile) + ")";
  if (o.keyTile != 64 && o.keyTile != 128)
    return "needs a key tile of 64 or 128";
  if (g.blockK % o.keyTile != 0)
    return "needs block_k a multiple of the key tile (" + std::to_string(o.keyTile) + ")";
  if (o.stages < 2 || o.stages > 4)
    return "needs 2 to 4 stages";
  if (o.overlap && o.stages < 3)
    return "needs 3 or more stages to overlap the softmax with the products (a tile's V is read "
           "a step after its K)";
  if (o.overlap && op.getThresholds())
    return "does not overlap the softmax with the products in threshold mode (yet)";
  if (o.overlap && op.isGeneration())
    return "does not overlap the softmax with the products in generation kernels (yet: their "
           "last live tile zeroes V rows first)";
  for (Value v : {op.getQuery(), op.getKey(), op.getValue(), op.getOut()})
    if (!hasUnitInnerStride(cast<MemRefType>(v.getType())))
      return "needs a static unit stride on the head dimension (TMA boxes)";
  return sharedMemoryUnsupportedReason(target, g.usedBytes() + kAtomBytes);
}

WgmmaKernel buildWgmmaAttentionKernel(BlockSparseAttentionOp op, gpu::GPUModuleOp gpuModule,
                                      const RowTableGlobals &tables,
                                      const WgmmaKernelOptions &options) {
  Geometry g = geometryOf(op, options); // (generation: the step's values, set below)
  const int64_t D = g.headDim, KT = g.keyTile, QT = g.queryTile, S = g.stages;
  MLIRContext *ctx = op.getContext();
  const SlabLayout layout = SlabLayout::of(D);
  auto queryMap = swizzledTensorMapType(ctx, g.elt, QT, layout);
  auto keyMap = swizzledTensorMapType(ctx, g.elt, KT, layout);

  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());
  // The descriptors arrive as plain pointers (a 128-byte CUtensorMap in
  // global memory): convert-gpu-to-nvvm cannot convert kernel arguments of
  // nvgpu's descriptor type, so the kernel casts them on entry.
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  SmallVector<Type> argTypes = kernelOperandTypes(op);
  argTypes.append({ptrType, ptrType, ptrType});
  if (tables.atLaunch)
    argTypes.append(rowTableArgumentTypes(ctx));
  if (op.hasSplitParts()) // split-KV parts write partial results there
    argTypes.push_back(workspaceType(ctx));
  auto func =
      gpu::GPUFuncOp::create(gb, op.getLoc(), "sieve_attention", gb.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), gb.getUnitAttr());
  func.setKnownBlockSizeAttr(gb.getDenseI32ArrayAttr({static_cast<int32_t>(g.threads), 1, 1}));
  // setmaxnreg needs the launch-time register budget to be what ptxas
  // assumed: at most 65536 / threads per thread, one block per SM.
  func->setAttr("nvvm.maxntid", gb.getDenseI32ArrayAttr({static_cast<int32_t>(g.threads), 1, 1}));
  func->setAttr("nvvm.minctasm", gb.getI32IntegerAttr(1));

  Block &entry = func.getBody().front();
  Value out = entry.getArgument(3);
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  auto descriptor = [&](unsigned arg, Type type) -> Value {
    return UnrealizedConversionCastOp::create(b, type, entry.getArgument(arg)).getResult(0);
  };
  // The descriptors follow the op's operands (q, k, v, out and the lse;
  // a generation op's step).
  const unsigned firstDescriptor = kernelOperandCount(op);
  Value qDesc = descriptor(firstDescriptor, queryMap),
        kDesc = descriptor(firstDescriptor + 1, keyMap),
        vDesc = descriptor(firstDescriptor + 2, keyMap);
  WgmmaEmitter e(b, g.elt, D);
  e.packed = g.packed; // GQA packing: q, out and lse rows map to (head, query)
  SwizzledShared sh = swizzledShared(e);
  Value base = sh.base;
  // Q is the resident tile; each stage's K and V complete on full barriers
  // of their own, so S = Q·Kᵀ starts before V has landed.
  TmaPipeline pipe(e, sh, S, /*fullPerStage=*/2);
  constexpr int64_t kKeyFull = 0, kValueFull = 1;

  // The generic kernel's tables follow the three descriptors.
  std::array<Value, 4> tableValues = rowTableValues(b, tables, entry, firstDescriptor + 3);
  Value heads = tableValues[0], qBlocks = tableValues[1], spans = tableValues[2],
        keyBlocks = tableValues[3];

  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value warpGroup = e.div(tid, kWarpGroup);
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value r, bi, lse, h, kvh, qStart, rowBegin, rowEnd;
  Value generationSlot; // a split generation step's part (GenerationTile::slot)
  PartTile partTile;    // the rows a split part's block counts itself for
  const bool generation = op.isGeneration();
  if (!generation) {
    r = e.div(blockX, g.split);
    if (op.hasSplitParts())
      partTile = splitRowTile(e, blockX, g.split, QT);
    bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    // 16-byte stores: the kernel's tensors have a unit inner stride and
    // 16-byte alignment (checked at launch).
    lse = lseArgument(op, entry);
    emitZeroRowBlocks(b, g, rowLaunchOf(op, g.split, tables.atLaunch), out, heads, qBlocks, blockX,
                      bi, tid, g.threads, 8, lse);
    h = loadIndexEntry(b, heads, r);
    kvh = e.div(h, g.group);
    qStart =
        e.add(e.mul(loadIndexEntry(b, qBlocks, r), g.blockQ), e.mul(e.rem(blockX, g.split), QT));
    std::tie(rowBegin, rowEnd) = loadRowSpan(b, spans, r);
  } else {
    // Generation: the step's tile and row, only the row's live key blocks
    // (GenerationTile.h); q and out rows are positions - q_pos.
    bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
    GenerationTile step =
        emitGenerationTile(e, op, entry, blockX, g.split, QT, spans, keyBlocks, tables);
    r = step.row;
    h = step.head;
    kvh = e.div(h, g.group);
    qStart = step.firstRow;
    rowBegin = step.rowBegin;
    rowEnd = step.liveEnd;
    generationSlot = step.slot;
    if (step.slot)
      partTile = generationPartTile(e, op, step.firstRow, g.split, QT);
    g.liveKeys = step.liveKeys;
    g.causalShift = step.qPos;
  }
  Value numTiles = e.mul(arith::SubIOp::create(b, rowEnd, rowBegin), g.subTiles);
  auto tileStart = [&](Value t) {
    Value kb = loadIndexEntry(b, keyBlocks, e.add(rowBegin, e.div(t, g.subTiles)));
    return e.add(e.mul(kb, g.blockK), e.mul(e.rem(t, g.subTiles), KT));
  };
  // Calibration (the stats operand) adds each tile's probability mass.
  Value stats = statsArgument(op, entry);
  // GQA packing: the tile's rows come from g query heads, which one TMA
  // box cannot reach, so every thread copies Q in by cp.async before the
  // roles split, and waits and fences it for wgmma's (async proxy) reads;
  // the barrier that ends pipe.init publishes it to the block. A
  // generation tile's rows start where the step puts them, below row 0 of
  // q when the tile begins before q_pos: a TMA box could take them too
  // (its coordinates are signed), but cp.async's zero-fill below 0 is the
  // one the packed path already has.
  const bool queryByThreads = g.packed || generation;
  if (queryByThreads) {
    e.copyQueryRowsAsync(entry.getArgument(0), bi, h, qStart, g.seqQ,
                         sh.slabs(e, g.queryOffset(), QT, D, e.slab), QT, tid, g.threads);
    NVVM::CpAsyncCommitGroupOp::create(b);
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    e.asyncProxyFence();
  }
  // A stage is released by every consumer thread.
  pipe.init(tid, /*fullArrivals=*/1, /*emptyArrivals=*/g.consumers * kWarpGroup);

  auto isProducer = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, warpGroup, e.idx(0));
  auto roles = scf::IfOp::create(b, TypeRange{}, isProducer, /*withElseRegion=*/true);

  // ---- Producer warp group: one thread issues every TMA load. ----
  b.setInsertionPointToStart(&roles.getThenRegion().front());
  NVVM::SetMaxRegisterOp::create(
      b, b.getI32IntegerAttr(kProducerRegisters),
      NVVM::SetMaxRegisterActionAttr::get(ctx, NVVM::SetMaxRegisterAction::decrease));
  e.ifThen(pipe.leader, [&] {
    if (!queryByThreads) {
      pipe.commitResident(g.tileBytes(QT));
      pipe.copyResident(qDesc, qStart, h, bi, QT, g.queryOffset());
    }
    if (!stats) {
      pipe.producerLoop(numTiles, [&](const PipelineState &state) {
        Value first = tileStart(state.step);
        pipe.forStage(state, [&](int64_t s) {
          pipe.commit(state, kKeyFull, g.tileBytes(KT));
          pipe.copy(state, kKeyFull, kDesc, first, kvh, bi, KT, g.keyOffset(s));
          pipe.commit(state, kValueFull, g.tileBytes(KT));
          pipe.copy(state, kValueFull, vDesc, first, kvh, bi, KT, g.valueOffset(s));
        });
      });
    } else {
      // Calibration's second pass reads the row's key tiles again, through
      // the same ring (its steps follow the first pass's), without V.
      pipe.producerLoop(e.mul(numTiles, 2), [&](const PipelineState &state) {
        Value secondPass =
            arith::CmpIOp::create(b, arith::CmpIPredicate::uge, state.step, numTiles);
        Value tile = arith::SelectOp::create(
            b, secondPass, arith::SubIOp::create(b, state.step, numTiles), state.step);
        Value first = tileStart(tile);
        pipe.forStage(state, [&](int64_t s) {
          pipe.commit(state, kKeyFull, g.tileBytes(KT));
          pipe.copy(state, kKeyFull, kDesc, first, kvh, bi, KT, g.keyOffset(s));
          Value firstPass = arith::XOrIOp::create(
              b, secondPass, arith::ConstantOp::create(b, b.getBoolAttr(true)));
          e.ifThen(firstPass, [&] {
            pipe.commit(state, kValueFull, g.tileBytes(KT));
            pipe.copy(state, kValueFull, vDesc, first, kvh, bi, KT, g.valueOffset(s));
          });
        });
      });
    }
  });

  // ---- Consumer warp groups: 64 query rows each. ----
  b.setInsertionPointToStart(&roles.getElseRegion().front());
  NVVM::SetMaxRegisterOp::create(
      b, b.getI32IntegerAttr(kConsumerRegisters),
      NVVM::SetMaxRegisterActionAttr::get(ctx, NVVM::SetMaxRegisterAction::increase));
  const GroupCoords gc = groupCoords(e, tid);
  Value consumer = gc.consumer, ctid = gc.groupThread, lane = gc.lane, laneRow = gc.laneRow,
        laneCol = gc.laneCol, groupRow0 = gc.groupRow0, warpRow0 = gc.warpRow0;
  Value warpFirstQuery = e.add(qStart, warpRow0);
  Value queryRow[2] = {e.add(warpFirstQuery, laneRow), e.add(e.add(warpFirstQuery, laneRow), 8)};
  // The element mask (GQA packing: per packed row's query and segment).
  RowScoreMask rowMask(e, g, tables, rowBegin, loadIndexEntry(b, qBlocks, r), warpFirstQuery,
                       queryRow);

  if (!queryByThreads)
    pipe.waitResident();
  // Threshold mode: the head's threshold, read at run time.
  Value thresholds = thresholdsArgument(op, entry);
  Value thresholdLog2 = thresholds ? headThresholdLog2(b, thresholds, h) : Value();
  // The warp group's own named barrier (0 is the whole block's).
  Value groupBarrier = e.add(consumer, 1);

  SmallVector<Value> inits(D / 2, e.f32(0.0));
  const double negInf = -std::numeric_limits<double>::infinity();
  inits.append({e.f32(negInf), e.f32(negInf), e.f32(0.0), e.f32(0.0)}); // m0 m1 l0 l1
  // The masked scores of the row's key tile t, the ring's step `pipeStep`,
  // whose K tile lies at `keyAddress`.
  auto maskedScores = [&](const PipelineState &pipeStep, Value keyAddress, Value t) {
    // S = Q·Kᵀ over D/16 k-steps: A = this group's 64 Q rows, B = the K
    // tile's KT rows, both K-major (D contiguous within a slab row).
    pipe.consumerWait(pipeStep, kKeyFull);
    e.fence();
    Value sAcc = e.productKMajor(
        e.add(base, e.add(e.mul(groupRow0, e.slab.rowBytes), g.queryOffset())), QT, keyAddress, KT);
    e.commit();
    e.waitGroups(0);
    Fragment s = e.fragmentOf(sAcc, KT);

    rowMask.apply(s, tileStart(t), KT, laneCol, t);
    return s;
  };

  // Intra-warp-group overlap (options.overlap). Step t issues S(t) =
  // Q·K(t)ᵀ and O += P(t-1)·V(t-1) as two wgmma groups, waits for the first
  // only, and runs tile t's mask and softmax while the tensor cores finish
  // the second; then it waits for P·V, hands stage t-1 back and rescales O
  // by tile t's correction. P(t) travels to step t+1 in registers (packed
  // pairs); tile 0 runs before the loop and the last tile's P·V after it.
  // Stage t-1's V is read while stage t's K is, hence 3 or more stages, so
  // that the producer can fill stage t+1 meanwhile.
  auto overlappedLoop = [&](ArrayRef<Value> accAndStats) -> SmallVector<Value> {
    const int64_t kSteps = KT / 16;
    Value zero32 = arith::ConstantOp::create(b, b.getI32IntegerAttr(0)).getResult();
    SmallVector<Value> carried(accAndStats);
    carried.append(kSteps * 4, zero32); // P of the previous tile: none yet
    auto operandsOf = [&](ValueRange flat) {
      SmallVector<SmallVector<Value, 4>> regs(kSteps);
      for (int64_t kk = 0; kk < kSteps; ++kk)
        regs[kk].assign(flat.begin() + 4 * kk, flat.begin() + 4 * kk + 4);
      return regs;
    };
    // Issues O += P·V for the tile at `st` once its V has landed. The fence
    // follows the wait: one before the barrier's wait loop made ptxas
    // serialize the wgmmas (C7519).
    auto accumulateTile = [&](const PipelineState &st, ValueRange acc, ValueRange p) {
      pipe.consumerWait(st, kValueFull);
      e.fence();
      Value valueAddress = e.add(base, e.add(e.mul(st.stage, g.tileBytes(KT)), g.valueOffset(0)));
      return e.accumulateRegisterA(SmallVector<Value>(acc), operandsOf(p), valueAddress, KT);
    };
    // Issues S(t) = Q·K(t)ᵀ for the tile at step t once its K has landed.
    auto scoresOf = [&](Value t) {
      PipelineState st = pipe.consumerState(t);
      Value keyAddress = e.add(base, e.add(e.mul(st.stage, g.tileBytes(KT)), g.keyOffset(0)));
      pipe.consumerWait(st, kKeyFull);
      e.fence();
      return e.productKMajor(e.add(base, e.add(e.mul(groupRow0, e.slab.rowBytes), g.queryOffset())),
                             QT, keyAddress, KT, /*undefinedStart=*/true);
    };
    // Tile t's softmax: m and l (carried[D/2..D/2+4)) updated, P packed
    // into `out` after them; returns the accumulator's correction.
    auto softmaxOf = [&](Value sAcc, Value t, ValueRange stats, SmallVector<Value> &out) {
      Fragment s = e.fragmentOf(sAcc, KT);
      rowMask.apply(s, tileStart(t), KT, laneCol, t);
      Value m[2] = {stats[0], stats[1]}, l[2] = {stats[2], stats[3]};
      std::array<Value, 2> corrections = softmaxScores(e, s, m, l, g.scaleLog2);
      out.append({m[0], m[1], l[0], l[1]});
      for (auto &regs : e.registerOperands(s))
        out.append(regs.begin(), regs.end());
      return corrections;
    };
    // Tile 0 alone (no P·V before it), so that the loop's steps all issue
    // both groups: a wgmma issued on one path of a branch only made ptxas
    // fence the join (C7519).
    Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, numTiles, e.idx(0));
    auto first = scf::IfOp::create(b, TypeRange(ValueRange(carried)), any,
                                   /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&first.getThenRegion().front());
      Value sAcc = scoresOf(e.idx(0));
      e.commit();
      e.waitGroups(0);
      SmallVector<Value> results(ArrayRef<Value>(carried).take_front(D / 2)); // O is still 0
      softmaxOf(sAcc, e.idx(0), ValueRange(carried).slice(D / 2, 4), results);
      scf::YieldOp::create(b, results);
      b.setInsertionPointToStart(&first.getElseRegion().front());
      scf::YieldOp::create(b, carried);
    }
    auto loop = scf::ForOp::create(b, e.idx(1), numTiles, e.idx(1), first.getResults());
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value t = loop.getInductionVar();
      ValueRange state = loop.getRegionIterArgs();
      Value sAcc = scoresOf(t);
      e.commit();
      PipelineState prev = pipe.consumerState(arith::SubIOp::create(b, t, e.idx(1)));
      SmallVector<Value> acc =
          accumulateTile(prev, state.take_front(D / 2), state.drop_front(D / 2 + 4));
      e.commit();
      e.waitGroups(1); // S(t) has landed; P(t-1)·V(t-1) may still run
      SmallVector<Value> rest;
      std::array<Value, 2> corrections = softmaxOf(sAcc, t, state.slice(D / 2, 4), rest);
      e.waitGroups(0);                               // O now holds P(t-1)·V(t-1)
      emitKeepAlive(b, state.drop_front(D / 2 + 4)); // P(t-1)'s registers, read until now
      pipe.consumerRelease(prev);
      rescaleRows(e, acc, corrections);
      acc.append(rest);
      scf::YieldOp::create(b, acc);
    }
    // The last tile's P·V, and its stage back to the producer.
    ValueRange out = loop.getResults();
    ValueRange accOut = out.take_front(D / 2), pOut = out.drop_front(D / 2 + 4);
    auto last = scf::IfOp::create(b, TypeRange(accOut), any, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&last.getThenRegion().front());
      PipelineState st = pipe.consumerState(arith::SubIOp::create(b, numTiles, e.idx(1)));
      SmallVector<Value> acc = accumulateTile(st, accOut, pOut);
      e.commit();
      e.waitGroups(0);
      pipe.consumerRelease(st);
      scf::YieldOp::create(b, acc);
      b.setInsertionPointToStart(&last.getElseRegion().front());
      scf::YieldOp::create(b, SmallVector<Value>(accOut));
    }
    SmallVector<Value> results(last.getResults());
    results.append(out.begin() + D / 2, out.begin() + D / 2 + 4);
    return results;
  };

  // The loop's results: the accumulator (D/2), then m0 m1 l0 l1.
  SmallVector<Value> finals;
  if (options.overlap) {
    finals = overlappedLoop(inits);
  } else {
    auto loop = scf::ForOp::create(b, e.idx(0), numTiles, e.idx(1), inits);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value t = loop.getInductionVar();
      ValueRange state = loop.getRegionIterArgs();
      PipelineState pipeStep = pipe.consumerState(t);
      Value stage = pipeStep.stage;
      Value keyAddress = e.add(base, e.add(e.mul(stage, g.tileBytes(KT)), g.keyOffset(0)));
      Value valueAddress = e.add(base, e.add(e.mul(stage, g.tileBytes(KT)), g.valueOffset(0)));

      Fragment s = maskedScores(pipeStep, keyAddress, t);

      auto accumulate = [&]() -> SmallVector<Value> {
        SmallVector<Value> acc(state.begin(), state.begin() + D / 2);
        Value m[2] = {state[D / 2], state[D / 2 + 1]};
        Value l[2] = {state[D / 2 + 2], state[D / 2 + 3]};
        softmaxStep(e, s, acc, m, l, g.scaleLog2);

        // O += P·V over KT/16 k-steps: B = V rows [16kk, 16kk+16), MN-major
        // (D contiguous within a slab row): 8-key groups one swizzle period
        // apart, slabs KT rows apart.
        // All of P is packed before the fence: a register written between
        // wgmmas of one group makes ptxas serialize them (warpgroup.arrive).
        auto pRegs = e.registerOperands(s);
        pipe.consumerWait(pipeStep, kValueFull);
        if (generation)
          zeroDeadValueRows(e, sh, e.add(e.mul(stage, g.tileBytes(KT)), g.valueOffset(0)),
                            tileStart(t), g.liveKeys, KT, ctid, groupBarrier);
        e.fence();
        acc = e.accumulateRegisterA(acc, pRegs, valueAddress, KT);
        e.commit();
        e.waitGroups(0);
        SmallVector<Value> results(acc);
        results.append({m[0], m[1], l[0], l[1]});
        return results;
      };
      SmallVector<Value> results;
      if (!thresholdLog2) {
        results = accumulate();
      } else {
        // Threshold mode: P·V is one warp-group instruction, so the group
        // votes (bar.red.or over its 128 threads) and skips the exponentials
        // and P·V together when none of its 64 rows keeps a score of the
        // tile. A skipping group still waits for V: the stage may be handed
        // back to the producer only once its copy has landed.
        dropScoresUnderThreshold(e, s, thresholdLog2, g.scaleLog2);
        Value anyKept = e.groupAny(laneKeepsAnyScore(e, s), groupBarrier, kWarpGroup);
        results = e.ifElseKeep(anyKept, state, accumulate,
                               [&] { pipe.consumerWait(pipeStep, kValueFull); });
      }
      // This thread is done with the stage's K and V.
      pipe.consumerRelease(pipeStep);
      scf::YieldOp::create(b, results);
    }
    finals.assign(loop.getResults().begin(), loop.getResults().end());
  }

  if (stats) {
    // Calibration: a second pass over the row's key tiles, now that each
    // row's max and sum are final, adds every tile's probability mass to
    // stats[h, query block, key block], one atomic per warp and tile. It
    // runs before the output is staged through the group's Q rows.
    Value m[2] = {finals[D / 2], finals[D / 2 + 1]};
    Value l[2] = {finals[D / 2 + 2], finals[D / 2 + 3]};
    RowWeights w = calibrationWeights(e, m, l, queryRow, g.seqQ, g.scaleLog2);
    Value qb = loadIndexEntry(b, qBlocks, r);
    auto second = scf::ForOp::create(b, e.idx(0), numTiles, e.idx(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(second.getBody());
    Value t = second.getInductionVar();
    PipelineState pipeStep = pipe.consumerState(e.add(numTiles, t));
    Value keyAddress = e.add(base, e.add(e.mul(pipeStep.stage, g.tileBytes(KT)), g.keyOffset(0)));
    Fragment s = maskedScores(pipeStep, keyAddress, t);
    pipe.consumerRelease(pipeStep); // S is in registers: the stage is free
    Value mass = e.warpSum(laneTileMass(e, s, w, g.scaleLog2));
    Value kb = loadIndexEntry(b, keyBlocks, e.add(rowBegin, e.div(t, g.subTiles)));
    e.ifThen(arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, e.idx(0)), [&] {
      memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addf, mass, stats,
                                  ValueRange{h, qb, kb});
    });
  }

  auto storeWholeRow = [&] {
    Value m[2] = {finals[D / 2], finals[D / 2 + 1]};
    Value l[2] = {finals[D / 2 + 2], finals[D / 2 + 3]};
    finishWholeRows(
        e, lse, bi, h, queryRow, lane, m, l, g.scaleLog2, g.seqQ, [&](const Value *inv) {
          // Stage the group's rows through its own rows of the Q tile (its
          // wgmmas have completed), then write 16-byte chunks.
          e.storeGroupRows(SmallVector<Value>(ArrayRef<Value>(finals).take_front(D / 2)), inv,
                           sh.slabs(e, g.queryOffset(), QT, D, e.slab), QT, groupRow0, warpRow0,
                           laneRow, laneCol, ctid, e.add(consumer, 1), out, bi, h, qStart, g.seqQ);
        });
  };
  // A split-KV part leaves its partial result in the workspace (and the
  // group's last part merges them); a whole row is normalized and stored
  // through shared memory.
  auto storePartial = [&](Value slot) {
    SmallVector<Value> acc(ArrayRef<Value>(finals).take_front(D / 2));
    Value m[2] = {finals[D / 2], finals[D / 2 + 1]};
    Value l[2] = {finals[D / 2 + 2], finals[D / 2 + 3]};
    // The workspace is the kernel's last argument (no attributions follow).
    // A generation part's workspace rows are the call's queries already.
    Value blockStart = generation ? e.idx(0) : e.mul(loadIndexEntry(b, qBlocks, r), g.blockQ);
    Value workspace = entry.getArgument(func.getNumArguments() - 1);
    emitFragmentPartialStore(e, g, WorkspaceLayout::of(op), workspace, slot, bi, blockStart,
                             queryRow, laneCol, acc, m, l);
    // The consumers store and merge; they meet at the barrier after their
    // groups' own.
    emitPartArrival(e, op, tables, out, workspace, slot, bi, partTile,
                    {e.add(e.mul(consumer, kWarpGroup), ctid), g.consumers * kWarpGroup,
                     /*barrier=*/g.consumers + 1});
  };
  if (generationSlot)
    storePartial(generationSlot);
  else
    emitSlotBranch(b, tables, r, storePartial, storeWholeRow);

  b.setInsertionPointAfter(roles);
  gpu::ReturnOp::create(b);

  std::string config =
      "wgmma block_q=" + std::to_string(g.blockQ) + " query_tile=" + std::to_string(QT) +
      " block_k=" + std::to_string(g.blockK) + " key_tile=" + std::to_string(KT) +
      " stages=" + std::to_string(S) + " warpgroups=1+" + std::to_string(g.consumers) +
      " shared=" + std::to_string(g.usedBytes() + kAtomBytes) + (options.overlap ? " overlap" : "");
  if (generation)
    config += " generation";
  return {func, g.threads, g.split, g.usedBytes() + kAtomBytes, config, queryMap, keyMap, keyMap};
}

} // namespace sieve::passes
