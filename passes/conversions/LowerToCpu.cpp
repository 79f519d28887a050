//===- LowerToCpu.cpp - block-sparse attention as vectorized host phases --===//
//
// The CPU backend runs in CI, on machines without a GPU, and in the README's
// demo, so it is built to be fast on the host: vector FMAs in register
// blocks, work units that threads share (CpuPhases.h). Per op:
//
//   pack       per (batch, key head, key block) some row reads: K^T and V as f32 tiles in
//              the workspace ([D x Kp] and [Kp x Dp], Kp and Dp rounded up
//              to the vectors), so every micro-kernel reads f32 at constant
//              strides whatever the tensors' strides and element type, and
//              each key block is converted once, not once per query block;
//   attention  per (batch, work row), longest rows first: the row's queries
//              in tiles of up to 32 rows; per key block S = Q K^T (a score
//              tile, lanes along the keys), the online softmax per query
//              row along its key vectors, O = corr * O + P V (an accumulate
//              tile, lanes along the head dimension); out = O / sum;
//   combine    split rows only: each split group's parts merged.
//
// Scores are kept in log2 units (q pre-scaled by scale * log2 e) so exp2,
// a polynomial on vectors, serves. Causal and ragged edges are masked per
// lane to -inf (a select, so a NaN masked away is gone); keys past the
// last one a tile's queries may see are never visited. A row with no kept
// key writes exact zeros, NaN and Inf inputs reach exactly the rows dense
// attention gives them.
//
// Calibration (a stats operand) keeps whole rows per unit with every batch
// entry inside, so one unit owns its stats entries, and adds a second pass
// over the row's key blocks. Threshold mode masks scores under the head's
// threshold like causal ones. Split-KV rows (sieve-split-rows) run as the
// GPU runs them: each part leaves its normalized output and log2-sum-exp
// in the workspace laid out as the GPU's (SplitKv.h), and the combine
// phase merges each group with the GPU combine's arithmetic (mergeParts),
// so the GPU's schedule is checked against float64 in CI.
//
// A ragged or paged batch (`sequences`, `pages`; docs/ragged-paged.md)
// reads each sequence's lengths at run time: pack units pack only the
// sequence's live key blocks, from its packed rows or the page the table
// names, onto the mask's whole grid in the workspace; attention units
// (row, sequence) run when the sequence reaches the row's query block, with
// its lengths, its rows' place in the packed q and out, and bottom-right
// causal aligned by its own lengths.
//
//===----------------------------------------------------------------------===//
#include "conversions/CpuBackward.h"
#include "conversions/CpuMicroKernel.h"
#include "conversions/CpuPhases.h"
#include "conversions/CpuTiles.h"
#include "conversions/LoweringUtils.h"
#include "conversions/SplitKvWorkspace.h"
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/DenseSet.h"

#include <fmt/format.h>

#include <limits>

namespace sieve::passes {
#define GEN_PASS_DEF_LOWERTOCPU
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using namespace sieve::passes;
using sieve::dialect::BlockSparseAttentionOp;

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/// How one op is tiled on a host of `hostLanes` f32 lanes.
struct ForwardPlan {
  ProblemGeometry g;
  int64_t keyLanes = 0, keyPad = 0; // score vectors along the keys; blockK rounded up
  int64_t dimLanes = 0, dimPad = 0; // output vectors along D; D rounded up
  int64_t rowTile = 0;              // query rows per tile
  RegisterBlock scores, values;
  int64_t keyBlocks = 0; // ceil(Sk / blockK)

