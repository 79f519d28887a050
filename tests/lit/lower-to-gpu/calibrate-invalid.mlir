// RUN: sieve-opt %s -sieve-lower-to-gpu="variant=generic" -verify-diagnostics

// Calibration statistics are a second pass over the row's key tiles, which
// every specialized body has; the generic kernel, whose row tables are
// launch data, has none.
func.func @stats_on_the_generic_kernel(%q: memref<1x1x64x64xf16>, %k: memref<1x1x64x64xf16>, %v: memref<1x1x64x64xf16>, %o: memref<1x1x64x64xf16>, %s: memref<1x1x1xf32>) {
  // expected-error @+1 {{does not run operand 'stats' (calibration); the specialized bodies do}}
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x1x1xf32>) {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>
  return
}
