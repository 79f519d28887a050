//===- CpuTiles.cpp - tensors in and out of the host's f32 tiles ----------===//
#include "conversions/CpuTiles.h"
#include "conversions/LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace sieve::passes {

namespace {

Value add(ImplicitLocOpBuilder &b, Value x, Value y) { return arith::AddIOp::create(b, x, y); }

/// for (i = lb; i < ub; i += step) body(i), the body on the same builder.
void forRange(ImplicitLocOpBuilder &b, Value lb, Value ub, const std::function<void(Value)> &body,
              int64_t step = 1) {
  auto loop = scf::ForOp::create(b, lb, ub, indexConst(b, step));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

/// `contiguous ? fast() : slow()`, or fast() alone when the type settles it.
void branchOnContiguous(ImplicitLocOpBuilder &b, const TensorRows &t,
                        const std::function<void()> &fast, const std::function<void()> &slow) {
  if (!t.contiguous) {
    fast();
    return;
  }
  auto branch = scf::IfOp::create(b, TypeRange{}, t.contiguous, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&branch.getThenRegion().front());
  fast();
  b.setInsertionPointToStart(&branch.getElseRegion().front());
  slow();
}

Type elementOf(Value memref) { return cast<MemRefType>(memref.getType()).getElementType(); }

/// f16/bf16 (or a vector of them) widened to f32; f32 as it is.
Value widen(ImplicitLocOpBuilder &b, Value x) {
  Type f32 = b.getF32Type();
  if (auto vt = dyn_cast<VectorType>(x.getType()))
    return vt.getElementType().isF32()
               ? x
               : arith::ExtFOp::create(b, VectorType::get(vt.getShape(), f32), x).getResult();
  return toF32(b, x);
}

/// f32 (or a vector of it) narrowed to `elt`.
Value narrow(ImplicitLocOpBuilder &b, Value x, Type elt) {
  if (elt.isF32())
    return x;
  if (auto vt = dyn_cast<VectorType>(x.getType()))
    return arith::TruncFOp::create(b, VectorType::get(vt.getShape(), elt), x);
  return arith::TruncFOp::create(b, elt, x);
}

/// Zeros into tile[i][c] for rows [rowBegin, rowEnd) and columns [colBegin, width).
void zeroFill(ImplicitLocOpBuilder &b, Value tile, Value rowBegin, Value rowEnd, int64_t colBegin,
              int64_t lanes) {
  const int64_t width = cast<MemRefType>(tile.getType()).getDimSize(1);
  if (colBegin >= width)
    return;
  auto vecType = VectorType::get({lanes}, b.getF32Type());
  Value zero = f32Const(b, 0.0);
  Value zeros = vector::BroadcastOp::create(b, vecType, zero);
  forRange(b, rowBegin, rowEnd, [&](Value i) {
    int64_t c = colBegin;
    for (; c + lanes <= width && c % lanes == 0; c += lanes)
      vector::StoreOp::create(b, zeros, tile, ValueRange{i, indexConst(b, c)});
    for (; c < width; ++c)
      memref::StoreOp::create(b, zero, tile, ValueRange{i, indexConst(b, c)});
  });
}

} // namespace

TensorRows TensorRows::of(ImplicitLocOpBuilder &b, Value tensor, PackedQueries packed) {
  auto type = cast<MemRefType>(tensor.getType());
  TensorRows t;
  t.tensor = tensor;
  t.packed = packed;
  t.headDim = type.getDimSize(3);
  SmallVector<int64_t> strides;
  int64_t offset;
  if (succeeded(type.getStridesAndOffset(strides, offset)) && strides.back() == 1) {
    t.unitView = tensor; // the type says it already
    return t;
  }
  // The same buffer, offset, sizes and outer strides, with a static unit
  // stride on D: vector.load needs it in the type. Used only when the
  // tensor's stride on D is 1 at run time.
  auto meta = memref::ExtractStridedMetadataOp::create(b, tensor);
  SmallVector<OpFoldResult> sizes, unitStrides;
  for (auto [d, size] : llvm::enumerate(type.getShape()))
    sizes.push_back(ShapedType::isDynamic(size) ? OpFoldResult(meta.getSizes()[d])
                                                : OpFoldResult(b.getIndexAttr(size)));
  for (int d = 0; d < 3; ++d)
    unitStrides.push_back(meta.getStrides()[d]);
  unitStrides.push_back(b.getIndexAttr(1));
  int64_t dyn = ShapedType::kDynamic;
  auto viewType = MemRefType::get(type.getShape(), type.getElementType(),
                                  StridedLayoutAttr::get(b.getContext(), dyn, {dyn, dyn, dyn, 1}));
  t.unitView = memref::ReinterpretCastOp::create(
      b, viewType, meta.getBaseBuffer(), OpFoldResult(meta.getOffset()), sizes, unitStrides);
  t.contiguous =
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, meta.getStrides()[3], indexConst(b, 1));
  return t;
}

