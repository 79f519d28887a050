// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a shared-bytes=101376" | FileCheck %s --check-prefix=SMALL
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a sms=8" | FileCheck %s --check-prefix=FEW

// The target's shared memory decides: the Hopper body's 128 x 128 tiles
// at D = 128 take 160 KiB plus alignment slack, which a 99 KiB block (an sm_86 part's) does
// not have, so the wgmma pattern declines and the mma pattern takes the op.
// With 8 SMs, 16 active blocks of 128 rows fill more than half of them,
// so the Hopper body keeps its 128-row query tiles.
// SMALL-LABEL: func @big_tiles
// SMALL: sieve.variant = "mma"
// FEW-LABEL: func @big_tiles
// FEW: sieve.config = "wgmma block_q=128 query_tile=128
// FEW-SAME: sieve.variant = "wgmma"
func.func @big_tiles(%q: memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, row_query_blocks = array<i32: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15>, row_spans = array<i32: 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16>, key_blocks = array<i32: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x2048x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Two active blocks on a target of 8 SMs fill at most half of them: the
// Hopper body's default query tile drops to 64 rows (two blocks a row).
// FEW-LABEL: func @few_blocks
// FEW: sieve.config = "wgmma block_q=128 query_tile=64
// FEW-SAME: sieve.launch = #sieve.launch<attention, grid = [4, 1, 1], block = [256, 1, 1]
func.func @few_blocks(%q: memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 0, 1>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
