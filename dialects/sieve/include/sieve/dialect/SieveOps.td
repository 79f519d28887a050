//===- SieveOps.td - sieve operations -----------------------*- tablegen -*-===//
#ifndef SIEVE_OPS_TD
#define SIEVE_OPS_TD

include "sieve/dialect/SieveDialect.td"
include "sieve/dialect/SieveAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Tensors are memrefs so frameworks can hand BSHD or BHSD views without
// copies: any strides, static sizes (the mask is sized from them).
def Sieve_AttentionOperand : MemRefRankOf<[F16, BF16, F32], [4]>;
// Calibration statistics: f32 [Hq, ceil(Sq / block_q), ceil(Sk / block_k)].
def Sieve_StatsOperand : MemRefRankOf<[F32], [3]>;
// Threshold mode: one f32 score threshold per query head, [Hq].
def Sieve_ThresholdsOperand : MemRefRankOf<[F32], [1]>;
// The softmax statistics the forward saves for the backward: the natural-log
// log-sum-exp of each query row's scaled scores, f32 [B, Hq, Sq].
def Sieve_LseOperand : MemRefRankOf<[F32], [3]>;
// A generation kernel's step (docs/generation.md): i32 [2], the first
// query's position q_pos and the live key count seq_k_live.
def Sieve_PositionsOperand : MemRefRankOf<[I32], [1]>;
// A ragged batch's cumulative offsets (docs/ragged-paged.md): i32 [2, B + 1],
// row 0 cu_seqlens_q, row 1 cu_seqlens_k, read at launch.
def Sieve_SequencesOperand : MemRefRankOf<[I32], [2]>;
// A paged KV cache's page table (docs/ragged-paged.md): i32 [B, pages per
// sequence], read at launch.
def Sieve_PagesOperand : MemRefRankOf<[I32], [2]>;

// Every attention op has `causal` and `causal_align`; the lowerings read
// the rule as one offset.
defvar Sieve_CausalOffsetDecl = [{
    /// With `causal`, query i sees keys j <= i + getCausalOffset(): 0 top-left
    /// (`causal_align` absent or top_left), Sk - Sq bottom-right.
    int64_t getCausalOffset() {
      return causalOffsetOf(getCausalAlign(), getQuery().getType(), getKey().getType());
    }
}];

