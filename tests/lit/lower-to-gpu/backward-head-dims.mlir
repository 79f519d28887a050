// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu=chip=sm_90a | FileCheck %s --check-prefix=HOPPER
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask "-sieve-lower-to-gpu=chip=sm_80 shared-bytes=65536" | FileCheck %s --check-prefix=SMALL

// The mma backward at head dims other than 64 and 128. At D = 96 one warp
// owns 16 keys (key-value) or 16 queries (query) as at 64 and 128; the
// kernels may use every register (nvvm.minctasm = 1). On sm_90a auto runs
// the Hopper backward: its tiles are stacks of 64-byte slabs (32 columns,
// the widest swizzle dividing a 192-byte row), TMA boxes of 64 x 32, and
// the producer keeps 40 registers (its boxes' addresses spill at 24), the
// consumer 232.
// CHECK-LABEL: func @backward_d96
// CHECK: gpu.func @sieve_backward_rows
// CHECK: gpu.func @sieve_backward_key_value
// CHECK-SAME: nvvm.minctasm = 1
// CHECK-SAME: #sieve.launch<backward_key_value, grid = [8, 1, 1], block = [128, 1, 1], shared = 49152
// CHECK-SAME: sieve.variant = "mma"
// CHECK: gpu.func @sieve_backward_query
// CHECK-SAME: nvvm.minctasm = 1
// CHECK-SAME: #sieve.launch<backward_query, grid = [8, 1, 1], block = [128, 1, 1], shared = 49152
// HOPPER-LABEL: func @backward_d96
// HOPPER: gpu.func @sieve_backward_key_value
// HOPPER-SAME: sieve.config = "wgmma keys=64 query_step=64 stages=2 warpgroups=1+1"
// HOPPER-SAME: #sieve.launch<backward_key_value, grid = [8, 1, 1], block = [256, 1, 1], shared = 75776
// HOPPER-SAME: #sieve.param<key.tensor_map[64x32]>, #sieve.param<value.tensor_map[64x32]>, #sieve.param<query.tensor_map[64x32]>, #sieve.param<dout.tensor_map[64x32]>
// HOPPER-SAME: sieve.variant = "wgmma"
// HOPPER: nvvm.setmaxregister  decrease 40
// HOPPER: nvvm.setmaxregister  increase 232
// HOPPER-COUNT-4: wgmma.mma_async.sync.aligned.m64n96k16.f32.f16.f16
// HOPPER: gpu.func @sieve_backward_query
// HOPPER-SAME: sieve.config = "wgmma query_tile=64 key_step=64 stages=2 warpgroups=1+1"
// HOPPER-SAME: sieve.variant = "wgmma"
func.func @backward_d96(%q: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Above D = 128 two warps share each 16 keys of the key-value kernel (256
// threads for 64 keys), each writing its half of dK's and dV's columns
// through a window of the outputs; 16 queries or keys a step keep both
// kernels at 96 KiB. With less shared memory (a device that reports 64 KiB)
// the blocks keep 32 rows instead of 64.
// CHECK-LABEL: func @backward_d256
// CHECK: gpu.func @sieve_backward_key_value
// CHECK-SAME: #sieve.launch<backward_key_value, grid = [8, 1, 1], block = [256, 1, 1], shared = 98304
// CHECK-COUNT-2: memref.reinterpret_cast
// CHECK: gpu.func @sieve_backward_query
// CHECK-SAME: #sieve.launch<backward_query, grid = [8, 1, 1], block = [128, 1, 1], shared = 98304
// On sm_90a the Hopper key-value kernel puts two consumer warp groups on
// each 64 keys, each owning 128 of dK's and dV's columns (m64n128
// products on its window of the Q and dO tiles, two slabs from slab 0 or
// 2); both wait on the key group's named barrier (3, 256 threads) before
// staging their window through the K and V tiles the other still reads.
// The dQ kernel takes 32-key steps (dQ's 128 registers beside two score
// tiles).
// HOPPER-LABEL: func @backward_d256
// HOPPER: gpu.func @sieve_backward_key_value
// HOPPER-SAME: sieve.config = "wgmma keys=64 query_step=64 stages=2 warpgroups=1+2 column_groups=2"
// HOPPER-SAME: #sieve.launch<backward_key_value, grid = [8, 1, 1], block = [384, 1, 1], shared = 198656
// HOPPER-SAME: #sieve.param<key.tensor_map[64x64]>
// HOPPER-SAME: sieve.variant = "wgmma"
// HOPPER: nvvm.setmaxregister  decrease 40
// HOPPER: nvvm.setmaxregister  increase 232
// HOPPER: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// HOPPER: nvvm.barrier id = %{{.*}} number_of_threads = %c256_i32
// HOPPER: memref.reinterpret_cast %arg7 to {{.*}} sizes: [1, 2, 256, 128]
// HOPPER: memref.reinterpret_cast %arg8 to {{.*}} sizes: [1, 2, 256, 128]
// HOPPER: gpu.func @sieve_backward_query
// HOPPER-SAME: sieve.config = "wgmma query_tile=64 key_step=32 stages=2 warpgroups=1+1"
// HOPPER-SAME: #sieve.launch<backward_query, grid = [8, 1, 1], block = [256, 1, 1], shared = 132096
// HOPPER-SAME: sieve.variant = "wgmma"
// HOPPER: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// SMALL-LABEL: func @backward_d256
// SMALL: #sieve.launch<backward_key_value, grid = [16, 1, 1], block = [128, 1, 1], shared = 65536
// SMALL: #sieve.launch<backward_query, grid = [16, 1, 1], block = [64, 1, 1], shared = 65536
func.func @backward_d256(%q: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// D = 80 on sm_90a: rows of 160 bytes take 32-byte slabs (16 columns, TMA
// boxes of 64 x 16), five a tile; the producer keeps 40 registers.
// HOPPER-LABEL: func @backward_d80
// HOPPER: gpu.func @sieve_backward_key_value
// HOPPER-SAME: sieve.config = "wgmma keys=64 query_step=64 stages=2 warpgroups=1+1"
// HOPPER-SAME: #sieve.param<key.tensor_map[64x16]>
// HOPPER-SAME: sieve.variant = "wgmma"
// HOPPER: nvvm.setmaxregister  decrease 40
// HOPPER: wgmma.mma_async.sync.aligned.m64n80k16.f32.bf16.bf16
// HOPPER: gpu.func @sieve_backward_query
// HOPPER-SAME: sieve.variant = "wgmma"
func.func @backward_d80(%q: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// D = 192 on sm_90a with 128-blocks: the key-value kernel's two warp
// groups per 64 keys (two blocks per key block) each own 96 columns, so
// its tiles are 64-byte slabs (whole slabs per window: boxes of 64 x 32,
// six a tile, the producer at 56 registers and the consumers at 224); the
// dQ kernel keeps 128-byte slabs (boxes of 128 x 64), 128 queries in two
// consumer warp groups, 64-key steps.
// HOPPER-LABEL: func @backward_d192
// HOPPER: gpu.func @sieve_backward_key_value
// HOPPER-SAME: sieve.config = "wgmma keys=64 query_step=64 stages=2 warpgroups=1+2 column_groups=2"
// HOPPER-SAME: #sieve.launch<backward_key_value, grid = [8, 1, 1], block = [384, 1, 1], shared = 149504
// HOPPER-SAME: #sieve.param<key.tensor_map[64x32]>
// HOPPER-SAME: sieve.variant = "wgmma"
// HOPPER: nvvm.setmaxregister  decrease 56
// HOPPER: nvvm.setmaxregister  increase 224
// HOPPER: wgmma.mma_async.sync.aligned.m64n96k16.f32.f16.f16
// HOPPER: memref.reinterpret_cast %arg7 to {{.*}} sizes: [1, 2, 256, 96]
// HOPPER: gpu.func @sieve_backward_query
// HOPPER-SAME: sieve.config = "wgmma query_tile=128 key_step=64 stages=2 warpgroups=1+2"
// HOPPER-SAME: #sieve.param<query.tensor_map[128x64]>
// HOPPER-SAME: sieve.variant = "wgmma"
// HOPPER: nvvm.setmaxregister  decrease 40
// HOPPER: nvvm.setmaxregister  increase 232
func.func @backward_d192(%q: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.125 : f32, block_q = 128, block_k = 128, causal} : memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x192xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
