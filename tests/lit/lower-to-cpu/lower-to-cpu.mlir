// RUN: sieve-opt %s -sieve-lower-to-cpu | FileCheck %s
// RUN: sieve-opt %s -sieve-lower-to-cpu -sieve-lower-to-cpu | FileCheck %s --check-prefix=IDEMPOTENT

// The tables become private constant globals; the op becomes loops over
// batch, rows and query positions with a streaming softmax in f32 (exp2 of
// scores pre-scaled by scale * log2(e)); f16 is widened on load and
// narrowed on store.
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_row_heads : memref<2xi32> = dense<0>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_row_query_blocks : memref<2xi32> = dense<[1, 0]>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_row_spans : memref<4xi32> = dense<[0, 2, 2, 2]>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_key_blocks : memref<2xi32> = dense<[1, 0]>
// CHECK-LABEL: func @lower
// CHECK-NOT: sieve.
// CHECK: memref.get_global @__sieve_cpu0_row_heads
// CHECK: memref.alloca() : memref<4xf32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.extf {{.*}} : f16 to f32
// CHECK: math.exp2
// CHECK: arith.truncf {{.*}} : f32 to f16
// IDEMPOTENT-LABEL: func @lower
// IDEMPOTENT-NOT: sieve.
func.func @lower(%q: memref<1x1x4x4xf16>, %k: memref<1x1x4x4xf16>, %v: memref<1x1x4x4xf16>, %o: memref<1x1x4x4xf16>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 2>, key_blocks = array<i32: 1, 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>
  return
}
