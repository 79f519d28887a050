//===- CpuBackward.cpp - attention gradients as vectorized host phases ----===//
//
// With P = exp(scale * q.k - lse) recomputed from the forward's saved
// log-sum-exp, and delta_i = dout_i . out_i (= sum_j P_ij dP_ij):
//   dV_j = sum_i P_ij dout_i,      dP_ij = dout_i . v_j,
//   dS_ij = P_ij (dP_ij - delta_i),
//   dQ_i = scale sum_j dS_ij k_j,  dK_j = scale sum_i dS_ij q_i.
// Three phases (CpuPhases.h):
//
//   pack       per (batch, query head, query block): q (pre-scaled by
//              scale * log2 e, so scores are in log2 units and exp2
//              serves) and dout as f32 tiles both ways (rows, and rows
//              turned into columns), lse * log2 e and delta per row; per
//              (batch, key head, key block) k and v both ways;
//   key_value  per (batch, column), longest first: dK and dV of the
//              column's keys over its tiles (the query heads of a GQA group
//              included), with the keys as rows and the queries along the
//              vector lanes: S^T = K Q^T, dP^T = V dO^T (score tiles),
//              dV += P^T dO, dK += dS^T Q (accumulate tiles);
//   query      per (batch, work row): dQ of the row's queries over its key
//              blocks, queries as rows, keys along the lanes: S = Q K^T,
//              dP = dO V^T, dQ += dS K.
//
// Every output element is written by exactly one unit and nothing is
// summed across units, so any number of threads gives the same bits.
// Masked entries (causal, past the sequence's end) get P = dS = 0 by a
// select: no score of theirs, finite or not, reaches a gradient. Threshold
// mode masks the same way the scores under their head's threshold (the
// forward dropped them; the thresholds are constants of the gradient).
//
//===----------------------------------------------------------------------===//
#include "conversions/CpuBackward.h"
#include "conversions/CpuMicroKernel.h"
#include "conversions/CpuPhases.h"
#include "conversions/CpuTiles.h"
#include "conversions/LoweringUtils.h"
#include "conversions/SplitKvWorkspace.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <fmt/format.h>

#include <numeric>

using namespace mlir;
using sieve::dialect::BlockSparseAttentionBackwardOp;

namespace sieve::passes {

namespace {

/// How one backward op is tiled on a host of `hostLanes` f32 lanes.
struct BackwardPlan {
  int64_t batch, headsQ, headsKv, seqQ, seqK, D, group, blockQ, blockK;
  bool causal;
  int64_t causalOffset; // ProblemGeometry::causalOffset
  double scale;
  int64_t qLanes, kLanes, dLanes; // vectors along queries, keys, D
  int64_t qRows, kRows;           // query rows of a dQ tile; key rows of a dK/dV tile
  int64_t qPad, kPad, dPad;       // blockQ, blockK, D rounded up
  int64_t qBlocks, kBlocks;
  RegisterBlock alongKeys, alongQueries, alongDim;

  static BackwardPlan of(BlockSparseAttentionBackwardOp op, int64_t hostLanes) {
    BackwardPlan p;
    auto q = op.getQuery().getType(), k = op.getKey().getType();
    p.batch = q.getDimSize(0);
    p.headsQ = q.getDimSize(1);
    p.seqQ = q.getDimSize(2);
    p.D = q.getDimSize(3);
    p.headsKv = k.getDimSize(1);
    p.seqK = k.getDimSize(2);
    p.group = p.headsQ / p.headsKv;
    p.blockQ = op.getBlockQ();
    p.blockK = op.getBlockK();
    p.causal = op.getCausal();
    p.causalOffset = p.causal ? op.getCausalOffset() : 0;
    p.scale = op.getScale().convertToDouble();
    p.qLanes = std::min(hostLanes, powerOfTwoCeil(p.blockQ));
    p.kLanes = std::min(hostLanes, powerOfTwoCeil(p.blockK));
    p.dLanes = std::min(hostLanes, powerOfTwoCeil(p.D));
    p.alongKeys = registerBlockFor(p.kLanes, hostLanes);
    p.alongQueries = registerBlockFor(p.qLanes, hostLanes);
    p.alongDim = registerBlockFor(p.dLanes, hostLanes);
    // Tiles of up to 32 rows (as the forward's); the packed blocks are
    // whole tiles and whole vectors.
    auto rowsOf = [](int64_t block, int64_t lanes, int64_t regRows) {
      return block <= 32 ? roundUp(block, std::lcm(regRows, lanes)) : 32;
    };
    p.qRows = rowsOf(p.blockQ, p.qLanes, p.alongKeys.rows);
    p.kRows = rowsOf(p.blockK, p.kLanes, p.alongQueries.rows);
    p.qPad = roundUp(p.blockQ, std::lcm(p.qRows, p.qLanes));
    p.kPad = roundUp(p.blockK, std::lcm(p.kRows, p.kLanes));
    p.dPad = roundUp(p.D, p.dLanes);
    p.qBlocks = (p.seqQ + p.blockQ - 1) / p.blockQ;
    p.kBlocks = (p.seqK + p.blockK - 1) / p.blockK;
    return p;
  }

