// RUN: sieve-opt %s -split-input-file -verify-diagnostics

// A generation op's mask is over the positions (Sk), not the call's queries.
func.func @query_mask(%q: memref<1x1x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x1x4xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{attribute 'mask' has shape [1, 1, 3], expected [1, 3, 3] ([query heads, ceil(Sk / block_q), ceil(Sk / block_k)]: a generation op's mask is over positions)}}
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x1x3, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x1x4xf32>
  return
}

// -----

// q_pos aligns each call: no causal_align.
func.func @aligned(%q: memref<1x1x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x1x4xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{generation takes no 'causal_align' (q_pos aligns each call)}}
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x3x3, "ff01">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<1x1x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x1x4xf32>
  return
}

// -----

// The step is two numbers.
func.func @three_positions(%q: memref<1x1x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x1x4xf32>, %p: memref<3xi32>) {
  // expected-error @+1 {{operand 'positions' has shape [3], expected [2] (q_pos, seq_k_live)}}
  sieve.attention %q, %k, %v, %o positions(%p : memref<3xi32>) {mask = #sieve.block_mask<1x3x3, "ff01">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x1x4xf32>
  return
}

// -----

// No lse: generation runs the forward only.
func.func @lse(%q: memref<1x1x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x1x4xf32>, %l: memref<1x1x1xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{generation takes no 'stats' or 'lse'}}
  sieve.attention %q, %k, %v, %o lse(%l : memref<1x1x1xf32>) positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x3x3, "ff01">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x1x4xf32>
  return
}

// -----

// A GQA-packed generation row holds a key head's query heads at one
// position: a chunk of two queries per head does not pack.
func.func @packed_chunk(%q: memref<1x2x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x2x2x4xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{GQA-packed generation rows take one query per head, not 2}}
  sieve.block_sparse_attention %q, %k, %v, %o positions(%p : memref<2xi32>) {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 1, 2>, row_spans = array<i32: 0, 1, 1, 2, 2, 3>, key_blocks = array<i32: 0, 0, 0>, key_block_segments = array<i32: 3, 3, 3>, mask_block_q = 2, scale = 0.5 : f32, block_q = 64, block_k = 2} : memref<1x2x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x2x2x4xf32>
  return
}

// -----

// A packed generation op lists a row per (key head, position block): here
// position block 2 of key head 0 is missing.
func.func @packed_missing_position_block(%q: memref<1x2x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x2x1x4xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{lists 2 rows, expected 3}}
  sieve.block_sparse_attention %q, %k, %v, %o positions(%p : memref<2xi32>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 1, 1, 2>, key_blocks = array<i32: 0, 0>, key_block_segments = array<i32: 3, 3>, mask_block_q = 2, scale = 0.5 : f32, block_q = 64, block_k = 2} : memref<1x2x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x2x1x4xf32>
  return
}

// -----

// Split generation rows: generation_parts needs a generation op.
func.func @parts_without_positions(%q: memref<1x1x6x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x6x4xf32>) {
  // expected-error @+1 {{attribute 'generation_parts' needs a generation op (operand 'positions')}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 1, 2>, row_spans = array<i32: 0, 1, 1, 3, 3, 6>, key_blocks = array<i32: 0, 0, 1, 0, 1, 2>, split_groups = array<i32: 0, 0, 0, 2>, generation_parts = 2, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>
  return
}

// -----

// Only decode steps (one query per head) are split.
func.func @parts_of_a_chunk(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{generation parts split decode steps (one query per head), not 2 queries}}
  sieve.block_sparse_attention %q, %k, %v, %o positions(%p : memref<2xi32>) {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 1, 2>, row_spans = array<i32: 0, 1, 1, 3, 3, 6>, key_blocks = array<i32: 0, 0, 1, 0, 1, 2>, split_groups = array<i32: 0, 0, 0, 2>, generation_parts = 2, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// One split group per row head, (h, 0, h x S, S).
func.func @parts_groups(%q: memref<1x2x1x4xf32>, %k: memref<1x2x6x4xf32>, %v: memref<1x2x6x4xf32>, %o: memref<1x2x1x4xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{attribute 'split_groups' of a generation op split into 2 parts must be (h, 0, h x 2, 2) for each of its 2 row heads}}
  sieve.block_sparse_attention %q, %k, %v, %o positions(%p : memref<2xi32>) {row_heads = array<i32: 0, 0, 0, 1, 1, 1>, row_query_blocks = array<i32: 0, 1, 2, 0, 1, 2>, row_spans = array<i32: 0, 1, 1, 3, 3, 6, 0, 1, 1, 3, 3, 6>, key_blocks = array<i32: 0, 0, 1, 0, 1, 2>, split_groups = array<i32: 0, 0, 0, 2>, generation_parts = 2, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x1x4xf32>, memref<1x2x6x4xf32>, memref<1x2x6x4xf32>, memref<1x2x1x4xf32>
  return
}

// -----

// A generation op's rows are picked at run time: no split rows of their own.
func.func @parts_without_count(%q: memref<1x1x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x1x4xf32>, %p: memref<2xi32>) {
  // expected-error @+1 {{generation rows are split only by 'generation_parts' (its rows are picked at run time)}}
  sieve.block_sparse_attention %q, %k, %v, %o positions(%p : memref<2xi32>) {row_heads = array<i32: 0, 0, 0, 0>, row_query_blocks = array<i32: 0, 1, 2, 2>, row_spans = array<i32: 0, 1, 1, 3, 3, 5, 5, 6>, key_blocks = array<i32: 0, 0, 1, 0, 1, 2>, row_slots = array<i32: -1, -1, 0, 1>, split_groups = array<i32: 0, 2, 0, 2>, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x1x4xf32>
  return
}
