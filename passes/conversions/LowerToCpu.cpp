//===- LowerToCpu.cpp - block-sparse attention as host loops ---------------===//
//
// The CPU backend is the reference-grade path: it runs in CI and on machines
// without a GPU. One streaming-softmax pass per query row, in f32, visiting
// only the key blocks of the row's table; a row's keys are clipped to the
// causal limit instead of being masked. With a `stats` operand (calibration)
// a second pass over each row's key blocks adds the row's final probability
// mass per key block into stats[head, query block, key block].
//
// Split-KV rows (sieve-split-rows) run as the GPU runs them: each part
// leaves its normalized output and log2-sum-exp in a heap workspace laid
// out as the GPU's (SplitKv.h), and a combine loop merges each group with
// the GPU combine's arithmetic (mergeParts). So the schedule the GPU
// kernels use is checked against float64 in CI, where there is no GPU.
//
//===----------------------------------------------------------------------===//
#include "conversions/CpuBackwardLoops.h"
#include "conversions/LoweringUtils.h"
#include "conversions/SplitKvWorkspace.h"
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"

#include <cmath>
#include <limits>

namespace sieve::passes {
#define GEN_PASS_DEF_LOWERTOCPU
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using namespace sieve::passes;
using sieve::dialect::BlockSparseAttentionOp;

namespace {

/// The combine step of split rows on the host: for every split group, batch
/// entry and query row of its block, each output element is the merge of
/// the group's parts (SplitKv.h's mergeParts, one part a step).
void emitHostCombine(ImplicitLocOpBuilder &b, BlockSparseAttentionOp op,
                     const RowTableGlobals &tables, const WorkspaceLayout &layout,
                     Value workspace) {
  auto qType = op.getQuery().getType();
  const int64_t batch = qType.getDimSize(0), seqQ = qType.getDimSize(2),
                headDim = qType.getDimSize(3), blockQ = op.getBlockQ();
  const int64_t groups = static_cast<int64_t>(op.getSplitGroups()->size() / 4);
  Type elt = op.getOut().getType().getElementType();
  memref::GlobalOp groupTable = tables.splitGroups;
  Value table = memref::GetGlobalOp::create(b, groupTable.getType(), groupTable.getSymName());
  Value c0 = indexConst(b, 0), c1 = indexConst(b, 1);
  buildFor(b, c0, indexConst(b, groups), c1, {}, [&](ImplicitLocOpBuilder &b, Value g, ValueRange) {
    auto field = [&](int64_t f) {
      return loadIndexEntry(b, table,
                            arith::AddIOp::create(b, arith::MulIOp::create(b, g, indexConst(b, 4)),
                                                  indexConst(b, f)));
    };
    Value head = field(0), qBlock = field(1), first = field(2), count = field(3);
    Value qStart = arith::MulIOp::create(b, qBlock, indexConst(b, blockQ));
    Value rows = arith::MinUIOp::create(b, indexConst(b, blockQ),
                                        arith::SubIOp::create(b, indexConst(b, seqQ), qStart));
    Value last = arith::AddIOp::create(b, first, count);
    buildFor(b, c0, indexConst(b, batch), c1, {},
             [&](ImplicitLocOpBuilder &b, Value bi, ValueRange) {
               buildFor(b, c0, rows, c1, {}, [&](ImplicitLocOpBuilder &b, Value row, ValueRange) {
                 Value query = arith::AddIOp::create(b, qStart, row);
                 buildFor(b, c0, indexConst(b, headDim), c1, {},
                          [&](ImplicitLocOpBuilder &b, Value d, ValueRange) {
                            Value zero = f32Const(b, 0.0);
                            auto merged = buildFor(
                                b, first, last, c1,
                                {zero, zero, f32Const(b, -std::numeric_limits<double>::infinity())},
                                [&](ImplicitLocOpBuilder &b, Value slot, ValueRange state) {
                                  Value lse = memref::LoadOp::create(
                                      b, workspace, ValueRange{layout.lseIndex(b, slot, bi, row)});
                                  Value part = memref::LoadOp::create(
                                      b, workspace,
                                      ValueRange{layout.partialIndex(b, slot, bi, row, d)});
                                  PartsMerge next = mergeParts(b, {state[0], state[1], state[2]},
                                                               {lse}, {part}, emitHostExp2);
                                  return SmallVector<Value>{next.acc, next.den, next.max};
                                });
                            Value value = arith::MulFOp::create(
                                b, merged.getResult(0), mergedScale(b, merged.getResult(1)));
                            memref::StoreOp::create(b, fromF32(b, value, elt), op.getOut(),
                                                    ValueRange{bi, head, query, d});
                            return SmallVector<Value>{};
                          });
                 return SmallVector<Value>{};
               });
               return SmallVector<Value>{};
             });
    return SmallVector<Value>{};
  });
}

void lowerOne(BlockSparseAttentionOp op, ModuleOp module, int index) {
  OpBuilder moduleBuilder = OpBuilder::atBlockBegin(module.getBody());
  RowTableGlobals tables =
      createRowTableGlobals(moduleBuilder, op.getLoc(), op, "__sieve_cpu" + std::to_string(index));

  ImplicitLocOpBuilder b(op.getLoc(), op);
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

  auto getGlobal = [&](memref::GlobalOp g) -> Value {
    return memref::GetGlobalOp::create(b, g.getType(), g.getSymName());
  };
  Value heads = getGlobal(tables.heads), qBlocks = getGlobal(tables.queryBlocks),
        spans = getGlobal(tables.spans), keyBlocks = getGlobal(tables.keyBlocks);

  // Per-query scratch, allocated once for the whole op.
  auto f32 = b.getF32Type();
  Value qRow = memref::AllocaOp::create(b, MemRefType::get({headDim}, f32));
  Value acc = memref::AllocaOp::create(b, MemRefType::get({headDim}, f32));
  Value scores = memref::AllocaOp::create(b, MemRefType::get({blockK}, f32));
  // Split-KV parts leave their results here for the combine (SplitKv.h).
  WorkspaceLayout layout;
  Value workspace;
  if (op.hasSplitRows()) {
    layout = WorkspaceLayout::of(op);
    workspace = memref::AllocOp::create(b, MemRefType::get({layout.floats()}, f32));
  }

  Value c0 = indexConst(b, 0), c1 = indexConst(b, 1);
  Value negInf = f32Const(b, -std::numeric_limits<double>::infinity());
  Value zero = f32Const(b, 0.0);
  Value numRows = indexConst(b, op.getNumRows());

  buildFor(b, c0, indexConst(b, batch), c1, {}, [&](ImplicitLocOpBuilder &b, Value bi, ValueRange) {
    buildFor(b, c0, numRows, c1, {}, [&](ImplicitLocOpBuilder &b, Value r, ValueRange) {
      Value h = loadIndexEntry(b, heads, r);
      Value qb = loadIndexEntry(b, qBlocks, r);
      Value kvh = arith::DivUIOp::create(b, h, indexConst(b, group));
      auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
      Value qStart = arith::MulIOp::create(b, qb, indexConst(b, blockQ));
      Value qEnd = arith::MinUIOp::create(
          b, arith::AddIOp::create(b, qStart, indexConst(b, blockQ)), indexConst(b, seqQ));
      // Threshold mode: the head's threshold in the scores' log2 units.
      Value threshold;
      if (Value thresholds = op.getThresholds())
        threshold = arith::MulFOp::create(b, memref::LoadOp::create(b, thresholds, ValueRange{h}),
                                          f32Const(b, kLog2e));
      buildFor(b, qStart, qEnd, c1, {}, [&](ImplicitLocOpBuilder &b, Value i, ValueRange) {
        buildFor(
            b, c0, indexConst(b, headDim), c1, {},
            [&](ImplicitLocOpBuilder &b, Value d, ValueRange) {
              Value q = toF32(b, memref::LoadOp::create(b, op.getQuery(), ValueRange{bi, h, i, d}));
              memref::StoreOp::create(b, arith::MulFOp::create(b, q, f32Const(b, scaleLog2)), qRow,
                                      ValueRange{d});
              memref::StoreOp::create(b, zero, acc, ValueRange{d});
              return SmallVector<Value>{};
            });
        // Key block `e` of the row: its first key and how many keys it has.
        auto keySpan = [&](ImplicitLocOpBuilder &b, Value e) -> std::pair<Value, Value> {
          Value kb = loadIndexEntry(b, keyBlocks, e);
          Value jStart = arith::MulIOp::create(b, kb, indexConst(b, blockK));
          Value jEnd = arith::MinUIOp::create(
              b, arith::AddIOp::create(b, jStart, indexConst(b, blockK)), indexConst(b, seqK));
          if (causal)
            jEnd = arith::MinUIOp::create(b, jEnd, arith::AddIOp::create(b, i, c1));
          // jEnd may fall below jStart on the diagonal: clamp the count.
          Value count = arith::SubIOp::create(b, arith::MaxUIOp::create(b, jEnd, jStart), jStart);
          return {jStart, count};
        };
        // The scaled score (log2 units) of key j: q_row . k_j.
        auto score = [&](ImplicitLocOpBuilder &b, Value j) -> Value {
          auto dot = buildFor(b, c0, indexConst(b, headDim), c1, {zero},
                              [&](ImplicitLocOpBuilder &b, Value d, ValueRange s) {
                                Value q = memref::LoadOp::create(b, qRow, ValueRange{d});
                                Value k = toF32(b, memref::LoadOp::create(
                                                       b, op.getKey(), ValueRange{bi, kvh, j, d}));
                                return SmallVector<Value>{math::FmaOp::create(b, q, k, s[0])};
                              });
          return dot.getResult(0);
        };
        auto keyLoop = buildFor(
            b, rowBegin, rowEnd, c1, {negInf, zero},
            [&](ImplicitLocOpBuilder &b, Value e, ValueRange state) {
              auto [jStartV, countV] = keySpan(b, e);
              Value jStart = jStartV, count = countV;
              auto scoreLoop = buildFor(
                  b, c0, count, c1, {negInf},
                  [&](ImplicitLocOpBuilder &b, Value jj, ValueRange mx) {
                    Value j = arith::AddIOp::create(b, jStart, jj);
                    Value s = score(b, j);
                    if (threshold) // a score under it is dropped like a masked key
                      s = arith::SelectOp::create(
                          b, arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, s, threshold),
                          negInf, s);
                    memref::StoreOp::create(b, s, scores, ValueRange{jj});
                    return SmallVector<Value>{arith::MaximumFOp::create(b, mx[0], s)};
                  });
              SoftmaxState next = buildSoftmaxUpdate(
                  b, {state[0], state[1]}, scoreLoop.getResult(0), scores, count, acc, headDim,
                  [](ImplicitLocOpBuilder &b, Value x) -> Value {
                    return math::Exp2Op::create(b, x);
                  },
                  [&](ImplicitLocOpBuilder &b, Value jj, Value d) {
                    Value j = arith::AddIOp::create(b, jStart, jj);
                    return toF32(
                        b, memref::LoadOp::create(b, op.getValue(), ValueRange{bi, kvh, j, d}));
                  });
              return SmallVector<Value>{next.max, next.sum};
            });
        if (Value stats = op.getStats()) {
          // Calibration: a second pass over the row's key blocks with the
          // final max and sum adds each block's probability mass,
          // sum_j exp2(s_j - max) / sum, to stats[h, qb, kb]. A row with no
          // key (sum 0) adds nothing.
          Value rowMax = keyLoop.getResult(0), rowSum = keyLoop.getResult(1);
          Value hasKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, rowSum, zero);
          Value inverse = arith::SelectOp::create(
              b, hasKeys, arith::DivFOp::create(b, f32Const(b, 1.0), rowSum), zero);
          buildFor(b, rowBegin, rowEnd, c1, {}, [&](ImplicitLocOpBuilder &b, Value e, ValueRange) {
            auto [jStartV, countV] = keySpan(b, e);
            Value jStart = jStartV, count = countV;
            auto massLoop = buildFor(
                b, c0, count, c1, {zero}, [&](ImplicitLocOpBuilder &b, Value jj, ValueRange m) {
                  Value s = score(b, arith::AddIOp::create(b, jStart, jj));
                  Value p = math::Exp2Op::create(b, arith::SubFOp::create(b, s, rowMax));
                  return SmallVector<Value>{arith::AddFOp::create(b, m[0], p)};
                });
            Value kb = loadIndexEntry(b, keyBlocks, e);
            Value old = memref::LoadOp::create(b, stats, ValueRange{h, qb, kb});
            Value mass = arith::MulFOp::create(b, massLoop.getResult(0), inverse);
            memref::StoreOp::create(b, arith::AddFOp::create(b, old, mass), stats,
                                    ValueRange{h, qb, kb});
            return SmallVector<Value>{};
          });
        }
        // A split-KV part leaves its piece (the max is in the log2 units
        // a part stores: q was scaled by scale * log2 e); a whole row
        // writes out (and its lse).
        emitSlotBranch(
            b, tables, r,
            [&](Value slot) {
              emitScalarPartialStore(b, layout, workspace, slot, bi,
                                     arith::SubIOp::create(b, i, qStart), acc, keyLoop.getResult(0),
                                     keyLoop.getResult(1), emitHostLog2);
            },
            [&] {
              if (Value lse = op.getLse()) {
                // Natural-log log-sum-exp: (max + log2 sum) / log2 e in the
                // scores' log2 units; -inf + log2 0 = -inf for a row with no key.
                Value lse2 = arith::AddFOp::create(b, keyLoop.getResult(0),
                                                   math::Log2Op::create(b, keyLoop.getResult(1)));
                memref::StoreOp::create(b,
                                        arith::MulFOp::create(b, lse2, f32Const(b, 1.0 / kLog2e)),
                                        lse, ValueRange{bi, h, i});
              }
              buildNormalizeAndStore(b, acc, keyLoop.getResult(1), headDim,
                                     [&](ImplicitLocOpBuilder &b, Value d, Value v) {
                                       memref::StoreOp::create(b, fromF32(b, v, elt), op.getOut(),
                                                               ValueRange{bi, h, i, d});
                                     });
            });
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
  if (workspace) {
    emitHostCombine(b, op, tables, layout, workspace);
    memref::DeallocOp::create(b, workspace);
  }
  op.erase();
}

struct LowerToCpuPass : public sieve::passes::impl::LowerToCpuBase<LowerToCpuPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<BlockSparseAttentionOp> ops;
    module.walk([&](BlockSparseAttentionOp op) { ops.push_back(op); });
    int index = 0;
    for (BlockSparseAttentionOp op : ops)
      lowerOne(op, module, index++);
    SmallVector<sieve::dialect::BlockSparseAttentionBackwardOp> backward;
    module.walk([&](sieve::dialect::BlockSparseAttentionBackwardOp op) { backward.push_back(op); });
    index = 0;
    for (sieve::dialect::BlockSparseAttentionBackwardOp op : backward)
      lowerBackwardToCpuLoops(op, module, index++);
  }
};

} // namespace
