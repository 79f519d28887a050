//===- MmaEmitter.h - warp-level tensor-core building blocks ----*- C++ -*-===//
//
// The pieces every mma.sync kernel (the forward, and the backward's dQ and
// dK/dV kernels) is built from: swizzled shared-memory rows, ldmatrix,
// m16n8k16 mma.sync, and cp.async row copies that zero-fill past the end
// of a tensor.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_MMAEMITTER_H
#define SIEVE_PASSES_MMAEMITTER_H

#include "nvidia/FragmentSoftmax.h"

namespace sieve::passes {

/// Elements per 16-byte chunk of a 16-bit row.
constexpr int64_t kMmaChunk = 8;

/// A lane's place in an m16n8 accumulator: its lane in the warp, the row of
/// its first two values (lane / 4) and their first column (2 (lane % 4)).
struct LaneCoords {
  mlir::Value lane, row, col;
};

struct MmaEmitter : FragmentBuilder {
  int64_t headDim; // elements per row of every staged tile
  int64_t threads; // threads of the block that copy rows together

  MmaEmitter(mlir::ImplicitLocOpBuilder &b, mlir::Type elt, int64_t headDim, int64_t threads)
      : FragmentBuilder{b, elt}, headDim(headDim), threads(threads) {}

  int64_t chunksPerRow() const { return headDim / kMmaChunk; }

  /// Chunks per swizzle atom: the row's chunks are permuted within aligned
  /// groups of this many, the largest power of two dividing chunksPerRow(),
  /// at most 8 (8 for head dims that are multiples of 64, 4 for 32 and 96,
  /// 2 for 80).
  int64_t swizzleChunks() const;

  /// Column (in elements) of logical 16-byte chunk `chunk` in swizzled row
  /// `row`: chunk ^ phase(row), the phase below swizzleChunks(), so that 8
  /// rows read at one logical chunk (ldmatrix) hit distinct banks. A row
  /// of chunksPerRow() = 2^t x odd chunks already starts 2^t bank groups
  /// (16 bytes each, 8 in all) away from the previous one, spreading runs of
  /// 2^(3-t) rows; the phase, (row / 2^(3-t)) % 2^t, spreads the runs. With
  /// 8-chunk atoms (t >= 3) that is chunk ^ row % 8.
  mlir::Value swizzledCol(mlir::Value row, mlir::Value chunk);
  /// swizzledCol(row, laneChunk + chunk) for a lane's chunk of 0 or 1 and
  /// an even constant `chunk`. Rows of more than 16 chunks (head dims over
  /// 128) compute it as the swizzled chunk within its atom plus the atom's
  /// first column, so that the atom's offset folds into the ldmatrix
  /// address: else the loop keeps one 64-bit address register per chunk
  /// and operand (ptxas spilled at head dim 256). Up to 16 chunks the sum
  /// is swizzled as is (the same PTX as before; splitting there moved
  /// ptxas's register choice and made head dims 80 and 96 spill).
  mlir::Value swizzledCol(mlir::Value row, mlir::Value laneChunk, int64_t chunk);

  /// acc += a·b for one m16n8k16 tile; `acc` holds 4 f32 values.
  void mma(llvm::ArrayRef<mlir::Value> a, llvm::ArrayRef<mlir::Value> bFrag,
           llvm::MutableArrayRef<mlir::Value> acc);

  /// ldmatrix .x4 (optionally transposed) at (row, col) of a shared tile;
  /// returns the four 16-bit pairs this lane receives.
  llvm::SmallVector<mlir::Value, 4> ldmatrix4(mlir::Value tile, mlir::Value row, mlir::Value col,
                                              bool transpose);

