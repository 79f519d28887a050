//===- WgmmaEmitter.h - warp-group building blocks for sm_90a ---*- C++ -*-===//
//
// The pieces the Hopper kernels (the forward and the backward's dK/dV and
// dQ kernels) are built from: tiles in shared memory as stacks of
// 128-byte-swizzled column slabs that TMA writes (slab by slab, through
// TmaPipeline.h), the consumer lanes' coordinates, their wgmma matrix
// descriptors, the two products every kernel needs (A·Bᵀ with both operands
// K-major in shared memory, and acc += A·B with A in registers and B an
// MN-major tile), and the staged 16-byte store of a warp group's rows.
//
// A warp group's m64nN accumulator leaves each warp the same fragment an
// mma.sync m16n8 tile does (FragmentSoftmax.h), on the warp's 16 rows.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_WGMMAEMITTER_H
#define SIEVE_PASSES_WGMMAEMITTER_H

#include "nvidia/FragmentSoftmax.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

namespace sieve::passes {

constexpr int64_t kWarpGroup = 128;
constexpr int64_t kSlab = 64;          // 16-bit elements in one 128-byte swizzled row
constexpr int64_t kSlabRowBytes = 128; // bytes of one row of a slab
constexpr int64_t kAtomBytes = 1024;   // 8 swizzled rows: the swizzle pattern's period

/// The TMA descriptor type of a rank-4 [B, H, S, D] tensor loaded as boxes
/// of `rows` x one 64-column slab, 128-byte swizzled, zero past the end.
mlir::nvgpu::TensorMapDescriptorType swizzledTensorMapType(mlir::MLIRContext *ctx, mlir::Type elt,
                                                           int64_t rows);

/// Dynamic shared memory realigned to the swizzle period (it is only
/// guaranteed 16-byte alignment): byte offsets below count from `base`.
struct SwizzledShared {
  mlir::Value smem; // the i8 dynamic shared memory
  mlir::Value pad;  // bytes skipped to reach alignment
  mlir::Value base; // shared address of byte 0 of the layout
  /// A [1, 1, rows, 64] view at `byteOffset`: one TMA box.
  mlir::Value box(FragmentBuilder &e, int64_t byteOffset, int64_t rows) const;
  /// A [slabs * rows, 64] view of the tile at `byteOffset` (slab s holds
  /// rows [s * rows, (s + 1) * rows)).
  mlir::Value slabs(FragmentBuilder &e, int64_t byteOffset, int64_t rows, int64_t headDim) const;
  /// An f32 view of `count` floats at `byteOffset`.
  mlir::Value floats(FragmentBuilder &e, int64_t byteOffset, int64_t count) const;
};
SwizzledShared swizzledShared(FragmentBuilder &e);

/// Swizzled tile-level wgmma operations on one warp group.
struct WgmmaEmitter : FragmentBuilder {
  int64_t headDim;

  WgmmaEmitter(mlir::ImplicitLocOpBuilder &b, mlir::Type elt, int64_t headDim)
      : FragmentBuilder{b, elt}, headDim(headDim) {}

  int64_t tileBytes(int64_t rows) const { return rows * headDim * 2; }

  /// The 64-bit matrix descriptor of a swizzled operand whose first element
  /// sits at shared address `address` (see the PTX ISA's descriptor format).
  mlir::Value descriptor(mlir::Value address, int64_t leadingBytes, int64_t strideBytes);

  /// S = A·Bᵀ (64 x n, f32, as a Fragment of n/8 chunks) over the head
  /// dimension: A is the 64 rows from shared address `aRows0` on, in a
  /// tile of `aTileRows` rows; B the whole n-row tile at `bTile`. Both are
  /// K-major (head dimension contiguous). Issues the wgmmas and commits
  /// them as one group; the result is valid after waitGroups.
  mlir::Value productKMajor(mlir::Value aRows0, int64_t aTileRows, mlir::Value bTile, int64_t n);
  Fragment fragmentOf(mlir::Value accumulator, int64_t n);

  /// acc (64 x D f32, D/2 values) += A·B over 16 * a.size() rows of B:
  /// A from registers (per k16 step four packed pairs as i32), B the
  /// MN-major tile at `bTile` (rows are the reduction, D contiguous) of
  /// `bTileRows` rows. Part of the current group.
  llvm::SmallVector<mlir::Value>
  accumulateRegisterA(llvm::ArrayRef<mlir::Value> acc,
                      llvm::ArrayRef<llvm::SmallVector<mlir::Value, 4>> a, mlir::Value bTile,
                      int64_t bTileRows);

  /// The A operands (as i32) of the k16 steps of `p`, packed to the
  /// element type.
  llvm::SmallVector<llvm::SmallVector<mlir::Value, 4>> registerOperands(const Fragment &p);

  void fence();                     // wgmma.fence: registers are ready
  void commit();                    // wgmma.commit_group
  void waitGroups(int64_t pending); // wgmma.wait_group

  /// Writes a warp group's 64 rows of a 64 x D accumulator (times
  /// factor[half] for the lane's row halves, when given) to
  /// dst[bi, head, firstRow + r, :] for rows below `limit`: staged through
  /// rows [groupRow0, groupRow0 + 64) of the swizzled tile at `tile`
  /// (`tileRows` rows; the group's wgmmas must be done with them), then
  /// 16-byte stores (FragmentEpilogue.h). `barrierId` names the group's
  /// own named barrier.
  void storeGroupRows(llvm::ArrayRef<mlir::Value> acc, const mlir::Value *factor, mlir::Value tile,
                      int64_t tileRows, mlir::Value groupRow0, mlir::Value warpRow0,
                      mlir::Value laneRow, mlir::Value laneCol, mlir::Value groupThread,
                      mlir::Value barrierId, mlir::Value dst, mlir::Value bi, mlir::Value head,
                      mlir::Value firstRow, int64_t limit);
};

/// A consumer lane's place in its warp group (warp group 0 produces): the
/// group's index among consumers, its thread in the group, warp and lane,
/// the lane's accumulator row and column (FragmentSoftmax.h), and the first
/// tile rows of its group (64 a group) and warp (16 a warp).
struct GroupCoords {
  mlir::Value consumer, groupThread, warp, lane, laneRow, laneCol, groupRow0, warpRow0;
};
GroupCoords groupCoords(FragmentBuilder &e, mlir::Value tid);

} // namespace sieve::passes

#endif
