// RUN: sieve-opt %s -sieve-specialize-mask -sieve-lower-to-cpu | FileCheck %s

// Threshold mode: the head's threshold, read at run time from the
// thresholds operand and brought to the scores' log2 units (x log2 e), drops
// every score under it like a masked key (select -inf); a chunk whose every
// score is dropped changes nothing (the softmax update tests the chunk max).
// CHECK-LABEL: func @thresholds
// CHECK: %[[T:.*]] = memref.load %arg4[%{{.*}}] : memref<2xf32>
// CHECK: %[[TL:.*]] = arith.mulf %[[T]], %cst{{.*}} : f32
// CHECK: %[[LOW:.*]] = arith.cmpf olt, %{{.*}}, %[[TL]] : f32
// CHECK: arith.select %[[LOW]], %cst{{.*}}, %{{.*}} : f32
// CHECK: arith.cmpf oeq
func.func @thresholds(%q: memref<1x2x4x4xf32>, %k: memref<1x2x4x4xf32>, %v: memref<1x2x4x4xf32>, %o: memref<1x2x4x4xf32>, %t: memref<2xf32>) {
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<2xf32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>
  return
}
