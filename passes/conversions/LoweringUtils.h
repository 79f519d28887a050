//===- LoweringUtils.h - helpers shared by the CPU and GPU lowerings -*- C++ -*-===//
//
// Both lowerings compute the same streaming softmax per query row; these
// helpers keep the arithmetic (and its corner cases) written once.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_LOWERINGUTILS_H
#define SIEVE_PASSES_LOWERINGUTILS_H

#include "sieve/dialect/SieveOps.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>
#include <functional>

namespace sieve::passes {

/// log2(e): scores are pre-scaled by it so the kernels can use exp2.
constexpr double kLog2e = 1.4426950408889634;

/// GQA packing (sieve-pack-gqa; BlockSparseAttentionOp's description): how
/// a packed row reaches q, out and lse, and which of a row's key blocks it
/// keeps. Empty (`group` 0) when the op's rows are not packed.
struct PackedQueries {
  int64_t group = 0;      // query heads per key head
  int64_t queries = 0;    // Sq, the query rows of each head
  int64_t maskBlockQ = 0; // the mask's block_q: rows of one segment at most
  explicit operator bool() const { return group > 0; }
  static PackedQueries of(dialect::BlockSparseAttentionOp op);
  /// The (query head, query) of packed row `row` of key head `keyHead`.
  std::pair<mlir::Value, mlir::Value> at(mlir::ImplicitLocOpBuilder &b, mlir::Value keyHead,
                                         mlir::Value row) const;
  /// The query of packed row `row` (its causal position's source).
  mlir::Value query(mlir::ImplicitLocOpBuilder &b, mlir::Value row) const;
  /// Whether packed row `row` keeps the key-block entry whose segment word
  /// (key_block_segments, i32) is `word`, in the work row whose first
  /// packed row is `firstRow`.
  mlir::Value keeps(mlir::ImplicitLocOpBuilder &b, mlir::Value word, mlir::Value firstRow,
                    mlir::Value row) const;
  /// keeps() in two steps, the first once per row: the bit (i32) of packed
  /// row `row`'s segment in the words of the work row whose first packed
  /// row is `firstRow`, then whether `word` has it set.
  mlir::Value segmentShift(mlir::ImplicitLocOpBuilder &b, mlir::Value firstRow,
                           mlir::Value row) const;
  mlir::Value keepsAt(mlir::ImplicitLocOpBuilder &b, mlir::Value word, mlir::Value shift) const;
};

/// "; pack-gqa g=<g> rows=<block_q>" for a GQA-packed op (the artifact's
/// config names the packing), else "".
std::string describeGqaPacking(dialect::BlockSparseAttentionOp op);

/// The problem an op describes, as the tensor-core kernels see it. For a
/// GQA-packed op it is the packed problem: Hkv heads of g x Sq rows, group
/// 1, block_q packed rows, with `packed` saying how rows map back.
struct ProblemGeometry {
  mlir::Type elt;
  int64_t batch, headsQ, headsKv, seqQ, seqK, headDim, group, blockQ, blockK;
  bool causal;
  /// With causal, query i sees keys j <= i + causalOffset: 0 top-left,
  /// Sk - Sq bottom-right (`causal_align`). Kernels emit the add only when
  /// it is not 0, so top-left code is the same as before alignments.
  int64_t causalOffset;
  double scaleLog2; // scale * log2(e)
  PackedQueries packed;
  /// Generation on the GPU (docs/generation.md), values of the kernel
  /// being built (null otherwise): the keys are the first `liveKeys` of
  /// seqK (seq_k_live, read at launch), and a kernel row is a query's row
  /// in q and out, whose position is that row + `causalShift` (q_pos), so
  /// causal sees keys up to row + causalShift.
  mlir::Value liveKeys, causalShift;
  /// The (head, row) of q, out and lse that kernel row `row` of head
  /// `head` is: itself, or a packed row's query head and query.
  std::pair<mlir::Value, mlir::Value> queryIndices(mlir::ImplicitLocOpBuilder &b, mlir::Value head,
                                                   mlir::Value row) const {
    return packed ? packed.at(b, head, row) : std::make_pair(head, row);
  }
  /// The query position causal compares for kernel row `row`.
  mlir::Value causalQuery(mlir::ImplicitLocOpBuilder &b, mlir::Value row) const {
    return packed ? packed.query(b, row) : row;
  }
};
ProblemGeometry problemGeometryOf(dialect::BlockSparseAttentionOp op);
/// The same from the operands' types and the op's attributes (the forward's
/// and the backward's ops share them).
ProblemGeometry problemGeometryOf(mlir::MemRefType query, mlir::MemRefType key, int64_t blockQ,
                                  int64_t blockK, bool causal, int64_t causalOffset, double scale);

/// The kernel argument that carries `op`'s lse operand (a kernel takes the
/// op's operands first, in order), or null when the op saves none.
mlir::Value lseArgument(dialect::BlockSparseAttentionOp op, mlir::Block &entry);
/// The same for the stats operand (calibration), or null.
mlir::Value statsArgument(dialect::BlockSparseAttentionOp op, mlir::Block &entry);
/// The same for the thresholds operand (threshold mode), or null.
mlir::Value thresholdsArgument(dialect::BlockSparseAttentionOp op, mlir::Block &entry);
/// The same for a ragged batch's offsets (operand `sequences`), or null.
mlir::Value sequencesArgument(dialect::BlockSparseAttentionOp op, mlir::Block &entry);
/// The same for a paged batch's page table (operand `pages`), or null.
mlir::Value pagesArgument(dialect::BlockSparseAttentionOp op, mlir::Block &entry);
/// Threshold mode: head `head`'s threshold in the units the kernels compare
/// scaled scores in, theta * log2(e) (read from `thresholds` at run time).
mlir::Value headThresholdLog2(mlir::ImplicitLocOpBuilder &b, mlir::Value thresholds,
                              mlir::Value head);

/// Whether the innermost (head) dimension has a static unit stride, which
/// 16-byte copies (cp.async, TMA) need.
bool hasUnitInnerStride(mlir::MemRefType type);

/// The constant tables of one specialized op. With `atLaunch` (the generic
/// kernel: the mask is run-time data) there are no globals; the kernel
/// takes the four tables as memref<?xi32> arguments after its others.
struct RowTableGlobals {
  mlir::memref::GlobalOp heads, queryBlocks, spans, keyBlocks;
  bool atLaunch = false;
  /// Split-KV (SplitKv.h): each row's workspace slot, the split groups and
  /// each slot's group (the GPU's parts find their arrival counter by it);
  /// null when the op has no split rows.
  mlir::memref::GlobalOp rowSlots, splitGroups, slotGroups;
  /// GQA packing: key_block_segments (null when the op is not packed).
  mlir::memref::GlobalOp segments;
  /// Generation: positionRowTable (null when the op is none).
  mlir::memref::GlobalOp positionRows;
};

/// The kernel argument types the tables take when `atLaunch`.
llvm::SmallVector<mlir::Type, 4> rowTableArgumentTypes(mlir::MLIRContext *ctx);

/// GQA packing: the segment table inside a kernel (null when not packed).
mlir::Value segmentTableValue(mlir::ImplicitLocOpBuilder &b, const RowTableGlobals &tables);

/// The four tables (heads, query blocks, row spans, key blocks) inside a
/// kernel: loaded from the globals, or its arguments from `firstArg` on.
std::array<mlir::Value, 4> rowTableValues(mlir::ImplicitLocOpBuilder &b,
                                          const RowTableGlobals &tables, mlir::Block &entry,
                                          unsigned firstArg);

/// Emits the four tables as private constant i32 globals at `builder`'s
/// insertion point (a module or gpu.module body), named `<prefix>_<table>`.
/// Empty tables get one padding entry: zero-sized globals are not portable.
RowTableGlobals createRowTableGlobals(mlir::OpBuilder &builder, mlir::Location loc,
                                      dialect::BlockSparseAttentionOp op, llvm::StringRef prefix,
                                      mlir::Attribute memorySpace = {});

/// A private constant i32 global `name` holding `values` (one padding
/// entry when empty: zero-sized globals are not portable).
mlir::memref::GlobalOp createConstantTable(mlir::OpBuilder &builder, mlir::Location loc,
                                           llvm::StringRef name, llvm::ArrayRef<int32_t> values,
                                           mlir::Attribute memorySpace = {});

/// Loads `table[index]` (i32) as an index value.
mlir::Value loadIndexEntry(mlir::ImplicitLocOpBuilder &b, mlir::Value table, mlir::Value index);
/// Row `row`'s [begin, end) in the key-block table, from the row-span table.
std::pair<mlir::Value, mlir::Value> loadRowSpan(mlir::ImplicitLocOpBuilder &b, mlir::Value spans,
                                                mlir::Value row);

mlir::Value indexConst(mlir::ImplicitLocOpBuilder &b, int64_t v);

/// Query position `query` on the keys' axis under a causal rule of
/// `causalOffset` (ProblemGeometry::causalOffset): the query sees the keys
/// up to it. `query` itself when the offset is 0 (top-left), so top-left
/// code is unchanged. Signed: it is negative for a query that sees no key.
mlir::Value causalPosition(mlir::ImplicitLocOpBuilder &b, mlir::Value query, int64_t causalOffset);
/// Whether `query` sees `key` under a causal rule of `causalOffset`:
/// key <= query + offset (unsigned when the offset is 0, as the kernels
/// always compared; signed otherwise).
mlir::Value causalSees(mlir::ImplicitLocOpBuilder &b, mlir::Value query, mlir::Value key,
                       int64_t causalOffset);
/// Whether `query`'s position comes before `key` (query + offset < key):
/// then some key from `key` on is hidden from it.
mlir::Value causalPrecedes(mlir::ImplicitLocOpBuilder &b, mlir::Value query, mlir::Value key,
                           int64_t causalOffset);
/// causalSees and causalPrecedes with an offset known at launch (a
/// generation kernel's q_pos): query + offset is a position, never below 0,
/// so the compares are unsigned.
mlir::Value causalSees(mlir::ImplicitLocOpBuilder &b, mlir::Value query, mlir::Value key,
                       mlir::Value causalOffset);
mlir::Value causalPrecedes(mlir::ImplicitLocOpBuilder &b, mlir::Value query, mlir::Value key,
                           mlir::Value causalOffset);
mlir::Value f32Const(mlir::ImplicitLocOpBuilder &b, double v);

/// Generation (docs/generation.md): the work row of each (head, position
/// block) of a generation op, at head * ceil(M / position block) + block
/// (the verifier checked each is listed once), which a kernel picks from at
/// launch with the step's q_pos. A GQA-packed op's heads are key heads.
llvm::SmallVector<int32_t> positionRowTable(dialect::BlockSparseAttentionOp op);

/// A scalar function a target lowers its own way (exp2 and log2: NVVM's
/// approximations on the GPU, nvidia/NvvmIntrinsics.h, the math dialect's
/// ops on the host).
using ScalarFn = std::function<mlir::Value(mlir::ImplicitLocOpBuilder &, mlir::Value)>;

/// The host's exp2 and log2 (math.exp2, math.log2).
mlir::Value emitHostExp2(mlir::ImplicitLocOpBuilder &b, mlir::Value x);
mlir::Value emitHostLog2(mlir::ImplicitLocOpBuilder &b, mlir::Value x);

/// Widens a loaded element to f32 / narrows an f32 to the element type.
mlir::Value toF32(mlir::ImplicitLocOpBuilder &b, mlir::Value v);
mlir::Value fromF32(mlir::ImplicitLocOpBuilder &b, mlir::Value v, mlir::Type elementType);

/// Builds `scf.for iv = lb to ub step s` with the body given as a lambda that
/// returns the values to yield.
mlir::scf::ForOp
buildFor(mlir::ImplicitLocOpBuilder &b, mlir::Value lb, mlir::Value ub, mlir::Value step,
         mlir::ValueRange inits,
         const std::function<llvm::SmallVector<mlir::Value>(mlir::ImplicitLocOpBuilder &,
                                                            mlir::Value, mlir::ValueRange)> &body);

/// The online-softmax update for one chunk of scores already stored in
/// `scores[0, count)` (log2 domain), given the chunk maximum. Rescales `acc`
/// and returns the new (max, sum). `exp2` emits the target's exp2. The value
/// row for score j is read with `valueAt(j, d)`.
struct SoftmaxState {
  mlir::Value max, sum;
};
SoftmaxState buildSoftmaxUpdate(
    mlir::ImplicitLocOpBuilder &b, SoftmaxState state, mlir::Value chunkMax, mlir::Value scores,
    mlir::Value count, mlir::Value acc, int64_t headDim,
    const std::function<mlir::Value(mlir::ImplicitLocOpBuilder &, mlir::Value)> &exp2,
    const std::function<mlir::Value(mlir::ImplicitLocOpBuilder &, mlir::Value, mlir::Value)>
        &valueAt);

/// Writes acc / sum (or zeros when sum == 0, a row with no kept key) through
/// `store(d, value)`.
void buildNormalizeAndStore(
    mlir::ImplicitLocOpBuilder &b, mlir::Value acc, mlir::Value sum, int64_t headDim,
    const std::function<void(mlir::ImplicitLocOpBuilder &, mlir::Value, mlir::Value)> &store);

} // namespace sieve::passes

#endif
