// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_80" | FileCheck %s --check-prefix=SM80

// The Hopper body at head dims other than 64 and 128: auto takes it on
// sm_90a (the mma body stays sm_80's). Each tile in shared memory is a
// stack of column slabs as wide as the widest swizzle dividing a row's
// bytes, and the TMA boxes, the wgmma descriptors and the output staging
// all agree on it. Descriptor constants (the start address is or-ed in):
// LBO >> 4 in bits 16-29, SBO >> 4 in bits 32-45, the swizzle in 62-63
// (1 = 128 B, 2 = 64 B, 3 = 32 B); K-major operands (Q and K of S = Q K^T)
// have LBO 16 (unused) and SBO one swizzle period (8 slab rows), the
// MN-major V of O += P V has LBO one slab (key tile rows) and SBO a period.

// Head dim 80 (160-byte rows): 32-byte slabs of 16 columns, 5 of them, each
// a TMA box (boxes of 16 x 64 Q rows, 16 x 128 K and V rows) typed
// swizzle_none (the runtime swizzles a box at its row's width: upstream's
// verifier takes only 128-byte swizzled boxes). K-major: SBO 256, mode 3:
// 0xC000001000010000; MN-major with 128-key tiles: LBO 4096:
// 0xC000001001000000. S = Q K^T takes 5 k16 steps, O += P V 8 of N = 80.
// The staged output's 16-byte chunk XORs (row / 4) % 2.
// CHECK-LABEL: func @head_dim_80
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "wgmma block_q=128 query_tile=64 block_k=128 key_tile=128 stages=2 warpgroups=1+1 shared=93184"
// CHECK-SAME: #sieve.param<query.tensor_map[64x16]>, #sieve.param<key.tensor_map[128x16]>, #sieve.param<value.tensor_map[128x16]>]>
// CHECK-SAME: sieve.variant = "wgmma"
// CHECK: !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<1x1x64x16xbf16, #gpu.address_space<workgroup>>, swizzle = none,
// CHECK: !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<1x1x128x16xbf16, #gpu.address_space<workgroup>>, swizzle = none,
// CHECK-COUNT-5: nvgpu.tma.async.load {{.*}} -> memref<1x1x64x16xbf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-10: nvgpu.tma.async.load {{.*}} -> memref<1x1x128x16xbf16, #gpu.address_space<workgroup>>
// CHECK-COUNT-10: arith.constant -4611685949707845632 : i64
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>
// CHECK-COUNT-8: arith.constant -4611685949691133952 : i64
// CHECK: wgmma.mma_async.sync.aligned.m64n80k16.f32.bf16.bf16
// CHECK: %[[ROWS:.*]] = arith.divui %{{.*}}, %c4{{(_[0-9]+)?}} : index
// CHECK-NEXT: %{{.*}} = arith.constant 2 : index
// CHECK-NEXT: %[[PHASE:.*]] = arith.remui %[[ROWS]], %{{.*}} : index
// CHECK-NEXT: arith.xori %{{.*}}, %[[PHASE]] : index
// SM80-LABEL: func @head_dim_80
// SM80: sieve.variant = "mma"
func.func @head_dim_80(%q: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x512x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x512x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 3, 3, 6, 6, 8, 8, 10>, key_blocks = array<i32: 0, 1, 2, 1, 2, 3, 0, 1, 2, 3>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x512x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x512x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x80xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 96 (192-byte rows), causal f16 on 64 x 64 blocks: 64-byte slabs
// of 32 columns, 3 of them; K-major SBO 512, mode 2: 0x8000002000010000;
// MN-major with 64-key tiles: LBO 4096: 0x8000002001000000. S = Q K^T
// takes 6 k16 steps, O += P V 4 of N = 96. The staged chunk XORs
// (row / 2) % 4.
// CHECK-LABEL: func @head_dim_96
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "wgmma block_q=64 query_tile=64 block_k=64 key_tile=64 stages=2 warpgroups=1+1 shared=62464"
// CHECK-SAME: #sieve.param<query.tensor_map[64x32]>, #sieve.param<key.tensor_map[64x32]>, #sieve.param<value.tensor_map[64x32]>]>
// CHECK: !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<1x1x64x32xf16, #gpu.address_space<workgroup>>, swizzle = none,
// CHECK-COUNT-12: arith.constant -9223371899415756800 : i64
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>
// CHECK-COUNT-4: arith.constant -9223371899399045120 : i64
// CHECK: wgmma.mma_async.sync.aligned.m64n96k16.f32.f16.f16
// CHECK: %[[ROWS:.*]] = arith.divui %{{.*}}, %c2{{(_[0-9]+)?}} : index
// CHECK-NEXT: %{{.*}} = arith.constant 4 : index
// CHECK-NEXT: %[[PHASE:.*]] = arith.remui %[[ROWS]], %{{.*}} : index
// CHECK-NEXT: arith.xori %{{.*}}, %[[PHASE]] : index
// SM80-LABEL: func @head_dim_96
// SM80: sieve.variant = "mma"
func.func @head_dim_96(%q: memref<1x2x128x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x128x96xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 3, 3, 5, 5, 6, 6, 8>, key_blocks = array<i32: 0, 1, 2, 1, 3, 0, 0, 1>, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x128x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x128x96xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 32 (64-byte rows): one 64-byte slab, 2 k16 steps, N = 32.
// CHECK-LABEL: func @head_dim_32
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "wgmma block_q=64 query_tile=64 block_k=64 key_tile=64 stages=2 warpgroups=1+1 shared=21504"
// CHECK-SAME: #sieve.param<query.tensor_map[64x32]>, #sieve.param<key.tensor_map[64x32]>, #sieve.param<value.tensor_map[64x32]>]>
// CHECK-COUNT-4: arith.constant -9223371899415756800 : i64
// CHECK-COUNT-4: arith.constant -9223371899399045120 : i64
// CHECK: wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16
// SM80-LABEL: func @head_dim_32
// SM80: sieve.variant = "mma"
func.func @head_dim_32(%q: memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 2, 2, 2, 2, 2, 2, 4>, key_blocks = array<i32: 0, 1, 2, 3>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 256: 128-byte slabs (4), as at 64 and 128, with 64-key tiles
// (two stages of 128-key K and V tiles would not fit beside Q, nor a
// 64 x 128 score tile beside the 64 x 256 accumulator in registers).
// K-major SBO 1024, mode 1: 0x4000004000010000; MN-major with 64-key
// tiles: LBO 8192: 0x4000004002000000. S = Q K^T takes 16 k16 steps,
// O += P V 4 of N = 256.
// CHECK-LABEL: func @head_dim_256
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "wgmma block_q=128 query_tile=64 block_k=128 key_tile=64 stages=2 warpgroups=1+1 shared=164864"
// CHECK-SAME: #sieve.param<query.tensor_map[64x64]>, #sieve.param<key.tensor_map[64x64]>, #sieve.param<value.tensor_map[64x64]>]>
// CHECK: !llvm.ptr to !nvgpu.tensormap.descriptor<tensor = memref<1x1x64x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b,
// CHECK-COUNT-32: arith.constant 4611686293305360384 : i64
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>
// CHECK-COUNT-4: arith.constant 4611686293338849280 : i64
// CHECK: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// SM80-LABEL: func @head_dim_256
// SM80: sieve.variant = "mma"
func.func @head_dim_256(%q: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x512x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x512x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 3, 3, 6, 6, 8, 8, 10>, key_blocks = array<i32: 0, 1, 2, 1, 2, 3, 0, 1, 2, 3>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x512x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x512x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
