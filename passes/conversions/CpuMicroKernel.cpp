//===- CpuMicroKernel.cpp - register-blocked f32 tiles for the host -------===//
#include "conversions/CpuMicroKernel.h"
#include "conversions/LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace sieve::passes {

namespace {

Value mulIndex(ImplicitLocOpBuilder &b, Value x, int64_t y) {
  return arith::MulIOp::create(b, x, indexConst(b, y));
}
Value addIndex(ImplicitLocOpBuilder &b, Value x, int64_t y) {
  return y == 0 ? x : arith::AddIOp::create(b, x, indexConst(b, y)).getResult();
}

/// Calls group(first vector, vectors) over `total` vectors in groups of
/// `per` (a loop over the full groups, then the rest).
void forEachGroup(ImplicitLocOpBuilder &b, int64_t total, int64_t per,
                  const std::function<void(ImplicitLocOpBuilder &, Value, int64_t)> &group) {
  const int64_t full = total / per, tail = total % per;
  if (full == 1)
    group(b, indexConst(b, 0), per);
  else if (full > 1)
    buildFor(b, indexConst(b, 0), indexConst(b, full), indexConst(b, 1), {},
             [&](ImplicitLocOpBuilder &b, Value g, ValueRange) {
               group(b, mulIndex(b, g, per), per);
               return SmallVector<Value>{};
             });
  if (tail > 0)
    group(b, indexConst(b, full * per), tail);
}

/// The reduction's unroll: the most steps (up to 4) that divide it, so each
/// loop iteration issues several independent rounds of loads and FMAs.
int64_t unrollFor(int64_t depth) {
  for (int64_t u : {4, 2})
    if (depth % u == 0)
      return u;
  return 1;
}

} // namespace

RegisterBlock registerBlockFor(int64_t lanes, int64_t hostLanes) {
  RegisterBlock block;
  block.lanes = lanes;
  block.rows = 4;
  // 4 x 4 accumulators, 4 loaded vectors and a broadcast fit AVX-512's 32
  // registers; 4 x 2 and their operands fit the 16 of AVX2 and SSE.
  block.vectors = hostLanes >= 16 ? 4 : 2;
  return block;
}

Value f32Splat(ImplicitLocOpBuilder &b, VectorType type, double v) {
  return arith::ConstantOp::create(b,
                                   DenseElementsAttr::get(type, b.getFloatAttr(b.getF32Type(), v)));
}

Value f32Like(ImplicitLocOpBuilder &b, Value like, double v) {
  if (auto vt = dyn_cast<VectorType>(like.getType()))
    return f32Splat(b, vt, v);
  return f32Const(b, v);
}

Value lanesInRange(ImplicitLocOpBuilder &b, int64_t lanes, Value vectorIndex, Value lower,
                   Value upper) {
  auto i32Vec = VectorType::get({lanes}, b.getI32Type());
  SmallVector<int32_t> iota(lanes);
  for (int64_t l = 0; l < lanes; ++l)
    iota[l] = static_cast<int32_t>(l);
  auto splat = [&](Value index) -> Value {
    return vector::BroadcastOp::create(b, i32Vec,
                                       arith::IndexCastOp::create(b, b.getI32Type(), index));
  };
  Value columns = arith::AddIOp::create(
      b, arith::ConstantOp::create(b, DenseElementsAttr::get(i32Vec, ArrayRef(iota))),
      splat(mulIndex(b, vectorIndex, lanes)));
  Value in = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, columns, splat(upper));
  if (lower)
    in = arith::AndIOp::create(
        b, in, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, columns, splat(lower)));
  return in;
}

Value runningMax(ImplicitLocOpBuilder &b, Value current, Value x) {
  Value greater = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, x, current);
  return arith::SelectOp::create(b, greater, x, current);
}

Value emitPolynomialExp2(ImplicitLocOpBuilder &b, Value x) {
  Type type = x.getType();
  auto vt = dyn_cast<VectorType>(type);
  Type i32 = vt ? Type(VectorType::get(vt.getShape(), b.getI32Type())) : Type(b.getI32Type());
  auto intLike = [&](int32_t v) -> Value {
    if (vt)
      return arith::ConstantOp::create(
          b, DenseElementsAttr::get(cast<ShapedType>(i32), b.getI32IntegerAttr(v)));
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  };
  // Clamped by comparisons, which are false for NaN: NaN passes through.
  Value lo = f32Like(b, x, -127.0), hi = f32Like(b, x, 128.0);
  Value clamped =
      arith::SelectOp::create(b, arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, x, lo), lo, x);
  clamped = arith::SelectOp::create(
      b, arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, clamped, hi), hi, clamped);
  Value n = math::RoundEvenOp::create(b, clamped);
  Value f = arith::SubFOp::create(b, clamped, n); // in [-1/2, 1/2], exact
  // Cephes' exp2f: 2^f = 1 + f * P(f), Horner's rule in FMAs; f = 0 gives 1.
  Value p = f32Like(b, x, 1.535336188319500e-4);
  for (double c : {1.339887440266574e-3, 9.618437357674640e-3, 5.550332471162809e-2,
                   2.402264791363012e-1, 6.931472028550421e-1, 1.0})
    p = math::FmaOp::create(b, p, f, f32Like(b, x, c));
  // 2^n as exponent bits, (n + 127) << 23: n = -127 gives 0.0 and n = 128
  // +inf. A NaN n would make the integer conversion poison; p is NaN there
  // already, so any finite scale keeps the result NaN.
  Value isNan = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, n, n);
  Value safe = arith::SelectOp::create(b, isNan, f32Like(b, x, 0.0), n);
  Value bits = arith::ShLIOp::create(
      b, arith::AddIOp::create(b, arith::FPToSIOp::create(b, i32, safe), intLike(127)),
      intLike(23));
  return arith::MulFOp::create(b, p, arith::BitcastOp::create(b, type, bits));
}

