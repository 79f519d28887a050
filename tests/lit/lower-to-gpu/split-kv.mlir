// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=mma" | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=simt" | FileCheck %s --check-prefix=SIMT
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a variant=wgmma query-tile=64 key-tile=64" | FileCheck %s --check-prefix=WGMMA
// RUN: not sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=generic" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GENERIC

// One (head, query block) cut into two parts of two key blocks each. The
// host side passes a workspace (2 slots x 64 rows x (64 + 1) f32 = 8320) to
// the attention kernel, then launches the combine kernel on `out` and the
// same workspace: 64 rows x 64 / 4 columns = 1024 vectors, 4 blocks of 256.
// In the kernel the row's slot decides the epilogue: a part normalizes by
// its own sum, stores pairs of f32 and its log2-sum-exp (lg2) into the
// workspace; the combine kernel reads four parts a step (16-byte vectors,
// all loads before the math), keeps a running max of their lse and weighs
// each part by exp2(lse - max).
// CHECK-LABEL: func @two_parts
// CHECK: %[[WS:.*]] = memref.alloca() {sieve.workspace} : memref<8320xf32>
// CHECK: %[[CAST:.*]] = memref.cast %[[WS]] : memref<8320xf32> to memref<?xf32>
// CHECK: gpu.launch_func @sieve_kernels0::@sieve_attention {{.*}} args({{.*}}, %[[CAST]] : memref<?xf32>)
// CHECK-SAME: split_kv=1 rows into 2 parts
// CHECK: gpu.launch_func @sieve_kernels0::@sieve_combine blocks in (%c4, %c1{{.*}}) threads in (%c256, {{.*}}) args(%arg3 : memref<1x1x64x64xf16>, %[[CAST]] : memref<?xf32>) {sieve.combine}
// CHECK: memref.global "private" constant @sieve_row_slots : memref<2xi32> = dense<[0, 1]>
// CHECK: memref.global "private" constant @sieve_split_groups : memref<4xi32> = dense<[0, 0, 0, 2]>
// CHECK: gpu.func @sieve_attention({{.*}}, %[[ARG:.*]]: memref<?xf32>) kernel
// CHECK: %[[SLOTS:.*]] = memref.get_global @sieve_row_slots
// CHECK: %[[SLOT:.*]] = memref.load %[[SLOTS]]
// CHECK: %[[PART:.*]] = arith.cmpi sge, %[[SLOT]], %c0_i32
// CHECK: scf.if %[[PART]] {
// CHECK: llvm.nvvm.lg2.approx.ftz.f
// CHECK: vector.store {{.*}}, %[[ARG]][{{.*}}] {alignment = 8 : i64} : memref<?xf32>, vector<2xf32>
// CHECK: memref.store {{.*}}, %[[ARG]][{{.*}}] : memref<?xf32>
// CHECK: } else {
// CHECK: gpu.func @sieve_combine(%{{.*}}: memref<1x1x64x64xf16>, %{{.*}}: memref<?xf32>) kernel
// CHECK-COUNT-4: vector.load {{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: arith.maximumf
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: math.fma

// The scalar body stores its part row by row (one thread per query).
// SIMT-LABEL: func @two_parts
// SIMT: gpu.launch_func @sieve_kernels0::@sieve_attention {{.*}} %{{.*}} : memref<?xf32>)
// SIMT-SAME: split_kv=1 rows into 2 parts
// SIMT: gpu.launch_func @sieve_kernels0::@sieve_combine
// SIMT: gpu.func @sieve_attention({{.*}}: memref<?xf32>)
// SIMT: llvm.nvvm.lg2.approx.ftz.f
// SIMT: memref.store {{.*}}, %arg4[{{.*}}] : memref<?xf32>
// SIMT: gpu.func @sieve_combine

// The Hopper body: the workspace comes after the three TMA descriptors.
// WGMMA-LABEL: func @two_parts
// WGMMA: gpu.launch_func @sieve_kernels0::@sieve_attention {{.*}} : !llvm.ptr, {{.*}} : !llvm.ptr, {{.*}} : !llvm.ptr, %{{.*}} : memref<?xf32>)
// WGMMA-SAME: split_kv=1 rows into 2 parts
// WGMMA: gpu.launch_func @sieve_kernels0::@sieve_combine
// WGMMA: gpu.func @sieve_attention({{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: memref<?xf32>) kernel
// WGMMA: llvm.nvvm.lg2.approx.ftz.f
// WGMMA: gpu.func @sieve_combine

// The generic kernel reads its mask at launch: split rows are refused.
// GENERIC: error: 'sieve.block_sparse_attention' op variant=generic reads its mask at launch and cannot run split rows
func.func @two_parts(%q: memref<1x1x64x64xf16>, %k: memref<1x1x256x64xf16>, %v: memref<1x1x256x64xf16>, %o: memref<1x1x64x64xf16>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 0>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 2, 3>, row_slots = array<i32: 0, 1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x64xf16>, memref<1x1x256x64xf16>, memref<1x1x256x64xf16>, memref<1x1x64x64xf16>
  return
}
