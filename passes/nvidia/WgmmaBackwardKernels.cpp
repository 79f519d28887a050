//===- WgmmaBackwardKernels.cpp - the Hopper backward kernels -------------===//
//
// With P = exp2(scale log2e q.k - lse log2e) recomputed from the forward's
// log-sum-exp (the rows kernel leaves lse log2e, +inf where P must be 0):
//   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - delta),  dQ = scale dS K,
//   dK = scale dSᵀ Q.
// The key-value kernel computes the transposed products (Sᵀ = K Qᵀ, dPᵀ =
// V dOᵀ) so its keys are the accumulator rows and Pᵀ, dSᵀ are the next
// wgmma's register A operand, as P is in the forward's O += P V. Each step
// commits Sᵀ and dPᵀ as two groups and waits for the first alone, so the
// exponentials of Pᵀ overlap the dPᵀ product.
//
// Masks are applied to probabilities (set to 0), never to scores, so a
// negative scale needs nothing special. Threshold mode's test is on the
// scores (dropScoresUnderThreshold picks the dropped value by the scale's
// sign).
//
//===----------------------------------------------------------------------===//
#include "nvidia/WgmmaBackwardKernels.h"
#include "conversions/LoweringUtils.h"
#include "conversions/TargetLimits.h"
#include "nvidia/BackwardRowsKernel.h"
#include "nvidia/TmaPipeline.h"
#include "nvidia/WgmmaEmitter.h"
#include "nvidia/ZeroRows.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionBackwardOp;

namespace sieve::passes {

namespace {

constexpr int64_t kWarp = 32;

/// setmaxnreg budgets. With two consumer warp groups the block launches
/// with 168 registers a thread (65536 / 384, rounded down to 8), and the
/// consumers take what the producer gives back: 128 (168 - producer) =
/// 256 (consumer - 168). A key-value consumer holds its columns of dK and
/// dV (D/2 f32 each a thread when it owns all D) plus the step's two score
/// tiles (step/2 each); a query consumer dQ (D/2) plus its two. The
/// producer's need grows with the TMA boxes it issues per tile (each
/// stage's box addresses stay live across its loop): at 24 registers it
/// spilled from 3 slabs a tile on (ptxas -v at D = 48, 80, 96), so it takes
/// 16 more per 3 slabs: 24 for 1-2 slabs (D = 64, 128), 40 for 3-5, 56 for
/// 6-8, 72 for 9-11, 88 for 12-14 (the key-value kernel at D = 224).
struct RegisterBudget {
  int32_t producer, consumer;
};
RegisterBudget registerBudgetOf(const WgmmaEmitter &e) {
  const int64_t slabs = e.slab.count(e.headDim);
  const int32_t producer = slabs <= 2 ? 24 : static_cast<int32_t>(24 + 16 * (slabs / 3));
  return {producer, 168 + (168 - producer) / 2};
}

/// The most head-dim columns of dK and dV one key-value consumer warp group
/// holds: D f32 registers a thread, beside 64 of scores, fit at 128.
constexpr int64_t kMaxKeyValueColumns = 128;

/// Tiles, stages and shared-memory layout of both matrix kernels.
struct Geometry {
  BackwardProblem p;
  // key-value kernel: keys per block (64 per key group), blocks per key
  // block, consumer warp groups per key group (each owning D / columnGroups
  // of dK's and dV's columns), queries per step, stages, and the slabs
  // its tiles are stored in (whole slabs per column window)
  int64_t kvKeys, kvSplit, kvColumnGroups, kvStep, kvStages;
  SlabLayout kvSlab;
  // query kernel: queries per block, blocks per query block, keys per step
  int64_t qRows, qSplit, qStep, qStages;