  // A query block's tiles: q rows, q columns, dout rows, dout columns,
  // lse * log2 e, delta; a key block's: k rows, k columns, v rows, v columns.
  int64_t rowsFloats(int64_t pad) const { return pad * dPad; }
  int64_t columnsFloats(int64_t pad) const { return D * pad; }
  int64_t queryBlockFloats() const {
    return 2 * rowsFloats(qPad) + 2 * columnsFloats(qPad) + 2 * qPad;
  }
  int64_t keyBlockFloats() const { return 2 * rowsFloats(kPad) + 2 * columnsFloats(kPad); }
  int64_t queryTiles() const { return batch * headsQ * qBlocks; }
  int64_t keyTiles() const { return batch * headsKv * kBlocks; }
  int64_t workspaceFloats() const {
    return queryTiles() * queryBlockFloats() + keyTiles() * keyBlockFloats();
  }

  std::string describe() const {
    return fmt::format("dQ tiles {}x{} (lanes {}), dK/dV tiles {}x{} (lanes {}), {}-lane rows; "
                       "q, dout, k, v packed to f32 both ways",
                       qRows, kPad, kLanes, kRows, qPad, qLanes, dLanes);
  }
};

/// The sequence lengths a library function takes, and the block counts
/// that follow from them.
struct Lengths {
  Value seqQ, seqK, qBlocks, kBlocks;
  static Lengths of(HostEmitter &e, const BackwardPlan &p, Value seqQ, Value seqK) {
    return {seqQ, seqK, e.ceilDiv(seqQ, p.blockQ), e.ceilDiv(seqK, p.blockK)};
  }
  Value queryTiles(HostEmitter &e, const BackwardPlan &p) {
    return e.mul(qBlocks, p.batch * p.headsQ);
  }
};

/// The packed blocks in the workspace: every query block's, then every key
/// block's.
struct Packed {
  const BackwardPlan &p;
  Value ws;
  Lengths n;

  Value queryBlock(HostEmitter &e, Value bi, Value h, Value qb) {
    Value head = e.add(e.mul(bi, p.headsQ), h);
    Value t = e.add(arith::MulIOp::create(e.b, head, n.qBlocks), qb);
    return e.mul(t, p.queryBlockFloats());
  }
  Value keyBlock(HostEmitter &e, Value bi, Value kvh, Value kb) {
    Value head = e.add(e.mul(bi, p.headsKv), kvh);
    Value t = e.add(arith::MulIOp::create(e.b, head, n.kBlocks), kb);
    Value keysBase = e.mul(n.queryTiles(e, p), p.queryBlockFloats());
    return e.add(keysBase, e.mul(t, p.keyBlockFloats()));
  }
  /// Rows `row0`.. (`rows` of them) of the `which`-th row tile (0: q or k,
  /// 1: dout or v) of a block at `base` with `pad` rows.
  Value rowTile(HostEmitter &e, Value base, int64_t pad, int which, Value row0, int64_t rows) {
    Value at = e.add(e.add(base, e.idx(which * p.rowsFloats(pad))), e.mul(row0, p.dPad));
    return workspaceTile(e.b, ws, at, rows, p.dPad);
  }
  Value columnTile(HostEmitter &e, Value base, int64_t pad, int which) {
    Value at = e.add(base, e.idx(2 * p.rowsFloats(pad) + which * p.columnsFloats(pad)));
    return workspaceTile(e.b, ws, at, p.D, pad);
  }
  /// A query block's lse * log2 e (which = 0) or delta (1).
  Value rowValues(HostEmitter &e, Value base, int which) {
    Value at =
        e.add(base, e.idx(2 * p.rowsFloats(p.qPad) + 2 * p.columnsFloats(p.qPad) + which * p.qPad));
    return workspaceVector(e.b, ws, at, p.qPad);
  }
};

class BackwardLowering {
public:
  BackwardLowering(BlockSparseAttentionBackwardOp op, ModuleOp module, int index, int64_t hostLanes)
      : op(op), module(module), index(index), p(BackwardPlan::of(op, hostLanes)) {}

