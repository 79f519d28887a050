//===- CpuBackwardLoops.cpp - attention gradients as host loops -----------===//
//
// With P = exp(scale * q.k - lse) recomputed from the forward's saved
// log-sum-exp, and delta_i = dout_i . out_i (= sum_j P_ij dP_ij):
//   dV_j = sum_i P_ij dout_i,      dP_ij = dout_i . v_j,
//   dS_ij = P_ij (dP_ij - delta_i),
//   dQ_i = scale sum_j dS_ij k_j,  dK_j = scale sum_i dS_ij q_i.
// Three passes: delta for every query row (into a heap scratch), dQ by the
// row tables (each row owns its queries' gradients), dK and dV by the
// column tables (each column owns its keys' gradients, the query heads of
// a GQA group included), so every output element is written exactly once
// and nothing is accumulated across workers. Scores are kept in log2
// units (q pre-scaled by scale * log2 e) so exp2 serves as on the GPU.
//
//===----------------------------------------------------------------------===//
#include "conversions/CpuBackwardLoops.h"
#include "conversions/LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using sieve::dialect::BlockSparseAttentionBackwardOp;

namespace sieve::passes {

namespace {

/// scf.for without loop-carried values, its body emitted through the same
/// builder (so helpers that hold it keep working inside).
void forEach(ImplicitLocOpBuilder &b, Value lb, Value ub, const std::function<void(Value)> &body) {
  auto loop = scf::ForOp::create(b, lb, ub, indexConst(b, 1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

struct Emitter {
  ImplicitLocOpBuilder &b;
  int64_t headDim;

  Value idx(int64_t v) { return indexConst(b, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value mul(Value x, int64_t y) { return arith::MulIOp::create(b, x, idx(y)); }
  Value minU(Value x, Value y) { return arith::MinUIOp::create(b, x, y); }
  Value load(Value m, ValueRange at) { return toF32(b, memref::LoadOp::create(b, m, at)); }

  /// sum_d x(d) * y(d) over the head dimension.
  Value dot(const std::function<Value(Value)> &x, const std::function<Value(Value)> &y) {
    auto loop = scf::ForOp::create(b, idx(0), idx(headDim), idx(1), ValueRange{f32Const(b, 0.0)});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value d = loop.getInductionVar();
    scf::YieldOp::create(
        b, ValueRange{math::FmaOp::create(b, x(d), y(d), loop.getRegionIterArgs()[0])});
    return loop.getResult(0);
  }
  /// acc[d] += w * y(d) over the head dimension.
  void axpy(Value acc, Value w, const std::function<Value(Value)> &y) {
    forEach(b, idx(0), idx(headDim), [&](Value d) {
      Value old = memref::LoadOp::create(b, acc, ValueRange{d});
      memref::StoreOp::create(b, math::FmaOp::create(b, w, y(d), old), acc, ValueRange{d});
    });
  }
};

} // namespace

void lowerBackwardToCpuLoops(BlockSparseAttentionBackwardOp op, ModuleOp module, int index) {
  OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
  const std::string prefix = "__sieve_cpu_bwd" + std::to_string(index);
  auto table = [&](StringRef name, ArrayRef<int32_t> values) {
    return createConstantTable(mb, op.getLoc(), (prefix + "_" + name).str(), values);
  };
  memref::GlobalOp rowHeadsG = table("row_heads", op.getRowHeads()),
                   rowQbG = table("row_query_blocks", op.getRowQueryBlocks()),
                   rowSpansG = table("row_spans", op.getRowSpans()),
                   keyBlocksG = table("key_blocks", op.getKeyBlocks()),
                   colHeadsG = table("col_kv_heads", op.getColKvHeads()),
                   colKbG = table("col_key_blocks", op.getColKeyBlocks()),
                   colSpansG = table("col_spans", op.getColSpans()),
                   colQhG = table("col_query_heads", op.getColQueryHeads()),
                   colQbG = table("col_query_blocks", op.getColQueryBlocks());

  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b, op.getQuery().getType().getDimSize(3)};
  auto qType = op.getQuery().getType();
  auto kType = op.getKey().getType();
  Type elt = qType.getElementType();
  const int64_t batch = qType.getDimSize(0), headsQ = qType.getDimSize(1),
                seqQ = qType.getDimSize(2), D = qType.getDimSize(3);
  const int64_t headsKv = kType.getDimSize(1), seqK = kType.getDimSize(2);
  const int64_t group = headsQ / headsKv, blockQ = op.getBlockQ(), blockK = op.getBlockK();
  const bool causal = op.getCausal();
  const double scale = op.getScale().convertToDouble();
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue(), out = op.getOut(),
        dout = op.getDout(), lse = op.getLse();
  auto global = [&](memref::GlobalOp g) -> Value {
    return memref::GetGlobalOp::create(b, g.getType(), g.getSymName());
  };

  auto f32 = b.getF32Type();
  Value c0 = e.idx(0), c1 = e.idx(1);
  Value delta = memref::AllocOp::create(b, MemRefType::get({batch, headsQ, seqQ}, f32));
  Value rowA = memref::AllocaOp::create(b, MemRefType::get({D}, f32)); // q*scale*log2e or k
  Value rowB = memref::AllocaOp::create(b, MemRefType::get({D}, f32)); // dout or v
  Value accA = memref::AllocaOp::create(b, MemRefType::get({D}, f32)); // dq or dk
  Value accB = memref::AllocaOp::create(b, MemRefType::get({D}, f32)); // dv
  auto fill = [&](Value buffer, const std::function<Value(Value)> &value) {
    forEach(b, c0, e.idx(D),
            [&](Value d) { memref::StoreOp::create(b, value(d), buffer, ValueRange{d}); });
  };
  auto zero = [&](Value) { return f32Const(b, 0.0); };
  // lse in log2 units, as the scores are.
  auto lse2 = [&](Value bi, Value h, Value i) {
    return arith::MulFOp::create(b, memref::LoadOp::create(b, lse, ValueRange{bi, h, i}),
                                 f32Const(b, kLog2e));
  };
  // P_ij from a log2-unit score.
  auto probability = [&](Value s2, Value bi, Value h, Value i) -> Value {
    return math::Exp2Op::create(b, arith::SubFOp::create(b, s2, lse2(bi, h, i)));
  };
  // dS_ij / P_ij's factor: dP_ij - delta_i, times P_ij.
  auto scoreGradient = [&](Value p, Value dp, Value bi, Value h, Value i) -> Value {
    Value di = memref::LoadOp::create(b, delta, ValueRange{bi, h, i});
    return arith::MulFOp::create(b, p, arith::SubFOp::create(b, dp, di));
  };

  forEach(b, c0, e.idx(batch), [&](Value bi) {
    // delta_i = dout_i . out_i for every query row.
    forEach(b, c0, e.idx(headsQ), [&](Value h) {
      forEach(b, c0, e.idx(seqQ), [&](Value i) {
        Value di = e.dot(
            [&](Value d) {
              return e.load(dout, {bi, h, i, d});
            },
            [&](Value d) {
              return e.load(out, {bi, h, i, d});
            });
        memref::StoreOp::create(b, di, delta, ValueRange{bi, h, i});
      });
    });

    // dQ by rows.
    Value heads = global(rowHeadsG), qBlocks = global(rowQbG), spans = global(rowSpansG),
          keyBlocks = global(keyBlocksG);
    forEach(b, c0, e.idx(op.getNumRows()), [&](Value r) {
      Value h = loadIndexEntry(b, heads, r);
      Value kvh = arith::DivUIOp::create(b, h, e.idx(group));
      auto [rowBegin, rowEnd] = loadRowSpan(b, spans, r);
      Value qStart = e.mul(loadIndexEntry(b, qBlocks, r), blockQ);
      Value qEnd = e.minU(e.add(qStart, e.idx(blockQ)), e.idx(seqQ));
      forEach(b, qStart, qEnd, [&](Value i) {
        fill(rowA, [&](Value d) {
          return arith::MulFOp::create(b, e.load(q, {bi, h, i, d}), f32Const(b, scale * kLog2e));
        });
        fill(rowB, [&](Value d) { return e.load(dout, {bi, h, i, d}); });
        fill(accA, zero);
        forEach(b, rowBegin, rowEnd, [&](Value t) {
          Value jStart = e.mul(loadIndexEntry(b, keyBlocks, t), blockK);
          Value jEnd = e.minU(e.add(jStart, e.idx(blockK)), e.idx(seqK));
          if (causal) // keys after the query: none, or the block's head
            jEnd = arith::MaxUIOp::create(b, e.minU(jEnd, e.add(i, c1)), jStart);
          forEach(b, jStart, jEnd, [&](Value j) {
            Value s2 = e.dot([&](Value d) { return memref::LoadOp::create(b, rowA, d); },
                             [&](Value d) {
                               return e.load(k, {bi, kvh, j, d});
                             });
            Value p = probability(s2, bi, h, i);
            Value dp = e.dot([&](Value d) { return memref::LoadOp::create(b, rowB, d); },
                             [&](Value d) {
                               return e.load(v, {bi, kvh, j, d});
                             });
            e.axpy(accA, scoreGradient(p, dp, bi, h, i), [&](Value d) {
              return e.load(k, {bi, kvh, j, d});
            });
          });
        });
        forEach(b, c0, e.idx(D), [&](Value d) {
          Value g =
              arith::MulFOp::create(b, memref::LoadOp::create(b, accA, d), f32Const(b, scale));
          memref::StoreOp::create(b, fromF32(b, g, elt), op.getDquery(), ValueRange{bi, h, i, d});
        });
      });
    });

    // dK and dV by columns.
    Value cHeads = global(colHeadsG), cBlocks = global(colKbG), cSpans = global(colSpansG),
          tHeads = global(colQhG), tBlocks = global(colQbG);
    forEach(b, c0, e.idx(op.getNumColumns()), [&](Value c) {
      Value kvh = loadIndexEntry(b, cHeads, c);
      auto [colBegin, colEnd] = loadRowSpan(b, cSpans, c);
      Value jStart = e.mul(loadIndexEntry(b, cBlocks, c), blockK);
      Value jEnd = e.minU(e.add(jStart, e.idx(blockK)), e.idx(seqK));
      forEach(b, jStart, jEnd, [&](Value j) {
        fill(rowA, [&](Value d) { return e.load(k, {bi, kvh, j, d}); });
        fill(rowB, [&](Value d) { return e.load(v, {bi, kvh, j, d}); });
        fill(accA, zero);
        fill(accB, zero);
        forEach(b, colBegin, colEnd, [&](Value t) {
          Value h = loadIndexEntry(b, tHeads, t);
          Value iStart = e.mul(loadIndexEntry(b, tBlocks, t), blockQ);
          Value iEnd = e.minU(e.add(iStart, e.idx(blockQ)), e.idx(seqQ));
          if (causal) // queries before the key do not see it
            iStart = arith::MinUIOp::create(b, arith::MaxUIOp::create(b, iStart, j), iEnd);
          forEach(b, iStart, iEnd, [&](Value i) {
            Value s = e.dot(
                [&](Value d) {
                  return e.load(q, {bi, h, i, d});
                },
                [&](Value d) { return memref::LoadOp::create(b, rowA, d); });
            Value s2 = arith::MulFOp::create(b, s, f32Const(b, scale * kLog2e));
            Value p = probability(s2, bi, h, i);
            e.axpy(accB, p, [&](Value d) { return e.load(dout, {bi, h, i, d}); });
            Value dp = e.dot(
                [&](Value d) {
                  return e.load(dout, {bi, h, i, d});
                },
                [&](Value d) { return memref::LoadOp::create(b, rowB, d); });
            e.axpy(accA, scoreGradient(p, dp, bi, h, i), [&](Value d) {
              return e.load(q, {bi, h, i, d});
            });
          });
        });
        forEach(b, c0, e.idx(D), [&](Value d) {
          Value gk =
              arith::MulFOp::create(b, memref::LoadOp::create(b, accA, d), f32Const(b, scale));
          memref::StoreOp::create(b, fromF32(b, gk, elt), op.getDkey(), ValueRange{bi, kvh, j, d});
          memref::StoreOp::create(b, fromF32(b, memref::LoadOp::create(b, accB, d), elt),
                                  op.getDvalue(), ValueRange{bi, kvh, j, d});
        });
      });
    });
  });
  memref::DeallocOp::create(b, delta);
  op.erase();
}

} // namespace sieve::passes
