// RUN: sieve-opt %s -split-input-file -verify-diagnostics

// A mask whose byte count does not fit its shape.
func.func @short_mask(%q: memref<1x2x6x4xf32>, %k: memref<1x1x5x4xf32>, %v: memref<1x1x5x4xf32>, %o: memref<1x2x6x4xf32>) {
  // expected-error @+1 {{block_mask 2x3x3 needs 3 packed bytes, got 2}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "ab01">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x6x4xf32>, memref<1x1x5x4xf32>, memref<1x1x5x4xf32>, memref<1x2x6x4xf32>
  return
}

// -----

// Padding bits past the last tile must be zero (equal masks print equally).
func.func @padding(%q: memref<1x2x6x4xf32>, %k: memref<1x1x5x4xf32>, %v: memref<1x1x5x4xf32>, %o: memref<1x2x6x4xf32>) {
  // expected-error @+1 {{block_mask has bits set past its last tile}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "ab0f06">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x6x4xf32>, memref<1x1x5x4xf32>, memref<1x1x5x4xf32>, memref<1x2x6x4xf32>
  return
}

// -----

// Not hex.
func.func @not_hex(%q: memref<1x1x2x4xf32>, %k: memref<1x1x2x4xf32>, %v: memref<1x1x2x4xf32>, %o: memref<1x1x2x4xf32>) {
  // expected-error @+1 {{block_mask bits must be an even-length hex string}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "zz">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// The mask must be [Hq, ceil(Sq/bq), ceil(Sk/bk)].
func.func @mask_shape(%q: memref<1x2x6x4xf32>, %k: memref<1x1x5x4xf32>, %v: memref<1x1x5x4xf32>, %o: memref<1x2x6x4xf32>) {
  // expected-error @+1 {{attribute 'mask' has shape [2, 3, 2], expected [2, 3, 3]}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x2, "0000">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x6x4xf32>, memref<1x1x5x4xf32>, memref<1x1x5x4xf32>, memref<1x2x6x4xf32>
  return
}

// -----

// Key and value must agree.
func.func @value_shape(%q: memref<1x2x6x4xf32>, %k: memref<1x1x5x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x2x6x4xf32>) {
  // expected-error @+1 {{operand 'value' has shape [1, 1, 4, 4], expected [1, 1, 5, 4] like 'key'}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "000000">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x6x4xf32>, memref<1x1x5x4xf32>, memref<1x1x4x4xf32>, memref<1x2x6x4xf32>
  return
}

// -----

// GQA needs Hq to be a multiple of Hkv.
func.func @gqa(%q: memref<1x3x2x4xf32>, %k: memref<1x2x2x4xf32>, %v: memref<1x2x2x4xf32>, %o: memref<1x3x2x4xf32>) {
  // expected-error @+1 {{query heads (3) must be a multiple of key heads (2)}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<3x1x1, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x3x2x4xf32>, memref<1x2x2x4xf32>, memref<1x2x2x4xf32>, memref<1x3x2x4xf32>
  return
}

// -----

// Element types must match.
func.func @dtype(%q: memref<1x1x2x4xf16>, %k: memref<1x1x2x4xf32>, %v: memref<1x1x2x4xf32>, %o: memref<1x1x2x4xf16>) {
  // expected-error @+1 {{operand 'key' has element type 'f32', expected 'f16' like 'query'}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x2x4xf16>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf16>
  return
}

// -----

// The output is shaped like the query.
func.func @out_shape(%q: memref<1x1x2x4xf32>, %k: memref<1x1x2x4xf32>, %v: memref<1x1x2x4xf32>, %o: memref<1x1x2x8xf32>) {
  // expected-error @+1 {{operand 'out' has shape [1, 1, 2, 8], expected [1, 1, 2, 4] like 'query'}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x8xf32>
  return
}

// -----

// Static shapes only: the mask is sized from them.
func.func @dynamic(%q: memref<1x1x?x4xf32>, %k: memref<1x1x2x4xf32>, %v: memref<1x1x2x4xf32>, %o: memref<1x1x?x4xf32>) {
  // expected-error @+1 {{operand 'query' must have a static shape, got [1, 1, ?, 4]}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x?x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x?x4xf32>
  return
}

// -----

// Scale must be finite and non-zero.
func.func @scale(%q: memref<1x1x2x4xf32>, %k: memref<1x1x2x4xf32>, %v: memref<1x1x2x4xf32>, %o: memref<1x1x2x4xf32>) {
  // expected-error @+1 {{scale must be finite and non-zero}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.0 : f32, block_q = 2, block_k = 2} : memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// Block sizes must be positive.
func.func @block(%q: memref<1x1x2x4xf32>, %k: memref<1x1x2x4xf32>, %v: memref<1x1x2x4xf32>, %o: memref<1x1x2x4xf32>) {
  // expected-error @+1 {{attribute 'block_q' failed to satisfy constraint}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.5 : f32, block_q = 0, block_k = 2} : memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// Specialized form: a (head, query block) listed twice leaves another unwritten.
func.func @repeated_row(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{row 1 repeats (head 0, query block 0)}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 0>, row_spans = array<i32: 0, 1, 1, 1>, key_blocks = array<i32: 1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Specialized form: key blocks must exist.
func.func @key_range(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{row 0 names key block 2, expected [0, 2)}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 1, 1, 1>, key_blocks = array<i32: 2>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Specialized form: a row's span must lie inside key_blocks.
func.func @spans(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{row 1 spans key_blocks[1, 2), expected 0 <= begin <= end <= 1}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 1, 1, 2>, key_blocks = array<i32: 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Specialized form: two entries (begin, end) per row.
func.func @span_count(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{attribute 'row_spans' has 3 entries, expected 4 (begin and end of each row)}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 1, 1>, key_blocks = array<i32: 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Split-KV: the slot table and the groups come together.
func.func @slots_without_groups(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{attributes 'row_slots' and 'split_groups' come together}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 1, 1, 1>, key_blocks = array<i32: 1>, row_slots = array<i32: -1, -1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Split-KV: a group needs at least two parts.
func.func @one_part_group(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{split group 0 has slots [0, 1), expected at least 2 slots from 0}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 1, 1, 1>, key_blocks = array<i32: 1>, row_slots = array<i32: 0, -1>, split_groups = array<i32: 0, 0, 0, 1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Split-KV: a part writes a slot of its own (head, query block)'s group.
func.func @slot_of_another_cell(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{row 2 (head 0, query block 1) writes slot 1 of split group 0, which is (head 0, query block 0)}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 0, 1>, row_spans = array<i32: 0, 1, 1, 2, 2, 2>, key_blocks = array<i32: 0, 1>, row_slots = array<i32: 0, -1, 1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Split-KV: every slot of a group must be written, or the combine reads garbage.
func.func @unwritten_slot(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{slot 1 of 'split_groups' belongs to no row}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 0, 1>, row_spans = array<i32: 0, 1, 1, 2, 2, 2>, key_blocks = array<i32: 0, 1>, row_slots = array<i32: 0, -1, -1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Split-KV: a split cell has no whole row beside its parts.
func.func @whole_row_in_split_cell(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{row 2 (head 0, query block 0) is whole but its cell is split (split group 0)}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 0, 0>, row_spans = array<i32: 0, 1, 1, 2, 0, 2>, key_blocks = array<i32: 0, 1>, row_slots = array<i32: 0, 1, -1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Threshold mode: one threshold per query head.
func.func @thresholds_shape(%q: memref<1x2x4x4xf32>, %k: memref<1x2x4x4xf32>, %v: memref<1x2x4x4xf32>, %o: memref<1x2x4x4xf32>, %t: memref<3xf32>) {
  // expected-error @+1 {{operand 'thresholds' has shape [3], expected [2] (one per query head)}}
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<3xf32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>
  return
}

// -----

// Threshold mode and calibration exclude each other.
func.func @thresholds_with_stats(%q: memref<1x2x4x4xf32>, %k: memref<1x2x4x4xf32>, %v: memref<1x2x4x4xf32>, %o: memref<1x2x4x4xf32>, %s: memref<2x2x2xf32>, %t: memref<2xf32>) {
  // expected-error @+1 {{operand 'thresholds' cannot come with 'stats'}}
  sieve.attention %q, %k, %v, %o stats(%s : memref<2x2x2xf32>) thresholds(%t : memref<2xf32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>
  return
}

// -----

// The forward's lse is one f32 per query row: [B, Hq, Sq].
func.func @lse_shape(%q: memref<1x2x4x8xf32>, %k: memref<1x2x4x8xf32>, %v: memref<1x2x4x8xf32>, %o: memref<1x2x4x8xf32>, %lse: memref<1x2x3xf32>) {
  // expected-error @+1 {{operand 'lse' has shape [1, 2, 3], expected [1, 2, 4] ([batch, query heads, query length])}}
  sieve.attention %q, %k, %v, %o lse(%lse : memref<1x2x3xf32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4x8xf32>
  return
}

// -----

// The backward's dkey must be shaped like key (here it is shaped like query).
func.func @backward_dkey_shape(%q: memref<1x2x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x2x4x8xf32>, %do: memref<1x2x4x8xf32>, %lse: memref<1x2x4xf32>, %dq: memref<1x2x4x8xf32>, %dk: memref<1x2x4x8xf32>, %dv: memref<1x1x4x8xf32>) {
  // expected-error @+1 {{operand 'dkey' has shape [1, 2, 4, 8], expected [1, 1, 4, 8] like 'key'}}
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4xf32> -> memref<1x2x4x8xf32>, memref<1x2x4x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// dout must have query's element type.
func.func @backward_dout_type(%q: memref<1x1x4x8xf16>, %k: memref<1x1x4x8xf16>, %v: memref<1x1x4x8xf16>, %o: memref<1x1x4x8xf16>, %do: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>, %dq: memref<1x1x4x8xf16>, %dk: memref<1x1x4x8xf16>, %dv: memref<1x1x4x8xf16>) {
  // expected-error @+1 {{operand 'dout' has element type 'f32', expected 'f16' like 'query'}}
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<1x2x2, "0f">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x8xf16>, memref<1x1x4x8xf16>, memref<1x1x4x8xf16>, memref<1x1x4x8xf16>, memref<1x1x4x8xf32>, memref<1x1x4xf32> -> memref<1x1x4x8xf16>, memref<1x1x4x8xf16>, memref<1x1x4x8xf16>
  return
}

// -----

// A column listing a tile of a query head that does not share its key head.
func.func @backward_column_head(%q: memref<1x2x2x8xf32>, %k: memref<1x2x2x8xf32>, %v: memref<1x2x2x8xf32>, %o: memref<1x2x2x8xf32>, %do: memref<1x2x2x8xf32>, %lse: memref<1x2x2xf32>, %dq: memref<1x2x2x8xf32>, %dk: memref<1x2x2x8xf32>, %dv: memref<1x2x2x8xf32>) {
  // expected-error @+1 {{column 0 (key head 0) lists tile (head 1, query block 0), expected a query head of that key head and a block in [0, 1)}}
  sieve.block_sparse_attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {block_k = 2 : i64, block_q = 2 : i64, col_key_blocks = array<i32: 0, 0>, col_kv_heads = array<i32: 0, 1>, col_query_blocks = array<i32: 0, 0>, col_query_heads = array<i32: 1, 0>, col_spans = array<i32: 0, 1, 1, 2>, key_blocks = array<i32: 0>, row_heads = array<i32: 0, 1>, row_query_blocks = array<i32: 0, 0>, row_spans = array<i32: 0, 1, 0, 1>, scale = 5.000000e-01 : f32} : memref<1x2x2x8xf32>, memref<1x2x2x8xf32>, memref<1x2x2x8xf32>, memref<1x2x2x8xf32>, memref<1x2x2x8xf32>, memref<1x2x2xf32> -> memref<1x2x2x8xf32>, memref<1x2x2x8xf32>, memref<1x2x2x8xf32>
  return
}

// -----

// Row and column tables must hold the same number of tiles.
func.func @backward_tile_count(%q: memref<1x1x2x8xf32>, %k: memref<1x1x2x8xf32>, %v: memref<1x1x2x8xf32>, %o: memref<1x1x2x8xf32>, %do: memref<1x1x2x8xf32>, %lse: memref<1x1x2xf32>, %dq: memref<1x1x2x8xf32>, %dk: memref<1x1x2x8xf32>, %dv: memref<1x1x2x8xf32>) {
  // expected-error @+1 {{row tables hold 1 tiles but column tables 0; both must list the same tiles}}
  sieve.block_sparse_attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {block_k = 2 : i64, block_q = 2 : i64, col_key_blocks = array<i32: 0>, col_kv_heads = array<i32: 0>, col_query_blocks = array<i32>, col_query_heads = array<i32>, col_spans = array<i32: 0, 0>, key_blocks = array<i32: 0>, row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, scale = 5.000000e-01 : f32} : memref<1x1x2x8xf32>, memref<1x1x2x8xf32>, memref<1x1x2x8xf32>, memref<1x1x2x8xf32>, memref<1x1x2x8xf32>, memref<1x1x2xf32> -> memref<1x1x2x8xf32>, memref<1x1x2x8xf32>, memref<1x1x2x8xf32>
  return
}

// -----

// The backward's thresholds: one per query head too.
func.func @backward_thresholds_shape(%q: memref<1x2x4x4xf32>, %lse: memref<1x2x4xf32>, %t: memref<4xf32>) {
  // expected-error @+1 {{operand 'thresholds' has shape [4], expected [2] (one per query head)}}
  sieve.attention_backward %q, %q, %q, %q, %q, %lse -> %q, %q, %q thresholds(%t : memref<4xf32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4xf32> -> memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>
  return
}
