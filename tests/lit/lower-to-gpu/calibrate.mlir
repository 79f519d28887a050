// RUN: sieve-opt %s -sieve-lower-to-gpu | FileCheck %s

// The GPU calibration variant: the scalar body (auto picks it for an op with
// stats) takes the stats as a fifth argument and, after the attention pass,
// walks the row's key blocks again: it stages each key chunk, recomputes the
// scores, weighs exp2(s - max) by 1 / sum and adds the block's mass to
// stats[h, query block, key block] with an atomic add (rows of one block and
// every batch entry share a cell).
// CHECK-LABEL: func @stats_on_gpu
// CHECK: gpu.launch_func @sieve_kernels0::@sieve_attention {{.*}} args({{.*}}, %arg4 : memref<1x2x2xf32>)
// CHECK-SAME: sieve.variant = "simt"
// CHECK: gpu.func @sieve_attention({{.*}}, %[[STATS:.*]]: memref<1x2x2xf32>) workgroup
// CHECK: gpu.barrier
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: memref.atomic_rmw addf %{{.*}}, %[[STATS]][%{{.*}}, %{{.*}}, %{{.*}}] : (f32, memref<1x2x2xf32>) -> f32
func.func @stats_on_gpu(%q: memref<1x1x4x4xf16>, %k: memref<1x1x4x4xf16>, %v: memref<1x1x4x4xf16>, %o: memref<1x1x4x4xf16>, %s: memref<1x2x2xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x2x2xf32>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 0, 1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>
  return
}
