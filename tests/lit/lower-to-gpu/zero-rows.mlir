// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=mma" | FileCheck %s --check-prefix=MMA
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s --check-prefix=WGMMA
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=generic" | FileCheck %s --check-prefix=GENERIC

// Rows 2 and 3 (head 1, pruned whole) are empty: the kernel's launch
// contract has blocks for the 2 active rows only (2 query tiles of 64 each
// for the mma kernel), then one zero-fill block (both 16 KiB rows fit in
// one), which stores zero vectors into `out` and returns before any load.
// MMA-LABEL: func @empty_rows
// MMA: gpu.func @sieve_attention
// MMA-SAME: sieve.launch = #sieve.launch<attention, grid = [5, 1, 1],
// MMA: %[[X:.*]] = gpu.block_id  x
// MMA: %[[ZERO_BLOCK:.*]] = arith.cmpi sge, %[[X]], %c4
// MMA: cf.cond_br %[[ZERO_BLOCK]], ^[[ZERO:.*]], ^[[WORK:.*]]
// MMA: ^[[ZERO]]:
// MMA-NOT: nvvm.cp.async
// MMA-NOT: vector.load
// MMA: vector.store %{{.*}}, %arg3
// MMA: gpu.return
// MMA: ^[[WORK]]:
// MMA: nvvm.mma.sync
//
// The Hopper kernel: so few active blocks that it takes 64-row query tiles,
// 2 per row, so 4 + 1 blocks.
// WGMMA: gpu.func @sieve_attention
// WGMMA-SAME: sieve.launch = #sieve.launch<attention, grid = [5, 1, 1],
// WGMMA: arith.cmpi sge, %block_id_x, %c4
// WGMMA: cf.cond_br
// WGMMA: nvvm.wgmma.mma_async
//
// The generic kernel reads the mask at launch, so it cannot know which rows
// are empty: 4 rows x 2 query tiles, no zero-fill branch.
// GENERIC: gpu.func @sieve_attention
// GENERIC-SAME: sieve.launch = #sieve.launch<attention, grid = [8, 1, 1],
// GENERIC-NOT: cf.cond_br
func.func @empty_rows(%q: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 2, 0, 1, 2, 2, 2, 2>, key_blocks = array<i32: 0, 1>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Every row active: no zero-fill branch at all.
// MMA-LABEL: func @all_active
// MMA-NOT: cf.cond_br
// MMA: gpu.return
func.func @all_active(%q: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
