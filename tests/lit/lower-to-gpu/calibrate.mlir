// RUN: sieve-opt %s -sieve-lower-to-gpu | FileCheck %s

// The GPU calibration variant: the scalar body (auto picks it for an op with
// stats) takes the stats as a fifth argument (last in its launch contract's
// parameters, a rank-3 descriptor) and, after the attention pass, walks
// the row's key blocks again: it stages each key chunk, recomputes the
// scores, weighs exp2(s - max) by 1 / sum and adds the block's mass to
// stats[h, query block, key block] with an atomic add (rows of one block and
// every batch entry share a cell).
// CHECK-LABEL: func @stats_on_gpu
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @sieve_attention({{.*}}, %[[STATS:arg[0-9]+]]: memref<1x2x2xf32>) workgroup
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 1, 1], block = [2, 1, 1], shared = 0, workspace = 0, align = 0, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>, #sieve.param<stats.allocated>, #sieve.param<stats.aligned>, #sieve.param<stats.offset>, #sieve.param<stats.size[0]>, #sieve.param<stats.size[1]>, #sieve.param<stats.size[2]>, #sieve.param<stats.stride[0]>, #sieve.param<stats.stride[1]>, #sieve.param<stats.stride[2]>]>
// CHECK-SAME: sieve.variant = "simt"
// CHECK: gpu.barrier
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: memref.atomic_rmw addf %{{.*}}, %[[STATS]][%{{.*}}, %{{.*}}, %{{.*}}] : (f32, memref<1x2x2xf32>) -> f32
func.func @stats_on_gpu(%q: memref<1x1x4x4xf16>, %k: memref<1x1x4x4xf16>, %v: memref<1x1x4x4xf16>, %o: memref<1x1x4x4xf16>, %s: memref<1x2x2xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x2x2xf32>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 0, 1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>
  return
}
