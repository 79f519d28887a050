// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=generic" -verify-diagnostics
// RUN: not sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=simt" 2>&1 | FileCheck %s --check-prefix=SIMT

// Generation picks its rows from constant tables at launch: the generic
// kernel (whose tables are launch data) does not run it, and neither does
// the scalar body; each refusal says which bodies do.
// SIMT: error: 'sieve.block_sparse_attention' op variant=simt does not run generation (operand 'positions'); the specialized mma and wgmma bodies do
func.func @decode(%q: memref<1x2x1x64xf16>, %k: memref<1x2x128x64xf16>, %v: memref<1x2x128x64xf16>, %o: memref<1x2x1x64xf16>, %p: memref<2xi32>) {
  // expected-error @+1 {{generation (operand 'positions') picks its rows from constant tables at launch: the specialized mma and wgmma bodies run it, not variant=generic}}
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x1x64xf16>, memref<1x2x128x64xf16>, memref<1x2x128x64xf16>, memref<1x2x1x64xf16>
  return
}