  static ForwardPlan of(BlockSparseAttentionOp op, int64_t hostLanes) {
    ForwardPlan p;
    p.g = problemGeometryOf(op);
    p.keyLanes = std::min(hostLanes, powerOfTwoCeil(p.g.blockK));
    p.keyPad = roundUp(p.g.blockK, p.keyLanes);
    p.dimLanes = std::min(hostLanes, powerOfTwoCeil(p.g.headDim));
    p.dimPad = roundUp(p.g.headDim, p.dimLanes);
    p.scores = registerBlockFor(p.keyLanes, hostLanes);
    p.values = registerBlockFor(p.dimLanes, hostLanes);
    // 32 rows: the score, query and output tiles of a 128-key, D=64 step
    // fit L1 beside the key tile's slice the micro-kernel is on.
    p.rowTile = std::min<int64_t>(32, roundUp(p.g.blockQ, p.scores.rows));
    p.keyBlocks = (p.g.seqK + p.g.blockK - 1) / p.g.blockK;
    return p;
  }
  // The workspace: K^T tiles, then V tiles, then split-KV's parts.
  int64_t ktFloats() const { return g.headDim * keyPad; }
  int64_t vFloats() const { return keyPad * dimPad; }
  int64_t tiles() const { return g.batch * g.headsKv * keyBlocks; }
  int64_t packFloats() const { return tiles() * (ktFloats() + vFloats()); }
  std::string describe() const {
    return fmt::format("{}x{} score tiles ({}x{} registers of {} lanes), {}x{} output tiles ({} "
                       "lanes), k and v packed to f32",
                       rowTile, keyPad, scores.rows, scores.vectors, keyLanes, rowTile, dimPad,
                       dimLanes);
  }
};

/// The sequence lengths a library function takes as arguments, and the
/// key block count that follows from seqK.
struct Lengths {
  Value seqQ, seqK, keyBlocks;
  static Lengths of(HostEmitter &e, const ForwardPlan &p, Value seqQ, Value seqK) {
    return {seqQ, seqK, e.ceilDiv(seqK, p.g.blockK)};
  }
};

/// The key tiles of (batch, key head, key block) in the workspace.
struct PackedKeys {
  const ForwardPlan &p;
  Value workspace;
  Lengths n;
  Value tiles(HostEmitter &e) { return e.mul(n.keyBlocks, p.g.batch * p.g.headsKv); }
  Value tile(HostEmitter &e, Value bi, Value kvh, Value kb) {
    Value head = e.add(e.mul(bi, p.g.headsKv), kvh);
    return e.add(arith::MulIOp::create(e.b, head, n.keyBlocks), kb);
  }
  Value keysT(HostEmitter &e, Value t) {
    return workspaceTile(e.b, workspace, e.mul(t, p.ktFloats()), p.g.headDim, p.keyPad);
  }
  Value values(HostEmitter &e, Value t) {
    return workspaceTile(e.b, workspace,
                         e.add(e.mul(tiles(e), p.ktFloats()), e.mul(t, p.vFloats())), p.keyPad,
                         p.dimPad);
  }
  /// Where split-KV's parts begin: after the tiles.
  Value partsBase(HostEmitter &e) { return e.mul(tiles(e), p.ktFloats() + p.vFloats()); }
};

/// The pack phase's unit: key block `kb` of key head `kvh`, batch entry `bi`,
/// read from k and v at (srcBatch, kvh, srcRow) when given (a ragged or
/// paged batch's keys: docs/ragged-paged.md), else at (bi, kvh, its first key).
void emitPackUnit(HostEmitter &e, const ForwardPlan &p, const TensorRows &k, const TensorRows &v,
                  PackedKeys &packed, Value bi, Value kvh, Value kb, Value srcBatch = {},
                  Value srcRow = {}) {
  Value jStart = e.mul(kb, p.g.blockK);
  Value count = e.minU(e.idx(p.g.blockK), e.sub(packed.n.seqK, jStart));
  Value t = packed.tile(e, bi, kvh, kb);
  if (!srcBatch) {
    srcBatch = bi;
    srcRow = jStart;
  }
  emitLoadColumns(e.b, k, srcBatch, kvh, srcRow, count, packed.keysT(e, t), p.dimLanes);
  emitLoadRows(e.b, v, srcBatch, kvh, srcRow, count, packed.values(e, t), 1.0, p.dimLanes);
}

/// The scratch tiles of one attention unit (stack, allocated once per call).
struct RowTiles {
  Value q, s, o;         // [R x D], [R x Kp], [R x Dp]
  Value max, sum, scale; // [R]: running max and sum; the rescale, then 1 / sum
};

/// The combine step of split rows for one (group, batch entry): each output
/// element is the merge of the group's parts (SplitKv.h's mergeParts).
void emitCombineUnit(HostEmitter &e, const ProblemGeometry &g, Value out, Value table,
                     const WorkspaceLayout &layout, Value parts, Value group, Value bi) {
  ImplicitLocOpBuilder &b = e.b;
  Type elt = g.elt;
  auto field = [&](int64_t f) {
    return loadIndexEntry(b, table, e.add(e.mul(group, 4), e.idx(f)));
  };
  Value head = field(0), qBlock = field(1), first = field(2), count = field(3);
  Value qStart = e.mul(qBlock, g.blockQ);
  Value rows = e.minU(e.idx(layout.blockQ), e.sub(e.idx(g.seqQ), qStart));
  Value last = e.add(first, count);
  e.forEach(e.idx(0), rows, [&](Value row) {
    Value query = e.add(qStart, row);
    e.forEach(e.idx(0), e.idx(g.headDim), [&](Value d) {
      Value zero = e.f32(0.0);
      auto merged = buildFor(
          b, first, last, e.idx(1), {zero, zero, e.f32(kNegInf)},
          [&](ImplicitLocOpBuilder &b, Value slot, ValueRange state) {
            Value lse = memref::LoadOp::create(b, parts, layout.lseIndex(b, slot, bi, row));
            Value part = memref::LoadOp::create(b, parts, layout.partialIndex(b, slot, bi, row, d));
            PartsMerge next =
                mergeParts(b, {state[0], state[1], state[2]}, {lse}, {part}, emitHostExp2);
            return SmallVector<Value>{next.acc, next.den, next.max};
          });
      Value value =
          arith::MulFOp::create(b, merged.getResult(0), mergedScale(b, merged.getResult(1)));
      auto [outHead, outQuery] = g.queryIndices(b, head, query);
      e.store(fromF32(b, value, elt), out, {bi, outHead, outQuery, d});
    });
  });
}

class ForwardLowering {
public:
  ForwardLowering(BlockSparseAttentionOp op, ModuleOp module, int index, int64_t hostLanes)
      : op(op), module(module), index(index), p(ForwardPlan::of(op, hostLanes)) {}

