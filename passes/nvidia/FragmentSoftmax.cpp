//===- FragmentSoftmax.cpp - softmax on tensor-core accumulator fragments ===//
#include "nvidia/FragmentSoftmax.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;

namespace sieve::passes {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
}

void maskFragmentIf(FragmentBuilder &fb, Fragment &s, Value cond,
                    const std::function<Value(int64_t, int64_t)> &masked) {
  ImplicitLocOpBuilder &b = fb.b;
  const int64_t chunks = static_cast<int64_t>(s.size());
  SmallVector<Type> types(chunks * 4, b.getF32Type());
  auto maskIf = scf::IfOp::create(b, types, cond, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    SmallVector<Value> flat;
    b.setInsertionPointToStart(&maskIf.getElseRegion().front());
    for (auto &chunk : s)
      flat.append(chunk.begin(), chunk.end());
    scf::YieldOp::create(b, flat);
    b.setInsertionPointToStart(&maskIf.getThenRegion().front());
    flat.clear();
    for (int64_t j = 0; j < chunks; ++j)
      for (int64_t i = 0; i < 4; ++i)
        flat.push_back(masked(j, i));
    scf::YieldOp::create(b, flat);
  }
  for (int64_t j = 0; j < chunks; ++j)
    for (int64_t i = 0; i < 4; ++i)
      s[j][i] = maskIf.getResult(j * 4 + i);
}

void maskScores(FragmentBuilder &fb, Fragment &s, Value firstKey, int64_t keyTile,
                Value warpFirstQuery, Value laneCol, const Value queryRow[2], int64_t seqK,
                bool causal, int64_t causalOffset, double fill, const Value *rowKeeps,
                Value liveKeys, Value causalShift) {
  ImplicitLocOpBuilder &b = fb.b;
  Value lastKey = fb.add(firstKey, keyTile - 1);
  // (Generation: some key of the tile is past the live ones.)
  Value needsMask =
      liveKeys ? Value(arith::CmpIOp::create(b, arith::CmpIPredicate::uge, lastKey, liveKeys))
               : fb.ult(fb.idx(seqK - 1), lastKey);
  auto precedes = [&](Value query, Value key) {
    return causalShift ? causalPrecedes(b, query, key, causalShift)
                       : causalPrecedes(b, query, key, causalOffset);
  };
  auto sees = [&](Value query, Value key) {
    return causalShift ? causalSees(b, query, key, causalShift)
                       : causalSees(b, query, key, causalOffset);
  };
  if (causal)
    needsMask = arith::OrIOp::create(b, needsMask, precedes(warpFirstQuery, lastKey));
  // GQA packing: rows whose head drops the key block mask every tile of it.
  if (rowKeeps)
    needsMask = arith::ConstantOp::create(b, b.getBoolAttr(true));
  maskFragmentIf(fb, s, needsMask, [&](int64_t j, int64_t i) -> Value {
    Value key = fb.add(fb.add(firstKey, laneCol), j * 8 + i % 2);
    Value valid = fb.ult(key, liveKeys ? liveKeys : fb.idx(seqK));
    if (rowKeeps)
      valid = arith::AndIOp::create(b, valid, rowKeeps[i / 2]);
    if (causal)
      valid = arith::AndIOp::create(b, valid, sees(queryRow[i / 2], key));
    return arith::SelectOp::create(b, valid, s[j][i], fb.f32(fill));
  });
}

RowScoreMask::RowScoreMask(FragmentBuilder &e, const ProblemGeometry &g,
                           const RowTableGlobals &tables, Value rowBegin, Value rowQueryBlock,
                           Value warpFirstQuery, const Value queryRow[2])
    : e(e), g(g), segments(segmentTableValue(e.b, tables)), rowBegin(rowBegin),
      warpFirstQuery(warpFirstQuery), queryRow{queryRow[0], queryRow[1]} {
  if (!segments)
    return;
  // Once per row: each half's segment bit (counted from the work row's
  // first packed row) and the query causal compares. A packed generation
  // row's query block is its position block, and its packed rows start at
  // 0 (GenerationTile.h); generation is the one kind with live keys.
  Value rowFirst = g.liveKeys ? e.idx(0) : e.mul(rowQueryBlock, g.blockQ);
  for (int half = 0; half < 2; ++half) {
    segmentShift[half] = g.packed.segmentShift(e.b, rowFirst, queryRow[half]);
    causalRow[half] = g.causalQuery(e.b, queryRow[half]);
  }
}

