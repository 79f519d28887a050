// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=mma query-tile=32 key-tile=32 stages=3" | FileCheck %s --check-prefix=OPTS
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_86" | FileCheck %s --check-prefix=SM86
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s --check-prefix=HOPPER

// bf16 at head dim 64 with a unit inner stride takes the tensor-core body:
// its launch contract asks for dynamic shared memory for Q (64 rows) and two
// stages of K and V (64 keys each), 64 x 64 bf16 = 8 KiB apiece, 4 warps,
// over 3 blocks (the 2 active rows and one zero-fill block); cp.async
// fills, ldmatrix (transposed for V) feeds mma.sync m16n8k16 in bf16, and
// the row max travels by xor shuffles.
// CHECK-LABEL: func @tensor_cores
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>, sieve.config = "mma block_q=64 query_tile=64 block_k=128 key_tile=64 stages=2 warps=4 shared=40960"
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [3, 1, 1], block = [128, 1, 1], shared = 40960, workspace = 0, align = 16, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>]>
// CHECK-SAME: sieve.variant = "mma"
// CHECK: gpu.dynamic_shared_memory
// CHECK: nvgpu.device_async_copy {{.*}} 8, %{{.*}} {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.barrier
// CHECK: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>{{.*}}shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: gpu.shuffle  xor
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: vector.store {{.*}} {alignment = 16 : i64}
// Smaller tiles and three stages: two blocks per 64-row work row (4, plus
// the zero-fill block), 2 warps; (32 + 2 * 3 * 32) * 64 * 2 bytes of shared
// memory; the loop waits with one younger group pending while one remains.
// OPTS: gpu.func @sieve_attention
// OPTS-SAME: query_tile=32 block_k=128 key_tile=32 stages=3 warps=2
// OPTS-SAME: sieve.launch = #sieve.launch<attention, grid = [5, 1, 1], block = [64, 1, 1], shared = 28672,
// OPTS: nvvm.cp.async.wait.group 2
// OPTS: scf.for
// OPTS: scf.if
// OPTS: nvvm.cp.async.wait.group 1
// OPTS: } else {
// OPTS: nvvm.cp.async.wait.group 0
// The same on sm_86; sm_90a runs it on the Hopper body.
// SM86-LABEL: func @tensor_cores
// SM86: sieve.variant = "mma"
// HOPPER-LABEL: func @tensor_cores
// HOPPER: sieve.variant = "wgmma"
func.func @tensor_cores(%q: memref<1x2x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 1, 0, 1>, row_query_blocks = array<i32: 1, 0, 0, 1>, row_spans = array<i32: 0, 2, 2, 3, 3, 3, 3, 3>, key_blocks = array<i32: 0, 1, 1>, scale = 0.125 : f32, block_q = 64, block_k = 128} : memref<1x2x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// f16 keeps its operands as vector<2xf16>; causal tiles get the element mask
// only under a run-time test (interior tiles skip it).
// CHECK-LABEL: func @causal_f16
// SM86-LABEL: func @causal_f16
// HOPPER-LABEL: func @causal_f16
// CHECK: sieve.variant = "mma"
// CHECK: arith.cmpi ule
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32)
func.func @causal_f16(%q: memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 3>, key_blocks = array<i32: 0, 1, 0>, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x128xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 32 (all-MiniLM-L6-v2): rows of 4 16-byte chunks, 64 bytes, so
// rows 2r and 2r+1 share a 128-byte line; the swizzle atom is 4 chunks and
// rows in pairs share a phase: chunk ^ (row / 2) % 4. ptxas is told that
// one block per SM will do (it would trade spills for occupancy).
// (64 + 2 * 2 * 64) * 32 * 2 bytes of shared memory.
// CHECK-LABEL: func @head_dim_32
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: nvvm.minctasm = 1 : i32, sieve.config = "mma block_q=64 query_tile=64 block_k=128 key_tile=64 stages=2 warps=4 shared=20480"
// CHECK-SAME: sieve.variant = "mma"
// CHECK: arith.select %{{.*}}, %c8{{(_[0-9]+)?}}, %c0{{(_[0-9]+)?}} : index
// CHECK: %[[ROWS:.*]] = arith.divui %{{.*}}, %c2{{(_[0-9]+)?}} : index
// CHECK-NEXT: %[[ATOM:.*]] = arith.constant 3 : index
// CHECK-NEXT: %[[PHASE:.*]] = arith.andi %[[ROWS]], %[[ATOM]] : index
// CHECK-NEXT: arith.xori %{{.*}}, %[[PHASE]] : index
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32)
// SM86-LABEL: func @head_dim_32
// SM86: sieve.variant = "mma"
// HOPPER-LABEL: func @head_dim_32
// HOPPER: sieve.variant = "wgmma"
func.func @head_dim_32(%q: memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 1, 0, 1>, row_query_blocks = array<i32: 1, 0, 0, 1>, row_spans = array<i32: 0, 2, 2, 3, 3, 3, 3, 3>, key_blocks = array<i32: 0, 1, 1>, scale = 0.125 : f32, block_q = 64, block_k = 128} : memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x32xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x128x32xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 80 (Phi-2): rows of 10 chunks start 2 chunks apart in the banks,
// so runs of 4 rows hit distinct banks already: 2-chunk atoms, the phase
// (row / 4) % 2. Causal, bf16.
// CHECK-LABEL: func @head_dim_80
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "mma block_q=64 query_tile=64 block_k=64 key_tile=64 stages=2 warps=4 shared=51200"
// CHECK-SAME: sieve.variant = "mma"
// CHECK: arith.select %{{.*}}, %c8{{(_[0-9]+)?}}, %c0{{(_[0-9]+)?}} : index
// CHECK: %[[ROWS:.*]] = arith.divui %{{.*}}, %c4{{(_[0-9]+)?}} : index
// CHECK-NEXT: %[[ATOM:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[PHASE:.*]] = arith.andi %[[ROWS]], %[[ATOM]] : index
// CHECK-NEXT: arith.xori %{{.*}}, %[[PHASE]] : index
// CHECK: arith.cmpi ule
// SM86-LABEL: func @head_dim_80
// SM86: sieve.variant = "mma"
// HOPPER-LABEL: func @head_dim_80
// HOPPER: sieve.variant = "wgmma"
func.func @head_dim_80(%q: memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 3>, key_blocks = array<i32: 0, 1, 0>, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x80xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 96 (Phi-3) with two query heads per key head and ragged Sq, Sk:
// 12-chunk rows, 4-chunk atoms as at head dim 32. On sm_90a auto runs
// this head dim, like 32, 80, 192 and 256 here, on the Hopper body.
// CHECK-LABEL: func @head_dim_96_gqa
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "mma block_q=64 query_tile=64 block_k=64 key_tile=64 stages=2 warps=4 shared=61440"
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [8, 1, 1]
// CHECK-SAME: sieve.variant = "mma"
// CHECK: arith.select %{{.*}}, %c8{{(_[0-9]+)?}}, %c0{{(_[0-9]+)?}} : index
// CHECK: %[[ROWS:.*]] = arith.divui %{{.*}}, %c2{{(_[0-9]+)?}} : index
// CHECK-NEXT: %[[ATOM:.*]] = arith.constant 3 : index
// CHECK-NEXT: arith.andi %[[ROWS]], %[[ATOM]] : index
// SM86-LABEL: func @head_dim_96_gqa
// SM86: sieve.variant = "mma"
// HOPPER-LABEL: func @head_dim_96_gqa
// HOPPER: sieve.variant = "wgmma"
func.func @head_dim_96_gqa(%q: memref<1x4x100x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x200x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x200x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x4x100x96xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 1, 2, 3, 0, 1, 2, 3>, row_query_blocks = array<i32: 0, 0, 0, 0, 1, 1, 1, 1>, row_spans = array<i32: 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8>, key_blocks = array<i32: 0, 1, 2, 3, 0, 1, 2, 3>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x4x100x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x200x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x200x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x4x100x96xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 192: 32-key tiles by default, (64 + 2 * 2 * 32) * 192 * 2 bytes
// of shared memory (within sm_86's 99 KiB), and the warp's Q fragments are
// read from shared memory at each key tile (registers hold the 96-column
// accumulator instead). Rows of 24 chunks: 8-chunk atoms, chunk ^ row % 8.
// CHECK-LABEL: func @head_dim_192
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "mma block_q=64 query_tile=64 block_k=64 key_tile=32 stages=2 warps=4 shared=73728"
// CHECK-SAME: sieve.variant = "mma"
// CHECK: scf.for
// CHECK: nvgpu.ldmatrix %view[{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<64x192xbf16
// CHECK: nvgpu.ldmatrix %view_0[{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync
// SM86-LABEL: func @head_dim_192
// SM86: sieve.variant = "mma"
// HOPPER-LABEL: func @head_dim_192
// HOPPER: sieve.variant = "wgmma"
func.func @head_dim_192(%q: memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 3>, key_blocks = array<i32: 0, 1, 0>, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x192xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Head dim 256 (Gemma): 32-key tiles of 128-key blocks, 96 KiB of shared
// memory (it fits sm_86's 99 KiB), Q read in the loop.
// CHECK-LABEL: func @head_dim_256
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "mma block_q=64 query_tile=64 block_k=128 key_tile=32 stages=2 warps=4 shared=98304"
// CHECK-SAME: sieve.variant = "mma"
// CHECK: scf.for
// CHECK: nvgpu.ldmatrix %view[{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<64x256xbf16
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK: scf.yield
// SM86-LABEL: func @head_dim_256
// SM86: sieve.config = "mma block_q=64 query_tile=64 block_k=128 key_tile=32 stages=2 warps=4 shared=98304"
// SM86: sieve.variant = "mma"
// HOPPER-LABEL: func @head_dim_256
// HOPPER: sieve.variant = "wgmma"
func.func @head_dim_256(%q: memref<1x1x128x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x128x256xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 2, 2, 3>, key_blocks = array<i32: 0, 1, 1>, scale = 0.125 : f32, block_q = 64, block_k = 128} : memref<1x1x128x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x256xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
