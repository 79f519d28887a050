//===- LowerToGpu.cpp - block-sparse attention as a GPU kernel -------------===//
//
// Chooses the kernel body (tensor-core `mma`, see MmaAttentionKernel.cpp, or
// the scalar `simt` baseline below), emits it into its own gpu.module with
// the row tables, and replaces the op by the launch.
//
// The simt body: one thread block per (work row, batch entry), one thread
// per query row. Key and value chunks are staged through shared memory in
// f32 by all threads of the block, then each thread runs the same streaming
// softmax as the CPU lowering. It fixes the ABI, the schedule and the
// numerics for any shape and dtype.
//
//===----------------------------------------------------------------------===//
#include "LoweringUtils.h"
#include "MmaAttentionKernel.h"
#include "MmaBackwardKernels.h"
#include "SplitKv.h"
#include "WgmmaAttentionKernel.h"
#include "WgmmaBackwardKernels.h"
#include "WgmmaEmitter.h"
#include "ZeroRows.h"
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

namespace sieve::passes {
#define GEN_PASS_DEF_LOWERTOGPU
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using namespace sieve::passes;
using sieve::dialect::BlockSparseAttentionOp;

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
  /// after the query under causal).
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
      valid = arith::AndIOp::create(b, valid,
                                    arith::CmpIOp::create(b, arith::CmpIPredicate::ule, j, i));
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

/// What split-KV did to the schedule, for the artifact's configuration.
std::string splitConfig(BlockSparseAttentionOp op) {
  if (!op.hasSplitRows())
    return "";
  return " split_kv=" + std::to_string(op.getSplitGroups()->size() / 4) + " rows into " +
         std::to_string(op.getNumSlots()) + " parts";
}

LogicalResult lowerOne(BlockSparseAttentionOp op, ModuleOp module, int index,
                       int64_t chunkElements) {
  auto qType = op.getQuery().getType();
  auto kType = op.getKey().getType();
  Type elt = qType.getElementType();
  const int64_t batch = qType.getDimSize(0), headsQ = qType.getDimSize(1),
                seqQ = qType.getDimSize(2), headDim = qType.getDimSize(3);
  const int64_t headsKv = kType.getDimSize(1), seqK = kType.getDimSize(2);
  const int64_t group = headsQ / headsKv;
  const int64_t blockQ = op.getBlockQ(), blockK = op.getBlockK();
  const bool causal = op.getCausal();
  const double scaleLog2 = op.getScale().convertToDouble() * kLog2e;
  if (blockQ > 1024)
    return op.emitOpError() << "block_q " << blockQ << " exceeds the 1024 threads of a GPU block";
  if (op.getNumRows() > std::numeric_limits<int32_t>::max() || batch > 65535)
    return op.emitOpError() << "grid of " << op.getNumRows() << " x " << batch
                            << " blocks exceeds the GPU's limits";
  const int64_t chunk = chunkKeys(blockK, headDim, chunkElements);

  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  std::string name = "sieve_kernels" + std::to_string(index);
  auto gpuModule = gpu::GPUModuleOp::create(mb, op.getLoc(), name);
  OpBuilder gb = OpBuilder::atBlockBegin(gpuModule.getBody());
  RowTableGlobals tables = createRowTableGlobals(gb, op.getLoc(), op, "sieve");

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
    threshold = arith::MulFOp::create(
        b, memref::LoadOp::create(b, entry.getArgument(4), ValueRange{h}), f32Const(b, kLog2e));
  Value iRead = arith::MinUIOp::create(b, i, indexConst(b, seqQ - 1));

  buildFor(b, c0, indexConst(b, headDim), c1, {},
           [&](ImplicitLocOpBuilder &b, Value d, ValueRange) {
             Value x = toF32(b, memref::LoadOp::create(b, q, ValueRange{bi, h, iRead, d}));
             memref::StoreOp::create(b, arith::MulFOp::create(b, x, f32Const(b, scaleLog2)), qRow,
                                     ValueRange{d});
             memref::StoreOp::create(b, zero, acc, ValueRange{d});
             return SmallVector<Value>{};
           });

  const SimtChunks chunks{k,   v, kStage, vStage,  qRow, bi,    kvh,
                          tid, i, blockQ, headDim, seqK, chunk, causal};
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
                                 blockLoop.getResult(0), blockLoop.getResult(1), emitNvvmLog2Ftz);
        },
        [&] {
          if (lse) {
            // max (log2 units) + log2 sum, in natural log; -inf for no key.
            Value log2Sum = LLVM::CallIntrinsicOp::create(b, b.getF32Type(),
                                                          b.getStringAttr("llvm.nvvm.lg2.approx.f"),
                                                          ValueRange{blockLoop.getResult(1)})
                                .getResult(0);
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
  gpu::ReturnOp::create(b);
  CombineKernel combine;
  if (op.hasSplitRows())
    combine = buildCombineKernel(op, gpuModule, tables);

  // The launch replaces the op on the host side.
  ImplicitLocOpBuilder hb(op.getLoc(), op);
  SmallVector<Value> operands(op->getOperands());
  Value workspace = appendWorkspaceOperand(hb, op, operands);
  Value rows = indexConst(hb, rowLaunch.gridX());
  auto launch = gpu::LaunchFuncOp::create(
      hb, func, gpu::KernelDim3{rows, indexConst(hb, batch), indexConst(hb, 1)},
      gpu::KernelDim3{indexConst(hb, blockQ), indexConst(hb, 1), indexConst(hb, 1)},
      /*dynamicSharedMemorySize=*/Value(), operands);
  // Which body runs, for the artifact (and the people reading it).
  launch->setAttr("sieve.variant", hb.getStringAttr("simt"));
  launch->setAttr("sieve.config",
                  hb.getStringAttr("simt block_q=" + std::to_string(blockQ) + " block_k=" +
                                   std::to_string(blockK) + " chunk=" + std::to_string(chunk) +
                                   " threads=" + std::to_string(blockQ) + splitConfig(op)));
  if (workspace)
    emitCombineLaunch(hb, op, combine, workspace);
  op.erase();
  return success();
}

/// The tables of a tensor-core kernel: constant globals of its gpu.module,
/// or (generic) none, the kernel taking them as arguments.
RowTableGlobals kernelTables(OpBuilder &gb, BlockSparseAttentionOp op, bool generic) {
  if (generic)
    return RowTableGlobals{{}, {}, {}, {}, /*atLaunch=*/true};
  return createRowTableGlobals(gb, op.getLoc(), op, "sieve");
}

/// Host-side stand-ins for tables the runtime supplies at launch (the host
/// side of a GPU artifact is never run; the compiler reads the launch's
/// operands to lay out the kernel parameters): an empty buffer marked
/// `sieve.launch_table = i` (0 heads, 1 query blocks, 2 row spans, 3 key blocks).
void appendLaunchTables(ImplicitLocOpBuilder &hb, SmallVector<Value> &operands) {
  for (int32_t i = 0; i < 4; ++i) {
    auto alloca = memref::AllocaOp::create(hb, MemRefType::get({0}, hb.getI32Type()));
    alloca->setAttr("sieve.launch_table", hb.getI32IntegerAttr(i));
    operands.push_back(memref::CastOp::create(
        hb, MemRefType::get({ShapedType::kDynamic}, hb.getI32Type()), alloca));
  }
}

/// The gpu.module a tensor-core kernel goes into, with its tables (none when
/// generic), after checking that the grid (rows x blocksPerRow, batch) fits.
FailureOr<std::pair<gpu::GPUModuleOp, RowTableGlobals>> openKernelModule(BlockSparseAttentionOp op,
                                                                         ModuleOp module, int index,
                                                                         int64_t blocksPerRow,
                                                                         bool generic) {
  const int64_t batch = op.getQuery().getType().getDimSize(0);
  if (op.getNumRows() * blocksPerRow > std::numeric_limits<int32_t>::max() || batch > 65535)
    return op.emitOpError() << "grid of " << op.getNumRows() * blocksPerRow << " x " << batch
                            << " blocks exceeds the GPU's limits";
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  auto gpuModule =
      gpu::GPUModuleOp::create(mb, op.getLoc(), "sieve_kernels" + std::to_string(index));
  OpBuilder gb = OpBuilder::atBlockBegin(gpuModule.getBody());
  return std::make_pair(gpuModule, kernelTables(gb, op, generic));
}

/// Replaces `op` by the launch of a tensor-core kernel: one block per
/// (row, query tile) and batch entry, dynamic shared memory, the kernel's
/// variant and configuration recorded for the artifact.
void replaceByLaunch(ImplicitLocOpBuilder &hb, BlockSparseAttentionOp op, gpu::GPUFuncOp func,
                     int64_t blocksPerRow, int64_t threads, int64_t sharedBytes,
                     SmallVector<Value> operands, StringRef variant, const std::string &config,
                     bool generic, const CombineKernel &combine) {
  if (generic)
    appendLaunchTables(hb, operands);
  Value workspace = appendWorkspaceOperand(hb, op, operands);
  Value shared =
      arith::ConstantOp::create(hb, hb.getI32IntegerAttr(static_cast<int32_t>(sharedBytes)));
  auto launch = gpu::LaunchFuncOp::create(
      hb, func,
      gpu::KernelDim3{indexConst(hb, rowLaunchOf(op, blocksPerRow, generic).gridX()),
                      indexConst(hb, op.getQuery().getType().getDimSize(0)), indexConst(hb, 1)},
      gpu::KernelDim3{indexConst(hb, threads), indexConst(hb, 1), indexConst(hb, 1)}, shared,
      operands);
  launch->setAttr("sieve.variant", hb.getStringAttr(generic ? "generic" : variant));
  launch->setAttr("sieve.config",
                  hb.getStringAttr((generic ? "generic " + config : config) + splitConfig(op)));
  if (workspace)
    emitCombineLaunch(hb, op, combine, workspace);
  op.erase();
}

/// The combine kernel of an op with split rows (none otherwise), in the
/// attention kernel's module.
CombineKernel combineKernelOf(BlockSparseAttentionOp op, gpu::GPUModuleOp gpuModule,
                              const RowTableGlobals &tables) {
  return op.hasSplitRows() ? buildCombineKernel(op, gpuModule, tables) : CombineKernel{};
}

LogicalResult lowerMma(BlockSparseAttentionOp op, ModuleOp module, int index,
                       const MmaKernelOptions &options, bool generic) {
  const int64_t queryTile =
      options.queryTile > 0 ? std::min<int64_t>(options.queryTile, op.getBlockQ()) : op.getBlockQ();
  auto opened = openKernelModule(op, module, index, op.getBlockQ() / queryTile, generic);
  if (failed(opened))
    return failure();
  MmaKernel kernel = buildMmaAttentionKernel(op, opened->first, opened->second, options);
  CombineKernel combine = combineKernelOf(op, opened->first, opened->second);
  ImplicitLocOpBuilder hb(op.getLoc(), op);
  replaceByLaunch(hb, op, kernel.func, kernel.blocksPerRow, kernel.threads, kernel.sharedBytes,
                  SmallVector<Value>(op->getOperands()), "mma", kernel.config, generic, combine);
  return success();
}

/// A host-side TMA descriptor of `tensor` (boxes of `type`), which the
/// artifact turns into a kernel parameter the runtime encodes
/// (cuTensorMapEncodeTiled); the kernel takes it as a pointer.
Value describeForTma(ImplicitLocOpBuilder &hb, Value tensor, nvgpu::TensorMapDescriptorType type) {
  auto memrefType = cast<MemRefType>(tensor.getType());
  Value unranked = memref::CastOp::create(
      hb, UnrankedMemRefType::get(memrefType.getElementType(), memrefType.getMemorySpace()),
      tensor);
  SmallVector<Value> box;
  for (int64_t dim : type.getTensor().getShape())
    box.push_back(indexConst(hb, dim));
  Value desc = nvgpu::TmaCreateDescriptorOp::create(hb, type, unranked, box);
  return UnrealizedConversionCastOp::create(hb, LLVM::LLVMPointerType::get(hb.getContext()), desc)
      .getResult(0);
}

LogicalResult lowerWgmma(BlockSparseAttentionOp op, ModuleOp module, int index,
                         const WgmmaKernelOptions &options, bool generic) {
  auto opened = openKernelModule(op, module, index, op.getBlockQ() / options.queryTile, generic);
  if (failed(opened))
    return failure();
  WgmmaKernel kernel = buildWgmmaAttentionKernel(op, opened->first, opened->second, options);
  CombineKernel combine = combineKernelOf(op, opened->first, opened->second);

  // The host side describes each of q, k, v to TMA: a 4-d tensor map whose
  // box is one 64-column slab of a tile. The artifact turns these into
  // kernel parameters that the runtime encodes (cuTensorMapEncodeTiled).
  ImplicitLocOpBuilder hb(op.getLoc(), op);
  SmallVector<Value> operands(op->getOperands());
  operands.push_back(describeForTma(hb, op.getQuery(), kernel.queryMap));
  operands.push_back(describeForTma(hb, op.getKey(), kernel.keyMap));
  operands.push_back(describeForTma(hb, op.getValue(), kernel.valueMap));
  replaceByLaunch(hb, op, kernel.func, kernel.blocksPerRow, kernel.threads, kernel.sharedBytes,
                  operands, "wgmma", kernel.config, generic, combine);
  return success();
}

/// The backward's three launches in place of the op: rows (delta and lse),
/// then dK/dV by columns, then dQ by rows, all on the op's operands and a
/// scratch of 2 x B x Hq x padded Sq floats that the runtime allocates per
/// launch (the host side of a GPU artifact is read, never run). `hopper`
/// picks the wgmma kernels where they apply (or where `variant` asks).
LogicalResult lowerBackward(sieve::dialect::BlockSparseAttentionBackwardOp op, ModuleOp module,
                            int index, bool hopper, StringRef variant) {
  const bool wantWgmma = variant == "wgmma" || (variant == "auto" && hopper);
  std::string wgmmaReason = wantWgmma ? wgmmaBackwardUnsupportedReason(op) : "not asked for";
  if (variant == "wgmma" && !wgmmaReason.empty())
    return op.emitOpError() << "variant=wgmma: the Hopper backward " << wgmmaReason;
  const bool useWgmma = wgmmaReason.empty();
  if (!useWgmma) {
    std::string reason = mmaBackwardUnsupportedReason(op);
    if (!reason.empty())
      return op.emitOpError() << "the GPU backward (tensor cores) " << reason;
  }
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  auto gpuModule =
      gpu::GPUModuleOp::create(mb, op.getLoc(), "sieve_backward_kernels" + std::to_string(index));
  BackwardKernels kernels =
      useWgmma ? buildWgmmaBackwardKernels(op, gpuModule) : buildMmaBackwardKernels(op, gpuModule);

  ImplicitLocOpBuilder hb(op.getLoc(), op);
  const BackwardProblem problem = backwardProblemOf(op);
  SmallVector<Value> operands(op->getOperands());
  auto alloca =
      memref::AllocaOp::create(hb, MemRefType::get({2 * problem.scratchRows()}, hb.getF32Type()));
  alloca->setAttr("sieve.workspace", hb.getUnitAttr());
  operands.push_back(
      memref::CastOp::create(hb, MemRefType::get({ShapedType::kDynamic}, hb.getF32Type()), alloca));
  const int64_t batch = problem.batch;
  for (auto [launch, stage] : {std::pair<BackwardLaunch *, StringRef>{&kernels.rows, "rows"},
                               {&kernels.keyValue, "key_value"},
                               {&kernels.query, "query"}}) {
    SmallVector<Value> launchOperands(operands);
    for (auto [operand, rows] : launch->tensorMaps)
      launchOperands.push_back(describeForTma(
          hb, op->getOperand(operand), swizzledTensorMapType(hb.getContext(), problem.elt, rows)));
    Value shared = arith::ConstantOp::create(
        hb, hb.getI32IntegerAttr(static_cast<int32_t>(launch->sharedBytes)));
    auto l = gpu::LaunchFuncOp::create(
        hb, launch->func,
        gpu::KernelDim3{indexConst(hb, launch->gridX), indexConst(hb, batch), indexConst(hb, 1)},
        gpu::KernelDim3{indexConst(hb, launch->threads), indexConst(hb, 1), indexConst(hb, 1)},
        shared, launchOperands);
    l->setAttr("sieve.backward", hb.getStringAttr(stage));
    l->setAttr("sieve.variant", hb.getStringAttr(kernels.variant));
    l->setAttr("sieve.config", hb.getStringAttr(launch->config));
  }
  op.erase();
  return success();
}

/// SMs of the Hopper parts sm_90a targets (H100 SXM and H200: 132).
constexpr int64_t kHopperSms = 132;

/// The Hopper kernel's query tile when the caller leaves it open. 128-row
/// tiles are the faster body, but when the mask leaves so few active rows
/// that their blocks fill at most half the SMs (a sparse mask on a short
/// sequence, few heads), 64-row tiles double the blocks and finish sooner:
/// measured on an H100 (docs/perf-notes.md, v3), 64 active 128-row blocks
/// took 0.032 ms as 128-row tiles and 0.025 ms as 64-row tiles, while at
/// 128 blocks the two tie and at 512 the 128-row tiles win by 25%. So this
/// choice depends on the mask (its active rows), not just the shape.
int64_t defaultWgmmaQueryTile(BlockSparseAttentionOp op) {
  if (op.getBlockQ() % 128 != 0)
    return 64;
  int64_t blocks =
      op.getNumActiveRows() * (op.getBlockQ() / 128) * op.getQuery().getType().getDimSize(0);
  return blocks <= kHopperSms / 2 ? 64 : 128;
}

struct LowerToGpuPass : public sieve::passes::impl::LowerToGpuBase<LowerToGpuPass> {
  using LowerToGpuBase::LowerToGpuBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (chunkElements <= 0) {
      module.emitError() << "sieve-lower-to-gpu: chunk-elements must be positive";
      return signalPassFailure();
    }
    if (variant != "auto" && variant != "wgmma" && variant != "mma" && variant != "simt" &&
        variant != "generic") {
      module.emitError()
          << "sieve-lower-to-gpu: variant must be auto, wgmma, mma, simt or generic, not '"
          << variant << "'";
      return signalPassFailure();
    }
    const bool hopper = chip == "sm_90a";
    if (variant == "wgmma" && !hopper) {
      module.emitError() << "sieve-lower-to-gpu: variant=wgmma needs chip=sm_90a (wgmma, TMA and "
                            "setmaxnreg are sm_90a features), not '"
                         << chip << "'";
      return signalPassFailure();
    }
    SmallVector<BlockSparseAttentionOp> ops;
    module.walk([&](BlockSparseAttentionOp op) { ops.push_back(op); });
    SmallVector<sieve::dialect::BlockSparseAttentionBackwardOp> backward;
    module.walk([&](sieve::dialect::BlockSparseAttentionBackwardOp op) { backward.push_back(op); });
    for (auto [i, op] : llvm::enumerate(backward)) {
      if (variant != "auto" && variant != "mma" && variant != "wgmma") {
        op.emitOpError() << "the backward runs on the wgmma or mma kernels, not variant="
                         << variant;
        return signalPassFailure();
      }
      if (failed(lowerBackward(op, module, static_cast<int>(i), hopper, variant)))
        return signalPassFailure();
    }
    bool unsupported = false;
    for (BlockSparseAttentionOp op : ops)
      if (op.getLse() && (variant == "generic" || op.hasSplitRows())) {
        op.emitOpError() << "operand 'lse' needs a specialized kernel with whole rows (not "
                            "variant=generic or split rows)";
        unsupported = true;
      }
    if (unsupported)
      return signalPassFailure();
    int index = 0;
    for (BlockSparseAttentionOp op : ops) {
      // Calibration (a `stats` operand) is a second pass per query row in
      // the scalar body, and threshold mode a test per score there; the
      // tensor-core bodies have neither.
      if (op.getStats() || op.getThresholds()) {
        if (variant != "auto" && variant != "simt") {
          op.emitOpError() << "operand '"
                           << (op.getStats() ? "stats' (calibration)" : "thresholds'")
                           << " runs on the simt body, not variant=" << variant;
          return signalPassFailure();
        }
        if (failed(lowerOne(op, module, index++, chunkElements)))
          return signalPassFailure();
        continue;
      }
      if (variant == "generic" && op.hasSplitRows()) {
        op.emitOpError() << "variant=generic reads its mask at launch and cannot run split rows "
                            "(sieve-split-rows is for specialized kernels)";
        return signalPassFailure();
      }
      // Tile defaults per kernel (a 0 option means "choose"): the
      // configurations measured best on the H100 (docs/perf-notes.md).
      const int64_t blockQ = op.getBlockQ(), blockK = op.getBlockK();
      WgmmaKernelOptions wgmmaOptions{queryTile > 0 ? queryTile : defaultWgmmaQueryTile(op),
                                      keyTile > 0 ? keyTile : (blockK % 128 == 0 ? 128 : 64),
                                      stages};
      MmaKernelOptions mmaOptions{queryTile > 0 ? queryTile : (blockQ % 64 == 0 ? 64 : blockQ),
                                  keyTile > 0 ? keyTile : 64, stages};
      LogicalResult lowered = failure();
      if (variant == "generic") {
        // The mask is data: the tensor-core body for the shape, tables as
        // arguments, one block per (head, query block) whatever is kept.
        std::string wgmmaReason = hopper ? wgmmaKernelUnsupportedReason(op, wgmmaOptions) : "no";
        std::string mmaReason = mmaKernelUnsupportedReason(op, mmaOptions);
        if (wgmmaReason.empty())
          lowered = lowerWgmma(op, module, index++, wgmmaOptions, /*generic=*/true);
        else if (mmaReason.empty())
          lowered = lowerMma(op, module, index++, mmaOptions, /*generic=*/true);
        else
          op.emitOpError() << "variant=generic runs on the tensor-core kernels: " << mmaReason;
        if (failed(lowered))
          return signalPassFailure();
        continue;
      }
      if (variant == "wgmma" || (variant == "auto" && hopper)) {
        std::string reason = wgmmaKernelUnsupportedReason(op, wgmmaOptions);
        if (reason.empty()) {
          if (failed(lowerWgmma(op, module, index++, wgmmaOptions, /*generic=*/false)))
            return signalPassFailure();
          continue;
        }
        if (variant == "wgmma") {
          op.emitOpError() << "variant=wgmma " << reason;
          return signalPassFailure();
        }
      }
      std::string reason = variant == "simt" ? "" : mmaKernelUnsupportedReason(op, mmaOptions);
      if (variant == "mma" && !reason.empty()) {
        op.emitOpError() << "variant=mma " << reason;
      } else if (variant != "simt" && reason.empty()) {
        lowered = lowerMma(op, module, index++, mmaOptions, /*generic=*/false);
      } else {
        lowered = lowerOne(op, module, index++, chunkElements);
      }
      if (failed(lowered))
        return signalPassFailure();
    }
  }
};

} // namespace
