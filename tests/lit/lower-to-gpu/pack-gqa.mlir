// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a variant=mma" | FileCheck %s --check-prefix=MMA
// RUN: sieve-opt %s -split-input-file -sieve-split-rows="sms=8 min-part-keys=128" -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s --check-prefix=SPLIT
// RUN: not sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a variant=wgmma query-tile=128" -o /dev/null 2>&1 | FileCheck %s --check-prefix=TILE

// Decode with GQA packing (sieve-pack-gqa's output for g = 2 query heads
// per key head, Sq = 1, bottom-right causal): on sm_90a the Hopper body
// runs the packed rows. A packed tile's rows come from two query heads, so
// Q does not come by TMA: every thread copies its chunks in by cp.async
// (the row's query head is key head x 2 + row / Sq, its query row % Sq)
// into the swizzled slab the wgmma descriptors name, waits, fences the
// writes for the async proxy and meets the others at the barrier of the
// pipeline's setup, before the roles split. The producer then loads only
// K and V by TMA (no Q box before its loop), and the consumers read each
// key block's segment word (key_block_segments) to drop the scores of the
// packed rows whose head does not keep the block.
// CHECK-LABEL: func @decode_packed
// CHECK: memref.global "private" constant @sieve_key_block_segments : memref<4xi32> = dense<[1, 3, 2, 1]>
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "wgmma block_q=64 query_tile=64 block_k=128 key_tile=128 stages=2 warpgroups=1+1 shared=74752; pack-gqa g=2 rows=64"
// CHECK-SAME: sieve.variant = "wgmma"
// CHECK: %view = memref.view {{.*}} to memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[KH:[0-9]+]] = arith.muli %{{[0-9]+}}, %c2{{.*}} : index
// CHECK-NEXT: %[[HEAD:[0-9]+]] = arith.addi %[[KH]], %{{[0-9]+}} : index
// CHECK: %[[QROW:[0-9]+]] = arith.remui %{{[0-9]+}}, %c1{{.*}} : index
// CHECK: nvgpu.device_async_copy %arg0[%block_id_y, %[[HEAD]], %[[QROW]], %{{.*}}], %view[%{{.*}}, %{{.*}}], 8, %{{.*}} {bypassL1} : memref<2x4x1x64xbf16, {{.*}}> to memref<64x64xbf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.cp.async.commit.group
// CHECK-NEXT: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK: nvvm.fence.mbarrier.init
// CHECK: gpu.barrier
// CHECK: nvvm.setmaxregister  decrease 40
// CHECK-NOT: nvgpu.tma.async.load
// CHECK: scf.for
// CHECK: nvgpu.tma.async.load
// CHECK: nvvm.setmaxregister  increase 232
// CHECK: %[[WORDS:.*]] = memref.get_global @sieve_key_block_segments : memref<4xi32>
// CHECK: scf.for
// CHECK: nvvm.wgmma.mma_async
// CHECK: memref.load %[[WORDS]]
// CHECK: arith.shrui
// Split-KV cuts the packed row of key head 0 (three key blocks) into three
// parts that leave partial rows in the workspace; the last to arrive maps
// the merged packed rows back to their heads (out's head = key head x 2 +
// row, query 0).
// SPLIT-LABEL: func @decode_packed
// SPLIT: sieve.config = "wgmma {{.*}} split_kv=1 rows into 3 parts; pack-gqa g=2 rows=64"
// SPLIT: llvm.nvvm.barrier.cta.red.or.aligned.count
// SPLIT: memref.store {{.*}}, %arg3[{{.*}}] : memref<2x4x1x64xbf16
// SPLIT-NOT: gpu.func @sieve_combine
// The packed tile has 64 rows: a 128-row query tile does not divide it.
// TILE: error: 'sieve.block_sparse_attention' op variant=wgmma needs block_q a multiple of the query tile (128)
// MMA-LABEL: func @decode_packed
// MMA: sieve.config = "mma block_q=64 query_tile=64 block_k=128 key_tile=64 stages=2 warps=4 shared=40960; pack-gqa g=2 rows=64"
func.func @decode_packed(%q: memref<2x4x1x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<2x2x512x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<2x2x512x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<2x4x1x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {block_k = 128 : i64, block_q = 64 : i64, causal, causal_align = #sieve.causal_align<bottom_right>, key_block_segments = array<i32: 1, 3, 2, 1>, key_blocks = array<i32: 0, 1, 2, 3>, mask_block_q = 1 : i64, row_heads = array<i32: 0, 1>, row_query_blocks = array<i32: 0, 0>, row_spans = array<i32: 0, 3, 3, 4>, scale = 1.250000e-01 : f32} : memref<2x4x1x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x2x512x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x2x512x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x4x1x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 96 (f16): Q's cp.async chunks land in 64-byte slabs, whose
// swizzle phase is (row / 2) mod 4, as TMA would have left them.
// CHECK-LABEL: func @decode_packed_d96
// CHECK: sieve.config = "wgmma block_q=64 query_tile=64 block_k=128 key_tile=128 stages=2 warpgroups=1+1 shared=111616; pack-gqa g=2 rows=64"
// CHECK: %[[HALF:.*]] = arith.divui %[[SLABROW:.*]], %c2{{.*}} : index
// CHECK: %[[PHASE:.*]] = arith.remui %[[HALF]], %c4{{.*}} : index
// CHECK: %[[CHUNK:.*]] = arith.xori %{{.*}}, %[[PHASE]] : index
// CHECK: %[[COL:.*]] = arith.muli %[[CHUNK]], %c8{{.*}} : index
// CHECK: nvgpu.device_async_copy %arg0[{{.*}}], %view[%[[SLABROW]], %[[COL]]], 8, {{.*}} to memref<192x32xf16, #gpu.address_space<workgroup>>
// MMA-LABEL: func @decode_packed_d96
// MMA: sieve.config = "mma {{.*}}; pack-gqa g=2 rows=64"
// SPLIT-LABEL: func @decode_packed_d96
// TILE: error: 'sieve.block_sparse_attention' op variant=wgmma needs block_q a multiple of the query tile (128)
func.func @decode_packed_d96(%q: memref<2x4x1x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<2x2x512x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<2x2x512x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<2x4x1x96xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {block_k = 128 : i64, block_q = 64 : i64, causal, causal_align = #sieve.causal_align<bottom_right>, key_block_segments = array<i32: 1, 3, 2, 1>, key_blocks = array<i32: 0, 1, 2, 3>, mask_block_q = 1 : i64, row_heads = array<i32: 0, 1>, row_query_blocks = array<i32: 0, 0>, row_spans = array<i32: 0, 3, 3, 4>, scale = 1.250000e-01 : f32} : memref<2x4x1x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x2x512x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x2x512x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x4x1x96xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