  LogicalResult run() {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    const std::string prefix = "__sieve_cpu_bwd" + std::to_string(index);
    auto table = [&](StringRef name, ArrayRef<int32_t> values) {
      return createConstantTable(mb, op.getLoc(), (prefix + "_" + name).str(), values);
    };
    rowHeads = table("row_heads", op.getRowHeads());
    rowQb = table("row_query_blocks", op.getRowQueryBlocks());
    rowSpans = table("row_spans", op.getRowSpans());
    keyBlocks = table("key_blocks", op.getKeyBlocks());
    colHeads = table("col_kv_heads", op.getColKvHeads());
    colKb = table("col_key_blocks", op.getColKeyBlocks());
    colSpans = table("col_spans", op.getColSpans());
    colQh = table("col_query_heads", op.getColQueryHeads());
    colQb = table("col_query_blocks", op.getColQueryBlocks());

    func::FuncOp pack = emitPackLibrary(), keyValue = emitKeyValueLibrary(),
                 query = emitQueryLibrary();
    // Every phase takes the sequence lengths.
    std::vector<HostPhase> phases;
    HostPhase packPhase{sieve::runtime::LaunchRole::Pack,
                        prefix + "_pack",
                        "__sieve_cpu_bwd_pack",
                        p.queryTiles() + p.keyTiles(),
                        {},
                        {p.seqQ, p.seqK}};
    packPhase.body = [&](ImplicitLocOpBuilder &b, ValueRange args, Value ws, ValueRange,
                         ValueRange scalars, Value begin, Value end) {
      forEachUnit(b, begin, end, [&](ImplicitLocOpBuilder &b, Value u) {
        SmallVector<Value> callArgs(args.begin(), args.end());
        callArgs.append({ws, scalars[0], scalars[1], u});
        callLibrary(b, pack, callArgs);
      });
    };
    phases.push_back(packPhase);
    // dK/dV by columns, then dQ by rows: one unit per (column or row, batch
    // entry), in their tables' order (longest first).
    auto byTable = [&](sieve::runtime::LaunchRole role, StringRef name, StringRef base,
                       int64_t units, func::FuncOp fn, ArrayRef<memref::GlobalOp> tableGlobals) {
      HostPhase phase{role,
                      (prefix + "_" + name).str(),
                      base.str(),
                      units * p.batch,
                      SmallVector<memref::GlobalOp>(tableGlobals),
                      {p.seqQ, p.seqK}};
      phase.body = [&, fn](ImplicitLocOpBuilder &b, ValueRange args, Value ws, ValueRange tablesIn,
                           ValueRange scalars, Value begin, Value end) {
        forEachUnit(b, begin, end, [&](ImplicitLocOpBuilder &b, Value u) {
          HostEmitter e{b};
          SmallVector<Value> callArgs(args.begin(), args.end());
          callArgs.push_back(ws);
          callArgs.append(tablesIn.begin(), tablesIn.end());
          callArgs.append({scalars[0], scalars[1], e.div(u, p.batch), e.rem(u, p.batch)});
          callLibrary(b, fn, callArgs);
        });
      };
      return phase;
    };
    phases.push_back(byTable(sieve::runtime::LaunchRole::BackwardKeyValue, "key_value",
                             "__sieve_cpu_bwd_key_value", op.getNumColumns(), keyValue,
                             {colHeads, colKb, colSpans, colQh, colQb}));
    phases.push_back(byTable(sieve::runtime::LaunchRole::BackwardQuery, "query",
                             "__sieve_cpu_bwd_query", op.getNumRows(), query,
                             {rowHeads, rowQb, rowSpans, keyBlocks}));
    std::string config = p.describe();
    if (op.getThresholds())
      config += "; thresholds: scores under the head's masked";
    return emitHostPhases(op, module, operandArguments(op), libraryOperandTypes(),
                          p.workspaceFloats(), phases, "vector", config);
  }

private:
  Value global(ImplicitLocOpBuilder &b, memref::GlobalOp g) {
    return memref::GetGlobalOp::create(b, g.getType(), g.getSymName());
  }

