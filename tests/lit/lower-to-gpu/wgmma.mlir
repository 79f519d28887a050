// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a query-tile=128" | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s --check-prefix=AUTO
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a variant=wgmma query-tile=128 key-tile=64 stages=3" | FileCheck %s --check-prefix=OPTS

// On sm_90a, bf16 with 128 x 128 blocks and long rows takes the Hopper
// kernel: its launch contract asks the runtime for TMA descriptors of q, k
// and v (64-column boxes of 128 rows), passed after the four memref
// descriptors as pointers that the kernel reads as 128-byte-swizzled tensor
// maps; nothing is built on the host. One block per (head, query block)
// row, 4 of them; the kernel runs a producer and two consumer warp groups
// (384 threads) on 160 KiB of Q, K and V tiles plus 1 KiB of alignment slack
// (164864 bytes of dynamic shared memory). The producer gives registers
// back and loads by TMA onto mbarriers; the consumers take registers, wait
// on the barriers, run S = Q·Kᵀ as a shared-memory wgmma and O += P·V as a
// wgmma with P in registers, and release the stage.
// CHECK-LABEL: func @hopper
// CHECK-NOT: nvgpu.tma.create.descriptor
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @sieve_attention({{.*}}, %[[QMAP:arg[0-9]+]]: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: known_block_size = array<i32: 384, 1, 1>
// CHECK-SAME: nvvm.maxntid = array<i32: 384, 1, 1>
// CHECK-SAME: sieve.config = "wgmma block_q=128 query_tile=128 block_k=128 key_tile=128 stages=2 warpgroups=1+2 shared=164864"
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [4, 1, 1], block = [384, 1, 1], shared = 164864, workspace = 0, align = 16, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>, #sieve.param<query.tensor_map[128x64]>, #sieve.param<key.tensor_map[128x64]>, #sieve.param<value.tensor_map[128x64]>]>
// CHECK-SAME: sieve.variant = "wgmma"
// CHECK: builtin.unrealized_conversion_cast %[[QMAP]] : !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<1x1x128x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = l2promo_256b, oob = zero, interleave = none>
// CHECK: nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 7>
// CHECK: nvgpu.mbarrier.init
// CHECK: nvvm.fence.mbarrier.init
// CHECK: nvvm.setmaxregister  decrease 40
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}[%{{.*}}], %c32768
// CHECK: nvgpu.tma.async.load
// CHECK: scf.for
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: nvvm.setmaxregister  increase 232
// CHECK: scf.for
// CHECK: nvgpu.mbarrier.try_wait.parity
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK: nvgpu.mbarrier.arrive
// CHECK: nvvm.barrier id = {{.*}} number_of_threads = {{.*}}
// CHECK: vector.store {{.*}} {alignment = 16 : i64}
// Options: 64-key tiles and three stages (10 barriers): the K and V boxes
// shrink to 64 rows and the dynamic shared memory to 132096 bytes.
// OPTS: sieve.config = "wgmma block_q=128 query_tile=128 block_k=128 key_tile=64 stages=3 warpgroups=1+2 shared=132096"
// OPTS-SAME: sieve.launch = #sieve.launch<attention, grid = [4, 1, 1], block = [384, 1, 1], shared = 132096, workspace = 0, align = 16, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>, #sieve.param<query.tensor_map[128x64]>, #sieve.param<key.tensor_map[64x64]>, #sieve.param<value.tensor_map[64x64]>]>
// OPTS: num_barriers = 10
// OPTS: <m = 64, n = 64, k = 16>
func.func @hopper(%q: memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x1024x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x1024x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 6, 6, 12, 12, 18, 18, 24>, key_blocks = array<i32: 0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x1024x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x1024x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Short rows (two kept blocks of 128 keys) and f16 at head dim 64 take the
// Hopper kernel too (measured faster than mma even at S = 512).
// CHECK-LABEL: func @short_rows
// CHECK: sieve.variant = "wgmma"
// OPTS-LABEL: func @short_rows
// OPTS: sieve.variant = "wgmma"
func.func @short_rows(%q: memref<1x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x256x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x256x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 2>, key_blocks = array<i32: 0, 1>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Left to choose, the query tile depends on how many blocks the mask keeps
// busy: 4 active rows of one batch entry fill at most half of a Hopper's
// 132 SMs, so 64-row tiles (1 consumer warp group, twice the blocks) win;
// 80 batch entries x 1 row are enough blocks for 128-row tiles. Both
// kernels follow the two host functions, each in its own gpu.module, told
// apart by their operand shapes.
// AUTO-LABEL: func @few_blocks
// AUTO: func @many_blocks
// AUTO: gpu.module @sieve_kernels0
// AUTO: gpu.func @sieve_attention(%{{.*}}: memref<1x2x256x128xbf16
// AUTO-SAME: sieve.config = "wgmma block_q=128 query_tile=64
// AUTO-SAME: sieve.launch = #sieve.launch<attention, grid = [8, 1, 1], block = [256, 1, 1], shared = 148480,
// AUTO: gpu.module @sieve_kernels1
// AUTO: gpu.func @sieve_attention(%{{.*}}: memref<80x1x128x128xbf16
// AUTO-SAME: sieve.config = "wgmma block_q=128 query_tile=128
// AUTO-SAME: sieve.launch = #sieve.launch<attention, grid = [1, 80, 1], block = [384, 1, 1], shared = 164864,
func.func @few_blocks(%q: memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 1, 0, 2, 0, 1, 0, 2>, key_blocks = array<i32: 0, 1>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
func.func @many_blocks(%q: memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<80x1x128x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