void RowScoreMask::apply(Fragment &s, Value firstKey, int64_t keyTile, Value laneCol,
                         Value step) const {
  // Element mask, only where a key may be past Sk or above the diagonal.
  if (!segments) {
    maskScores(e, s, firstKey, keyTile, warpFirstQuery, laneCol, queryRow, g.seqK, g.causal,
               g.causalOffset, -std::numeric_limits<double>::infinity(), nullptr, g.liveKeys,
               g.causalShift);
    return;
  }
  ImplicitLocOpBuilder &b = e.b;
  Value entry = e.add(rowBegin, e.div(step, g.blockK / keyTile));
  Value word = memref::LoadOp::create(b, segments, ValueRange{entry});
  Value keeps[2] = {g.packed.keepsAt(b, word, segmentShift[0]),
                    g.packed.keepsAt(b, word, segmentShift[1])};
  // Causal compares each row's own query (every packed row may be any
  // query of its head, so no warp-wide first query bounds them: 0).
  maskScores(e, s, firstKey, keyTile, e.idx(0), laneCol, causalRow, g.seqK, g.causal,
             g.causalOffset, kNegInf, keeps, g.liveKeys, g.causalShift);
}

void dropScoresUnderThreshold(FragmentBuilder &fb, Fragment &s, Value thresholdLog2,
                              double scaleLog2) {
  ImplicitLocOpBuilder &b = fb.b;
  Value c = fb.f32(scaleLog2);
  const double dropped = scaleLog2 > 0 ? kNegInf : -kNegInf;
  for (auto &chunk : s)
    for (Value &score : chunk) {
      Value scaled = arith::MulFOp::create(b, score, c);
      Value kept = arith::CmpFOp::create(b, arith::CmpFPredicate::UGE, scaled, thresholdLog2);
      score = arith::SelectOp::create(b, kept, score, fb.f32(dropped));
    }
}

Value laneKeepsAnyScore(FragmentBuilder &fb, const Fragment &s) {
  ImplicitLocOpBuilder &b = fb.b;
  Value any;
  for (auto &chunk : s)
    for (Value score : chunk) {
      Value kept = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, score, fb.f32(kNegInf));
      any = any ? arith::OrIOp::create(b, any, kept).getResult() : kept;
    }
  return any;
}

namespace {
/// Row half `half` of softmaxStep, but for the accumulator: updates m and l,
/// turns the half's scores into probabilities, and returns the factor that
/// rescales the half's accumulator rows (exp2 of the old max less the new).
/// The ops come in softmaxStep's order, so its kernels are unchanged.
Value softmaxHalf(FragmentBuilder &fb, Fragment &s, int64_t half, Value &m, Value &l, Value c) {
  ImplicitLocOpBuilder &b = fb.b;
  const int64_t chunks = static_cast<int64_t>(s.size());
  Value rowMax = m;
  for (int64_t j = 0; j < chunks; ++j)
    for (int64_t i = 2 * half; i < 2 * half + 2; ++i)
      rowMax = arith::MaximumFOp::create(b, rowMax, s[j][i]);
  Value newMax = fb.quadReduce(rowMax, /*isMax=*/true);
  // A row with every key masked so far keeps max -inf; subtract 0
  // instead so exp2 sees -inf (giving 0), not -inf - -inf (NaN).
  Value allMasked = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, newMax, fb.f32(kNegInf));
  Value base = arith::SelectOp::create(b, allMasked, fb.f32(0.0), newMax);
  Value negBase = arith::MulFOp::create(b, base, arith::NegFOp::create(b, c));
  Value correction = fb.exp2(arith::MulFOp::create(b, arith::SubFOp::create(b, m, base), c));
  Value rowSum = arith::MulFOp::create(b, l, correction);
  for (int64_t j = 0; j < chunks; ++j)
    for (int64_t i = 2 * half; i < 2 * half + 2; ++i) {
      s[j][i] = fb.exp2(math::FmaOp::create(b, s[j][i], c, negBase));
      rowSum = arith::AddFOp::create(b, rowSum, s[j][i]);
    }
  m = newMax;
  l = rowSum;
  return correction;
}

