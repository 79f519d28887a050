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

def Sieve_AttentionOp : Sieve_Op<"attention", [AttrSizedOperandSegments]> {
  let summary = "Attention restricted to the tiles a block mask keeps";
  let description = [{
    `out[b, h, i, :] = sum_j softmax_j(scale * q[b,h,i,:] . k[b,h/g,j,:]) v[b,h/g,j,:]`
    over the keys j whose tile (i / block_q, j / block_k) the mask keeps for
    head h, where g = Hq / Hkv (grouped-query attention). With `causal`, keys
    j > i are dropped too (top-left aligned, as PyTorch's `is_causal`). A row
    with no kept key is written as zeros.

    Shapes: query and out [B, Hq, Sq, D]; key and value [B, Hkv, Sk, D]; the
    mask is [Hq, ceil(Sq / block_q), ceil(Sk / block_k)].

    With the optional `stats` operand (f32, shaped like the mask) the op
    also calibrates: for every query row it adds the row's final softmax
    probabilities, summed per key block, to `stats[h, i / block_q, kb]`
    (over the kept tiles, every batch entry). On the GPU only the simt
    body calibrates.

    Threshold mode, with the optional `thresholds` operand (f32 [Hq], read
    at run time, as learned-threshold pruning produces them): a score
    `scale * q . k` below its head's threshold is dropped like a masked key,
    and a key chunk whose every score is dropped is skipped. A row whose
    every kept score is dropped is zeros. Not combined with `stats`; on the
    GPU the simt body implements it.
  }];
  let arguments = (ins
    Arg<Sieve_AttentionOperand, "queries", [MemRead]>:$query,
    Arg<Sieve_AttentionOperand, "keys", [MemRead]>:$key,
    Arg<Sieve_AttentionOperand, "values", [MemRead]>:$value,
    Arg<Sieve_AttentionOperand, "result", [MemWrite]>:$out,
    Arg<Optional<Sieve_StatsOperand>, "calibration statistics", [MemRead, MemWrite]>:$stats,
    Arg<Optional<Sieve_ThresholdsOperand>, "per-head score thresholds", [MemRead]>:$thresholds,
    Sieve_BlockMaskAttr:$mask,
    F32Attr:$scale,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_q,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_k,
    UnitAttr:$causal
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out (`stats` `(` $stats^ `:` type($stats) `)`)?
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($out)
  }];
  let hasVerifier = 1;
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
    With `causal`, key blocks wholly above the diagonal were already dropped;
    the rest still apply the element-wise causal test. `stats`, when
    present, accumulates each row's probability mass per key block as for
    `sieve.attention`.

    Split-KV (`sieve-split-rows`): a long (head, query block) may be cut
    into several work rows over consecutive pieces of its key list. Each
    such part has a workspace slot, `row_slots[r] >= 0` (-1: the row writes
    `out` itself), where it leaves its normalized partial output and the
    log2-sum-exp of its scores; `split_groups` lists, four numbers a group,
    (head, query block, first slot, slots), and a combine step merges each
    group's slots into `out`. Slots of a group are consecutive and every
    slot belongs to exactly one row.
  }];
  let arguments = (ins
    Arg<Sieve_AttentionOperand, "queries", [MemRead]>:$query,
    Arg<Sieve_AttentionOperand, "keys", [MemRead]>:$key,
    Arg<Sieve_AttentionOperand, "values", [MemRead]>:$value,
    Arg<Sieve_AttentionOperand, "result", [MemWrite]>:$out,
    Arg<Optional<Sieve_StatsOperand>, "calibration statistics", [MemRead, MemWrite]>:$stats,
    Arg<Optional<Sieve_ThresholdsOperand>, "per-head score thresholds", [MemRead]>:$thresholds,
    DenseI32ArrayAttr:$row_heads,
    DenseI32ArrayAttr:$row_query_blocks,
    DenseI32ArrayAttr:$row_spans,
    DenseI32ArrayAttr:$key_blocks,
    F32Attr:$scale,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_q,
    ConfinedAttr<I64Attr, [IntPositive]>:$block_k,
    UnitAttr:$causal,
    OptionalAttr<DenseI32ArrayAttr>:$row_slots,
    OptionalAttr<DenseI32ArrayAttr>:$split_groups
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out (`stats` `(` $stats^ `:` type($stats) `)`)?
    (`thresholds` `(` $thresholds^ `:` type($thresholds) `)`)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($out)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether some rows are split-KV parts (row_slots and split_groups set).
    bool hasSplitRows() { return getRowSlots().has_value(); }
    /// Workspace slots: the split parts, over all groups.
    int64_t getNumSlots();
    int64_t getNumRows() { return getRowHeads().size(); }
    /// Rows with at least one key block (they come first).
    int64_t getNumActiveRows();
  }];
}

#endif // SIEVE_OPS_TD