/// `x` (a scalar or vector element of a tensor) as f32, times `scale`
/// unless it is 1.
static Value widenAndScale(ImplicitLocOpBuilder &b, Value x, double scale) {
  x = widen(b, x);
  if (scale == 1.0)
    return x;
  Value s = f32Const(b, scale);
  if (auto vt = dyn_cast<VectorType>(x.getType()))
    s = vector::BroadcastOp::create(b, vt, s);
  return arith::MulFOp::create(b, x, s);
}

void emitLoadRows(ImplicitLocOpBuilder &b, const TensorRows &t, Value bi, Value head, Value row0,
                  Value count, Value tile, double scale, int64_t lanes) {
  const int64_t D = t.headDim;
  Type elt = elementOf(t.tensor);
  auto scaled = [&](Value x) { return widenAndScale(b, x, scale); };
  // Whole vectors when D is contiguous, then element by element (a loop:
  // unrolled, D scalar moves through strided addressing would be most of
  // the kernel's code, and its JIT time).
  auto copy = [&](bool vectors) {
    forRange(b, indexConst(b, 0), count, [&](Value i) {
      auto [hAt, rowAt] = t.at(b, head, add(b, row0, i));
      Value h = hAt, row = rowAt;
      int64_t d = 0;
      if (vectors)
        for (; d + lanes <= D; d += lanes) {
          Value x = vector::LoadOp::create(b, VectorType::get({lanes}, elt), t.unitView,
                                           ValueRange{bi, h, row, indexConst(b, d)});
          vector::StoreOp::create(b, scaled(x), tile, ValueRange{i, indexConst(b, d)});
        }
      forRange(b, indexConst(b, d), indexConst(b, D), [&](Value dd) {
        Value x = memref::LoadOp::create(b, t.tensor, ValueRange{bi, h, row, dd});
        memref::StoreOp::create(b, scaled(x), tile, ValueRange{i, dd});
      });
    });
  };
  branchOnContiguous(
      b, t, [&] { copy(true); }, [&] { copy(false); });
  zeroFill(b, tile, indexConst(b, 0), count, D, lanes);
  zeroFill(b, tile, count, indexConst(b, cast<MemRefType>(tile.getType()).getDimSize(0)), 0, lanes);
}

