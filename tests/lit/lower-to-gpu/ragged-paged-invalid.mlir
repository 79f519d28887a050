// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu -verify-diagnostics

// The GPU bodies do not take ragged batches (docs/ragged-paged.md): the
// lowering refuses the op, naming the feature and the backend that runs it.
func.func @ragged(%q: memref<2x1x64x64xf16>, %k: memref<2x1x64x64xf16>, %v: memref<2x1x64x64xf16>, %o: memref<2x1x64x64xf16>, %s: memref<2x3xi32>) {
  // expected-error @+1 {{ragged batches (operand 'sequences') and paged KV (operand 'pages') run on the CPU backend only (yet)}}
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<2x1x64x64xf16>, memref<2x1x64x64xf16>, memref<2x1x64x64xf16>, memref<2x1x64x64xf16>
  return
}

// -----

// Nor paged KV.
func.func @paged(%q: memref<2x1x64x64xf16>, %k: memref<2x1x64x64xf16>, %v: memref<2x1x64x64xf16>, %o: memref<2x1x64x64xf16>, %p: memref<2x1xi32>) {
  // expected-error @+1 {{ragged batches (operand 'sequences') and paged KV (operand 'pages') run on the CPU backend only (yet)}}
  sieve.attention %q, %k, %v, %o pages(%p : memref<2x1xi32>) {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.125 : f32, block_q = 64, block_k = 64, page_size = 64} : memref<2x1x64x64xf16>, memref<2x1x64x64xf16>, memref<2x1x64x64xf16>, memref<2x1x64x64xf16>
  return
}
