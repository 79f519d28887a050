// RUN: sieve-opt %s -sieve-lower-to-gpu="chip=sm_90a variant=generic" | FileCheck %s --check-prefix=SM90
// RUN: sieve-opt %s -sieve-lower-to-gpu="chip=sm_80 variant=generic" | FileCheck %s --check-prefix=SM80

// The generic kernel's four row tables follow the op's operands (and, on
// sm_90a, the three TMA descriptors): the thresholds operand moves them one
// argument on. Reading them at a fixed position read the thresholds as a
// table, an invalid memref.load that crashed the verifier (found by
// sieve-fuzz-ir). (The lse needs whole rows: the generic kernel refuses it.)

// SM90-LABEL: func @thresholds
// SM90: gpu.func @sieve_attention(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[T:.*]]: memref<2xf32>, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %[[HEADS:.*]]: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>) kernel
// SM90-SAME: sieve.variant = "generic"
// SM90-DAG: memref.load %[[HEADS]]
// SM90-DAG: memref.load %[[T]]
// SM80-LABEL: func @thresholds
// SM80: gpu.func @sieve_attention(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[T:.*]]: memref<2xf32>, %[[HEADS:.*]]: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>) kernel
// SM80-SAME: sieve.variant = "generic"
// SM80-DAG: memref.load %[[HEADS]]
// SM80-DAG: memref.load %[[T]]
func.func @thresholds(%q: memref<1x2x128x64xf16>, %k: memref<1x2x128x64xf16>, %v: memref<1x2x128x64xf16>, %o: memref<1x2x128x64xf16>, %t: memref<2xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o thresholds(%t : memref<2xf32>) {row_heads = array<i32: 0, 0, 1, 1>, row_query_blocks = array<i32: 0, 1, 0, 1>, row_spans = array<i32: 0, 1, 1, 3, 3, 4, 4, 6>, key_blocks = array<i32: 0, 0, 1, 0, 0, 1>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x128x64xf16>, memref<1x2x128x64xf16>, memref<1x2x128x64xf16>, memref<1x2x128x64xf16>
  return
}
