// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s --check-prefix=HOPPER

// A generation op (docs/generation.md) on the mma body: the positions
// operand becomes two i32 kernel arguments passed by value (q_pos,
// seq_k_live: #sieve.param<positions.value[i]>, no buffer), read as
// indices; the grid is (window, head) with one window for Sq = 1, 4 heads;
// blocks whose tile holds no query of the step return at once; the work row
// comes from the constant table of (head, position block) rows; the K and V
// copies zero-fill rows at or past seq_k_live (the cache past it is never
// read).
// CHECK-LABEL: func @decode
// CHECK: memref.global "private" constant @sieve_position_rows : memref<16xi32> = dense<[12, 8, 4, 0, 13, 9, 5, 1, 14, 10, 6, 2, 15, 11, 7, 3]>
// CHECK: gpu.func @sieve_attention(%{{.*}}: memref<1x4x1x64xbf16>, %{{.*}}: memref<1x2x256x64xbf16>, %{{.*}}: memref<1x2x256x64xbf16>, %{{.*}}: memref<1x4x1x64xbf16>, %[[QPOS:.*]]: i32, %[[LIVE:.*]]: i32) kernel
// CHECK-SAME: sieve.config = "mma block_q=64 query_tile=64 block_k=64 key_tile=64 stages=2 warps=4 shared=40960 generation"
// CHECK-SAME: #sieve.launch<attention, grid = [4, 1, 1], block = [128, 1, 1]
// CHECK-SAME: #sieve.param<out.stride[3]>, #sieve.param<positions.value[0]>, #sieve.param<positions.value[1]>]>
// CHECK: arith.index_castui %[[QPOS]] : i32 to index
// CHECK: arith.index_castui %[[LIVE]] : i32 to index
// CHECK: cf.cond_br %{{.*}}, ^[[WORK:bb[0-9]+]], ^[[IDLE:bb[0-9]+]]
// CHECK: ^[[IDLE]]:
// CHECK-NEXT: gpu.return
// CHECK: ^[[WORK]]:
// CHECK: memref.get_global @sieve_position_rows
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// HOPPER-LABEL: func @decode
// HOPPER: gpu.func @sieve_attention({{.*}}, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// HOPPER-SAME: sieve.config = "wgmma block_q=64 query_tile=64 block_k=64 key_tile=64 stages=2 warpgroups=1+1 shared={{[0-9]+}} generation"
// HOPPER-SAME: #sieve.param<positions.value[0]>, #sieve.param<positions.value[1]>, #sieve.param<query.tensor_map[64x64]>
// The Hopper body copies Q in by cp.async (a tile's rows may begin before
// q_pos) and, in the last live tile, zeroes V's rows past seq_k_live that
// TMA brought in (0 x NaN would be NaN in P·V), fences them for wgmma and
// meets at the warp group's barrier.
// HOPPER: nvgpu.device_async_copy %arg0
// HOPPER: nvvm.fence.proxy
// HOPPER: nvgpu.tma.async.load
// HOPPER: scf.if
// HOPPER: vector.store %{{.*}} {alignment = 16 : i64} : memref<64x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// HOPPER: nvvm.fence.proxy
// HOPPER: nvvm.barrier id
// HOPPER: nvvm.wgmma.fence.aligned
// HOPPER: llvm.inline_asm {{.*}}wgmma.mma_async
func.func @decode(%q: memref<1x4x1x64xbf16>, %k: memref<1x2x256x64xbf16>, %v: memref<1x2x256x64xbf16>, %o: memref<1x4x1x64xbf16>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<4x4x4, "ffffffffbfffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x4x1x64xbf16>, memref<1x2x256x64xbf16>, memref<1x2x256x64xbf16>, memref<1x4x1x64xbf16>
  return
}

// -----

// A chunk of 16 queries may straddle two position blocks: two windows per
// head (8 blocks for 4 heads), each taking its own mask row.
// CHECK-LABEL: func @chunk
// CHECK: #sieve.launch<attention, grid = [8, 2, 1]
// HOPPER-LABEL: func @chunk
// HOPPER: #sieve.launch<attention, grid = [8, 2, 1]
func.func @chunk(%q: memref<2x4x16x128xf16>, %k: memref<2x4x300x128xf16>, %v: memref<2x4x300x128xf16>, %o: memref<2x4x16x128xf16>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<4x5x5, "ffffffffffffffffffffffff0f">, scale = 0.088 : f32, block_q = 64, block_k = 64, causal} : memref<2x4x16x128xf16>, memref<2x4x300x128xf16>, memref<2x4x300x128xf16>, memref<2x4x16x128xf16>
  return
}
