//===- BatchLayout.cpp ----------------------------------------------------===//
#include "sieve/runtime/BatchLayout.h"

#include <fmt/format.h>

#include <algorithm>

namespace sieve::runtime {

namespace {

/// One offsets array: from 0 or more, non-decreasing, each sequence at most
/// `most` long, ending inside `rows` (when rows >= 0).
Error checkOffsets(const char *name, const int32_t *cu, int64_t batch, int64_t most,
                   const char *what, const char *limitName, int64_t rows, const char *tensor) {
  if (cu[0] < 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{}[0] is {}: offsets are not negative", name, cu[0]));
  for (int64_t b = 0; b < batch; ++b) {
    if (cu[b + 1] < cu[b])
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("{} is not monotone: {}[{}] = {} is less than {}[{}] = {}", name,
                               name, b + 1, cu[b + 1], name, b, cu[b]));
    const int64_t length = int64_t{cu[b + 1]} - cu[b];
    if (length > most)
      return Error(ErrorCode::ShapeMismatch,
                   fmt::format("sequence {} has {} {}, more than the kernel's {} ({}): the "
                               "compiled mask's grid covers at most that many",
                               b, length, what, limitName, most));
  }
  if (rows >= 0 && cu[batch] > rows)
    return Error(ErrorCode::ShapeMismatch, fmt::format("{} ends at {} but '{}' holds {} tokens",
                                                       name, cu[batch], tensor, rows));
  return Error::success();
}

} // namespace

Expected<BatchLaunch> checkBatchLayout(const Artifact &a, const BatchLayout &layout,
                                       const TensorView &q, const TensorView &k,
                                       const TensorView &v, const TensorView &out,
                                       DeviceKind device) {
  const ProblemShape &s = a.shape;
  const bool paged = a.pageSize > 0;
  if (!a.ragged && !paged)
    return Error(ErrorCode::InvalidArgument,
                 "cu_seqlens and page tables go with kernels compiled ragged or with a page "
                 "size; run this one without them");
  if (a.ragged && (!layout.cuSeqlensQ || !layout.cuSeqlensK))
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{} is missing: a ragged kernel takes both cu_seqlens_q and "
                             "cu_seqlens_k (int32 [batch + 1] = [{}])",
                             layout.cuSeqlensQ ? "cu_seqlens_k" : "cu_seqlens_q", s.batch + 1));
  if (!a.ragged && (layout.cuSeqlensQ || layout.cuSeqlensK))
    return Error(ErrorCode::InvalidArgument,
                 "cu_seqlens given to a kernel compiled without ragged (every sequence has the "
                 "kernel's seq_q and seq_k)");
  if (paged && !layout.pageTable)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("page_table is missing: a paged kernel (page size {}) takes int32 "
                             "[batch, ceil(seq_k / page_size)] = [{}, {}]",
                             a.pageSize, s.batch, a.pagesPerSequence()));
  if (!paged && layout.pageTable)
    return Error(ErrorCode::InvalidArgument,
                 "page_table given to a kernel compiled without a page size");
  // Ragged: q and out are [1, Hq, total_q, D]; paged: k and v a pool of
  // pages [pages, Hkv, page_size, D].
  const std::array<int64_t, 4> qShape =
      a.ragged ? std::array<int64_t, 4>{1, s.headsQ, kAnySize, s.headDim}
               : std::array<int64_t, 4>{s.batch, s.headsQ, s.seqQ, s.headDim};
  const std::array<int64_t, 4> kvShape =
      paged      ? std::array<int64_t, 4>{kAnySize, s.headsKv, a.pageSize, s.headDim}
      : a.ragged ? std::array<int64_t, 4>{1, s.headsKv, kAnySize, s.headDim}
                 : std::array<int64_t, 4>{s.batch, s.headsKv, s.seqK, s.headDim};
  if (Error e = checkAttentionTensorShapes(qShape, kvShape, s.dtype, q, k, v, out, device))
    return e;
  if (paged && k.sizes[0] < 1)
    return Error(ErrorCode::ShapeMismatch, "the page pool ('key', 'value') holds no page");
  if (out.sizes[2] != q.sizes[2])
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("tensor 'out' holds {} tokens, 'query' {}: out is shaped like q",
                             out.sizes[2], q.sizes[2]));
  if (!paged && v.sizes[2] != k.sizes[2])
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("tensor 'value' holds {} tokens, 'key' {}: v is shaped like k",
                             v.sizes[2], k.sizes[2]));
  if (paged && v.sizes[0] != k.sizes[0])
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("the value pool holds {} pages, the key pool {}: one page table "
                             "indexes both",
                             v.sizes[0], k.sizes[0]));
  BatchLaunch launch;
  if (a.ragged) {
    if (Error e = checkOffsets("cu_seqlens_q", layout.cuSeqlensQ, s.batch, s.seqQ, "queries",
                               "seq_q", q.sizes[2], "query"))
      return e;
    if (Error e = checkOffsets("cu_seqlens_k", layout.cuSeqlensK, s.batch, s.seqK, "keys", "seq_k",
                               paged ? -1 : k.sizes[2], "key"))
      return e;
    launch.sequences.assign(layout.cuSeqlensQ, layout.cuSeqlensQ + s.batch + 1);
    launch.sequences.insert(launch.sequences.end(), layout.cuSeqlensK,
                            layout.cuSeqlensK + s.batch + 1);
  }
  if (paged) {
    const int64_t columns = a.pagesPerSequence(), pool = k.sizes[0];
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t keys =
          a.ragged ? int64_t{layout.cuSeqlensK[b + 1]} - layout.cuSeqlensK[b] : s.seqK;
      for (int64_t p = 0; p * a.pageSize < keys; ++p) {
        const int32_t page = layout.pageTable[b * columns + p];
        if (page < 0 || page >= pool)
          return Error(ErrorCode::InvalidArgument,
                       fmt::format("page_table[{}][{}] = {} is outside the pool of {} pages "
                                   "(sequence {}'s keys {}..{} live there)",
                                   b, p, page, pool, b, p * a.pageSize,
                                   std::min(keys, (p + 1) * a.pageSize) - 1));
      }
    }
    launch.pages = layout.pageTable;
  }
  return launch;
}

} // namespace sieve::runtime
