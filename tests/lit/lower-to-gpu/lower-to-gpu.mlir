// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu=chunk-elements=8 | FileCheck %s --check-prefix=CHUNK

// One kernel per op in its own gpu.module with the tables as constants,
// and nothing left on the host: the op is erased and the kernel carries its
// launch contract (#sieve.launch) instead of a gpu.launch_func. grid =
// (rows, batch), one thread per query row of the block; q, k, v and out
// passed in that order as expanded memref descriptors; keys and values
// staged through workgroup memory between barriers; exp2 through the NVPTX
// intrinsic, no libdevice.
// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func @lower(
// CHECK-NOT: gpu.launch_func
// CHECK-NOT: nvgpu.tma.create.descriptor
// CHECK-NOT: memref.alloca
// CHECK: return
// CHECK-NEXT: }
// CHECK-NEXT: gpu.module @sieve_kernels0
// CHECK-DAG: memref.global "private" constant @sieve_row_spans : memref<4xi32> = dense<[0, 2, 2, 2]>
// CHECK-DAG: memref.global "private" constant @sieve_key_blocks : memref<2xi32> = dense<[1, 0]>
// CHECK: gpu.func @sieve_attention({{.*}}) workgroup(%{{.*}} : memref<2x4xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<2x4xf32, #gpu.address_space<workgroup>>) private({{.*}}) kernel attributes {known_block_size = array<i32: 2, 1, 1>
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 3, 1], block = [2, 1, 1], shared = 0, workspace = 0, align = 0, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>]>
// CHECK-SAME: sieve.variant = "simt"
// CHECK: gpu.thread_id x
// CHECK: gpu.block_id x
// CHECK: gpu.block_id y
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: gpu.return
// CHECK-NOT: gpu.launch_func
// A smaller staging budget gives 2-key chunks of a 2-key block: 2x4 floats.
// CHUNK: workgroup(%{{.*}} : memref<2x4xf32
func.func @lower(%q: memref<3x1x4x4xbf16>, %k: memref<3x1x4x4xbf16>, %v: memref<3x1x4x4xbf16>, %o: memref<3x1x4x4xbf16>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 2>, key_blocks = array<i32: 1, 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<3x1x4x4xbf16>, memref<3x1x4x4xbf16>, memref<3x1x4x4xbf16>, memref<3x1x4x4xbf16>
  return
}


// -----

// A dynamic stride on the head dimension cannot use 16-byte loads: auto
// falls back to the simt body even for bf16 at head dim 64.
// CHECK-LABEL: func @dynamic_inner_stride
// CHECK: sieve.variant = "simt"
func.func @dynamic_inner_stride(%q: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, %k: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, %v: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, %o: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>
  return
}