def Sieve_AttentionOp : Sieve_Op<"attention", [AttrSizedOperandSegments]> {
  let summary = "Attention restricted to the tiles a block mask keeps";
  let description = [{
    `out[b, h, i, :] = sum_j softmax_j(scale * q[b,h,i,:] . k[b,h/g,j,:]) v[b,h/g,j,:]`
    over the keys j whose tile (i / block_q, j / block_k) the mask keeps for
    head h, where g = Hq / Hkv (grouped-query attention). With `causal`, keys
    after the query's position are dropped too: by default the mask is
    top-left aligned (keys j > i dropped, as PyTorch's `is_causal`);
    `causal_align = #sieve.causal_align<bottom_right>` aligns it
    bottom-right (keys j > i + Sk - Sq dropped, as FlashAttention's causal
    for a KV cache; Sq > Sk leaves the first Sq - Sk rows without keys).
    `causal_align` needs `causal`. A row with no kept key is written as
    zeros.

    Shapes: query and out [B, Hq, Sq, D]; key and value [B, Hkv, Sk, D]; the
    mask is [Hq, ceil(Sq / block_q), ceil(Sk / block_k)].

    With the optional `stats` operand (f32, shaped like the mask) the op
    also calibrates: for every query row it adds the row's final softmax
    probabilities, summed per key block, to `stats[h, i / block_q, kb]`
    (over the kept tiles, every batch entry). Every GPU body calibrates
    (the tensor-core bodies in a second Q K^T pass over the row's kept
    tiles, once its max and sum are final).

    Threshold mode, with the optional `thresholds` operand (f32 [Hq], read
    at run time, as learned-threshold pruning produces them): a score
    `scale * q . k` below its head's threshold is dropped like a masked key,
    and a key chunk whose every score is dropped is skipped. A row whose
    every kept score is dropped is zeros (and its `lse` -inf). Not combined
    with `stats`; every GPU body implements it.

    With the optional `lse` operand (f32 [B, Hq, Sq]) the op also writes,
    for the backward pass, each query row's natural-log log-sum-exp of its
    scaled scores over the kept keys, -inf for a row with no kept key.

    Generation (docs/generation.md), with the optional `positions` operand
    (i32 [2], read at run time: `q_pos`, `seq_k_live`): one op serves
    every step of a mask over positions. The mask is
    [Hq, ceil(Sk / block_q), ceil(Sk / block_k)], Sk being the most
    positions (the KV cache's length); query i is position `q_pos + i`, its
    mask row `(q_pos + i) / block_q`; only keys below `seq_k_live` are read;
    with `causal`, key j is dropped for query i when j > q_pos + i (which is
    bottom-right causal when seq_k_live = q_pos + Sq). Needs
    q_pos + Sq <= seq_k_live <= Sk. Not with `causal_align`, `stats` or
    `lse`.

    Ragged batches (docs/ragged-paged.md), with the optional `sequences`
    operand (i32 [2, B + 1], read at run time: row 0 `cu_seqlens_q`, row 1
    `cu_seqlens_k`): the operand types give the padded problem (B sequences
    of at most Sq queries and Sk keys) and the buffers hold the sequences
    packed: sequence b's query i is `query[0, h, cu_seqlens_q[b] + i]` (and
    `out` likewise), its key j `key[0, h, cu_seqlens_k[b] + j]` (and
    `value`), for lengths up to Sq and Sk. Each sequence sees the mask's
    top-left crop to its own lengths; bottom-right causal aligns each
    sequence by its own key length minus query length.

    Paged KV (docs/ragged-paged.md), with the optional `pages` operand
    (i32 [B, ceil(Sk / page_size)], read at run time) and `page_size` (a
    multiple of block_k): key and value are a pool of pages, [pages, Hkv,
    page_size, D], and key j of sequence b is
    `key[pages[b, j / page_size], h, j % page_size]`.

    Neither with `stats`, `lse` or `positions`.
  }];
  let arguments = (ins
    Arg<Sieve_AttentionOperand, "queries", [MemRead]>:$query,
    Arg<Sieve_AttentionOperand, "keys", [MemRead]>:$key,
    Arg<Sieve_AttentionOperand, "values", [MemRead]>:$value,
    Arg<Sieve_AttentionOperand, "result", [MemWrite]>:$out,
    Arg<Optional<Sieve_StatsOperand>, "calibration statistics", [MemRead, MemWrite]>:$stats,
    Arg<Optional<Sieve_ThresholdsOperand>, "per-head score thresholds", [MemRead]>:$thresholds,
    Arg<Optional<Sieve_LseOperand>, "per-row log-sum-exp", [MemWrite]>:$lse,
    Arg<Optional<Sieve_PositionsOperand>, "generation step: q_pos, seq_k_live", [MemRead]>:$positions,
    Arg<Optional<Sieve_SequencesOperand>, "ragged batch: cu_seqlens_q, cu_seqlens_k", [MemRead]>:$sequences,
    Arg<Optional<Sieve_PagesOperand>, "paged KV: the page table", [MemRead]>:$pages,
    Sieve_BlockMaskAttr:$mask,
    F32Attr:$scale,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_q,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_k,
    UnitAttr:$causal,
    OptionalAttr<Sieve_CausalAlignAttr>:$causal_align,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$page_size
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out (`stats` `(` $stats^ `:` type($stats) `)`)?
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)?
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    (`positions` `(` $positions^ `:` type($positions) `)`)?
    (`sequences` `(` $sequences^ `:` type($sequences) `)`)?
    (`pages` `(` $pages^ `:` type($pages) `)`)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($out)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = Sieve_CausalOffsetDecl;
}

def Sieve_BlockSparseAttentionOp : Sieve_Op<"block_sparse_attention", [AttrSizedOperandSegments]> {
  let summary = "Attention over constant per-row key-block tables";
  let description = [{
    The form `sieve-specialize-mask` produces. Each work row is one
    (head, query block): `row_heads[r]`, `row_query_blocks[r]`, and the key
    blocks `key_blocks[row_spans[2r] .. row_spans[2r+1])`. Rows whose key
    blocks are the same list share one copy of it, so heads with identical
    masks cost one table. Rows are
    ordered longest first; rows with no key block come last and only write
    zeros. Heads and rows the mask empties never read keys or values.
    With `causal`, key blocks wholly above the diagonal (shifted by
    `causal_align` as for `sieve.attention`) were already dropped; the rest
    still apply the element-wise causal test. `stats`, when
    present, accumulates each row's probability mass per key block as for
    `sieve.attention`.

    Split-KV (`sieve-split-rows`): a long (head, query block) may be cut
    into several work rows over consecutive pieces of its key list. Each
    such part has a workspace slot, `row_slots[r] >= 0` (-1: the row writes
    `out` itself), where it leaves its normalized partial output and the
    log2-sum-exp of its scores; `split_groups` lists, four numbers a group,
    (head, query block, first slot, slots), and a combine step merges each
    group's slots into `out`. Slots of a group are consecutive and every
    slot belongs to exactly one row. `lse`, when present, is written as
    for `sieve.attention` (by the combine step for split rows).

    GQA packing (`sieve-pack-gqa`, for decoding: few queries, Hq > Hkv),
    marked by `key_block_segments`: the g = Hq / Hkv query heads of a key
    head share its rows, so keys and values are read once per key head.
    Row r is then (key head `row_heads[r]`, packed block
    `row_query_blocks[r]`) of `block_q` packed rows p in [0, g x Sq), where
    packed row p is query p % Sq of query head `row_heads[r]` x g + p / Sq.
    The rows of one (query head, mask query block) form a segment,
    numbered (p / Sq) x ceil(Sq / mask_block_q) + (p % Sq) / mask_block_q
    (`mask_block_q` is the mask's block_q); `key_block_segments[e]`, beside
    `key_blocks[e]`, has bit s set when the row's segment s, counted from
    the segment of its first packed row, keeps that key block: a packed row
    whose segment does not keep it drops all its scores there. `causal`
    applies to the query p % Sq. Split groups name (key head, packed block).
    Not with `stats` or `thresholds`.

    Generation (`positions`, as for `sieve.attention`): the rows are the
    position mask's, one per (head, position block), where causal dropped
    the key blocks after a position block's last position; at run time the
    lowering picks the rows of the position blocks the call's queries fall
    in. A generation op of one query per head (Sq = 1) may be GQA-packed:
    row r is then (key head `row_heads[r]`, position block
    `row_query_blocks[r]`, in `mask_block_q` positions) of the g packed rows
    p in [0, g), query head `row_heads[r]` x g + p, its segment p.
    A generation op of one query per head may be split
    (`generation_parts` = S >= 2): the row is picked at run time, so every
    row is cut the same way, into S parts of L = ceil(longest row / S)
    entries of its key-block list (part s: entries [s L, (s + 1) L), its
    live prefix only); `split_groups` then lists one group per row head h,
    (h, 0, h S, S), whose slots the combine merges into the call's queries
    (query block 0: the call's Sq queries, or a packed row's g). No
    `row_slots`.

    Ragged batches and paged KV (`sequences`, `pages`, `page_size`, as for
    `sieve.attention`): the rows are the mask's, run per sequence where
    the sequence reaches their query block; with bottom-right causal no
    tile is dropped at compile time (each sequence's diagonal is its own).
    Not split and not packed.
  }];
  let arguments = (ins
    Arg<Sieve_AttentionOperand, "queries", [MemRead]>:$query,
    Arg<Sieve_AttentionOperand, "keys", [MemRead]>:$key,
    Arg<Sieve_AttentionOperand, "values", [MemRead]>:$value,
    Arg<Sieve_AttentionOperand, "result", [MemWrite]>:$out,
    Arg<Optional<Sieve_StatsOperand>, "calibration statistics", [MemRead, MemWrite]>:$stats,
    Arg<Optional<Sieve_ThresholdsOperand>, "per-head score thresholds", [MemRead]>:$thresholds,
    Arg<Optional<Sieve_LseOperand>, "per-row log-sum-exp", [MemWrite]>:$lse,
    Arg<Optional<Sieve_PositionsOperand>, "generation step: q_pos, seq_k_live", [MemRead]>:$positions,
    Arg<Optional<Sieve_SequencesOperand>, "ragged batch: cu_seqlens_q, cu_seqlens_k", [MemRead]>:$sequences,
    Arg<Optional<Sieve_PagesOperand>, "paged KV: the page table", [MemRead]>:$pages,
    DenseI32ArrayAttr:$row_heads,
    DenseI32ArrayAttr:$row_query_blocks,
    DenseI32ArrayAttr:$row_spans,
    DenseI32ArrayAttr:$key_blocks,
    F32Attr:$scale,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_q,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_k,
    UnitAttr:$causal,
    OptionalAttr<Sieve_CausalAlignAttr>:$causal_align,
    OptionalAttr<DenseI32ArrayAttr>:$row_slots,
    OptionalAttr<DenseI32ArrayAttr>:$split_groups,
    OptionalAttr<DenseI32ArrayAttr>:$key_block_segments,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$mask_block_q,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$page_size,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$generation_parts
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out (`stats` `(` $stats^ `:` type($stats) `)`)?
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)?
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    (`positions` `(` $positions^ `:` type($positions) `)`)?
    (`sequences` `(` $sequences^ `:` type($sequences) `)`)?
    (`pages` `(` $pages^ `:` type($pages) `)`)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($out)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = Sieve_CausalOffsetDecl # [{
    /// Whether some rows are split-KV parts (row_slots and split_groups set).
    bool hasSplitRows() { return getRowSlots().has_value(); }
    /// Whether parts leave partial results for a combine step: split rows,
    /// or a generation op's parts (split_groups set).
    bool hasSplitParts() { return getSplitGroups().has_value(); }
    /// A split generation op's parts per row (1 when not split), and the
    /// key-block entries each covers: ceil(longest row / parts).
    int64_t getGenerationPartCount() { return getGenerationParts().value_or(1); }
    int64_t getGenerationPartLength();
    /// The split groups of a generation op of `rowHeads` row heads cut into
    /// `parts` parts: (h, 0, h x parts, parts) for each row head h.
    static llvm::SmallVector<int32_t> generationSplitGroups(int64_t rowHeads, int64_t parts);
    /// The most key-block entries a row lists.
    int64_t getLongestRowLength();
    /// Workspace slots: the split parts, over all groups.
    int64_t getNumSlots();
    int64_t getNumRows() { return getRowHeads().size(); }
    /// Rows with at least one key block (they come first).
    int64_t getNumActiveRows();
    /// Whether the rows are GQA-packed (key_block_segments set).
    bool isGqaPacked() { return getKeyBlockSegments().has_value(); }
    /// Whether this is a generation op (a `positions` operand).
    bool isGeneration() { return static_cast<bool>(getPositions()); }
    /// Whether the op reads a ragged batch or paged KV (`sequences` or
    /// `pages`): lengths and key rows come at launch.
    bool hasBatchLayout() { return getSequences() || getPages(); }
    /// Query heads per key head packed into a row: g when packed, else 1.
    int64_t getPackedGroup();
    /// A generation op's positions per mask row (the mask's block_q:
    /// `mask_block_q` when GQA-packed, else `block_q`).
    int64_t getPositionBlock() {
      return isGqaPacked() ? *getMaskBlockQ() : getBlockQ();
    }
    /// A generation op's mask rows per head: ceil(Sk / position block),
    /// Sk being the most positions.
    int64_t getPositionBlockCount() {
      return (getKey().getType().getDimSize(2) + getPositionBlock() - 1) / getPositionBlock();
    }
    /// The position blocks a generation call's Sq queries may touch at any
    /// q_pos: ceil((Sq - 1) / position block) + 1.
    int64_t getGenerationWindows() {
      return (getQuery().getType().getDimSize(2) - 1 + getPositionBlock() - 1) /
                 getPositionBlock() + 1;
    }
    /// The heads a generation op's rows are over: the query heads, or the
    /// key heads when GQA-packed.
    int64_t getGenerationRowHeads() {
      return getQuery().getType().getDimSize(1) / getPackedGroup();
    }
  }];
}

def Sieve_AttentionBackwardOp : Sieve_Op<"attention_backward"> {
  let summary = "Gradients of sieve.attention with respect to its inputs";
  let description = [{
    Given the forward's inputs, its output `out`, its saved `lse` (f32
    [B, Hq, Sq], natural log) and the upstream gradient `dout` (shaped like
    `out`), writes `dquery`, `dkey` and `dvalue` (shaped like query, key and
    value): the gradients of `sieve.attention` with the same mask, scale,
    tile sizes, `causal` and `causal_align`. Under grouped-query attention the gradient
    of a key or value head is the sum over the query heads that share it.
    Rows with no kept key contribute nothing, and keys no kept tile reads
    get zero gradients.

    With the optional `thresholds` operand (f32 [Hq]) these are the
    gradients of the threshold-mode forward with the same thresholds (whose
    `lse` it must be): a score under its head's threshold was dropped, so
    its probability and its score gradient are 0. The thresholds are
    constants of the gradient (a hard threshold has none).
  }];
  let arguments = (ins
    Arg<Sieve_AttentionOperand, "queries", [MemRead]>:$query,
    Arg<Sieve_AttentionOperand, "keys", [MemRead]>:$key,
    Arg<Sieve_AttentionOperand, "values", [MemRead]>:$value,
    Arg<Sieve_AttentionOperand, "forward output", [MemRead]>:$out,
    Arg<Sieve_AttentionOperand, "gradient of the output", [MemRead]>:$dout,
    Arg<Sieve_LseOperand, "forward log-sum-exp", [MemRead]>:$lse,
    Arg<Sieve_AttentionOperand, "gradient of the queries", [MemWrite]>:$dquery,
    Arg<Sieve_AttentionOperand, "gradient of the keys", [MemWrite]>:$dkey,
    Arg<Sieve_AttentionOperand, "gradient of the values", [MemWrite]>:$dvalue,
    Arg<Optional<Sieve_ThresholdsOperand>, "per-head score thresholds", [MemRead]>:$thresholds,
    Sieve_BlockMaskAttr:$mask,
    F32Attr:$scale,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_q,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_k,
    UnitAttr:$causal,
    OptionalAttr<Sieve_CausalAlignAttr>:$causal_align
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out `,` $dout `,` $lse `->` $dquery `,` $dkey `,` $dvalue
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value) `,` type($out) `,` type($dout)
    `,` type($lse) `->` type($dquery) `,` type($dkey) `,` type($dvalue)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = Sieve_CausalOffsetDecl;
}