void emitLoadColumns(ImplicitLocOpBuilder &b, const TensorRows &t, Value bi, Value head, Value row0,
                     Value count, Value tile, int64_t lanes, double scale) {
  const int64_t D = t.headDim;
  Type elt = elementOf(t.tensor);
  auto scaled = [&](Value x) { return widenAndScale(b, x, scale); };
  // When D is contiguous, a vector of a row at a time, its lanes stored
  // down a column of the tile: for `lanes` rows at a time (a column's
  // stores then fill whole cache lines, which stay in L1 while they are
  // filled: a tile of D = 128 columns does not fit L1). The rest element by
  // element.
  auto copy = [&](bool vectors) {
    const int64_t whole = vectors ? D / lanes * lanes : 0;
    if (whole > 0)
      forRange(
          b, indexConst(b, 0), count,
          [&](Value j0) {
            Value j1 = arith::MinUIOp::create(b, add(b, j0, indexConst(b, lanes)), count);
            forRange(b, indexConst(b, 0), indexConst(b, whole / lanes), [&](Value vi) {
              Value d0 = arith::MulIOp::create(b, vi, indexConst(b, lanes));
              forRange(b, j0, j1, [&](Value j) {
                Value x =
                    scaled(vector::LoadOp::create(b, VectorType::get({lanes}, elt), t.unitView,
                                                  ValueRange{bi, head, add(b, row0, j), d0}));
                for (int64_t l = 0; l < lanes; ++l)
                  memref::StoreOp::create(b, vector::ExtractOp::create(b, x, l), tile,
                                          ValueRange{add(b, d0, indexConst(b, l)), j});
              });
            });
          },
          lanes);
    forRange(b, indexConst(b, 0), count, [&](Value j) {
      Value row = add(b, row0, j);
      forRange(b, indexConst(b, whole), indexConst(b, D), [&](Value d) {
        Value x = scaled(memref::LoadOp::create(b, t.tensor, ValueRange{bi, head, row, d}));
        memref::StoreOp::create(b, x, tile, ValueRange{d, j});
      });
    });
  };
  branchOnContiguous(
      b, t, [&] { copy(true); }, [&] { copy(false); });
  const int64_t width = cast<MemRefType>(tile.getType()).getDimSize(1);
  Value zero = f32Const(b, 0.0);
  forRange(b, indexConst(b, 0), indexConst(b, D), [&](Value d) {
    forRange(b, count, indexConst(b, width), [&](Value j) {
      memref::StoreOp::create(b, zero, tile, ValueRange{d, j});
    });
  });
}

void emitStoreRows(ImplicitLocOpBuilder &b, const TensorRows &t, Value bi, Value head, Value row0,
                   Value count, Value tile, Value rowScale, int64_t lanes) {
  const int64_t D = t.headDim;
  Type elt = elementOf(t.tensor);
  auto vecType = VectorType::get({lanes}, b.getF32Type());
  auto copy = [&](bool vectors) {
    forRange(b, indexConst(b, 0), count, [&](Value i) {
      auto [hAt, rowAt] = t.at(b, head, add(b, row0, i));
      Value h = hAt, row = rowAt;
      Value s = memref::LoadOp::create(b, rowScale, ValueRange{i});
      int64_t d = 0;
      if (vectors) {
        Value sv = vector::BroadcastOp::create(b, vecType, s);
        for (; d + lanes <= D; d += lanes) {
          Value x = vector::LoadOp::create(b, vecType, tile, ValueRange{i, indexConst(b, d)});
          Value y = narrow(b, arith::MulFOp::create(b, x, sv), elt);
          vector::StoreOp::create(b, y, t.unitView, ValueRange{bi, h, row, indexConst(b, d)});
        }
      }
      forRange(b, indexConst(b, d), indexConst(b, D), [&](Value dd) {
        Value x = memref::LoadOp::create(b, tile, ValueRange{i, dd});
        memref::StoreOp::create(b, narrow(b, arith::MulFOp::create(b, x, s), elt), t.tensor,
                                ValueRange{bi, h, row, dd});
      });
    });
  };
  branchOnContiguous(
      b, t, [&] { copy(true); }, [&] { copy(false); });
}

Value workspaceTile(ImplicitLocOpBuilder &b, Value workspace, Value offset, int64_t rows,
                    int64_t cols) {
  auto type =
      MemRefType::get({rows, cols}, b.getF32Type(),
                      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {cols, 1}));
  return memref::ReinterpretCastOp::create(
      b, type, workspace, OpFoldResult(offset),
      ArrayRef<OpFoldResult>{b.getIndexAttr(rows), b.getIndexAttr(cols)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(cols), b.getIndexAttr(1)});
}

} // namespace sieve::passes

namespace sieve::passes {

Value workspaceVector(ImplicitLocOpBuilder &b, Value workspace, Value offset, int64_t n) {
  auto type = MemRefType::get({n}, b.getF32Type(),
                              StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {1}));
  return memref::ReinterpretCastOp::create(b, type, workspace, OpFoldResult(offset),
                                           ArrayRef<OpFoldResult>{b.getIndexAttr(n)},
                                           ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
}

} // namespace sieve::passes