  LogicalResult run() {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    const std::string prefix = "__sieve_cpu" + std::to_string(index);
    tables = createRowTableGlobals(mb, op.getLoc(), op, prefix);
    const bool calibrate = static_cast<bool>(op.getStats());
    const int64_t rows = op.getNumRows(), slots = op.getNumSlots();
    func::FuncOp packUnit = emitPackLibrary(), attentionUnit = emitAttentionLibrary();
    // Only the key blocks some row reads are packed: (key head, key block)
    // pairs, from the row tables.
    SmallVector<int32_t> readBlocks;
    {
      llvm::DenseSet<std::pair<int32_t, int32_t>> seen;
      ArrayRef<int32_t> heads = op.getRowHeads(), spans = op.getRowSpans(),
                        blocks = op.getKeyBlocks();
      for (int64_t r = 0; r < rows; ++r)
        for (int32_t e = spans[2 * r]; e < spans[2 * r + 1]; ++e) {
          std::pair<int32_t, int32_t> block{heads[r] / static_cast<int32_t>(p.g.group), blocks[e]};
          if (seen.insert(block).second)
            readBlocks.append({block.first, block.second});
        }
    }
    memref::GlobalOp readTable =
        createConstantTable(mb, op.getLoc(), prefix + "_packed_key_blocks", readBlocks);
    const int64_t packUnits = static_cast<int64_t>(readBlocks.size() / 2) * p.g.batch;
    // Generation: the row of each (head, position block), which the
    // attention phase picks at run time from the step's q_pos.
    memref::GlobalOp positionRows;
    if (op.isGeneration())
      positionRows =
          createConstantTable(mb, op.getLoc(), prefix + "_position_rows", positionRowTable(op));
    // A generation op's step, loaded from its positions operand: (q_pos,
    // seq_k_live) as indices; others have none.
    auto stepOf = [&](HostEmitter &e, ValueRange args) -> std::pair<Value, Value> {
      if (!op.isGeneration())
        return {};
      Value positions = args[op->getNumOperands() - 1]; // the last operand
      auto at = [&](int64_t i) {
        Value v = memref::LoadOp::create(e.b, positions, ValueRange{e.idx(i)});
        return arith::IndexCastOp::create(e.b, e.b.getIndexType(), v).getResult();
      };
      return {at(0), at(1)};
    };
    std::vector<HostPhase> phases;
    // Every phase takes the sequence lengths; the attention phase also the
    // split parts' slot count.
    HostPhase pack{sieve::runtime::LaunchRole::Pack,
                   prefix + "_pack",
                   "__sieve_cpu_pack",
                   packUnits,
                   {readTable},
                   {p.g.seqQ, p.g.seqK}};
    pack.body = [&](ImplicitLocOpBuilder &b, ValueRange args, Value ws, ValueRange tablesIn,
                    ValueRange scalars, Value begin, Value end) {
      forEachUnit(b, begin, end, [&](ImplicitLocOpBuilder &b, Value u) {
        HostEmitter e{b};
        Value pair = e.mul(e.div(u, p.g.batch), 2);
        Value kvh = loadIndexEntry(b, tablesIn[0], pair);
        Value kb = loadIndexEntry(b, tablesIn[0], e.add(pair, e.idx(1)));
        auto pack = [&](Value seqK) {
          callLibrary(b, packUnit, {args[1], args[2], ws, seqK, e.rem(u, p.g.batch), kvh, kb});
        };
        if (op.hasBatchLayout()) {
          // A ragged or paged batch: the sequence's live key blocks only,
          // from where its keys are.
          Value bi = e.rem(u, p.g.batch);
          Sequence seq = sequenceOf(e, args, bi);
          Value jStart = e.mul(kb, p.g.blockK);
          e.when(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, jStart, seq.seqK), [&] {
            auto [srcBatch, srcRow] = keySource(e, args, bi, jStart, seq);
            callLibrary(b, packUnit,
                        {args[1], args[2], ws, seq.seqK, bi, kvh, kb, srcBatch, srcRow});
          });
          return;
        }
        if (!op.isGeneration())
          return pack(scalars[1]);
        // Generation: only the live keys' blocks.
        Value live = stepOf(e, args).second;
        e.when(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, e.mul(kb, p.g.blockK), live),
               [&] { pack(live); });
      });
    };
    phases.push_back(pack);
    HostPhase attention{sieve::runtime::LaunchRole::Attention,
                        prefix + "_attention",
                        "__sieve_cpu_attention",
                        op.isGeneration() ? generationUnits() * op.getGenerationPartCount()
                        : calibrate       ? rows
                                          : rows * p.g.batch,
                        {tables.heads, tables.queryBlocks, tables.spans, tables.keyBlocks},
                        {p.g.seqQ, p.g.seqK}};
    if (op.hasSplitRows())
      attention.tables.push_back(tables.rowSlots);
    if (op.hasSplitParts()) // (a split generation op's slots need no table)
      attention.scalars.push_back(slots);
    // GQA packing: the segment words beside the key blocks, last.
    if (tables.segments)
      attention.tables.push_back(tables.segments);
    if (positionRows)
      attention.tables.push_back(positionRows);
    attention.body = [&](ImplicitLocOpBuilder &b, ValueRange args, Value ws, ValueRange tablesIn,
                         ValueRange scalars, Value begin, Value end) {
      forEachUnit(b, begin, end, [&](ImplicitLocOpBuilder &b, Value u) {
        HostEmitter e{b};
        auto [qPos, live] = stepOf(e, args);
        auto call = [&](Value r, Value bi, const Sequence *seq = nullptr, Value part = {}) {
          SmallVector<Value> callArgs(args.begin(), args.end());
          callArgs.push_back(ws);
          callArgs.append(tablesIn.begin(), tablesIn.begin() + 4);
          if (op.hasSplitRows())
            callArgs.append({tablesIn[4], scalars[2]});
          if (op.getGenerationParts())
            callArgs.append({scalars[2], part});
          if (op.isGqaPacked()) // after the split's (a generation op's position rows last)
            callArgs.push_back(tablesIn[op.hasSplitRows() ? 5 : 4]);
          if (seq)
            callArgs.append({seq->seqQ, seq->seqK, r, bi});
          else
            callArgs.append({scalars[0], live ? live : scalars[1], r, bi});
          if (qPos)
            callArgs.push_back(qPos);
          if (seq && seq->qOffset)
            callArgs.push_back(seq->qOffset);
          callLibrary(b, attentionUnit, callArgs);
        };
        if (op.hasBatchLayout()) {
          // Unit (row, sequence): when the sequence reaches the row's query
          // block, with its own lengths.
          Value r = e.div(u, p.g.batch), bi = e.rem(u, p.g.batch);
          Sequence seq = sequenceOf(e, args, bi);
          Value qStart = e.mul(loadIndexEntry(b, tablesIn[1], r), p.g.blockQ);
          e.when(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, qStart, seq.seqQ),
                 [&] { call(r, bi, &seq); });
          return;
        }
        if (op.isGeneration()) {
          // Unit (window w, head h, [part s,] batch entry bi): the w-th
          // position block the call's queries touch, when they reach it.
          // (Packed, h is a key head, with one window; split, part s of
          // the row's key blocks.)
          const int64_t block = op.getPositionBlock();
          Value bi = e.rem(u, p.g.batch), rest = e.div(u, p.g.batch);
          Value part;
          if (const int64_t parts = op.getGenerationPartCount(); parts > 1) {
            part = e.rem(rest, parts);
            rest = e.div(rest, parts);
          }
          const int64_t rowHeads = op.getGenerationRowHeads();
          Value h = e.rem(rest, rowHeads), w = e.div(rest, rowHeads);
          Value qb = e.add(e.div(qPos, block), w);
          Value touched = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, e.mul(qb, block),
                                                e.add(qPos, e.idx(callQueries())));
          e.when(touched, [&] {
            Value r =
                loadIndexEntry(b, tablesIn.back(), e.add(e.mul(h, op.getPositionBlockCount()), qb));
            call(r, bi, nullptr, part);
          });
          return;
        }
        // A calibration unit is a row with every batch entry (it owns the
        // row's stats); any other one (row, batch entry).
        if (calibrate)
          e.forEach(e.idx(0), e.idx(p.g.batch), [&](Value bi) { call(u, bi); });
        else
          call(e.div(u, p.g.batch), e.rem(u, p.g.batch));
      });
    };
    phases.push_back(attention);
    // What the phases' bodies capture must live until emitHostPhases.
    WorkspaceLayout layout = op.hasSplitParts() ? WorkspaceLayout::of(op) : WorkspaceLayout();
    if (op.hasSplitParts()) {
      // The combine's code names its layout's sizes (this op's slots and
      // lengths): its library function is this op's own.
      const int64_t groups = static_cast<int64_t>(op.getSplitGroups()->size() / 4);
      HostPhase combine{sieve::runtime::LaunchRole::Combine,
                        prefix + "_combine",
                        "__sieve_cpu_combine",
                        groups * p.g.batch,
                        {tables.splitGroups},
                        {}};
      combine.body = [&](ImplicitLocOpBuilder &b, ValueRange args, Value ws, ValueRange tablesIn,
                         ValueRange, Value begin, Value end) {
        // The parts' region: after the packed tiles.
        auto type = MemRefType::get({layout.floats()}, b.getF32Type(),
                                    StridedLayoutAttr::get(b.getContext(), p.packFloats(), {1}));
        Value parts =
            memref::ReinterpretCastOp::create(b, type, ws, p.packFloats(), {layout.floats()}, {1});
        forEachUnit(b, begin, end, [&](ImplicitLocOpBuilder &b, Value u) {
          HostEmitter e{b};
          emitCombineUnit(e, p.g, args[3], tablesIn[0], layout, parts, e.div(u, p.g.batch),
                          e.rem(u, p.g.batch));
        });
      };
      phases.push_back(combine);
    }
    std::string config = p.describe();
    if (calibrate)
      config += "; calibration: a second score pass per key block adds the mass";
    if (op.getThresholds())
      config += "; thresholds: scores under the head's masked";
    config += describeSplit(op);
    config += describeGqaPacking(op);
    return emitHostPhases(op, module, operandArguments(op), libraryOperandTypes(),
                          p.packFloats() + layout.floats(), phases, "vector", config);
  }