def Sieve_BlockSparseAttentionBackwardOp : Sieve_Op<"block_sparse_attention_backward"> {
  let summary = "Attention gradients over constant row and column tables";
  let description = [{
    The form `sieve-specialize-mask` gives `sieve.attention_backward`. dQ
    walks the mask by rows, as the forward does: the row tables have the
    forward's meaning (`row_heads`, `row_query_blocks`, `row_spans`,
    `key_blocks`). dK and dV walk it by columns: column c is (key head
    `col_kv_heads[c]`, key block `col_key_blocks[c]`) with the tiles
    (`col_query_heads[e]`, `col_query_blocks[e]`) for e in
    `[col_spans[2c], col_spans[2c+1])`, every query head sharing that key
    head included, so one worker sums a key block's gradient without
    atomics. Every (key head, key block) is one column, longest first;
    columns with no tile come last and only write zeros. Both tables hold
    the same tiles (causal rule, with its alignment, included). `thresholds`
    as for `sieve.attention_backward`.
  }];
  let arguments = (ins
    Arg<Sieve_AttentionOperand, "queries", [MemRead]>:$query,
    Arg<Sieve_AttentionOperand, "keys", [MemRead]>:$key,
    Arg<Sieve_AttentionOperand, "values", [MemRead]>:$value,
    Arg<Sieve_AttentionOperand, "forward output", [MemRead]>:$out,
    Arg<Sieve_AttentionOperand, "gradient of the output", [MemRead]>:$dout,
    Arg<Sieve_LseOperand, "forward log-sum-exp", [MemRead]>:$lse,
    Arg<Sieve_AttentionOperand, "gradient of the queries", [MemWrite]>:$dquery,
    Arg<Sieve_AttentionOperand, "gradient of the keys", [MemWrite]>:$dkey,
    Arg<Sieve_AttentionOperand, "gradient of the values", [MemWrite]>:$dvalue,
    Arg<Optional<Sieve_ThresholdsOperand>, "per-head score thresholds", [MemRead]>:$thresholds,
    DenseI32ArrayAttr:$row_heads,
    DenseI32ArrayAttr:$row_query_blocks,
    DenseI32ArrayAttr:$row_spans,
    DenseI32ArrayAttr:$key_blocks,
    DenseI32ArrayAttr:$col_kv_heads,
    DenseI32ArrayAttr:$col_key_blocks,
    DenseI32ArrayAttr:$col_spans,
    DenseI32ArrayAttr:$col_query_heads,
    DenseI32ArrayAttr:$col_query_blocks,
    F32Attr:$scale,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_q,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_k,
    UnitAttr:$causal,
    OptionalAttr<Sieve_CausalAlignAttr>:$causal_align
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out `,` $dout `,` $lse `->` $dquery `,` $dkey `,` $dvalue
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value) `,` type($out) `,` type($dout)
    `,` type($lse) `->` type($dquery) `,` type($dkey) `,` type($dvalue)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = Sieve_CausalOffsetDecl # [{
    int64_t getNumRows() { return getRowHeads().size(); }
    int64_t getNumColumns() { return getColKvHeads().size(); }
  }];
}

#endif // SIEVE_OPS_TD
