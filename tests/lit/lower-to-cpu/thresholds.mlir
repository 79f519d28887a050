// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-cpu | FileCheck %s

// Threshold mode: the head's threshold, read at run time from the
// thresholds operand and brought to the scores' log2 units (x log2 e), drops
// every score under it like a masked key: as the score tile leaves its
// registers, each accumulator vector is compared with it and its lanes
// under it become -inf; a row whose every score is dropped changes nothing
// (its max stays -inf and its weights exp2(-inf) = 0).
// CHECK-LABEL: func.func @__sieve_cpu_attention_unit_
// CHECK-SAME: %[[TS:arg4]]: memref<2xf32>
// CHECK: %[[T:.*]] = memref.load %[[TS]][%{{.*}}] : memref<2xf32>
// CHECK: %[[TL:.*]] = arith.mulf %[[T]], %cst{{.*}} : f32
// CHECK: %[[ACC:.*]]:4 = scf.for
// CHECK: %[[TV:.*]] = vector.broadcast %[[TL]] : f32 to vector<2xf32>
// CHECK: %[[LOW:.*]] = arith.cmpf olt, %[[ACC]]#0, %[[TV]] : vector<2xf32>
// CHECK: %[[DROPPED:.*]] = arith.select %[[LOW]], %cst{{.*}}, %[[ACC]]#0 : vector<2xi1>, vector<2xf32>
// CHECK: vector.store %[[DROPPED]]
func.func @thresholds(%q: memref<1x2x4x4xf32>, %k: memref<1x2x4x4xf32>, %v: memref<1x2x4x4xf32>, %o: memref<1x2x4x4xf32>, %t: memref<2xf32>) {
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<2xf32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>
  return
}

// -----

// With the lse too the thresholds stay the fifth argument and the lse is
// the sixth (the op's operand order).
// CHECK-LABEL: func.func @__sieve_cpu_attention_unit_
// CHECK-SAME: %[[TS:arg4]]: memref<2xf32>, %[[LSE:arg5]]: memref<1x2x?xf32>
// CHECK: memref.load %[[TS]]
// CHECK: memref.store %{{.*}}, %[[LSE]]
func.func @thresholds_lse(%q: memref<1x2x4x4xf32>, %k: memref<1x2x4x4xf32>, %v: memref<1x2x4x4xf32>, %o: memref<1x2x4x4xf32>, %t: memref<2xf32>, %lse: memref<1x2x4xf32>) {
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<2xf32>) lse(%lse : memref<1x2x4xf32>) {mask = #sieve.block_mask<2x2x2, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>, memref<1x2x4x4xf32>
  return
}

// -----

// The backward takes the thresholds after dv; the key-value and query units
// load their head's threshold (x log2 e) and keep a score's P and dS only
// where it is not under it (an unordered >=, and-ed with the other masks).
// CHECK-LABEL: func.func @__sieve_cpu_bwd_key_value_unit
// CHECK-SAME: %[[KT:arg9]]: memref<1xf32>
// CHECK: memref.load %[[KT]]
// CHECK: arith.cmpf uge
// CHECK: arith.andi
// CHECK-LABEL: func.func @__sieve_cpu_bwd_query_unit
// CHECK-SAME: %[[QT:arg9]]: memref<1xf32>
// CHECK: memref.load %[[QT]]
// CHECK: arith.cmpf uge
// CHECK: arith.andi
func.func @backward_thresholds(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>, %do: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>, %dq: memref<1x1x4x8xf32>, %dk: memref<1x1x4x8xf32>, %dv: memref<1x1x4x8xf32>, %t: memref<1xf32>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv thresholds(%t : memref<1xf32>) {mask = #sieve.block_mask<1x2x2, "0f">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4xf32> -> memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}