  /// The operands' types as the library takes them: sequence lengths
  /// dynamic (q, k, v, out, dout, dq, dk, dv: [B, H, S, D]; lse [B, H, S];
  /// the thresholds [Hq] as they are).
  SmallVector<Type> libraryOperandTypes() {
    SmallVector<Type> types;
    for (Value operand : op->getOperands()) {
      auto type = cast<MemRefType>(operand.getType());
      types.push_back(operand == op.getThresholds() ? type : withDynamicSizes(type, {2}));
    }
    return types;
  }

  /// Threshold mode: head `h`'s threshold in the packed scores' log2
  /// units (theta * log2 e), or null without thresholds.
  Value headThreshold(HostEmitter &e, ValueRange args, Value h) {
    if (!op.getThresholds())
      return {};
    return arith::MulFOp::create(e.b, e.load(args[9], {h}), e.f32(kLog2e));
  }

  /// The library's signature: the operands, the workspace, `tables` i32
  /// tables, seqQ and seqK, then `units` indices.
  func::FuncOp
  emitLibrary(StringRef name, int tables, int units,
              const std::function<void(HostEmitter &, ValueRange operands, Value ws,
                                       ValueRange tables, Lengths n, ValueRange units)> &body) {
    MLIRContext *ctx = op.getContext();
    SmallVector<Type> types = libraryOperandTypes();
    const unsigned operands = types.size();
    auto index = IndexType::get(ctx);
    types.push_back(workspaceType(ctx));
    types.append(tables, MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32)));
    types.append(2 + units, index);
    return emitLibraryFunction(
        module, op.getLoc(), name, types, [&](ImplicitLocOpBuilder &b, ValueRange args) {
          HostEmitter e{b};
          const unsigned at = operands + 1 + tables;
          body(e, args.take_front(operands), args[operands], args.slice(operands + 1, tables),
               Lengths::of(e, p, args[at], args[at + 1]), args.drop_front(at + 2));
        });
  }

  func::FuncOp emitPackLibrary() {
    return emitLibrary("__sieve_cpu_bwd_pack_unit", 0, 1,
                       [&](HostEmitter &e, ValueRange operands, Value ws, ValueRange, Lengths n,
                           ValueRange units) { emitPack(e, operands, ws, n, units[0]); });
  }
  func::FuncOp emitKeyValueLibrary() {
    return emitLibrary(
        "__sieve_cpu_bwd_key_value_unit", 5, 2,
        [&](HostEmitter &e, ValueRange operands, Value ws, ValueRange tables, Lengths n,
            ValueRange units) { emitKeyValue(e, operands, ws, tables, n, units[0], units[1]); });
  }
  func::FuncOp emitQueryLibrary() {
    return emitLibrary(
        "__sieve_cpu_bwd_query_unit", 4, 2,
        [&](HostEmitter &e, ValueRange operands, Value ws, ValueRange tables, Lengths n,
            ValueRange units) { emitQuery(e, operands, ws, tables, n, units[0], units[1]); });
  }
  /// A scratch [n] holding `v` in every element.
  Value constantRows(HostEmitter &e, int64_t n, double v) {
    Value m = e.scratch({n});
    e.forEach(e.idx(0), e.idx(n), [&](Value i) { e.store(e.f32(v), m, {i}); });
    return m;
  }
  /// Zeros in every element of a static 2-d f32 tile, `lanes` at a time.
  void zeroTile(HostEmitter &e, Value tile, int64_t lanes) {
    auto type = cast<MemRefType>(tile.getType());
    Value zeros = f32Splat(e.b, VectorType::get({lanes}, e.b.getF32Type()), 0.0);
    e.forEach(e.idx(0), e.idx(type.getDimSize(0)), [&](Value i) {
      for (int64_t c = 0; c < type.getDimSize(1); c += lanes)
        vector::StoreOp::create(e.b, zeros, tile, ValueRange{i, e.idx(c)});
    });
  }

