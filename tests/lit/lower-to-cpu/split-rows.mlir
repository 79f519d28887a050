// RUN: sieve-opt %s -sieve-lower-to-cpu -canonicalize | FileCheck %s
// RUN: sieve-opt %s -pass-pipeline='builtin.module(sieve-to-cpu{split-kv=1 workers=16})' | FileCheck %s --check-prefix=PIPELINE

// Split-KV rows run on the host as on the GPU. Query block 0 is cut into
// two parts (slots 0 and 1, one key block each). Each part stores its
// normalized output and its log2-sum-exp (max + log2 sum) into the
// workspace after the packed key tiles (2 tiles x (4 x 2 + 2 x 4) floats),
// 2 slots x 1 batch x 2 rows x (4 + 1) floats; the row's slot comes from
// the row_slots table, an argument of the library's unit. A combine phase
// then merges each group's slots with the combine's arithmetic: a running
// max of the parts' lse, weights exp2(lse - max), an fma per part, and
// 1/den (0 for a row no part saw a key of) before the store to out.
// CHECK-LABEL: func @split_on_cpu
// CHECK: %[[HEAP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<52xf32>
// CHECK: call @__sieve_cpu0_pack(
// CHECK: call @__sieve_cpu0_attention(
// CHECK: call @__sieve_cpu0_combine(
// CHECK: memref.dealloc %[[HEAP]] : memref<52xf32>
// CHECK-LABEL: func.func @__sieve_cpu_attention_unit_
// CHECK-SAME: %[[WS:arg4]]: memref<?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %[[SLOTS:arg9]]: memref<?xi32>, %{{.*}}: index
// CHECK: %[[SLOT:.*]] = memref.load %[[SLOTS]][%{{.*}}] : memref<?xi32>
// CHECK: %[[PART:.*]] = arith.cmpi sge, %[[SLOT]], %{{.*}} : i32
// CHECK: scf.if %[[PART]] {
// CHECK: math.log2
// CHECK: memref.store %{{.*}}, %[[WS]][%{{.*}}] : memref<?xf32>
// CHECK: } else {
// CHECK: vector.store %{{.*}}, %arg3
// CHECK-LABEL: func.func @__sieve_cpu0_attention(
// CHECK-SAME: tables = [@__sieve_cpu0_row_heads, @__sieve_cpu0_row_query_blocks, @__sieve_cpu0_row_spans, @__sieve_cpu0_key_blocks, @__sieve_cpu0_row_slots]
// CHECK: memref.get_global @__sieve_cpu0_row_slots
// The combine's loop takes the split groups' table.
// CHECK-LABEL: func.func @__sieve_cpu_combine_
// CHECK-SAME: %[[GROUPS:arg5]]: memref<?xi32>
// CHECK: scf.for
// CHECK: memref.load %[[GROUPS]]
// CHECK: %[[LSE:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<20xf32, strided<[1], offset: 32>>
// CHECK: %[[VAL:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<20xf32, strided<[1], offset: 32>>
// CHECK: %[[MAX:.*]] = arith.maximumf %{{.*}}, %[[LSE]] : f32
// CHECK: math.exp2
// CHECK: %[[W:.*]] = math.exp2
// CHECK: math.fma %[[W]], %[[VAL]], %{{.*}} : f32
// CHECK: arith.divf
// CHECK: memref.store %{{.*}}, %arg3[%{{.*}}] : memref<1x1x?x4xf32>
// CHECK-LABEL: func.func @__sieve_cpu0_combine(
// CHECK-SAME: #sieve.launch<combine, grid = [1, 1, 1]
// CHECK: memref.get_global @__sieve_cpu0_split_groups
func.func @split_on_cpu(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 0, 1>, row_spans = array<i32: 0, 1, 1, 2, 2, 2>, key_blocks = array<i32: 0, 1>, row_slots = array<i32: 0, 1, -1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// The CPU pipeline cuts rows only when asked: with split-kv on, the dense
// first query block of a 16x16 mask of 128-tiles (31 tiles over 16
// workers: a share of 4 blocks, the GPU pipeline's minimum part) is cut as
// for a GPU of 16 SMs, and the whole pipeline lowers the parts (the
// workspace is the only heap memory a forward takes) and the combine.
// PIPELINE-LABEL: llvm.func @dense_row
// PIPELINE: llvm.call @malloc
// PIPELINE: llvm.call @__sieve_cpu1_combine
// PIPELINE: llvm.call @free
// PIPELINE-LABEL: llvm.func @_mlir_ciface_dense_row
func.func @dense_row(%q: memref<1x1x2048x8xf32>, %k: memref<1x1x2048x8xf32>, %v: memref<1x1x2048x8xf32>, %o: memref<1x1x2048x8xf32>) attributes {llvm.emit_c_interface} {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x16x16, "ffff020004000800100020004000800000010002000400080010002000400080">, scale = 0.5 : f32, block_q = 128, block_k = 128} : memref<1x1x2048x8xf32>, memref<1x1x2048x8xf32>, memref<1x1x2048x8xf32>, memref<1x1x2048x8xf32>
  return
}

// Without split-kv (the CPU backend's default) the same mask runs whole
// rows: no combine phase.
// RUN: sieve-opt %s -pass-pipeline='builtin.module(sieve-to-cpu)' | FileCheck %s --check-prefix=WHOLE
// WHOLE-LABEL: llvm.func @dense_row
// WHOLE-NOT: @__sieve_cpu1_combine
// WHOLE-LABEL: llvm.func @_mlir_ciface_dense_row
// WHOLE-NOT: @__sieve_cpu1_combine
