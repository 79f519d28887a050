// RUN: sieve-opt %s -sieve-lower-to-cpu | FileCheck %s

// With a stats operand, a unit is a whole row with every batch entry (the
// phase loops over them), so one unit owns the row's stats entries. After
// the online softmax each tile of the row's queries gets a second pass over
// its key blocks: the scores again, exp2(score - final max) summed along
// the key vectors and across the lanes, times 1 / final sum (0 for a row
// with no key), summed over the tile's rows and added into
// stats[head, query block, key block].
// CHECK-LABEL: func.func @__sieve_cpu_attention_unit_
// CHECK-SAME: %[[STATS:arg4]]: memref<1x?x?xf32>
// The streaming pass first (its rescale by the scalar exp2).
// CHECK: vector.reduction <maxnumf>
// The mass pass: 1 / the row's final sum where it is positive, else 0,
// CHECK: %[[DIV:.*]] = arith.divf %cst{{.*}}, %{{.*}} : f32
// CHECK-NEXT: %[[INV:.*]] = arith.select %{{.*}}, %[[DIV]], %cst{{.*}} : f32
// the probabilities of the key vectors, their sum across the lanes,
// CHECK: math.roundeven %{{.*}} : vector<2xf32>
// CHECK: %[[ROW:.*]] = vector.reduction <add>, %{{.*}} : vector<2xf32> into f32
// CHECK: %[[MASS:.*]] = math.fma %[[ROW]], %[[INV]], %{{.*}} : f32
// CHECK: scf.yield %[[MASS]] : f32
// and the tile's mass added into the stats.
// CHECK: %[[OLD:.*]] = memref.load %[[STATS]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x?x?xf32>
// CHECK: %[[NEW:.*]] = arith.addf %[[OLD]], %{{.*}} : f32
// CHECK: memref.store %[[NEW]], %[[STATS]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x?x?xf32>
// The phase's loop: one unit per row, the batch entries in order inside it.
// CHECK-LABEL: func.func @__sieve_cpu_attention_
// CHECK: scf.for %[[U:.*]] = %{{.*}} to %{{.*}} step
// CHECK: scf.for %[[BI:.*]] = %{{.*}} to %{{.*}} step
// CHECK: func.call @__sieve_cpu_attention_unit_{{.*}}, %[[U]], %[[BI]])
// CHECK-LABEL: func.func @__sieve_cpu0_attention(
// CHECK-SAME: #sieve.launch<attention, grid = [2, 1, 1]
func.func @calibrate(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>, %s: memref<1x2x2xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x2x2xf32>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 0, 1>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}
