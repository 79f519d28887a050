// RUN: not sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_90a variant=wgmma" -o /dev/null 2>&1 | FileCheck %s --check-prefix=WGMMA
// RUN: not sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=generic" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GENERIC
// RUN: not sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=simt" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SIMT
// RUN: not sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=mma" -o /dev/null 2>&1 | FileCheck %s --check-prefix=MMA

// Ragged batches and paged KV (docs/ragged-paged.md) run on the specialized
// mma body only: the Hopper body, the generic kernel and the scalar body
// decline them by name.
// WGMMA: op variant=wgmma does not run ragged batches or paged KV (operands 'sequences', 'pages'); the specialized mma body does
// GENERIC: mma (generic) does not run ragged batches or paged KV (operands 'sequences', 'pages'); the specialized mma body does
// SIMT: simt does not run ragged batches or paged KV (operands 'sequences', 'pages'); the specialized mma body does
func.func @ragged(%q: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %s: memref<2x3xi32>) {
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Nor does the mma body take threshold mode with a batch layout (the CPU
// backend does).
// MMA: mma does not run threshold mode (operand 'thresholds') on a ragged or paged batch; the CPU backend does
func.func @ragged_thresholds(%q: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %t: memref<1xf32>, %s: memref<2x3xi32>) {
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<1xf32>) sequences(%s : memref<2x3xi32>) {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
