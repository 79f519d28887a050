// RUN: sieve-opt %s -sieve-lower-to-cpu | FileCheck %s

// With a stats operand, each query row gets a second pass over its key
// blocks after the online softmax: exp2(score - final max) summed per key
// block, times 1 / final sum (0 for a row with no key), added into
// stats[head, query block, key block].
// CHECK-LABEL: func @calibrate
// CHECK-NOT: sieve.
// The streaming pass, then the row's final sum guarded against zero.
// CHECK: math.exp2
// CHECK: %[[HAS:.*]] = arith.cmpf ogt, %[[SUM:.*]], %{{.*}} : f32
// CHECK: %[[DIV:.*]] = arith.divf %{{.*}}, %[[SUM]] : f32
// CHECK: %[[INV:.*]] = arith.select %[[HAS]], %[[DIV]], %{{.*}} : f32
// The mass pass: recompute scores, accumulate exp2(s - max), scale, add.
// CHECK: scf.for
// CHECK: %[[MASS:.*]] = scf.for
// CHECK: math.exp2
// CHECK: %[[OLD:.*]] = memref.load %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x2x2xf32>
// CHECK: %[[SCALED:.*]] = arith.mulf %[[MASS]], %[[INV]] : f32
// CHECK: %[[NEW:.*]] = arith.addf %[[OLD]], %[[SCALED]] : f32
// CHECK: memref.store %[[NEW]], %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x2x2xf32>
func.func @calibrate(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>, %s: memref<1x2x2xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x2x2xf32>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 0, 1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}
