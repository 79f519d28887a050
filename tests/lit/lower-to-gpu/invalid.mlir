// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu -verify-diagnostics

// Too many threads for one block is an error, not a silent clamp.
func.func @too_many_threads(%q: memref<1x1x2048x4xf16>, %k: memref<1x1x4x4xf16>, %v: memref<1x1x4x4xf16>, %o: memref<1x1x2048x4xf16>) {
  // expected-error @+1 {{block_q 2048 exceeds the 1024 threads of a GPU block}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 0>, key_blocks = array<i32>, scale = 0.5 : f32, block_q = 2048, block_k = 4} : memref<1x1x2048x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x2048x4xf16>
  return
}

