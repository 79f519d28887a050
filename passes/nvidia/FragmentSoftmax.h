//===- FragmentSoftmax.h - softmax on tensor-core accumulator fragments -*- C++ -*-===//
//
// mma.sync m16n8 tiles and wgmma m64nN tiles leave the same per-thread
// fragment: for each 8-column chunk j a thread holds four f32 values,
// (row, col), (row, col+1), (row+8, col), (row+8, col+1) with row = lane/4
// and col = 8j + 2*(lane%4) inside its warp's 16 rows. The online softmax,
// the element mask, the forward's finish (lse, normalization) and the
// backward's recomputed P and dS only depend on that layout, so every
// tensor-core kernel, mma.sync or wgmma, builds them here.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_FRAGMENTSOFTMAX_H
#define SIEVE_PASSES_NVIDIA_FRAGMENTSOFTMAX_H

#include "nvidia/FragmentBuilder.h"

#include "llvm/ADT/SmallVector.h"

#include <array>
#include <limits>

namespace sieve::passes {

/// Scores of one key tile: chunks[j][i] as described above.
using Fragment = llvm::SmallVector<llvm::SmallVector<mlir::Value, 4>>;

/// Replaces each s[j][i] by masked(j, i) under an scf.if on `cond`, whose
/// other branch keeps s as it is: the selects of an element mask run only
/// on tiles where some element may be masked.
void maskFragmentIf(FragmentBuilder &fb, Fragment &s, mlir::Value cond,
                    const std::function<mlir::Value(int64_t, int64_t)> &masked);

/// Sets scores of keys past `seqK`, and with `causal` of keys after the
/// query's position (causalSees), to `fill` (-inf for raw scores, 0 for
/// probabilities), for the
/// key tile [firstKey, firstKey + keyTile). The selects run only where a
/// key of the tile may be past Sk or after the warp's first query
/// `warpFirstQuery` (an scf.if: interior tiles skip them). `laneCol` is
/// the lane's first column, `queryRow[h]` the query of half h (its causal
/// position's source). GQA packing: `rowKeeps[h]` (i1) says whether half
/// h's row keeps the tile's key block; every tile is masked then.
/// Generation (ProblemGeometry::liveKeys, causalShift): `liveKeys` stands
/// for seqK and `causalShift` for causalOffset, both known at launch.
void maskScores(FragmentBuilder &fb, Fragment &s, mlir::Value firstKey, int64_t keyTile,
                mlir::Value warpFirstQuery, mlir::Value laneCol, const mlir::Value queryRow[2],
                int64_t seqK, bool causal, int64_t causalOffset,
                double fill = -std::numeric_limits<double>::infinity(),
                const mlir::Value *rowKeeps = nullptr, mlir::Value liveKeys = {},
                mlir::Value causalShift = {});

/// The element mask of a work row's score tiles as the tensor-core
/// forwards apply it (maskScores), GQA-packed or not. Under GQA packing
/// (ProblemGeometry::packed) causal compares each packed row's own query,
/// and a row whose (query head, mask query block) segment does not keep the
/// tile's key block (its bit of the entry's key_block_segments word) drops
/// every score of it.
class RowScoreMask {
public:
  /// For the work row whose key-block entries start at `rowBegin` and whose
  /// query block is `rowQueryBlock` (row_query_blocks), seen by a lane
  /// whose warp's first row is `warpFirstQuery` and whose accumulator
  /// halves hold rows `queryRow` (kernel rows: packed rows when packed).
  RowScoreMask(FragmentBuilder &e, const ProblemGeometry &g, const RowTableGlobals &tables,
               mlir::Value rowBegin, mlir::Value rowQueryBlock, mlir::Value warpFirstQuery,
               const mlir::Value queryRow[2]);
  /// Masks `s`, the scores of keys [firstKey, firstKey + keyTile) at the
  /// row's pipeline step `step` (key-block entry rowBegin + step / (block_k
  /// / keyTile)); `laneCol` is the lane's first column.
  void apply(Fragment &s, mlir::Value firstKey, int64_t keyTile, mlir::Value laneCol,
             mlir::Value step) const;

private:
  FragmentBuilder &e;
  ProblemGeometry g;
  mlir::Value segments; // key_block_segments (packed), else null
  mlir::Value rowBegin, warpFirstQuery, queryRow[2];
  mlir::Value segmentShift[2], causalRow[2]; // packed: per accumulator half
};

/// Threshold mode (learned run-time pruning): drops each score under its
/// head's threshold exactly as a masked key (-inf). Scores are raw dot
/// products; a score is kept when s * scaleLog2 >= thresholdLog2 (the
/// head's theta * log2 e), the test the scalar body and the CPU backend
/// make, unordered so that a NaN score stays visible. A dropped score is
/// the raw value whose scaled score is -inf: -inf, or +inf under a
/// negative scale (which only the backward kernels take), so the exponent
/// of a recomputed probability gives 0 either way.
void dropScoresUnderThreshold(FragmentBuilder &fb, Fragment &s, mlir::Value thresholdLog2,
                              double scaleLog2);

/// Whether this lane holds a score that is still kept (not -inf; NaN
/// counts as kept): the lane's part of the vote that skips a key tile
/// whose every score fell under the threshold.
mlir::Value laneKeepsAnyScore(FragmentBuilder &fb, const Fragment &s);

/// Calibration's weights for the lane's two rows, from the forward's final
/// running max `m` (raw dot products) and this lane's partial sums `l`:
/// P = exp2(s * scaleLog2 + negBase[half]) * invSum[half] is the row's
/// probability. A row that kept no key, or lies at or past `seqQ`
/// (padding), weighs 0. Every lane of the warp must call it (the sums are
/// reduced across the quad).
struct RowWeights {
  mlir::Value negBase[2], invSum[2];
};
RowWeights calibrationWeights(FragmentBuilder &fb, const mlir::Value m[2], const mlir::Value l[2],
                              const mlir::Value queryRow[2], int64_t seqQ, double scaleLog2);

/// The probability mass of the key tile whose raw (masked) scores are `s`
/// that this lane holds: its elements' P summed, weighed by `w`.
mlir::Value laneTileMass(FragmentBuilder &fb, const Fragment &s, const RowWeights &w,
                         double scaleLog2);

/// One online-softmax step on the lane's two rows: updates the running max
/// `m` and partial sum `l` (this lane's columns only; the quad is summed by
/// rowInverseSums), rescales `acc` (D/8 chunks of 4) and turns `s` into
/// unnormalized probabilities. Scores are raw dot products; `scaleLog2` is
/// scale * log2(e).
void softmaxStep(FragmentBuilder &fb, Fragment &s, llvm::MutableArrayRef<mlir::Value> acc,
                 mlir::Value m[2], mlir::Value l[2], double scaleLog2);

/// softmaxStep in two parts, for a kernel whose accumulator is still being
/// written by the previous tile's P·V while this tile's softmax runs:
/// softmaxScores updates m and l and turns `s` into probabilities, and
/// returns the factor per row half that rescaleRows applies to the
/// accumulator once it has landed.
std::array<mlir::Value, 2> softmaxScores(FragmentBuilder &fb, Fragment &s, mlir::Value m[2],
                                         mlir::Value l[2], double scaleLog2);
void rescaleRows(FragmentBuilder &fb, llvm::MutableArrayRef<mlir::Value> acc,
                 const std::array<mlir::Value, 2> &corrections);

/// 1/sum for the lane's two rows (summed over the quad); 0 for a row that
/// kept no key, so it is written as zeros.
llvm::SmallVector<mlir::Value, 2> rowInverseSums(FragmentBuilder &fb, mlir::Value l0,
                                                 mlir::Value l1);

/// Writes the natural-log log-sum-exp of the lane's two rows (queries
/// `queryRow[0..1]`) into lse[bi, head, query], from the online softmax's
/// running max `m` (raw dot products) and this lane's partial sums `l`: one
/// lane of each quad stores, rows past `seqQ` are skipped, a row with no
/// key gets -inf. Every lane of the warp must call it (the sums are
/// reduced across the quad).
void storeRowLse(FragmentBuilder &fb, mlir::Value lse, mlir::Value bi, mlir::Value head,
                 const mlir::Value queryRow[2], mlir::Value lane, const mlir::Value m[2],
                 const mlir::Value l[2], double scaleLog2, int64_t seqQ);

/// The end of the forward for a whole row (not a split-KV part): the lse of
/// the lane's two rows when `lse` is given (storeRowLse's arguments), then
/// `storeRows(factor)` writes the rows normalized, factor[half] the inverse
/// sum of half `half` (rowInverseSums). Every lane of the warp calls it.
void finishWholeRows(FragmentBuilder &fb, mlir::Value lse, mlir::Value bi, mlir::Value head,
                     const mlir::Value queryRow[2], mlir::Value lane, const mlir::Value m[2],
                     const mlir::Value l[2], double scaleLog2, int64_t seqQ,
                     const std::function<void(const mlir::Value *factor)> &storeRows);

/// A value per element of a fragment: at(j, i) for element i of chunk j.
/// The backward reads its per-query statistics through one, per row (i / 2)
/// or, on transposed fragments, per column (2 j + i % 2). The functions
/// below ask for the elements in order, chunk by chunk, so an accessor may
/// load a chunk's values when first asked for it.
using FragmentAccessor = std::function<mlir::Value(int64_t chunk, int64_t element)>;
/// A value per row half of the lane: v[i / 2].
FragmentAccessor byRowHalf(const mlir::Value v[2]);
/// A value per column of the lane: values[2 j + i % 2] for columns
/// 8 j + laneCol and 8 j + laneCol + 1 (`values` must outlive it).
FragmentAccessor byColumn(llvm::ArrayRef<mlir::Value> values);

/// The backward's probabilities, recomputed in place from raw scores `s`
/// and the forward's log-sum-exp: P = exp2(s * scaleLog2 - lse2(j, i)),
/// lse2 being lse * log2(e) of the element's query (+inf where P is 0).
void recomputeProbabilities(FragmentBuilder &fb, Fragment &s, double scaleLog2,
                            const FragmentAccessor &lse2);

/// Turns dP into the scores' gradient in place: dS = P ∘ (dP - delta(j, i)),
/// delta being dout · out of the element's query.
void softmaxGradient(FragmentBuilder &fb, const Fragment &p, Fragment &dp,
                     const FragmentAccessor &delta);

/// The A operand of the k16 step `kk` built from probabilities `p` (an
/// accumulator's layout is the next product's A operand): four packed
/// 16-bit pairs (vector<2 x elt>).
llvm::SmallVector<mlir::Value, 4> probabilityOperand(FragmentBuilder &fb, const Fragment &p,
                                                     int64_t kk);

} // namespace sieve::passes

#endif
