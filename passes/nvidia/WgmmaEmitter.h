//===- WgmmaEmitter.h - warp-group building blocks for sm_90a ---*- C++ -*-===//
//
// The pieces the Hopper kernels (the forward and the backward's dK/dV and
// dQ kernels) are built from: tiles in shared memory as stacks of swizzled
// column slabs that TMA writes (slab by slab, through TmaPipeline.h; the
// slab width follows the head dim, SlabLayout), the consumer lanes'
// coordinates, their wgmma matrix
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
/// The period of the widest (128-byte) swizzle, 8 rows of 128 bytes: shared
/// memory is aligned to it, which aligns every narrower pattern (512 and 256
/// bytes) too.
constexpr int64_t kAtomBytes = 1024;

/// How a tile of `headDim` 16-bit columns lies in shared memory: a stack of
/// column slabs (slab s holds columns [s * columns(), (s + 1) * columns())
/// of every row, its rows contiguous), each slab row `rowBytes` wide, written
/// by TMA with the swizzle of that width and read by wgmma through
/// descriptors that name the same swizzle. As CUTLASS picks its shared
/// memory atom, the width is the widest swizzle (128, 64 or 32 bytes) that
/// divides a row's bytes: head dims that are multiples of 64 take 128-byte
/// slabs, 32 and 96 take 64-byte ones, 80 takes 32-byte ones. Every swizzle
/// XORs a 16-byte chunk's index (address bits 4..) with the address bits
/// from 7 on (Swizzle<log2(chunks()), 4, 3> in CuTe's terms), with a period
/// of 8 slab rows (atomBytes()); every tile and slab starts on a period.
struct SlabLayout {
  int64_t rowBytes; // bytes of one slab row: the swizzle width

  static SlabLayout of(int64_t headDim);
  int64_t columns() const { return rowBytes / 2; }   // 16-bit elements in a slab row
  int64_t chunks() const { return rowBytes / 16; }   // 16-byte chunks in a slab row
  int64_t kSteps() const { return rowBytes / 32; }   // k16 steps (32 bytes) in a slab row
  int64_t atomBytes() const { return 8 * rowBytes; } // the swizzle's period: 8 rows
  int64_t count(int64_t headDim) const { return headDim / columns(); }
  /// Bits 62-63 of a wgmma matrix descriptor: 1 = 128-byte, 2 = 64-byte,
  /// 3 = 32-byte swizzle (PTX ISA, "Matrix Descriptor Format").
  uint64_t descriptorMode() const;
  /// The staged (swizzled) 16-byte chunk of `chunk` in row `row` of a slab.
  mlir::Value swizzledChunk(FragmentBuilder &e, mlir::Value row, mlir::Value chunk) const;
};

/// The TMA descriptor type of a rank-4 [B, H, S, D] tensor loaded as boxes
/// of `rows` x one slab of `layout`, zero past the end. The kernel code
/// never reads the swizzle kind (the CUtensorMap the runtime encodes carries
/// it, from the box's width: LaunchContract.h); upstream's verifier accepts
/// a swizzled box only 128 bytes wide, so narrower slabs are typed
/// swizzle_none here.
mlir::nvgpu::TensorMapDescriptorType swizzledTensorMapType(mlir::MLIRContext *ctx, mlir::Type elt,
                                                           int64_t rows, SlabLayout layout);

/// Dynamic shared memory realigned to the swizzle period (it is only
/// guaranteed 16-byte alignment): byte offsets below count from `base`.
struct SwizzledShared {
  mlir::Value smem; // the i8 dynamic shared memory
  mlir::Value pad;  // bytes skipped to reach alignment
  mlir::Value base; // shared address of byte 0 of the layout
  /// A [1, 1, rows, layout.columns()] view at `byteOffset`: one TMA box.
  mlir::Value box(FragmentBuilder &e, int64_t byteOffset, int64_t rows, SlabLayout layout) const;
  /// A [slabs * rows, columns] view of the headDim-wide tile at
  /// `byteOffset` in `layout` (slab s holds rows [s * rows, (s + 1) * rows)).
  mlir::Value slabs(FragmentBuilder &e, int64_t byteOffset, int64_t rows, int64_t headDim,
                    SlabLayout layout) const;
  /// An f32 view of `count` floats at `byteOffset`.
  mlir::Value floats(FragmentBuilder &e, int64_t byteOffset, int64_t count) const;
};
SwizzledShared swizzledShared(FragmentBuilder &e);

/// Swizzled tile-level wgmma operations on one warp group.
struct WgmmaEmitter : FragmentBuilder {
  int64_t headDim;
  SlabLayout slab; // of every headDim-wide tile

  WgmmaEmitter(mlir::ImplicitLocOpBuilder &b, mlir::Type elt, int64_t headDim)
      : WgmmaEmitter(b, elt, headDim, SlabLayout::of(headDim)) {}
  /// Tiles in narrower slabs than SlabLayout::of(headDim) picks: a kernel
  /// whose warp groups each own a window of the columns makes every window
  /// whole slabs.
  WgmmaEmitter(mlir::ImplicitLocOpBuilder &b, mlir::Type elt, int64_t headDim, SlabLayout slab)
      : FragmentBuilder{b, elt}, headDim(headDim), slab(slab) {}