void emitScoreTile(ImplicitLocOpBuilder &b, const ScoreTile &t, RegisterBlock blk,
                   const ScoreEpilogue &epilogue) {
  auto vecType = VectorType::get({blk.lanes}, b.getF32Type());
  Value c0 = indexConst(b, 0), c1 = indexConst(b, 1);
  const int64_t unroll = unrollFor(t.depth);
  // One group of `nv` vectors from vector `v0` on, for every row block:
  // the group's slice of bt stays in L1 while the row blocks pass over it.
  auto group = [&](ImplicitLocOpBuilder &b, Value v0, int64_t nv) {
    buildFor(b, c0, t.rowBlocks, c1, {}, [&](ImplicitLocOpBuilder &b, Value g, ValueRange) {
      Value i0 = mulIndex(b, g, blk.rows);
      SmallVector<Value> init(blk.rows * nv, f32Splat(b, vecType, 0.0));
      auto loop = buildFor(
          b, c0, indexConst(b, t.depth / unroll), c1, init,
          [&](ImplicitLocOpBuilder &b, Value step, ValueRange accs) {
            SmallVector<Value> acc(accs.begin(), accs.end());
            for (int64_t u = 0; u < unroll; ++u) {
              Value k = addIndex(b, mulIndex(b, step, unroll), u);
              SmallVector<Value> right;
              for (int64_t v = 0; v < nv; ++v)
                right.push_back(vector::LoadOp::create(
                    b, vecType, t.bt, ValueRange{k, mulIndex(b, addIndex(b, v0, v), blk.lanes)}));
              for (int64_t r = 0; r < blk.rows; ++r) {
                Value left = vector::BroadcastOp::create(
                    b, vecType, memref::LoadOp::create(b, t.a, ValueRange{addIndex(b, i0, r), k}));
                for (int64_t v = 0; v < nv; ++v)
                  acc[r * nv + v] = math::FmaOp::create(b, left, right[v], acc[r * nv + v]);
              }
            }
            return acc;
          });
      for (int64_t r = 0; r < blk.rows; ++r)
        for (int64_t v = 0; v < nv; ++v) {
          Value row = addIndex(b, i0, r), vi = addIndex(b, v0, v);
          Value out = epilogue(b, row, vi, loop.getResult(r * nv + v));
          vector::StoreOp::create(b, out, t.c, ValueRange{row, mulIndex(b, vi, blk.lanes)});
        }
      return SmallVector<Value>{};
    });
  };
  forEachGroup(b, t.vectors, blk.vectors, group);
}

void emitAccumulateTile(ImplicitLocOpBuilder &b, const AccumulateTile &t, RegisterBlock blk) {
  auto vecType = VectorType::get({blk.lanes}, b.getF32Type());
  Value c0 = indexConst(b, 0), c1 = indexConst(b, 1);
  auto group = [&](ImplicitLocOpBuilder &b, Value v0, int64_t nv) {
    buildFor(b, c0, t.rowBlocks, c1, {}, [&](ImplicitLocOpBuilder &b, Value g, ValueRange) {
      Value i0 = mulIndex(b, g, blk.rows);
      auto column = [&](ImplicitLocOpBuilder &b, int64_t v) {
        return mulIndex(b, addIndex(b, v0, v), blk.lanes);
      };
      SmallVector<Value> init;
      for (int64_t r = 0; r < blk.rows; ++r) {
        Value row = addIndex(b, i0, r);
        Value scale;
        if (t.rowScale)
          scale = vector::BroadcastOp::create(
              b, vecType, memref::LoadOp::create(b, t.rowScale, ValueRange{row}));
        for (int64_t v = 0; v < nv; ++v) {
          Value o = vector::LoadOp::create(b, vecType, t.o, ValueRange{row, column(b, v)});
          init.push_back(scale ? arith::MulFOp::create(b, o, scale).getResult() : o);
        }
      }
      auto loop = buildFor(
          b, t.first ? t.first : c0, t.count, c1, init,
          [&](ImplicitLocOpBuilder &b, Value j, ValueRange accs) {
            SmallVector<Value> acc(accs.begin(), accs.end());
            SmallVector<Value> right;
            for (int64_t v = 0; v < nv; ++v)
              right.push_back(
                  vector::LoadOp::create(b, vecType, t.bRows, ValueRange{j, column(b, v)}));
            for (int64_t r = 0; r < blk.rows; ++r) {
              Value left = vector::BroadcastOp::create(
                  b, vecType, memref::LoadOp::create(b, t.p, ValueRange{addIndex(b, i0, r), j}));
              for (int64_t v = 0; v < nv; ++v)
                acc[r * nv + v] = math::FmaOp::create(b, left, right[v], acc[r * nv + v]);
            }
            return acc;
          });
      for (int64_t r = 0; r < blk.rows; ++r)
        for (int64_t v = 0; v < nv; ++v)
          vector::StoreOp::create(b, loop.getResult(r * nv + v), t.o,
                                  ValueRange{addIndex(b, i0, r), column(b, v)});
      return SmallVector<Value>{};
    });
  };
  forEachGroup(b, t.vectors, blk.vectors, group);
}

} // namespace sieve::passes