/// Scales row half `half` of `acc` (D/8 chunks of 4) by `factor`.
void rescaleHalf(FragmentBuilder &fb, MutableArrayRef<Value> acc, int64_t half, Value factor) {
  const int64_t accChunks = static_cast<int64_t>(acc.size()) / 4;
  for (int64_t d = 0; d < accChunks; ++d)
    for (int64_t i = 2 * half; i < 2 * half + 2; ++i)
      acc[d * 4 + i] = arith::MulFOp::create(fb.b, acc[d * 4 + i], factor);
}
} // namespace

void softmaxStep(FragmentBuilder &fb, Fragment &s, MutableArrayRef<Value> acc, Value m[2],
                 Value l[2], double scaleLog2) {
  Value c = fb.f32(scaleLog2);
  for (int64_t half = 0; half < 2; ++half)
    rescaleHalf(fb, acc, half, softmaxHalf(fb, s, half, m[half], l[half], c));
}

std::array<Value, 2> softmaxScores(FragmentBuilder &fb, Fragment &s, Value m[2], Value l[2],
                                   double scaleLog2) {
  Value c = fb.f32(scaleLog2);
  std::array<Value, 2> corrections;
  for (int64_t half = 0; half < 2; ++half)
    corrections[half] = softmaxHalf(fb, s, half, m[half], l[half], c);
  return corrections;
}

void rescaleRows(FragmentBuilder &fb, MutableArrayRef<Value> acc,
                 const std::array<Value, 2> &corrections) {
  for (int64_t half = 0; half < 2; ++half)
    rescaleHalf(fb, acc, half, corrections[half]);
}

RowWeights calibrationWeights(FragmentBuilder &fb, const Value m[2], const Value l[2],
                              const Value queryRow[2], int64_t seqQ, double scaleLog2) {
  ImplicitLocOpBuilder &b = fb.b;
  SmallVector<Value, 2> inv = rowInverseSums(fb, l[0], l[1]);
  RowWeights w;
  for (int half = 0; half < 2; ++half) {
    // An empty row keeps max -inf: weigh against 0 (its P are 0 anyway).
    Value noMax = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, m[half], fb.f32(kNegInf));
    Value base = arith::SelectOp::create(b, noMax, fb.f32(0.0), m[half]);
    w.negBase[half] = arith::MulFOp::create(b, base, fb.f32(-scaleLog2));
    w.invSum[half] =
        arith::SelectOp::create(b, fb.ult(queryRow[half], fb.idx(seqQ)), inv[half], fb.f32(0.0));
  }
  return w;
}

Value laneTileMass(FragmentBuilder &fb, const Fragment &s, const RowWeights &w, double scaleLog2) {
  ImplicitLocOpBuilder &b = fb.b;
  Value c = fb.f32(scaleLog2);
  Value rowMass[2] = {fb.f32(0.0), fb.f32(0.0)};
  for (auto &chunk : s)
    for (int64_t i = 0; i < 4; ++i) {
      Value p = fb.exp2(math::FmaOp::create(b, chunk[i], c, w.negBase[i / 2]));
      rowMass[i / 2] = arith::AddFOp::create(b, rowMass[i / 2], p);
    }
  return math::FmaOp::create(b, rowMass[0], w.invSum[0],
                             arith::MulFOp::create(b, rowMass[1], w.invSum[1]));
}

SmallVector<Value, 2> rowInverseSums(FragmentBuilder &fb, Value l0, Value l1) {
  SmallVector<Value, 2> inv;
  for (Value l : {l0, l1}) {
    Value sum = fb.quadReduce(l, /*isMax=*/false);
    // UNE keeps a NaN sum (a NaN input) visible instead of zeroing it.
    Value nonzero = arith::CmpFOp::create(fb.b, arith::CmpFPredicate::UNE, sum, fb.f32(0.0));
    inv.push_back(arith::SelectOp::create(
        fb.b, nonzero, arith::DivFOp::create(fb.b, fb.f32(1.0), sum).getResult(), fb.f32(0.0)));
  }
  return inv;
}

