//===- BatchSequence.h - a ragged or paged batch's sequence on the GPU -*- C++ -*-===//
//
// A ragged kernel serves B sequences of different lengths packed one after
// another ([1, H, total, D] views of q, k, v and out, the offsets in the
// `sequences` operand); a paged one reads K and V from a pool of pages
// ([pages, Hkv, page, D]) through the `pages` operand
// (docs/ragged-paged.md). A tensor-core forward runs sequence b in the
// grid's batch entry b: these are the lengths and the rows it reads and
// writes, loaded once per thread block.
//
// Keys and queries stay relative to the sequence everywhere the mask
// looks (tile starts, causal, the live-key mask); only the copies of q, K,
// V and the stores of out translate them to rows of the tensors.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_BATCHSEQUENCE_H
#define SIEVE_PASSES_NVIDIA_BATCHSEQUENCE_H

#include "nvidia/FragmentBuilder.h"

namespace sieve::passes {

/// Where a tile's rows are in a tensor: src[batch, head, row + r, :] for
/// r below `liveLimit - row` (rows past it are not read: zero-filled).
struct TileRows {
  mlir::Value batch, row, liveLimit;
};

/// The sequence a thread block of a ragged or paged forward works on.
struct BatchSequence {
  mlir::Value batchEntry; // the grid's batch entry: the sequence's index
  mlir::Value seqQ, seqK; // its lengths (index values)
  mlir::Value qOffset;    // ragged: its first query's row in q and out; else null
  mlir::Value kOffset;    // ragged and not paged: its first key's row in k and v; else null
  mlir::Value pages;      // paged: the page table argument; else null
  int64_t pageSize = 0;

  /// The rows of q (or out) that hold the sequence's queries [first,
  /// first + n): a ragged batch's from its offset in entry 0, else the
  /// batch entry's. The live limit is the sequence's query count.
  TileRows queryRows(FragmentBuilder &e, mlir::Value first) const;
  /// The rows of k and v that hold the sequence's keys [first, first + n)
  /// for n up to the key block (a tile never crosses a page: the page
  /// size is a multiple of block_k). Paged: rows of the page the table
  /// names for key `first`, or for the sequence's last key when `first`
  /// is past it (the table's entries past the last key are not read).
  /// The live limit stops at the sequence's key count. Needs seqK >= 1.
  TileRows keyRows(FragmentBuilder &e, mlir::Value first) const;
};

/// Loads, at `e`'s insertion point in the kernel whose entry block is
/// `entry`, the lengths of sequence `bi` (the op's seq_q and seq_k when it
/// is not ragged) and its offsets.
BatchSequence emitBatchSequence(FragmentBuilder &e, dialect::BlockSparseAttentionOp op,
                                mlir::Block &entry, mlir::Value bi);

/// What a thread block of sequence `seq` runs of its work row, whose
/// ascending key-block entries are [rowBegin, rowEnd), for its queries
/// [qStart, qStart + queryTile): the end of the entries it runs (those
/// whose block holds a key below the sequence's key count and, under
/// bottom-right causal, at or before the tile's last query's diagonal;
/// found by binary search) and, under bottom-right causal, the shift by
/// which causal compares its queries with keys: query i sees keys
/// j <= i + seqK - seqQ by the sequence's own lengths (signed: negative
/// where it has fewer keys than queries), else null. Top-left causal needs
/// neither: the specialization dropped the tiles above the diagonal, and
/// that diagonal is the same for every crop.
std::pair<mlir::Value, mlir::Value>
batchSequenceRow(FragmentBuilder &e, const ProblemGeometry &g, const BatchSequence &seq,
                 mlir::Value keyBlocks, mlir::Value rowBegin, mlir::Value rowEnd,
                 mlir::Value qStart, int64_t queryTile, std::optional<dialect::CausalAlign> align);

} // namespace sieve::passes

#endif
