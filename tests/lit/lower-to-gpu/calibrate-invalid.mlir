// RUN: sieve-opt %s -sieve-lower-to-gpu="variant=mma" -verify-diagnostics

// Calibration statistics are a second pass of the scalar body only.
func.func @stats_on_tensor_cores(%q: memref<1x1x4x4xf16>, %k: memref<1x1x4x4xf16>, %v: memref<1x1x4x4xf16>, %o: memref<1x1x4x4xf16>, %s: memref<1x2x2xf32>) {
  // expected-error @+1 {{variant=mma does not run operand 'stats' (calibration); the simt body does}}
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x2x2xf32>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 0, 1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>
  return
}