  int64_t tileBytes(int64_t rows) const { return rows * p.headDim * 2; }
  // key-value: K, V, then per stage Q and dO tiles, then per stage the
  // delta and lse rows of the step's queries.
  int64_t kvKey() const { return 0; }
  int64_t kvValue() const { return tileBytes(kvKeys); }
  int64_t kvQuery(int64_t s) const { return 2 * tileBytes(kvKeys) + s * tileBytes(kvStep); }
  int64_t kvDout(int64_t s) const {
    return 2 * tileBytes(kvKeys) + (kvStages + s) * tileBytes(kvStep);
  }
  int64_t kvDelta() const { return kvDout(kvStages); }
  int64_t kvLse() const { return kvDelta() + kvStages * kvStep * 4; }
  int64_t kvSharedBytes() const { return kvLse() + kvStages * kvStep * 4 + kAtomBytes; }
  // query: Q, dO, then per stage K and V tiles.
  int64_t qQuery() const { return 0; }
  int64_t qDout() const { return tileBytes(qRows); }
  int64_t qKey(int64_t s) const { return 2 * tileBytes(qRows) + s * tileBytes(qStep); }
  int64_t qValue(int64_t s) const {
    return 2 * tileBytes(qRows) + (qStages + s) * tileBytes(qStep);
  }
  int64_t qSharedBytes() const { return qValue(qStages) + kAtomBytes; }
};

Geometry geometryOf(BlockSparseAttentionBackwardOp op) {
  Geometry g;
  g.p = backwardProblemOf(op);
  const int64_t D = g.p.headDim;
  // Two consumer warp groups share every streamed tile where the blocks
  // allow it: two key groups of 64 keys up to D = 128; above, one warp
  // group cannot hold dK and dV (D f32 registers a thread: 256 at D =
  // 256), so two warp groups share 64 keys, each owning half the columns
  // (as FlashAttention-3's hdim-256 backward splits its dK/dV product's N
  // over two warp groups). Both compute the step's Sᵀ and dPᵀ in full
  // (every column of dK and dV needs all of Pᵀ and dSᵀ), which costs 1.5x
  // the key-value kernel's tensor work instead of exchanging Pᵀ and dSᵀ
  // through shared memory. A half-row window is whole slabs of the widest
  // swizzle dividing it: 128-byte at D = 256, 64-byte at 192.
  g.kvColumnGroups = D > kMaxKeyValueColumns ? 2 : 1;
  g.kvKeys = g.kvColumnGroups == 1 && g.p.blockK % 128 == 0 ? 128 : 64;
  g.kvSplit = g.p.blockK / g.kvKeys;
  g.kvSlab = SlabLayout::of(D / g.kvColumnGroups);
  // 64 queries a step (the delta/lse copy warp moves 2 floats of each a
  // lane).
  g.kvStep = 64;
  g.kvStages = 2;
  // The query kernel's scores take keyStep/2 registers twice beside dQ's
  // D/2: 128-key steps fit up to D = 64, 64-key ones up to 192, 32 above.
  // Two 128-query tiles (Q and dO) and two stages of K and V fit 227 KiB
  // at every head dim with these steps (192 KiB at D = 192 and 256).
  g.qRows = g.p.blockQ % 128 == 0 ? 128 : 64;
  g.qSplit = g.p.blockQ / g.qRows;
  g.qStep = D <= 64 && g.p.blockK % 128 == 0 ? 128 : D <= 192 ? 64 : 32;
  g.qStages = 2;
  return g;
}

/// An empty warp-specialized kernel taking the op's operands, the scratch
/// and one TMA descriptor pointer per entry of `maps`, with the attributes
/// setmaxnreg relies on: the launch-time register budget is what ptxas
/// assumed (at most 65536 / threads, one block per SM).
gpu::GPUFuncOp createTmaKernel(gpu::GPUModuleOp gpuModule, BlockSparseAttentionBackwardOp op,
                               StringRef name, int64_t threads,
                               ArrayRef<std::pair<unsigned, int64_t>> maps) {
  OpBuilder gb = OpBuilder::atBlockEnd(gpuModule.getBody());
  auto ptr = LLVM::LLVMPointerType::get(op.getContext());
  gpu::GPUFuncOp func =
      createBackwardKernel(gb, op, name, threads, SmallVector<Type>(maps.size(), ptr));
  func->setAttr("nvvm.maxntid", gb.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  func->setAttr("nvvm.minctasm", gb.getI32IntegerAttr(1));
  return func;
}

void setRegisters(ImplicitLocOpBuilder &b, int32_t count, NVVM::SetMaxRegisterAction action) {
  NVVM::SetMaxRegisterOp::create(b, b.getI32IntegerAttr(count),
                                 NVVM::SetMaxRegisterActionAttr::get(b.getContext(), action));
}

/// The kernel's TMA descriptors: arguments after the scratch, in the order
/// of `maps`, cast from the pointers they arrive as (boxes of `e`'s slabs).
SmallVector<Value> descriptorArguments(WgmmaEmitter &e, Block &entry,
                                       ArrayRef<std::pair<unsigned, int64_t>> maps) {
  SmallVector<Value> out;
  for (auto [i, map] : llvm::enumerate(maps)) {
    auto type = swizzledTensorMapType(e.b.getContext(), e.elt, map.second, e.slab);
    out.push_back(UnrealizedConversionCastOp::create(
                      e.b, type, entry.getArgument(kScratch + 1 + static_cast<unsigned>(i)))
                      .getResult(0));
  }
  return out;
}

/// Two streamed tiles of one step: their descriptors, rows, and shared
/// offsets per (static) stage.
struct StreamedPair {
  Value desc[2];
  int64_t rows;
  std::function<int64_t(int64_t)> offset[2];
};

/// The block's roles: warp group 0 produces, the others consume, each
/// with its setmaxnreg budget. The constructor leaves `b` in the producer's
/// branch, enterConsumers() moves it to the consumers', finish() after both.
struct WarpGroupRoles {
  ImplicitLocOpBuilder &b;
  scf::IfOp roles;

  RegisterBudget budget;

  WarpGroupRoles(WgmmaEmitter &e, Value tid) : b(e.b), budget(registerBudgetOf(e)) {
    Value warpGroup = e.div(tid, kWarpGroup);
    roles = scf::IfOp::create(
        b, TypeRange{}, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, warpGroup, e.idx(0)),
        /*withElseRegion=*/true);
    b.setInsertionPointToStart(&roles.getThenRegion().front());
    setRegisters(b, budget.producer, NVVM::SetMaxRegisterAction::decrease);
  }
  void enterConsumers() {
    b.setInsertionPointToStart(&roles.getElseRegion().front());
    setRegisters(b, budget.consumer, NVVM::SetMaxRegisterAction::increase);
  }
  void finish() { b.setInsertionPointAfter(roles); }
};

/// The pipeline's leader issues every TMA load: the two resident tiles
/// (`rows` rows from row `first` of `head`, batch entry `bi`), then each
/// step's pair from row and head `step(t)`, one commit for both on the
/// stage's single full barrier.
void streamTiles(TmaPipeline &pipe, WgmmaEmitter &e, Value bi, const Value residentDesc[2],
                 int64_t rows, const int64_t residentOffset[2], Value first, Value head,
                 Value numSteps, const StreamedPair &pair,
                 const std::function<std::pair<Value, Value>(Value)> &step) {
  e.ifThen(pipe.leader, [&] {
    pipe.commitResident(2 * e.tileBytes(rows));
    for (int i = 0; i < 2; ++i)
      pipe.copyResident(residentDesc[i], first, head, bi, rows, residentOffset[i]);
    pipe.producerLoop(numSteps, [&](const PipelineState &state) {
      auto [stepHead, stepFirst] = step(state.step);
      pipe.commit(state, 0, 2 * e.tileBytes(pair.rows));
      pipe.forStage(state, [&](int64_t s) {
        for (int i = 0; i < 2; ++i)
          pipe.copy(state, 0, pair.desc[i], stepFirst, stepHead, bi, pair.rows, pair.offset[i](s));
      });
    });
  });
}

//===----------------------------------------------------------------------===//
// dK and dV by columns
//===----------------------------------------------------------------------===//

BackwardLaunch buildKeyValueKernel(BlockSparseAttentionBackwardOp op, gpu::GPUModuleOp gpuModule,
                                   const Geometry &g, const BackwardTables &tables) {
  const BackwardProblem &p = g.p;
  const int64_t D = p.headDim, KB = g.kvKeys, QS = g.kvStep, S = g.kvStages;
  const int64_t CG = g.kvColumnGroups, W = D / CG; // W: a consumer's columns
  const int64_t consumers = KB / 64 * CG, threads = kWarpGroup * (1 + consumers);
  const int64_t stepsPerTile = p.blockQ / QS, perLane = QS / kWarp;
  SmallVector<std::pair<unsigned, int64_t>> maps = {{kK, KB}, {kV, KB}, {kQ, QS}, {kDout, QS}};
  gpu::GPUFuncOp func = createTmaKernel(gpuModule, op, "sieve_backward_key_value", threads, maps);
  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  WgmmaEmitter e(b, p.elt, D, g.kvSlab);
  SmallVector<Value> desc = descriptorArguments(e, entry, maps);
  Value kDesc = desc[0], vDesc = desc[1], qDesc = desc[2], doDesc = desc[3];
  Value scratch = entry.getArgument(kScratch);
  Value thresholds = backwardThresholdsArgument(op, entry);
  SwizzledShared sh = swizzledShared(e);
  TmaPipeline pipe(e, sh, S, /*fullPerStage=*/1);

  Value cHeads = getGlobal(b, tables.colKvHeads), cBlocks = getGlobal(b, tables.colKeyBlocks),
        cSpans = getGlobal(b, tables.colSpans), tHeads = getGlobal(b, tables.colQueryHeads),
        tBlocks = getGlobal(b, tables.colQueryBlocks);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value c = e.div(blockX, g.kvSplit);
  Value kvh = loadIndexEntry(b, cHeads, c);
  Value firstKey =
      e.add(e.mul(loadIndexEntry(b, cBlocks, c), p.blockK), e.mul(e.rem(blockX, g.kvSplit), KB));
  auto [colBegin, colEnd] = loadRowSpan(b, cSpans, c);
  Value numSteps = e.mul(arith::SubIOp::create(b, colEnd, colBegin), stepsPerTile);
  // Step t: tile colBegin + t / stepsPerTile, its queries from sub-step t % stepsPerTile.
  auto stepQuery = [&](Value t) -> std::pair<Value, Value> {
    Value tile = e.add(colBegin, e.div(t, stepsPerTile));
    Value h = loadIndexEntry(b, tHeads, tile);
    Value first =
        e.add(e.mul(loadIndexEntry(b, tBlocks, tile), p.blockQ), e.mul(e.rem(t, stepsPerTile), QS));
    return {h, first};
  };
  // Warp 1's lanes arrive on full too, once their delta and lse are stored.
  pipe.init(tid, /*fullArrivals=*/1 + kWarp, /*emptyArrivals=*/consumers * kWarpGroup);
  Value deltaRows = sh.floats(e, g.kvDelta(), S * QS), lseRows = sh.floats(e, g.kvLse(), S * QS);
  // ---- Producer: thread 0 issues the TMA loads, warp 1 copies the rows'
  // delta and lse into shared memory. ----
  WarpGroupRoles roles(e, tid);
  const Value residentDesc[2] = {kDesc, vDesc};
  const int64_t residentOffset[2] = {g.kvKey(), g.kvValue()};
  StreamedPair pair{
      {qDesc, doDesc},
      QS,
      {[&](int64_t s) { return g.kvQuery(s); }, [&](int64_t s) { return g.kvDout(s); }}};
  streamTiles(pipe, e, bi, residentDesc, KB, residentOffset, firstKey, kvh, numSteps, pair,
              stepQuery);
  e.ifThen(arith::CmpIOp::create(b, arith::CmpIPredicate::eq, e.div(tid, kWarp), e.idx(1)), [&] {
    Value lane = e.rem(tid, kWarp);
    pipe.producerLoop(numSteps, [&](const PipelineState &state) {
      auto [h, first] = stepQuery(state.step);
      Value at = e.add(scratchIndex(e, p, bi, h, first), e.mul(lane, perLane));
      Value slot = e.add(e.mul(state.stage, QS), e.mul(lane, perLane));
      auto vecType = VectorType::get({perLane}, b.getF32Type());
      auto delta = vector::LoadOp::create(b, vecType, scratch, ValueRange{at});
      auto lse =
          vector::LoadOp::create(b, vecType, scratch, ValueRange{e.add(at, p.scratchRows())});
      delta.setAlignment(4 * perLane);
      lse.setAlignment(4 * perLane);
      vector::StoreOp::create(b, delta, deltaRows, ValueRange{slot}).setAlignment(4 * perLane);
      vector::StoreOp::create(b, lse, lseRows, ValueRange{slot}).setAlignment(4 * perLane);
      pipe.arrive(state, 0); // releases the stores to the consumers
    });
  });

  // ---- Consumers: 64 keys each, or CG of them per 64 keys each owning W
  // columns of dK and dV from slab firstSlab on. ----
  roles.enterConsumers();
  GroupCoords gc = groupCoords(e, tid, CG);
  Value firstSlab = CG > 1 ? e.mul(gc.columnGroup, g.kvSlab.count(W)) : Value();
  // The window's columns of a streamed tile of `rows` rows, at `tile`.
  auto window = [&](Value tile, int64_t rows) {
    return firstSlab ? e.add(tile, e.mul(firstSlab, rows * g.kvSlab.rowBytes)) : tile;
  };
  Value warpFirstKey = e.add(firstKey, gc.warpRow0);
  Value keyRow[2] = {e.add(warpFirstKey, gc.laneRow), e.add(e.add(warpFirstKey, gc.laneRow), 8)};
  Value warpLastKey = e.add(warpFirstKey, 15);
  Value keyRows = e.add(sh.base, e.add(e.mul(gc.groupRow0, e.slab.rowBytes), g.kvKey()));
  Value valueRows = e.add(sh.base, e.add(e.mul(gc.groupRow0, e.slab.rowBytes), g.kvValue()));
  pipe.waitResident();

  SmallVector<Value> inits(W, e.f32(0.0)); // dK (W/2), then dV (W/2)
  auto loop = scf::ForOp::create(b, e.idx(0), numSteps, e.idx(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    PipelineState pipeStep = pipe.consumerState(t);
    Value stage = pipeStep.stage;
    Value queryTile = e.add(sh.base, e.add(e.mul(stage, g.tileBytes(QS)), g.kvQuery(0)));
    Value doutTile = e.add(sh.base, e.add(e.mul(stage, g.tileBytes(QS)), g.kvDout(0)));
    pipe.consumerWait(pipeStep, 0);
    e.fence();
    Value sAcc = e.productKMajor(keyRows, KB, queryTile, QS);
    e.commit();
    Value dpAcc = e.productKMajor(valueRows, KB, doutTile, QS);
    e.commit();
    // The lane's queries are columns 8j + laneCol + {0, 1} of the step:
    // their pair of `rows` (delta or lse) is loaded when chunk j is first
    // asked for.
    Value rowSlot = e.add(e.mul(stage, QS), gc.laneCol);
    auto byColumnPair = [&](Value rows) -> FragmentAccessor {
      return [&, rows, loaded = int64_t(-1), pair = std::array<Value, 2>()](int64_t j,
                                                                            int64_t i) mutable {
        if (j != loaded) {
          auto v = vector::LoadOp::create(b, VectorType::get({2}, b.getF32Type()), rows,
                                          ValueRange{e.add(rowSlot, 8 * j)});
          v.setAlignment(8);
          pair = {vector::ExtractOp::create(b, v, 0), vector::ExtractOp::create(b, v, 1)};
          loaded = j;
        }
        return pair[i % 2];
      };
    };
    e.waitGroups(1);
    Fragment pt = e.fragmentOf(sAcc, QS);
    if (thresholds) // scores the forward dropped under the step's head's threshold: P = 0
      dropScoresUnderThreshold(e, pt, headThresholdLog2(b, thresholds, stepQuery(t).first),
                               p.scaleLog2);
    recomputeProbabilities(e, pt, p.scaleLog2, byColumnPair(lseRows));
    if (p.causal) {
      Value firstQuery = stepQuery(t).second;
      maskTransposed(e, pt, firstQuery, warpLastKey, gc.laneCol, keyRow, p.causalOffset);
    }
    auto pRegs = e.registerOperands(pt);
    e.waitGroups(0);
    Fragment dst = e.fragmentOf(dpAcc, QS);
    softmaxGradient(e, pt, dst, byColumnPair(deltaRows));
    auto dsRegs = e.registerOperands(dst);
    e.fence();
    SmallVector<Value> dk = e.accumulateRegisterA(SmallVector<Value>(state.take_front(W / 2)),
                                                  dsRegs, window(queryTile, QS), QS);
    SmallVector<Value> dv = e.accumulateRegisterA(SmallVector<Value>(state.drop_front(W / 2)),
                                                  pRegs, window(doutTile, QS), QS);
    e.commit();
    e.waitGroups(0);
    pipe.consumerRelease(pipeStep); // this thread is done with the stage
    dk.append(dv);
    scf::YieldOp::create(b, dk);
  }
  // Each group stages its rows through its own rows of the K and V tiles
  // (its window's slabs of them), once every group of its key group is
  // done reading those rows: named barriers 1..consumers are the groups',
  // the key groups' come after.
  SmallVector<Value> results(loop.getResults());
  ArrayRef<Value> all(results);
  Value scale[2] = {e.f32(p.scale), e.f32(p.scale)};
  Value barrierId = e.add(gc.consumer, 1);
  if (CG > 1) {
    Value keyGroupBarrier = e.add(e.div(gc.consumer, CG), 1 + consumers);
    NVVM::BarrierOp::create(
        b, TypeRange{}, arith::IndexCastOp::create(b, b.getI32Type(), keyGroupBarrier).getResult(),
        arith::ConstantOp::create(b, b.getI32IntegerAttr(CG * kWarpGroup)),
        NVVM::BarrierReductionAttr(), Value());
  }
  e.storeGroupRows(all.take_front(W / 2), scale, sh.slabs(e, g.kvKey(), KB, D, e.slab), KB,
                   gc.groupRow0, gc.warpRow0, gc.laneRow, gc.laneCol, gc.groupThread, barrierId,
                   entry.getArgument(kDk), bi, kvh, firstKey, p.seqK, firstSlab);
  e.storeGroupRows(all.drop_front(W / 2), nullptr, sh.slabs(e, g.kvValue(), KB, D, e.slab), KB,
                   gc.groupRow0, gc.warpRow0, gc.laneRow, gc.laneCol, gc.groupThread, barrierId,
                   entry.getArgument(kDv), bi, kvh, firstKey, p.seqK, firstSlab);

  roles.finish();
  gpu::ReturnOp::create(b);
  BackwardLaunch launch{func,
                        op.getNumColumns() * g.kvSplit,
                        threads,
                        g.kvSharedBytes(),
                        "wgmma keys=" + std::to_string(KB) + " query_step=" + std::to_string(QS) +
                            " stages=" + std::to_string(S) + " warpgroups=1+" +
                            std::to_string(consumers) +
                            (CG > 1 ? " column_groups=" + std::to_string(CG) : ""),
                        maps,
                        e.slab.rowBytes};
  return launch;
}

//===----------------------------------------------------------------------===//
// dQ by rows
//===----------------------------------------------------------------------===//

BackwardLaunch buildQueryKernel(BlockSparseAttentionBackwardOp op, gpu::GPUModuleOp gpuModule,
                                const Geometry &g, const BackwardTables &tables) {
  const BackwardProblem &p = g.p;
  const int64_t D = p.headDim, QR = g.qRows, KT = g.qStep, S = g.qStages;
  const int64_t consumers = QR / 64, threads = kWarpGroup * (1 + consumers);
  const int64_t subTiles = p.blockK / KT;
  SmallVector<std::pair<unsigned, int64_t>> maps = {{kQ, QR}, {kDout, QR}, {kK, KT}, {kV, KT}};
  gpu::GPUFuncOp func = createTmaKernel(gpuModule, op, "sieve_backward_query", threads, maps);
  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b = ImplicitLocOpBuilder::atBlockEnd(op.getLoc(), &entry);
  WgmmaEmitter e(b, p.elt, D);
  SmallVector<Value> desc = descriptorArguments(e, entry, maps);
  Value qDesc = desc[0], doDesc = desc[1], kDesc = desc[2], vDesc = desc[3];
  Value scratch = entry.getArgument(kScratch), dq = entry.getArgument(kDq);
  SwizzledShared sh = swizzledShared(e);
  TmaPipeline pipe(e, sh, S, /*fullPerStage=*/1);

  Value heads = getGlobal(b, tables.rowHeads), qBlocks = getGlobal(b, tables.rowQueryBlocks),
        spans = getGlobal(b, tables.rowSpans), keyBlocks = getGlobal(b, tables.keyBlocks);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value bi = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  // Empty rows: dQ is zeros, written by a few blocks that read nothing.
  const RowLaunch launch = rowLaunchOf(op.getNumRows(), activeRowsOf(op), p.blockQ, D,
                                       p.elt.getIntOrFloatBitWidth() / 8, g.qSplit);
  emitZeroRowBlocks(b, p, launch, dq, heads, qBlocks, blockX, bi, tid, threads, 8);
  Value r = e.div(blockX, g.qSplit);
  Value h = loadIndexEntry(b, heads, r);
  Value kvh = e.div(h, p.group);
  Value qStart =
      e.add(e.mul(loadIndexEntry(b, qBlocks, r), p.blockQ), e.mul(e.rem(blockX, g.qSplit), QR));
  auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
  Value numSteps = e.mul(arith::SubIOp::create(b, rowEnd, rowBegin), subTiles);
  auto stepKey = [&](Value t) {
    Value kb = loadIndexEntry(b, keyBlocks, e.add(rowBegin, e.div(t, subTiles)));
    return e.add(e.mul(kb, p.blockK), e.mul(e.rem(t, subTiles), KT));
  };
  pipe.init(tid, /*fullArrivals=*/1, /*emptyArrivals=*/consumers * kWarpGroup);
  // ---- Producer: thread 0 issues every TMA load. ----
  WarpGroupRoles roles(e, tid);
  const Value residentDesc[2] = {qDesc, doDesc};
  const int64_t residentOffset[2] = {g.qQuery(), g.qDout()};
  StreamedPair pair{{kDesc, vDesc},
                    KT,
                    {[&](int64_t s) { return g.qKey(s); }, [&](int64_t s) { return g.qValue(s); }}};
  streamTiles(pipe, e, bi, residentDesc, QR, residentOffset, qStart, h, numSteps, pair,
              [&](Value t) { return std::make_pair(kvh, stepKey(t)); });

  // ---- Consumers: 64 queries each. ----
  roles.enterConsumers();
  GroupCoords gc = groupCoords(e, tid);
  Value warpFirstQuery = e.add(qStart, gc.warpRow0);
  Value queryRow[2] = {e.add(warpFirstQuery, gc.laneRow),
                       e.add(e.add(warpFirstQuery, gc.laneRow), 8)};
  Value lse2[2], rowDelta[2];
  for (int half = 0; half < 2; ++half) {
    Value at = scratchIndex(e, p, bi, h, queryRow[half]);
    rowDelta[half] = memref::LoadOp::create(b, scratch, ValueRange{at});
    lse2[half] = memref::LoadOp::create(b, scratch, ValueRange{e.add(at, p.scratchRows())});
  }
  Value thresholds = backwardThresholdsArgument(op, entry);
  Value thresholdLog2 = thresholds ? headThresholdLog2(b, thresholds, h) : Value();
  Value queryRows = e.add(sh.base, e.add(e.mul(gc.groupRow0, e.slab.rowBytes), g.qQuery()));
  Value doutRows = e.add(sh.base, e.add(e.mul(gc.groupRow0, e.slab.rowBytes), g.qDout()));
  pipe.waitResident();

  SmallVector<Value> inits(D / 2, e.f32(0.0));
  auto loop = scf::ForOp::create(b, e.idx(0), numSteps, e.idx(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value t = loop.getInductionVar();
    PipelineState pipeStep = pipe.consumerState(t);
    Value stage = pipeStep.stage;
    Value keyTile = e.add(sh.base, e.add(e.mul(stage, g.tileBytes(KT)), g.qKey(0)));
    Value valueTile = e.add(sh.base, e.add(e.mul(stage, g.tileBytes(KT)), g.qValue(0)));
    pipe.consumerWait(pipeStep, 0);
    e.fence();
    Value sAcc = e.productKMajor(queryRows, QR, keyTile, KT);
    e.commit();
    Value dpAcc = e.productKMajor(doutRows, QR, valueTile, KT);
    e.commit();
    e.waitGroups(1);
    Fragment pr = e.fragmentOf(sAcc, KT);
    if (thresholdLog2) // scores the forward dropped: P = 0, so dS = 0
      dropScoresUnderThreshold(e, pr, thresholdLog2, p.scaleLog2);
    recomputeProbabilities(e, pr, p.scaleLog2, byRowHalf(lse2));
    maskScores(e, pr, stepKey(t), KT, warpFirstQuery, gc.laneCol, queryRow, p.seqK, p.causal,
               p.causalOffset, /*fill=*/0.0);
    e.waitGroups(0);
    Fragment ds = e.fragmentOf(dpAcc, KT);
    softmaxGradient(e, pr, ds, byRowHalf(rowDelta));
    auto dsRegs = e.registerOperands(ds);
    e.fence();
    SmallVector<Value> acc =
        e.accumulateRegisterA(SmallVector<Value>(loop.getRegionIterArgs()), dsRegs, keyTile, KT);
    e.commit();
    e.waitGroups(0);
    pipe.consumerRelease(pipeStep);
    scf::YieldOp::create(b, acc);
  }
  Value scale[2] = {e.f32(p.scale), e.f32(p.scale)};
  e.storeGroupRows(SmallVector<Value>(loop.getResults()), scale,
                   sh.slabs(e, g.qQuery(), QR, D, e.slab), QR, gc.groupRow0, gc.warpRow0,
                   gc.laneRow, gc.laneCol, gc.groupThread, e.add(gc.consumer, 1), dq, bi, h, qStart,
                   p.seqQ);

  roles.finish();
  gpu::ReturnOp::create(b);
  return {func,
          launch.gridX(),
          threads,
          g.qSharedBytes(),
          "wgmma query_tile=" + std::to_string(QR) + " key_step=" + std::to_string(KT) +
              " stages=" + std::to_string(S) + " warpgroups=1+" + std::to_string(consumers),
          maps,
          e.slab.rowBytes};
}

} // namespace

std::string wgmmaBackwardUnsupportedReason(BlockSparseAttentionBackwardOp op,
                                           const runtime::TargetInfo &target) {
  const Geometry g = geometryOf(op);
  if (!target.hopperKernels())
    return "needs wgmma, TMA and setmaxnreg (sm_90a), not " + target.chip;
  if (std::string reason = tensorCoreOperandsUnsupportedReason(op); !reason.empty())
    return reason;
  // k16 steps over the head dim, which is also the dK, dV and dQ
  // products' wgmma N (a multiple of 8 up to 256).
  if (g.p.headDim % 16 != 0 || g.p.headDim <= 0 || g.p.headDim > 256)
    return "needs a head dim that is a multiple of 16, at most 256 (k16 steps, wgmma N)";
  // Above kMaxKeyValueColumns two warp groups split dK's and dV's columns
  // into windows of whole slabs (at least 16 columns).
  if (g.kvColumnGroups > 1 && g.p.headDim % (16 * g.kvColumnGroups) != 0)
    return "needs a head dim that is a multiple of 32 above 128 (two warp groups split dK and dV "
           "into slabs of 16 columns or more)";
  if (g.p.blockQ % 64 != 0 || g.p.blockK % 64 != 0)
    return "needs block_q and block_k multiples of 64 (64 rows per warp group)";
  if (std::string reason =
          sharedMemoryUnsupportedReason(target, std::max(g.kvSharedBytes(), g.qSharedBytes()));
      !reason.empty())
    return reason;
  return gridUnsupportedReason(
      target, std::max(op.getNumRows() * g.qSplit, op.getNumColumns() * g.kvSplit), g.p.batch);
}

BackwardKernels buildWgmmaBackwardKernels(BlockSparseAttentionBackwardOp op,
                                          gpu::GPUModuleOp gpuModule) {
  const Geometry g = geometryOf(op);
  OpBuilder gb = OpBuilder::atBlockBegin(gpuModule.getBody());
  const BackwardTables tables = createBackwardTables(gb, op);
  BackwardKernels kernels;
  kernels.variant = "wgmma";
  kernels.rows = buildBackwardRowsKernel(op, gpuModule, g.p);
  kernels.keyValue = buildKeyValueKernel(op, gpuModule, g, tables);
  kernels.query = buildQueryKernel(op, gpuModule, g, tables);
  return kernels;
}

} // namespace sieve::passes
