// RUN: sieve-opt %s -split-input-file -verify-diagnostics

// An alignment without `causal` places no diagonal.
func.func @align_without_causal(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>) {
  // expected-error @+1 {{attribute 'causal_align' needs 'causal'}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x3, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal_align = #sieve.causal_align<bottom_right>} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// The same rule for the backward op.
func.func @backward_align_without_causal(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>, %do: memref<1x1x2x4xf32>, %lse: memref<1x1x2xf32>, %dq: memref<1x1x2x4xf32>, %dk: memref<1x1x6x4xf32>, %dv: memref<1x1x6x4xf32>) {
  // expected-error @+1 {{attribute 'causal_align' needs 'causal'}}
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<1x1x3, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal_align = #sieve.causal_align<top_left>} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2xf32> -> memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>
  return
}

// -----

// And for the specialized forms.
func.func @specialized_align_without_causal(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>) {
  // expected-error @+1 {{attribute 'causal_align' needs 'causal'}}
  sieve.block_sparse_attention %q, %k, %v, %o {block_k = 2 : i64, block_q = 2 : i64, causal_align = #sieve.causal_align<bottom_right>, key_blocks = array<i32: 0, 1, 2>, row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 3>, scale = 5.000000e-01 : f32} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// An alignment that is neither top_left nor bottom_right.
func.func @unknown_alignment(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>) {
  // expected-error @+2 {{expected ::sieve::dialect::CausalAlign to be one of: top_left, bottom_right}}
  // expected-error @+1 {{failed to parse Sieve_CausalAlignAttr parameter 'value'}}
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x3, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<middle>} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>
  return
}