  int64_t tileBytes(int64_t rows) const { return rows * headDim * 2; }

  /// The 64-bit matrix descriptor of an operand in `slab`'s layout whose
  /// first element sits at shared address `address`, with the leading and
  /// stride byte offsets (LBO, SBO) of its major-ness (PTX ISA, "Matrix
  /// Descriptor Format" and "Shared Memory Matrix Layout").
  mlir::Value descriptor(mlir::Value address, int64_t leadingBytes, int64_t strideBytes);

  /// S = A·Bᵀ (64 x n, f32, as a Fragment of n/8 chunks) over the head
  /// dimension: A is the 64 rows from shared address `aRows0` on, in a
  /// tile of `aTileRows` rows; B the whole n-row tile at `bTile`. Both are
  /// K-major (head dimension contiguous). Issues the wgmmas and commits
  /// them as one group; the result is valid after waitGroups.
  /// `undefinedStart`: the accumulator the first k-step overwrites (its
  /// scale-d is 0) starts undefined rather than zeroed, so no instruction
  /// writes it between wgmma.fence and the wgmma (ptxas serializes the
  /// group when one does: C7513).
  mlir::Value productKMajor(mlir::Value aRows0, int64_t aTileRows, mlir::Value bTile, int64_t n,
                            bool undefinedStart = false);
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

  /// The (row, column) of the view SwizzledShared::slabs gives that hold
  /// 16-byte chunk `chunk` (of the head dim's) of row `row` of a swizzled
  /// tile of `tileRows` rows, as TMA leaves it.
  std::pair<mlir::Value, mlir::Value> slabChunk(mlir::Value row, mlir::Value chunk,
                                                int64_t tileRows);

  /// Issues cp.async copies of the `rows` rows of q from packed row
  /// `firstRow` on (GQA packing maps them to their query heads and
  /// queries, FragmentBuilder::packed) into the swizzled tile of `rows` rows
  /// viewed as `tile` (SwizzledShared::slabs), spread over `threads`
  /// threads of which this is `tid`: a tile whose rows come from several
  /// heads, which one TMA box cannot load. Rows at or past `limit` are
  /// zero-filled. The caller waits for them (cp.async.wait_group) and
  /// fences them for the async proxy (asyncProxyFence) before a wgmma
  /// reads them.
  void copyQueryRowsAsync(mlir::Value q, mlir::Value bi, mlir::Value head, mlir::Value firstRow,
                          int64_t limit, mlir::Value tile, int64_t rows, mlir::Value tid,
                          int64_t threads);
  /// fence.proxy.async.shared::cta: this thread's shared-memory writes
  /// (generic proxy: stores, cp.async) become visible to wgmma operand reads
  /// and TMA (async proxy) past the next barrier.
  void asyncProxyFence();

  /// Writes a warp group's 64 rows of a 64 x D accumulator (times
  /// factor[half] for the lane's row halves, when given) to
  /// dst[bi, head, firstRow + r, :] for rows below `limit`: staged through
  /// rows [groupRow0, groupRow0 + 64) of the swizzled tile at `tile`
  /// (`tileRows` rows; the group's wgmmas must be done with them), then
  /// 16-byte stores (FragmentEpilogue.h). `barrierId` names the group's
  /// own named barrier. With `firstSlab` (group-uniform), `acc` is a window
  /// of the columns, 2 * acc.size() of them from slab `firstSlab` on: only
  /// that window is staged (in its own slabs) and written.
  void storeGroupRows(llvm::ArrayRef<mlir::Value> acc, const mlir::Value *factor, mlir::Value tile,
                      int64_t tileRows, mlir::Value groupRow0, mlir::Value warpRow0,
                      mlir::Value laneRow, mlir::Value laneCol, mlir::Value groupThread,
                      mlir::Value barrierId, mlir::Value dst, mlir::Value bi, mlir::Value head,
                      mlir::Value firstRow, int64_t limit, mlir::Value firstSlab = {});
};

/// A consumer lane's place in its warp group (warp group 0 produces): the
/// group's index among consumers, its thread in the group, warp and lane,
/// the lane's accumulator row and column (FragmentSoftmax.h), and the first
/// tile rows of its group (64 a group) and warp (16 a warp). Where
/// `groupsPerRows` consumer groups share each 64 rows (each owning a window
/// of the columns), consecutive consumers share rows and `columnGroup` is
/// the group's window among them (null when there is one).
struct GroupCoords {
  mlir::Value consumer, groupThread, warp, lane, laneRow, laneCol, groupRow0, warpRow0;
  mlir::Value columnGroup;
};
GroupCoords groupCoords(FragmentBuilder &e, mlir::Value tid, int64_t groupsPerRows = 1);

} // namespace sieve::passes

#endif