  /// The A operand of the 16x16 block at rows [row0, row0 + 16), columns
  /// [16 kk, 16 kk + 16) of a swizzled tile (rows as M, columns as K).
  llvm::SmallVector<mlir::Value, 4> rowOperand(mlir::Value tile, mlir::Value row0, int64_t kk,
                                               mlir::Value lane);
  /// B operands of n = 16 rows [row0, row0 + 16) of a tile whose rows are
  /// the product's N and columns its K (a "col" B, as K is for Q·Kᵀ), at
  /// K step kk: two n8 halves, {frag[0], frag[1]} and {frag[2], frag[3]}.
  llvm::SmallVector<mlir::Value, 4> colOperand(mlir::Value tile, mlir::Value row0, int64_t kk,
                                               mlir::Value lane);
  /// B operands of a tile whose rows are the product's K and columns its N
  /// (a "row" B, as V is for P·V): K rows [row0 + 16 kk, +16), N columns
  /// [16 dp, 16 dp + 16), transposed by ldmatrix; two n8 halves as above.
  /// A warp that owns a window of the columns passes its first 16-byte
  /// chunk as `firstChunk` (warp-uniform; null for 0): the columns are then
  /// [8 firstChunk + 16 dp, +16).
  llvm::SmallVector<mlir::Value, 4> transposedOperand(mlir::Value tile, mlir::Value row0,
                                                      int64_t kk, int64_t dp, mlir::Value lane,
                                                      mlir::Value firstChunk = {});

  /// Issues cp.async copies of `rows` rows of `src[bi, head, firstRow + r, :]`
  /// into swizzled rows `dstRow0 + r` of `dst` (copyRowChunksAsync: rows
  /// at or past `limit` zero-filled; `queryRows` mapped through `packed`).
  /// `liveLimit`, when given, stands for `limit` (a generation kernel's
  /// seq_k_live: the cache's rows past it are never read).
  void copyRowsAsync(mlir::Value src, mlir::Value bi, mlir::Value head, mlir::Value firstRow,
                     int64_t limit, mlir::Value dst, mlir::Value dstRow0, int64_t rows,
                     mlir::Value tid, bool queryRows = false, mlir::Value liveLimit = {});

  /// Writes a warp's 16-row accumulator `acc` (D/8 chunks of 4) to
  /// dst[bi, head, firstRow + row, :] for rows below `limit`: scaled by
  /// factor[half] for the lane's two rows (none when `factor` is null),
  /// staged through the warp's own rows [warpRow0, +16) of the swizzled
  /// `tile`, then copied in 16-byte chunks (FragmentEpilogue.h). The caller
  /// puts a barrier before it (the tile's last readers). With `firstChunk`
  /// (warp-uniform), `acc` is a window of the rows: its acc.size() / 4
  /// chunks are the row's chunks from `firstChunk` on, and only they are
  /// staged and written. `liveLimit`, when given, stands for `limit`.
  void storeWarpRows(llvm::ArrayRef<mlir::Value> acc, const mlir::Value *factor, mlir::Value tile,
                     mlir::Value warpRow0, const LaneCoords &lane, mlir::Value dst, mlir::Value bi,
                     mlir::Value head, mlir::Value firstRow, int64_t limit,
                     mlir::Value firstChunk = {}, mlir::Value liveLimit = {});
  /// The coordinates of lane `lane` (thread index mod 32).
  LaneCoords laneCoords(mlir::Value lane);

  /// The cp.async pipeline over `numSteps` steps with `stages` shared
  /// buffers. prologue() issues the loads of the first stages - 1 steps,
  /// one commit group each (empty groups when the loop is shorter, so the
  /// count stays uniform). pipelinedLoop() is the loop after it: step t
  /// waits until its group has landed, a barrier lets every warp past step
  /// t - 1 so its buffer may be refilled, the load of step t + stages - 1 is
  /// issued, then body(t, iterArgs) returns the values to yield.
  void prologue(mlir::Value numSteps, int64_t stages, const std::function<void(mlir::Value)> &load);
  mlir::scf::ForOp pipelinedLoop(
      mlir::Value numSteps, int64_t stages, mlir::ValueRange inits,
      const std::function<void(mlir::Value)> &load,
      const std::function<llvm::SmallVector<mlir::Value>(mlir::Value, mlir::ValueRange)> &body);
  void commitGroup();
  void waitGroups(int32_t pending);

private:
  /// A 16-bit pair as an mma operand: i32 for bf16 (the intrinsic's type),
  /// vector<2xf16> as is for f16.
  mlir::Value mmaOperand(mlir::Value pair);
};

} // namespace sieve::passes

#endif