void storeRowLse(FragmentBuilder &fb, Value lse, Value bi, Value head, const Value queryRow[2],
                 Value lane, const Value m[2], const Value l[2], double scaleLog2, int64_t seqQ) {
  ImplicitLocOpBuilder &b = fb.b;
  Value lseOf[2];
  for (int half = 0; half < 2; ++half) {
    Value sum = fb.quadReduce(l[half], /*isMax=*/false);
    // log2-sum-exp = max * scale * log2 e + log2(sum); -inf + log2(0) for
    // an empty row.
    Value log2Sum = fb.log2(sum);
    Value lse2 = math::FmaOp::create(b, m[half], fb.f32(scaleLog2), log2Sum);
    lseOf[half] = arith::MulFOp::create(b, lse2, fb.f32(1.0 / kLog2e));
  }
  Value quadLeader = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, fb.rem(lane, 4), fb.idx(0));
  fb.ifThen(quadLeader, [&] {
    for (int half = 0; half < 2; ++half)
      fb.ifThen(fb.ult(queryRow[half], fb.idx(seqQ)), [&] {
        auto [lseHead, lseRow] = fb.queryAt(head, queryRow[half]);
        memref::StoreOp::create(b, lseOf[half], lse, ValueRange{bi, lseHead, lseRow});
      });
  });
}

void finishWholeRows(FragmentBuilder &fb, Value lse, Value bi, Value head, const Value queryRow[2],
                     Value lane, const Value m[2], const Value l[2], double scaleLog2, int64_t seqQ,
                     const std::function<void(const Value *factor)> &storeRows) {
  if (lse)
    storeRowLse(fb, lse, bi, head, queryRow, lane, m, l, scaleLog2, seqQ);
  // A row with no kept key (sum 0) is written as zeros.
  SmallVector<Value, 2> inv = rowInverseSums(fb, l[0], l[1]);
  storeRows(inv.data());
}

FragmentAccessor byRowHalf(const Value v[2]) {
  return [top = v[0], bottom = v[1]](int64_t, int64_t i) { return i < 2 ? top : bottom; };
}

FragmentAccessor byColumn(ArrayRef<Value> values) {
  return [values](int64_t j, int64_t i) { return values[2 * j + i % 2]; };
}

void recomputeProbabilities(FragmentBuilder &fb, Fragment &s, double scaleLog2,
                            const FragmentAccessor &lse2) {
  ImplicitLocOpBuilder &b = fb.b;
  for (auto [j, chunk] : llvm::enumerate(s))
    for (int64_t i = 0; i < 4; ++i) {
      Value subtrahend = lse2(static_cast<int64_t>(j), i);
      chunk[i] = fb.exp2(math::FmaOp::create(b, chunk[i], fb.f32(scaleLog2),
                                             arith::NegFOp::create(b, subtrahend)));
    }
}

void softmaxGradient(FragmentBuilder &fb, const Fragment &p, Fragment &dp,
                     const FragmentAccessor &delta) {
  ImplicitLocOpBuilder &b = fb.b;
  for (auto [j, chunk] : llvm::enumerate(dp))
    for (int64_t i = 0; i < 4; ++i) {
      Value queryDelta = delta(static_cast<int64_t>(j), i);
      chunk[i] = arith::MulFOp::create(b, p[j][i], arith::SubFOp::create(b, chunk[i], queryDelta));
    }
}

SmallVector<Value, 4> probabilityOperand(FragmentBuilder &fb, const Fragment &p, int64_t kk) {
  return {fb.pack(p[2 * kk][0], p[2 * kk][1]), fb.pack(p[2 * kk][2], p[2 * kk][3]),
          fb.pack(p[2 * kk + 1][0], p[2 * kk + 1][1]), fb.pack(p[2 * kk + 1][2], p[2 * kk + 1][3])};
}

} // namespace sieve::passes