private:
  /// The argument that carries `operand` (phases and library functions
  /// take the op's operands first, in order), or null.
  Value argumentOf(ValueRange args, Value operand) {
    for (auto [i, candidate] : llvm::enumerate(op->getOperands()))
      if (operand && candidate == operand)
        return args[i];
    return {};
  }
  /// The lengths a library function works with; the key tiles' stride in
  /// the workspace follows seqK, except for a ragged or paged batch, whose
  /// sequences' tiles sit on the mask's whole grid.
  Lengths lengthsOf(HostEmitter &e, Value seqQ, Value seqK) {
    if (!op.hasBatchLayout())
      return Lengths::of(e, p, seqQ, seqK);
    return {seqQ, seqK, e.idx(p.keyBlocks)};
  }
  /// A sequence of a ragged or paged batch (docs/ragged-paged.md): its
  /// lengths and, when ragged, where its queries and keys begin in the
  /// packed tensors (from the `sequences` operand); without one, the op's
  /// lengths and no offsets.
  struct Sequence {
    Value seqQ, seqK, qOffset, kOffset;
  };
  Sequence sequenceOf(HostEmitter &e, ValueRange args, Value bi) {
    Value table = argumentOf(args, op.getSequences());
    if (!table)
      return {e.idx(p.g.seqQ), e.idx(p.g.seqK), Value(), Value()};
    auto at = [&](int64_t row, Value column) {
      Value v = memref::LoadOp::create(e.b, table, ValueRange{e.idx(row), column});
      return arith::IndexCastOp::create(e.b, e.b.getIndexType(), v).getResult();
    };
    Value next = e.add(bi, e.idx(1));
    Value q0 = at(0, bi), k0 = at(1, bi);
    return {e.sub(at(0, next), q0), e.sub(at(1, next), k0), q0, k0};
  }
  /// Where key `jStart` (a key block's first) of sequence `bi` is in k and
  /// v: (batch index, row). Paged: row jStart % page of the page the table
  /// names for it; ragged: the packed row; else (bi, jStart).
  std::pair<Value, Value> keySource(HostEmitter &e, ValueRange args, Value bi, Value jStart,
                                    const Sequence &seq) {
    if (Value pages = argumentOf(args, op.getPages())) {
      const int64_t pageSize = static_cast<int64_t>(*op.getPageSize());
      Value entry = memref::LoadOp::create(e.b, pages, ValueRange{bi, e.div(jStart, pageSize)});
      return {arith::IndexCastOp::create(e.b, e.b.getIndexType(), entry).getResult(),
              e.rem(jStart, pageSize)};
    }
    if (seq.kOffset)
      return {e.idx(0), e.add(seq.kOffset, jStart)};
    return {bi, jStart};
  }

  /// Generation: the call's queries per head (Sq; a packed op's rows are g
  /// heads' of one query each).
  int64_t callQueries() { return op.getQuery().getType().getDimSize(2); }
  /// Generation: attention units (window, head, batch entry), a window per
  /// position block the call's Sq queries may touch (heads: key heads when
  /// packed).
  int64_t generationUnits() {
    return op.getGenerationWindows() * op.getGenerationRowHeads() * p.g.batch;
  }

  /// The op's operand types as the library takes them: sequence lengths
  /// (and the stats' block counts) dynamic.
  SmallVector<Type> libraryOperandTypes() {
    SmallVector<Type> types;
    for (Value operand : op->getOperands()) {
      auto type = cast<MemRefType>(operand.getType());
      if (operand == op.getStats())
        types.push_back(withDynamicSizes(type, {1, 2}));
      else if (operand == op.getThresholds() || operand == op.getPositions() ||
               operand == op.getSequences() || operand == op.getPages())
        types.push_back(type);
      else
        types.push_back(withDynamicSizes(type, {2})); // q, k, v, out: [B, H, S, D]; lse [B, H, S]
    }
    return types;
  }

  /// pack(k, v, workspace, seqK, batch entry, key head, key block).
  func::FuncOp emitPackLibrary() {
    SmallVector<Type> operands = libraryOperandTypes();
    auto index = IndexType::get(op.getContext());
    SmallVector<Type> types = {
        operands[1], operands[2], workspaceType(op.getContext()), index, index, index, index};
    if (op.hasBatchLayout()) // where the keys are: batch index (or page), row
      types.append({index, index});
    return emitLibraryFunction(
        module, op.getLoc(), "__sieve_cpu_pack_unit", types,
        [&](ImplicitLocOpBuilder &b, ValueRange args) {
          HostEmitter e{b};
          TensorRows k = TensorRows::of(b, args[0]), v = TensorRows::of(b, args[1]);
          PackedKeys packed{p, args[2], lengthsOf(e, {}, args[3])};
          const bool placed = op.hasBatchLayout();
          emitPackUnit(e, p, k, v, packed, args[4], args[5], args[6], placed ? args[7] : Value(),
                       placed ? args[8] : Value());
        });
  }

  /// attention(q, k, v, out, [stats | thresholds], [lse], workspace, row
  /// tables x 4, [row slots, slots], seqQ, seqK, row, batch entry).
  func::FuncOp emitAttentionLibrary() {
    MLIRContext *ctx = op.getContext();
    SmallVector<Type> types = libraryOperandTypes();
    const unsigned operands = types.size();
    auto index = IndexType::get(ctx);
    types.push_back(workspaceType(ctx));
    auto table = MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32));
    types.append(4, table);
    if (op.hasSplitRows())
      types.append({table, index});
    if (op.getGenerationParts()) // slots, the part
      types.append({index, index});
    if (op.isGqaPacked())
      types.push_back(table);
    types.append({index, index, index, index});
    if (op.isGeneration()) // the step's q_pos
      types.push_back(index);
    if (op.getSequences()) // a ragged sequence's first query row in q and out
      types.push_back(index);
    return emitLibraryFunction(module, op.getLoc(), "__sieve_cpu_attention_unit", types,
                               [&](ImplicitLocOpBuilder &b, ValueRange args) {
                                 HostEmitter e{b};
                                 unsigned at = operands;
                                 Value ws = args[at++];
                                 Value heads = args[at++], qBlocks = args[at++], spans = args[at++],
                                       keyBlocks = args[at++];
                                 Value rowSlots, slots, part, segments;
                                 if (op.hasSplitRows()) {
                                   rowSlots = args[at++];
                                   slots = args[at++];
                                 }
                                 if (op.getGenerationParts()) {
                                   slots = args[at++];
                                   part = args[at++];
                                 }
                                 segments = op.isGqaPacked() ? args[at++] : Value();
                                 Lengths n = lengthsOf(e, args[at], args[at + 1]);
                                 Value r = args[at + 2], bi = args[at + 3];
                                 at += 4;
                                 Value qPos = op.isGeneration() ? args[at++] : Value();
                                 Value qOffset = op.getSequences() ? args[at++] : Value();
                                 emitAttentionUnit(e, args.take_front(operands), ws,
                                                   {heads, qBlocks, spans, keyBlocks}, rowSlots,
                                                   slots, part, segments, n, r, bi, qPos, qOffset);
                               });
  }

  void emitAttentionUnit(HostEmitter &e, ValueRange args, Value ws, std::array<Value, 4> rowTables,
                         Value rowSlots, Value slots, Value part, Value segments, Lengths n,
                         Value r, Value bi, Value qPos, Value qOffset) {
    ImplicitLocOpBuilder &b = e.b;
    auto [heads, qBlocks, spans, keyBlocks] = rowTables;
    TensorRows q = TensorRows::of(b, args[0], p.g.packed),
               out = TensorRows::of(b, args[3], p.g.packed);
    PackedKeys packed{p, ws, n};
    RowTiles t;
    const int64_t R = p.rowTile;
    t.q = e.scratch({R, p.g.headDim});
    t.s = e.scratch({R, p.keyPad});
    t.o = e.scratch({R, p.dimPad});
    t.max = e.scratch({R});
    t.sum = e.scratch({R});
    t.scale = e.scratch({R});
    // The optional operands follow q, k, v, out in the op's order (stats,
    // thresholds, lse), each where present.
    Value thresholds = argumentOf(args, op.getThresholds());
    Value stats = argumentOf(args, op.getStats());
    Value lse = argumentOf(args, op.getLse());
    Value h = loadIndexEntry(b, heads, r);
    Value qb = loadIndexEntry(b, qBlocks, r);
    Value kvh = e.div(h, p.g.group);
    auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
    if (part) {
      // A split generation step's part: entries [s L, (s + 1) L) of the
      // row (past its end: none; the key blocks past seq_k_live are
      // skipped as in a whole row).
      const int64_t length = op.getGenerationPartLength();
      rowBegin = e.minU(e.add(rowBegin, e.mul(part, length)), rowEnd);
      rowEnd = e.minU(e.add(rowBegin, e.idx(length)), rowEnd);
    }
    Value qStart = e.mul(qb, p.g.blockQ);
    Value rows = e.minU(e.idx(p.g.blockQ), e.sub(n.seqQ, qStart));
    const bool packedStep = qPos && op.isGqaPacked();
    if (packedStep) {
      // Packed generation (Sq = 1): the row's g packed rows are the key
      // head's query heads, each at query 0, position q_pos (qb is the
      // position block, not a packed block).
      qStart = e.idx(0);
      rows = n.seqQ;
    } else if (qPos) {
      // Generation: the row is a position block; its queries are the
      // call's positions in it, [qPos, qPos + Sq) (the phase ran only the
      // blocks they touch). Positions stand for queries in the tiles, and
      // query tensor row x - qPos holds position x.
      Value end = e.minS(e.add(qStart, e.idx(p.g.blockQ)), e.add(qPos, n.seqQ));
      qStart = e.maxS(qStart, qPos);
      rows = e.sub(end, qStart);
    }
    // Threshold mode: the head's threshold in the scores' log2 units.
    Value threshold;
    if (thresholds)
      threshold = arith::MulFOp::create(b, e.load(thresholds, {h}), e.f32(kLog2e));
    Split split;
    const WorkspaceLayout layout = WorkspaceLayout::of(op);
    if (rowSlots || part) {
      // A split row's slot from its table; a generation part's, h S + s.
      split.slot =
          rowSlots ? memref::LoadOp::create(b, rowSlots, ValueRange{r}).getResult()
                   : arith::IndexCastOp::create(b, b.getI32Type(),
                                                e.add(e.mul(h, op.getGenerationPartCount()), part))
                         .getResult();
      // (A generation step packs only its live keys' tiles: its parts sit
      // after all M positions' tiles, where the combine reads them.)
      split.base = op.isGeneration() ? e.idx(p.packFloats()) : packed.partsBase(e);
      split.rows = layout.blockQ;
      split.lseBase =
          e.add(split.base,
                arith::MulIOp::create(b, slots, e.idx(p.g.batch * layout.blockQ * p.g.headDim)));
    }
    e.forEach(e.idx(0), e.ceilDiv(rows, R), [&](Value tileIndex) {
      Value r0 = e.mul(tileIndex, R);
      Value valid = e.minU(e.idx(R), e.sub(rows, r0));
      Value q0 = e.add(qStart, r0);
      UnitTile unit{bi, h, kvh, r, q0, r0, valid, qb, rowBegin, rowEnd, threshold, n, segments};
      // Where q0's row is in q and out: generation's query tensor starts at
      // q_pos; a ragged sequence's rows start at its offset in batch entry 0.
      unit.tensorBatch = qOffset ? e.idx(0) : bi;
      unit.tensorRow = qPos && !packedStep ? e.sub(q0, qPos) : qOffset ? e.add(q0, qOffset) : q0;
      // A ragged sequence aligns bottom-right causal by its own lengths;
      // a packed step's rows are query 0, at position q_pos.
      if (op.getSequences() && op.getCausalAlign() == sieve::dialect::CausalAlign::BottomRight)
        unit.causalShift = e.sub(n.seqK, n.seqQ);
      if (packedStep)
        unit.causalShift = qPos;
      emitTile(e, t, q, out, packed, keyBlocks, unit, stats, lse, split);
    });
  }

  /// A split-KV part's place in the workspace (SplitKvWorkspace.h's layout
  /// after the packed tiles): its slot (i32, -1 for a whole row) and where
  /// the partial outputs and the lse begin.
  struct Split {
    Value slot, base, lseBase;
    int64_t rows = 0; // a slot's rows (WorkspaceLayout::blockQ)
  };

  /// One tile of a unit's query rows.
  struct UnitTile {
    Value bi, h, kvh, row;  // batch entry, query head, key head, work row
    Value q0, r0, valid;    // first query, its row in the block, rows in the tile
    Value qb;               // query block
    Value rowBegin, rowEnd; // the row's key blocks
    Value threshold;        // log2 units, or null
    Lengths n;
    Value segments;    // GQA packing: the key blocks' segment words, or null
    Value tensorRow;   // q0's row in q and out (generation: its position - q_pos)
    Value tensorBatch; // q0's batch index in q and out (a ragged batch's: 0)
    /// A ragged batch's bottom-right causal offset, its sequence's
    /// seqK - seqQ; null: the op's static one.
    Value causalShift;
  };

  /// Query position `query` on the keys' axis (causalPosition) with the
  /// tile's causal offset.
  Value causalLimit(HostEmitter &e, const UnitTile &u, Value query) {
    if (u.causalShift)
      return e.add(query, u.causalShift);
    return causalPosition(e.b, query, p.g.causalOffset);
  }

  /// Keys of key block `kb` the tile's queries may see: the block's (up to
  /// seqK) and, with causal, none past what the tile's last query sees.
  std::pair<Value, Value> keySpan(HostEmitter &e, const UnitTile &u, Value kb) {
    Value jStart = e.mul(kb, p.g.blockK);
    Value count = e.minU(e.idx(p.g.blockK), e.sub(u.n.seqK, jStart));
    // A row's key blocks may lie past seq_k_live, or a ragged or paged
    // sequence's keys: none of theirs.
    if (op.isGeneration() || op.hasBatchLayout())
      count = e.maxS(e.idx(0), e.minS(e.idx(p.g.blockK), e.sub(u.n.seqK, jStart)));
    if (p.g.causal) {
      // (Packed rows hold every query of their heads: the last query's.)
      Value lastQuery = causalLimit(
          e, u, p.g.packed ? e.idx(p.g.packed.queries) : e.add(u.q0, u.valid)); // exclusive
      count = e.maxS(e.idx(0), e.minS(count, e.sub(lastQuery, jStart)));
    }
    return {jStart, count};
  }

  /// S = Q K^T into t.s for the tile's row blocks, masked: keys at `count`
  /// and past, keys after the row's query (causal), scores under the
  /// threshold become -inf.
  void emitScores(HostEmitter &e, const RowTiles &t, const UnitTile &u, Value keysT, Value jStart,
                  Value count, Value rowBlocks, Value segmentWord = {}) {
    ImplicitLocOpBuilder &b = e.b;
    const int64_t lanes = p.keyLanes;
    auto vecType = VectorType::get({lanes}, b.getF32Type());
    // Whether some key block may be short (a static property of the op:
    // the library code differs with it, so kernels share it only when equal).
    // (A generation op's key count is the step's seq_k_live: any.)
    // (A ragged or paged sequence's, its own.)
    const bool ragged = p.keyPad != p.g.blockK || p.g.seqK % p.g.blockK != 0 || op.isGeneration() ||
                        op.hasBatchLayout();
    const bool masks = ragged || p.g.causal;
    Value negInf = f32Splat(b, vecType, kNegInf);
    ScoreTile tile{t.q, keysT, t.s, rowBlocks, p.g.headDim, p.keyPad / lanes};
    emitScoreTile(
        b, tile, p.scores, [&](ImplicitLocOpBuilder &b, Value row, Value vi, Value acc) -> Value {
          HostEmitter e{b};
          if (masks) {
            // Lane l holds key jStart + vi * lanes + l: kept below `limit`.
            Value limit = count;
            if (p.g.causal) // keys up to the row's query's position
              limit = e.minS(
                  limit,
                  e.sub(causalLimit(e, u, e.add(p.g.causalQuery(b, e.add(u.q0, row)), e.idx(1))),
                        jStart));
            acc = arith::SelectOp::create(b, lanesInRange(b, lanes, vi, {}, limit), acc, negInf);
          }
          if (segmentWord) { // GQA packing: the row's head keeps the key block?
            Value firstRow = e.sub(u.q0, u.r0);
            Value keeps = p.g.packed.keeps(b, segmentWord, firstRow, e.add(u.q0, row));
            acc = arith::SelectOp::create(b, keeps, acc, negInf);
          }
          if (u.threshold) {
            Value thr = vector::BroadcastOp::create(b, vecType, u.threshold);
            Value under = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, acc, thr);
            acc = arith::SelectOp::create(b, under, negInf, acc);
          }
          return acc;
        });
  }

  /// The online softmax of rows [0, rowBlocks * block rows) of t.s over
  /// their first `vectors` key vectors: t.s becomes P = exp2(S - max),
  /// t.max and t.sum move on, t.scale gets each row's rescale of O.
  void emitSoftmax(HostEmitter &e, const RowTiles &t, Value rowCount, Value vectors) {
    ImplicitLocOpBuilder &b = e.b;
    const int64_t lanes = p.keyLanes;
    auto vecType = VectorType::get({lanes}, b.getF32Type());
    e.forEach(e.idx(0), rowCount, [&](Value i) {
      auto maxLoop = buildFor(
          b, e.idx(0), vectors, e.idx(1), {f32Splat(b, vecType, kNegInf)},
          [&](ImplicitLocOpBuilder &b, Value v, ValueRange m) {
            HostEmitter e{b};
            Value s = vector::LoadOp::create(b, vecType, t.s, ValueRange{i, e.mul(v, lanes)});
            return SmallVector<Value>{runningMax(b, m[0], s)};
          });
      Value chunkMax =
          vector::ReductionOp::create(b, vector::CombiningKind::MAXNUMF, maxLoop.getResult(0));
      Value oldMax = e.load(t.max, {i});
      Value newMax = runningMax(b, oldMax, chunkMax);
      // While a row has seen no key (max -inf), weigh against 0: exp2 sees
      // -inf (0), never -inf - -inf (NaN).
      Value noKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, newMax, e.f32(kNegInf));
      Value base = arith::SelectOp::create(b, noKeys, e.f32(0.0), newMax);
      Value rescale = emitPolynomialExp2(b, arith::SubFOp::create(b, oldMax, base));
      Value baseVec = vector::BroadcastOp::create(b, vecType, base);
      auto sumLoop =
          buildFor(b, e.idx(0), vectors, e.idx(1), {f32Splat(b, vecType, 0.0)},
                   [&](ImplicitLocOpBuilder &b, Value v, ValueRange acc) {
                     HostEmitter e{b};
                     Value at = e.mul(v, lanes);
                     Value s = vector::LoadOp::create(b, vecType, t.s, ValueRange{i, at});
                     Value prob = emitPolynomialExp2(b, arith::SubFOp::create(b, s, baseVec));
                     vector::StoreOp::create(b, prob, t.s, ValueRange{i, at});
                     return SmallVector<Value>{arith::AddFOp::create(b, acc[0], prob)};
                   });
      Value chunkSum =
          vector::ReductionOp::create(b, vector::CombiningKind::ADD, sumLoop.getResult(0));
      Value sum = math::FmaOp::create(b, e.load(t.sum, {i}), rescale, chunkSum);
      e.store(newMax, t.max, {i});
      e.store(sum, t.sum, {i});
      e.store(rescale, t.scale, {i});
    });
  }

  /// Calibration: with the tile's final max and sum, each key block's
  /// probability mass summed over the tile's rows is added to
  /// stats[h, qb, kb].
  void emitCalibration(HostEmitter &e, const RowTiles &t, const UnitTile &u, PackedKeys &packed,
                       Value keyBlocks, Value rowBlocks, Value stats) {
    ImplicitLocOpBuilder &b = e.b;
    const int64_t lanes = p.keyLanes;
    auto vecType = VectorType::get({lanes}, b.getF32Type());
    e.forEach(u.rowBegin, u.rowEnd, [&](Value entry) {
      Value kb = loadIndexEntry(b, keyBlocks, entry);
      auto [jStart, count] = keySpan(e, u, kb);
      e.when(arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, count, e.idx(0)), [&] {
        Value tileIndex = packed.tile(e, u.bi, u.kvh, kb);
        emitScores(e, t, u, packed.keysT(e, tileIndex), jStart, count, rowBlocks);
        Value vectors = e.ceilDiv(count, lanes);
        auto rowsLoop = buildFor(
            b, e.idx(0), u.valid, e.idx(1), {e.f32(0.0)},
            [&](ImplicitLocOpBuilder &b, Value i, ValueRange mass) {
              HostEmitter e{b};
              Value max = e.load(t.max, {i}), sum = e.load(t.sum, {i});
              Value noKeys =
                  arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, max, e.f32(kNegInf));
              Value base = vector::BroadcastOp::create(
                  b, vecType, arith::SelectOp::create(b, noKeys, e.f32(0.0), max));
              // A row with no key (sum 0) adds nothing.
              Value hasKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, sum, e.f32(0.0));
              // One op per statement: the order of a call's arguments is
              // unspecified, and the IR must not depend on the host compiler.
              Value zero = e.f32(0.0);
              Value reciprocal = arith::DivFOp::create(b, e.f32(1.0), sum);
              Value inverse = arith::SelectOp::create(b, hasKeys, reciprocal, zero);
              auto probs =
                  buildFor(b, e.idx(0), vectors, e.idx(1), {f32Splat(b, vecType, 0.0)},
                           [&](ImplicitLocOpBuilder &b, Value v, ValueRange acc) {
                             HostEmitter e{b};
                             Value s = vector::LoadOp::create(b, vecType, t.s,
                                                              ValueRange{i, e.mul(v, lanes)});
                             Value prob = emitPolynomialExp2(b, arith::SubFOp::create(b, s, base));
                             return SmallVector<Value>{arith::AddFOp::create(b, acc[0], prob)};
                           });
              Value rowMass =
                  vector::ReductionOp::create(b, vector::CombiningKind::ADD, probs.getResult(0));
              return SmallVector<Value>{
                  math::FmaOp::create(b, rowMass, inverse, mass[0]).getResult()};
            });
        Value old = e.load(stats, {u.h, u.qb, kb});
        e.store(arith::AddFOp::create(b, old, rowsLoop.getResult(0)), stats, {u.h, u.qb, kb});
      });
    });
  }

  void emitTile(HostEmitter &e, const RowTiles &t, const TensorRows &q, const TensorRows &out,
                PackedKeys &packed, Value keyBlocks, const UnitTile &u, Value stats, Value lse,
                const Split &split) {
    ImplicitLocOpBuilder &b = e.b;
    const int64_t R = p.rowTile;
    Value rowBlocks = e.ceilDiv(u.valid, p.scores.rows);
    Value rowCount = e.mul(rowBlocks, p.scores.rows);
    emitLoadRows(b, q, u.tensorBatch, u.h, u.tensorRow, u.valid, t.q, p.g.scaleLog2, p.dimLanes);
    // O = 0, max = -inf, sum = 0.
    auto oVec = VectorType::get({p.dimLanes}, b.getF32Type());
    Value zeros = f32Splat(b, oVec, 0.0);
    e.forEach(e.idx(0), e.idx(R), [&](Value i) {
      for (int64_t d = 0; d < p.dimPad; d += p.dimLanes)
        vector::StoreOp::create(b, zeros, t.o, ValueRange{i, e.idx(d)});
      e.store(e.f32(kNegInf), t.max, {i});
      e.store(e.f32(0.0), t.sum, {i});
    });
    e.forEach(u.rowBegin, u.rowEnd, [&](Value entry) {
      Value kb = loadIndexEntry(b, keyBlocks, entry);
      auto [jStart, count] = keySpan(e, u, kb);
      e.when(arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, count, e.idx(0)), [&] {
        Value tileIndex = packed.tile(e, u.bi, u.kvh, kb);
        Value word = u.segments
                         ? memref::LoadOp::create(b, u.segments, ValueRange{entry}).getResult()
                         : Value();
        emitScores(e, t, u, packed.keysT(e, tileIndex), jStart, count, rowBlocks, word);
        emitSoftmax(e, t, rowCount, e.ceilDiv(count, p.keyLanes));
        AccumulateTile pv{t.s,   packed.values(e, tileIndex), t.o, t.scale, rowBlocks,
                          count, p.dimPad / p.dimLanes};
        emitAccumulateTile(b, pv, p.values);
      });
    });
    if (stats)
      emitCalibration(e, t, u, packed, keyBlocks, rowBlocks, stats);
    // A split-KV part leaves its piece (the max is in the log2 units a part
    // stores); a whole row writes out (and its lse).
    auto part = [&](Value slot) {
      e.forEach(e.idx(0), u.valid, [&](Value i) {
        auto [inv, lse2] = partScales(b, e.load(t.sum, {i}), e.load(t.max, {i}), emitHostLog2);
        // (slot, batch entry, row) flattened: the row's place among the parts' rows.
        Value partRow =
            e.add(e.mul(e.add(e.mul(slot, p.g.batch), u.bi), split.rows), e.add(u.r0, i));
        Value rowBase = e.add(split.base, e.mul(partRow, p.g.headDim));
        e.forEach(e.idx(0), e.idx(p.g.headDim), [&](Value d) {
          Value a = e.load(t.o, {i, d});
          e.store(arith::MulFOp::create(b, a, inv), packed.workspace, {e.add(rowBase, d)});
        });
        e.store(lse2, packed.workspace, {e.add(split.lseBase, partRow)});
      });
    };
    auto whole = [&] {
      e.forEach(e.idx(0), u.valid, [&](Value i) {
        Value max = e.load(t.max, {i}), sum = e.load(t.sum, {i});
        if (lse) {
          // Natural-log log-sum-exp: (max + log2 sum) / log2 e in the
          // scores' log2 units; -inf + log2 0 = -inf for a row with no key.
          Value lse2 = arith::AddFOp::create(b, max, math::Log2Op::create(b, sum));
          auto [lseHead, lseQuery] = p.g.queryIndices(b, u.h, e.add(u.q0, i));
          e.store(arith::MulFOp::create(b, lse2, e.f32(1.0 / kLog2e)), lse,
                  {u.bi, lseHead, lseQuery});
        }
        // UNE, not OGT: a NaN sum (NaN in the inputs) must reach the
        // output as it would in dense attention; only a row with no
        // kept key writes zeros.
        Value hasKeys = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, sum, e.f32(0.0));
        Value zero = e.f32(0.0); // first: see the inverse in the calibration pass
        Value reciprocal = arith::DivFOp::create(b, e.f32(1.0), sum);
        e.store(arith::SelectOp::create(b, hasKeys, reciprocal, zero), t.scale, {i});
      });
      emitStoreRows(b, out, u.tensorBatch, u.h, u.tensorRow, u.valid, t.o, t.scale, p.dimLanes);
    };
    if (!split.slot) {
      whole();
      return;
    }
    Value isPart = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, split.slot,
                                         arith::ConstantOp::create(b, b.getI32IntegerAttr(0)));
    auto branch = scf::IfOp::create(b, TypeRange{}, isPart, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&branch.getThenRegion().front());
    part(arith::IndexCastOp::create(b, b.getIndexType(), split.slot));
    b.setInsertionPointToStart(&branch.getElseRegion().front());
    whole();
  }

  BlockSparseAttentionOp op;
  ModuleOp module;
  int index;
  ForwardPlan p;
  RowTableGlobals tables;
};

struct LowerToCpuPass : public sieve::passes::impl::LowerToCpuBase<LowerToCpuPass> {
  using LowerToCpuBase::LowerToCpuBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (vectorWidth < 1 || vectorWidth > 64 || (vectorWidth & (vectorWidth - 1)) != 0) {
      module.emitError() << "sieve-lower-to-cpu: vector-width must be a power of two from 1 to "
                            "64, got "
                         << vectorWidth;
      return signalPassFailure();
    }
    SmallVector<BlockSparseAttentionOp> ops;
    module.walk([&](BlockSparseAttentionOp op) { ops.push_back(op); });
    int index = 0;
    for (BlockSparseAttentionOp op : ops)
      if (failed(ForwardLowering(op, module, index++, vectorWidth).run()))
        return signalPassFailure();
    SmallVector<sieve::dialect::BlockSparseAttentionBackwardOp> backward;
    module.walk([&](sieve::dialect::BlockSparseAttentionBackwardOp op) { backward.push_back(op); });
    index = 0;
    for (sieve::dialect::BlockSparseAttentionBackwardOp op : backward)
      if (failed(lowerBackwardToCpu(op, module, index++, vectorWidth)))
        return signalPassFailure();
  }
};

} // namespace
