// RUN: not sieve-opt %s -sieve-specialize-mask -sieve-lower-to-gpu=chip=sm_90a -o /dev/null 2>&1 | FileCheck %s --check-prefix=REFUSED
// RUN: not sieve-opt %s -sieve-specialize-mask -sieve-lower-to-gpu=chip=sm_80 -o /dev/null 2>&1 | FileCheck %s --check-prefix=REFUSED80

// A head dim neither backward takes fails with each body's reason (there
// is no scalar backward to fall to): above 128 both need a multiple of 32,
// so that two warps (mma) or warp groups (wgmma) split dK and dV evenly.
// REFUSED80: error: 'sieve.block_sparse_attention_backward' op no GPU kernel body runs it (variant=auto): wgmma needs wgmma, TMA and setmaxnreg (sm_90a), not sm_80; mma needs a head dim that is a multiple of 32 above 128
// REFUSED: error: 'sieve.block_sparse_attention_backward' op no GPU kernel body runs it (variant=auto): wgmma needs a head dim that is a multiple of 32 above 128 (two warp groups split dK and dV into slabs of 16 columns or more); mma needs a head dim that is a multiple of 32 above 128
func.func @backward_d144(%q: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x144xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
