//===- FragmentBuilder.h - index and f32 arithmetic for GPU kernels -*- C++ -*-===//
//
// The builder every GPU kernel body writes its index arithmetic, f32
// constants, packed 16-bit pairs, quad reductions and conditionals with.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_FRAGMENTBUILDER_H
#define SIEVE_PASSES_NVIDIA_FRAGMENTBUILDER_H

#include "conversions/LoweringUtils.h"
#include "nvidia/NvvmIntrinsics.h"

#include <functional>

namespace sieve::passes {

/// Index and f32 arithmetic over one builder, plus the fragment-level ops.
struct FragmentBuilder {
  mlir::ImplicitLocOpBuilder &b;
  mlir::Type elt; // f16 or bf16: the element type of the operands
  /// GQA packing (forward kernels of a packed op): how the output and lse
  /// stores reach a packed row's query head and query.
  PackedQueries packed = {};
  /// The (head, row) of out or lse that kernel row `row` of `head` is.
  std::pair<mlir::Value, mlir::Value> queryAt(mlir::Value head, mlir::Value row) {
    return packed ? packed.at(b, head, row) : std::make_pair(head, row);
  }

  mlir::Value idx(int64_t v) { return indexConst(b, v); }
  mlir::Value add(mlir::Value x, mlir::Value y);
  mlir::Value add(mlir::Value x, int64_t y) { return y == 0 ? x : add(x, idx(y)); }
  mlir::Value mul(mlir::Value x, int64_t y);
  mlir::Value div(mlir::Value x, int64_t y);
  mlir::Value rem(mlir::Value x, int64_t y);
  mlir::Value ult(mlir::Value x, mlir::Value y);
  mlir::Value f32(double v) { return f32Const(b, v); }
  mlir::Value exp2(mlir::Value x) { return emitNvvmExp2(b, x); }
  mlir::Value log2(mlir::Value x) { return emitNvvmLog2(b, x); }

  /// Packs two f32 values into a 16-bit pair (round to nearest even).
  mlir::Value pack(mlir::Value lo, mlir::Value hi);
  /// A packed pair as an i32 (the register an mma operand travels in).
  mlir::Value packI32(mlir::Value lo, mlir::Value hi);
  /// Reduces over the four lanes of a quad (the lanes that share a row).
  mlir::Value quadReduce(mlir::Value x, bool isMax);
  /// The f32 sum of `x` over the 32 lanes of the warp, in every lane.
  mlir::Value warpSum(mlir::Value x);
  /// Ends the thread blocks where `active` (i1, uniform over the block)
  /// is false: they return before any barrier or copy; `b` is left in the
  /// blocks that go on. (A terminator, so not inside an scf region.)
  void returnUnless(mlir::Value active);
  /// scf.if without results.
  void ifThen(mlir::Value cond, const std::function<void()> &body);
  /// scf.if over loop state: `body()` (the new state) where `cond` holds,
  /// else `state` unchanged after `onSkip()` (what the skipped path must
  /// still do, such as waiting for a copy it would have consumed).
  llvm::SmallVector<mlir::Value>
  ifElseKeep(mlir::Value cond, mlir::ValueRange state,
             const std::function<llvm::SmallVector<mlir::Value>()> &body,
             const std::function<void()> &onSkip = {});

  /// Where a copied 16-byte chunk lands: the (row, column) of the
  /// destination tile that holds chunk `chunk` of copied row `r`.
  using ChunkPlace =
      std::function<std::pair<mlir::Value, mlir::Value>(mlir::Value r, mlir::Value chunk)>;
  /// Issues cp.async copies of the 16-byte chunks (`chunksPerRow` a row) of
  /// `rows` rows of src[bi, head, firstRow + r, :], spread over `threads`
  /// threads of which this is `tid`, into `dst` at `place(r, chunk)`. Rows
  /// at or past `limit` are zero-filled (so padding never feeds NaN or Inf
  /// into a product) and read from a valid address. `queryRows`: rows of q,
  /// mapped through `packed` (GQA packing) to their query head and query.
  /// `liveLimit` (a generation kernel's seq_k_live, at least 1), when
  /// given, stands for `limit`.
  void copyRowChunksAsync(mlir::Value src, mlir::Value bi, mlir::Value head, mlir::Value firstRow,
                          int64_t limit, int64_t rows, int64_t chunksPerRow, mlir::Value tid,
                          int64_t threads, bool queryRows, mlir::Value dst, const ChunkPlace &place,
                          mlir::Value liveLimit = {});

  /// Whether `pred` (i1) holds in any lane of the warp (vote.sync.any);
  /// every lane must call it.
  mlir::Value warpAny(mlir::Value pred);
  /// Whether `pred` holds in any of the `threads` threads that meet at
  /// named barrier `barrierId` (an index): bar.red.or, which is also a
  /// barrier among them.
  mlir::Value groupAny(mlir::Value pred, mlir::Value barrierId, int64_t threads);
};

} // namespace sieve::passes

#endif