  // Operands: q, k, v, out, dout, lse, dq, dk, dv[, thresholds].
  /// The pack phase's unit `u`: a query block's tiles (the first
  /// B * Hq * QB units), else a key block's.
  void emitPack(HostEmitter &e, ValueRange args, Value ws, Lengths n, Value u) {
    ImplicitLocOpBuilder &b = e.b;
    TensorRows q = TensorRows::of(b, args[0]), k = TensorRows::of(b, args[1]),
               v = TensorRows::of(b, args[2]), dout = TensorRows::of(b, args[4]);
    Value out = args[3], lse = args[5];
    Packed packed{p, ws, n};
    const double qScale = p.scale * kLog2e;
    {
      Value queryTiles = n.queryTiles(e, p);
      Value isQuery = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, u, queryTiles);
      auto branch = scf::IfOp::create(b, TypeRange{}, isQuery, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&branch.getThenRegion().front());
      {
        Value qb = arith::RemUIOp::create(b, u, n.qBlocks);
        Value rest = arith::DivUIOp::create(b, u, n.qBlocks);
        Value h = e.rem(rest, p.headsQ), bi = e.div(rest, p.headsQ);
        Value qStart = e.mul(qb, p.blockQ);
        Value count = e.minU(e.idx(p.blockQ), e.sub(n.seqQ, qStart));
        Value base = packed.queryBlock(e, bi, h, qb);
        Value qRows = packed.rowTile(e, base, p.qPad, 0, e.idx(0), p.qPad);
        Value doRows = packed.rowTile(e, base, p.qPad, 1, e.idx(0), p.qPad);
        emitLoadRows(b, q, bi, h, qStart, count, qRows, qScale, p.dLanes);
        emitLoadRows(b, dout, bi, h, qStart, count, doRows, 1.0, p.dLanes);
        emitLoadColumns(b, q, bi, h, qStart, count, packed.columnTile(e, base, p.qPad, 0), p.dLanes,
                        qScale);
        emitLoadColumns(b, dout, bi, h, qStart, count, packed.columnTile(e, base, p.qPad, 1),
                        p.dLanes);
        Value lse2 = packed.rowValues(e, base, 0), delta = packed.rowValues(e, base, 1);
        // lse in log2 units, as the scores are; delta_i = dout_i . out_i in
        // order of d. Rows past the block's end get zeros.
        e.forEach(e.idx(0), count, [&](Value i) {
          Value row = e.add(qStart, i);
          e.store(arith::MulFOp::create(b, e.load(lse, {bi, h, row}), e.f32(kLog2e)), lse2, {i});
          auto dot =
              buildFor(b, e.idx(0), e.idx(p.D), e.idx(1), {e.f32(0.0)},
                       [&](ImplicitLocOpBuilder &b, Value d, ValueRange acc) {
                         HostEmitter e{b};
                         Value o = toF32(b, e.load(out, {bi, h, row, d}));
                         return SmallVector<Value>{
                             math::FmaOp::create(b, e.load(doRows, {i, d}), o, acc[0]).getResult()};
                       });
          e.store(dot.getResult(0), delta, {i});
        });
        e.forEach(count, e.idx(p.qPad), [&](Value i) {
          e.store(e.f32(0.0), lse2, {i});
          e.store(e.f32(0.0), delta, {i});
        });
      }
      b.setInsertionPointToStart(&branch.getElseRegion().front());
      {
        Value w = e.sub(u, queryTiles);
        Value kb = arith::RemUIOp::create(b, w, n.kBlocks);
        Value rest = arith::DivUIOp::create(b, w, n.kBlocks);
        Value kvh = e.rem(rest, p.headsKv), bi = e.div(rest, p.headsKv);
        Value jStart = e.mul(kb, p.blockK);
        Value count = e.minU(e.idx(p.blockK), e.sub(n.seqK, jStart));
        Value base = packed.keyBlock(e, bi, kvh, kb);
        emitLoadRows(b, k, bi, kvh, jStart, count,
                     packed.rowTile(e, base, p.kPad, 0, e.idx(0), p.kPad), 1.0, p.dLanes);
        emitLoadRows(b, v, bi, kvh, jStart, count,
                     packed.rowTile(e, base, p.kPad, 1, e.idx(0), p.kPad), 1.0, p.dLanes);
        emitLoadColumns(b, k, bi, kvh, jStart, count, packed.columnTile(e, base, p.kPad, 0),
                        p.dLanes);
        emitLoadColumns(b, v, bi, kvh, jStart, count, packed.columnTile(e, base, p.kPad, 1),
                        p.dLanes);
      }
    }
  }

  /// dK and dV of one column's keys, `kRows` at a time.
  void emitKeyValue(HostEmitter &e, ValueRange args, Value ws, ValueRange tables, Lengths n,
                    Value c, Value bi) {
    ImplicitLocOpBuilder &b = e.b;
    Packed packed{p, ws, n};
    TensorRows dk = TensorRows::of(b, args[7]), dv = TensorRows::of(b, args[8]);
    Value cHeads = tables[0], cBlocks = tables[1], cSpans = tables[2], tHeads = tables[3],
          tBlocks = tables[4];
    const int64_t R = p.kRows;
    Value st = e.scratch({R, p.qPad}), dpt = e.scratch({R, p.qPad});
    Value gk = e.scratch({R, p.dPad}), gv = e.scratch({R, p.dPad});
    // Q was packed times scale * log2 e: dK = scale sum dS q = sum dS Q / log2 e.
    Value kScale = constantRows(e, R, 1.0 / kLog2e), vScale = constantRows(e, R, 1.0);
    auto qVec = VectorType::get({p.qLanes}, b.getF32Type());
    {
      Value kvh = loadIndexEntry(b, cHeads, c), kb = loadIndexEntry(b, cBlocks, c);
      auto [colBegin, colEnd] = loadRowSpan(b, cSpans, c);
      Value jStart = e.mul(kb, p.blockK);
      Value keys = e.minU(e.idx(p.blockK), e.sub(n.seqK, jStart));
      Value keyBase = packed.keyBlock(e, bi, kvh, kb);
      e.forEach(e.idx(0), e.ceilDiv(keys, R), [&](Value tileIndex) {
        Value j0 = e.mul(tileIndex, R);
        Value valid = e.minU(e.idx(R), e.sub(keys, j0));
        Value rowBlocks = e.ceilDiv(valid, p.alongQueries.rows);
        Value kRowsT = packed.rowTile(e, keyBase, p.kPad, 0, j0, R);
        Value vRowsT = packed.rowTile(e, keyBase, p.kPad, 1, j0, R);
        zeroTile(e, gk, p.dLanes);
        zeroTile(e, gv, p.dLanes);
        Value firstKey = e.add(jStart, j0);
        e.forEach(colBegin, colEnd, [&](Value t) {
          Value h = loadIndexEntry(b, tHeads, t), qb = loadIndexEntry(b, tBlocks, t);
          Value qStart = e.mul(qb, p.blockQ);
          Value qCount = e.minU(e.idx(p.blockQ), e.sub(n.seqQ, qStart));
          // Causal: queries whose position comes before the tile's first
          // key see none of its keys.
          Value qPosition = causalPosition(b, qStart, p.causalOffset);
          Value first =
              p.causal ? e.minS(qCount, e.maxS(e.idx(0), e.sub(firstKey, qPosition))) : e.idx(0);
          e.when(arith::CmpIOp::create(b, arith::CmpIPredicate::slt, first, qCount), [&] {
            Value qBase = packed.queryBlock(e, bi, h, qb);
            Value threshold = headThreshold(e, args, h);
            Value lse2 = packed.rowValues(e, qBase, 0), delta = packed.rowValues(e, qBase, 1);
            RegisterBlock blk = p.alongQueries;
            const int64_t vectors = p.qPad / p.qLanes;
            emitScoreTile(
                b, {kRowsT, packed.columnTile(e, qBase, p.qPad, 0), st, rowBlocks, p.D, vectors},
                blk, identity());
            emitScoreTile(
                b, {vRowsT, packed.columnTile(e, qBase, p.qPad, 1), dpt, rowBlocks, p.D, vectors},
                blk, identity());
            // P^T and dS^T for the tile's keys (rows) and its queries (lanes).
            e.forEach(e.idx(0), e.mul(rowBlocks, blk.rows), [&](Value j) {
              Value key = e.add(firstKey, j);
              Value lower = p.causal ? e.sub(key, qPosition) : Value();
              e.forEach(e.div(first, p.qLanes), e.ceilDiv(qCount, p.qLanes), [&](Value vi) {
                Value at = e.mul(vi, p.qLanes);
                Value kept = lanesInRange(b, p.qLanes, vi, lower, qCount);
                Value s = vector::LoadOp::create(b, qVec, st, ValueRange{j, at});
                Value dp = vector::LoadOp::create(b, qVec, dpt, ValueRange{j, at});
                Value l = vector::LoadOp::create(b, qVec, lse2, ValueRange{at});
                Value dl = vector::LoadOp::create(b, qVec, delta, ValueRange{at});
                auto [prob, ds] = probabilityAndGradient(b, kept, s, l, dp, dl, threshold);
                vector::StoreOp::create(b, prob, st, ValueRange{j, at});
                vector::StoreOp::create(b, ds, dpt, ValueRange{j, at});
              });
            });
            const int64_t dVectors = p.dPad / p.dLanes;
            Value doRows = packed.rowTile(e, qBase, p.qPad, 1, e.idx(0), p.qPad);
            Value qRowsT = packed.rowTile(e, qBase, p.qPad, 0, e.idx(0), p.qPad);
            AccumulateTile dvTile{st, doRows, gv, {}, rowBlocks, qCount, dVectors, first};
            emitAccumulateTile(b, dvTile, p.alongDim);
            AccumulateTile dkTile{dpt, qRowsT, gk, {}, rowBlocks, qCount, dVectors, first};
            emitAccumulateTile(b, dkTile, p.alongDim);
          });
        });
        emitStoreRows(b, dk, bi, kvh, firstKey, valid, gk, kScale, p.dLanes);
        emitStoreRows(b, dv, bi, kvh, firstKey, valid, gv, vScale, p.dLanes);
      });
    }
  }

  /// dQ of one work row's queries, `qRows` at a time.
  void emitQuery(HostEmitter &e, ValueRange args, Value ws, ValueRange tables, Lengths n, Value r,
                 Value bi) {
    ImplicitLocOpBuilder &b = e.b;
    Packed packed{p, ws, n};
    TensorRows dq = TensorRows::of(b, args[6]);
    Value heads = tables[0], qBlocks = tables[1], spans = tables[2], blocks = tables[3];
    const int64_t R = p.qRows;
    Value s = e.scratch({R, p.kPad}), dp = e.scratch({R, p.kPad});
    Value gq = e.scratch({R, p.dPad});
    Value qScale = constantRows(e, R, p.scale);
    auto kVec = VectorType::get({p.kLanes}, b.getF32Type());
    {
      Value h = loadIndexEntry(b, heads, r), qb = loadIndexEntry(b, qBlocks, r);
      Value kvh = e.div(h, p.group);
      Value threshold = headThreshold(e, args, h);
      auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
      Value qStart = e.mul(qb, p.blockQ);
      Value rows = e.minU(e.idx(p.blockQ), e.sub(n.seqQ, qStart));
      Value qBase = packed.queryBlock(e, bi, h, qb);
      Value lse2 = packed.rowValues(e, qBase, 0), delta = packed.rowValues(e, qBase, 1);
      e.forEach(e.idx(0), e.ceilDiv(rows, R), [&](Value tileIndex) {
        Value r0 = e.mul(tileIndex, R);
        Value valid = e.minU(e.idx(R), e.sub(rows, r0));
        Value q0 = e.add(qStart, r0);
        Value rowBlocks = e.ceilDiv(valid, p.alongKeys.rows);
        Value qRowsT = packed.rowTile(e, qBase, p.qPad, 0, r0, R);
        Value doRows = packed.rowTile(e, qBase, p.qPad, 1, r0, R);
        zeroTile(e, gq, p.dLanes);
        e.forEach(rowBegin, rowEnd, [&](Value entry) {
          Value kb = loadIndexEntry(b, blocks, entry);
          Value jStart = e.mul(kb, p.blockK);
          Value count = e.minU(e.idx(p.blockK), e.sub(n.seqK, jStart));
          if (p.causal) // no key past what the tile's last query sees
            count = e.maxS(
                e.idx(0),
                e.minS(count, e.sub(causalPosition(b, e.add(q0, valid), p.causalOffset), jStart)));
          e.when(arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, count, e.idx(0)), [&] {
            Value keyBase = packed.keyBlock(e, bi, kvh, kb);
            RegisterBlock blk = p.alongKeys;
            const int64_t vectors = p.kPad / p.kLanes;
            emitScoreTile(
                b, {qRowsT, packed.columnTile(e, keyBase, p.kPad, 0), s, rowBlocks, p.D, vectors},
                blk, identity());
            emitScoreTile(
                b, {doRows, packed.columnTile(e, keyBase, p.kPad, 1), dp, rowBlocks, p.D, vectors},
                blk, identity());
            // dS for the tile's queries (rows) and the block's keys (lanes).
            e.forEach(e.idx(0), e.mul(rowBlocks, blk.rows), [&](Value i) {
              Value rowInBlock = e.add(r0, i);
              Value limit = count;
              if (p.causal) // keys up to the row's query's position
                limit = e.minS(
                    count, e.sub(causalPosition(b, e.add(e.add(q0, i), e.idx(1)), p.causalOffset),
                                 jStart));
              Value l = vector::BroadcastOp::create(b, kVec, e.load(lse2, {rowInBlock}));
              Value dl = vector::BroadcastOp::create(b, kVec, e.load(delta, {rowInBlock}));
              e.forEach(e.idx(0), e.ceilDiv(count, p.kLanes), [&](Value vi) {
                Value at = e.mul(vi, p.kLanes);
                Value kept = lanesInRange(b, p.kLanes, vi, {}, limit);
                Value sv = vector::LoadOp::create(b, kVec, s, ValueRange{i, at});
                Value dpv = vector::LoadOp::create(b, kVec, dp, ValueRange{i, at});
                Value ds = probabilityAndGradient(b, kept, sv, l, dpv, dl, threshold).second;
                vector::StoreOp::create(b, ds, s, ValueRange{i, at});
              });
            });
            AccumulateTile dqTile{s,
                                  packed.rowTile(e, keyBase, p.kPad, 0, e.idx(0), p.kPad),
                                  gq,
                                  {},
                                  rowBlocks,
                                  count,
                                  p.dPad / p.dLanes};
            emitAccumulateTile(b, dqTile, p.alongDim);
          });
        });
        emitStoreRows(b, dq, bi, h, q0, valid, gq, qScale, p.dLanes);
      });
    }
  }

  static ScoreEpilogue identity() {
    return [](ImplicitLocOpBuilder &, Value, Value, Value acc) { return acc; };
  }

  /// (P, dS) for a vector of entries: P = exp2(s - lse2), dS = P (dP -
  /// delta) where `kept` and, with a `threshold`, s is not under it (the
  /// forward's test, unordered: a NaN score stays kept); zeros elsewhere.
  static std::pair<Value, Value> probabilityAndGradient(ImplicitLocOpBuilder &b, Value kept,
                                                        Value s, Value lse2, Value dp, Value delta,
                                                        Value threshold) {
    Value zero = f32Like(b, s, 0.0);
    if (threshold) {
      Value thr = vector::BroadcastOp::create(b, s.getType(), threshold);
      Value over = arith::CmpFOp::create(b, arith::CmpFPredicate::UGE, s, thr);
      kept = arith::AndIOp::create(b, kept, over);
    }
    Value prob = emitPolynomialExp2(b, arith::SubFOp::create(b, s, lse2));
    Value ds = arith::MulFOp::create(b, prob, arith::SubFOp::create(b, dp, delta));
    return {arith::SelectOp::create(b, kept, prob, zero),
            arith::SelectOp::create(b, kept, ds, zero)};
  }

  BlockSparseAttentionBackwardOp op;
  ModuleOp module;
  int index;
  BackwardPlan p;
  memref::GlobalOp rowHeads, rowQb, rowSpans, keyBlocks, colHeads, colKb, colSpans, colQh, colQb;
};

} // namespace

LogicalResult lowerBackwardToCpu(BlockSparseAttentionBackwardOp op, ModuleOp module, int index,
                                 int64_t hostLanes) {
  return BackwardLowering(op, module, index, hostLanes).run();
}

} // namespace sieve::passes
