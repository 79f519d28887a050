//===- CpuTiles.h - tensors in and out of the host's f32 tiles --*- C++ -*-===//
//
// The CPU kernels compute on f32 tiles with static shapes (stack scratch or
// pieces of the workspace), so the micro-kernels address them with
// constant strides. These helpers move rows of the rank-4 tensors (any
// strides, f32, f16 or bf16) into and out of such tiles: f16 and bf16 are
// widened on load and narrowed on store, and when the head dimension is
// contiguous (the usual BHSD and BSHD views) whole vectors move at once.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CONVERSIONS_CPUTILES_H
#define SIEVE_PASSES_CONVERSIONS_CPUTILES_H

#include "conversions/LoweringUtils.h"

#include "mlir/IR/BuiltinTypes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>

namespace sieve::passes {

/// Index arithmetic, scratch tiles and structured control flow through one
/// builder, for the CPU lowerings' bodies: forEach and when emit their
/// bodies through the same builder, so helpers holding it work inside.
struct HostEmitter {
  mlir::ImplicitLocOpBuilder &b;
  mlir::Value idx(int64_t v) { return indexConst(b, v); }
  mlir::Value add(mlir::Value x, mlir::Value y) { return mlir::arith::AddIOp::create(b, x, y); }
  mlir::Value sub(mlir::Value x, mlir::Value y) { return mlir::arith::SubIOp::create(b, x, y); }
  mlir::Value mul(mlir::Value x, int64_t y) { return mlir::arith::MulIOp::create(b, x, idx(y)); }
  mlir::Value div(mlir::Value x, int64_t y) { return mlir::arith::DivUIOp::create(b, x, idx(y)); }
  mlir::Value rem(mlir::Value x, int64_t y) { return mlir::arith::RemUIOp::create(b, x, idx(y)); }
  mlir::Value minU(mlir::Value x, mlir::Value y) { return mlir::arith::MinUIOp::create(b, x, y); }
  mlir::Value minS(mlir::Value x, mlir::Value y) { return mlir::arith::MinSIOp::create(b, x, y); }
  mlir::Value maxS(mlir::Value x, mlir::Value y) { return mlir::arith::MaxSIOp::create(b, x, y); }
  mlir::Value ceilDiv(mlir::Value x, int64_t y) { return div(add(x, idx(y - 1)), y); }
  mlir::Value f32(double v) { return f32Const(b, v); }
  mlir::Value load(mlir::Value m, mlir::ValueRange at) {
    return mlir::memref::LoadOp::create(b, m, at);
  }
  void store(mlir::Value v, mlir::Value m, mlir::ValueRange at) {
    mlir::memref::StoreOp::create(b, v, m, at);
  }
  mlir::Value scratch(llvm::ArrayRef<int64_t> shape) {
    return mlir::memref::AllocaOp::create(b, mlir::MemRefType::get(shape, b.getF32Type()),
                                          b.getI64IntegerAttr(64));
  }
  /// for (i = lb; i < ub; ++i) body(i) on this builder.
  void forEach(mlir::Value lb, mlir::Value ub, const std::function<void(mlir::Value)> &body) {
    auto loop = mlir::scf::ForOp::create(b, lb, ub, idx(1));
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    body(loop.getInductionVar());
  }
  /// if (cond) body() on this builder.
  void when(mlir::Value cond, const std::function<void()> &body) {
    auto branch = mlir::scf::IfOp::create(b, mlir::TypeRange{}, cond, /*withElseRegion=*/false);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(branch.thenBlock()->getTerminator());
    body();
  }
};

/// A rank-4 tensor argument [B, H, S, D] and, for vector moves, the same
/// tensor viewed with a static unit stride on D (`contiguous` says at run
/// time whether that view is the tensor; null when the type says so).
struct TensorRows {
  mlir::Value tensor, unitView, contiguous;
  int64_t headDim = 0;
  /// GQA packing (q and out of a packed op): (head, row) name a key head
  /// and a packed row, which `at` maps to the tensor's (head, query).
  PackedQueries packed;
  /// Built at the function's entry from the tensor argument.
  static TensorRows of(mlir::ImplicitLocOpBuilder &b, mlir::Value tensor,
                       PackedQueries packed = {});
  std::pair<mlir::Value, mlir::Value> at(mlir::ImplicitLocOpBuilder &b, mlir::Value head,
                                         mlir::Value row) const {
    return packed ? packed.at(b, head, row) : std::make_pair(head, row);
  }
};

/// tile[i][d] = f32(t[bi, head, row0 + i, d]) * scale for i < count and
/// d < D; zeros in the rest of the tile (d up to the tile's width, rows up
/// to its height), so register blocks that run past the data read zeros.
/// `tile` is a static memref<R x W>, W >= D, moved `lanes` at a time.
void emitLoadRows(mlir::ImplicitLocOpBuilder &b, const TensorRows &t, mlir::Value bi,
                  mlir::Value head, mlir::Value row0, mlir::Value count, mlir::Value tile,
                  double scale, int64_t lanes);

/// tile[d][j] = f32(t[bi, head, row0 + j, d]) * scale for j < count and
/// d < D, and zeros in columns count.. of the tile (memref<D x N>): rows of
/// the tensor become columns, vectors of the micro-kernels' right operand.
void emitLoadColumns(mlir::ImplicitLocOpBuilder &b, const TensorRows &t, mlir::Value bi,
                     mlir::Value head, mlir::Value row0, mlir::Value count, mlir::Value tile,
                     int64_t lanes, double scale = 1.0);

/// t[bi, head, row0 + i, d] = tile[i][d] * rowScale[i] (narrowed to the
/// tensor's element type) for i < count and d < D. `rowScale` is memref<R>.
void emitStoreRows(mlir::ImplicitLocOpBuilder &b, const TensorRows &t, mlir::Value bi,
                   mlir::Value head, mlir::Value row0, mlir::Value count, mlir::Value tile,
                   mlir::Value rowScale, int64_t lanes);

/// A static [rows x cols] f32 tile of the flat workspace at `offset`
/// floats (an index value); workspaceVector a static [n] one.
mlir::Value workspaceTile(mlir::ImplicitLocOpBuilder &b, mlir::Value workspace, mlir::Value offset,
                          int64_t rows, int64_t cols);
mlir::Value workspaceVector(mlir::ImplicitLocOpBuilder &b, mlir::Value workspace,
                            mlir::Value offset, int64_t n);

/// The smallest multiple of `m` not below `x`; the power of two not below x.
inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t powerOfTwoCeil(int64_t x) {
  int64_t p = 1;
  while (p < x)
    p *= 2;
  return p;
}

} // namespace sieve::passes

#endif
