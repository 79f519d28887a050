// RUN: sieve-opt %s -sieve-lower-to-gpu="chip=sm_90a variant=generic" | FileCheck %s
// RUN: sieve-opt %s -sieve-lower-to-gpu="chip=sm_80 variant=generic" | FileCheck %s --check-prefix=SM80

// The generic kernel reads the mask at launch: no constant tables in the
// kernel module; the host passes four run-time tables (stand-ins marked
// sieve.launch_table 0-3) after the tensors and TMA descriptors, and the
// kernel takes them as memref<?xi32> arguments. On sm_90a the body is the
// Hopper kernel, on sm_80 the mma kernel.
// CHECK-LABEL: func @generic
// CHECK-COUNT-4: memref.alloca() {sieve.launch_table = {{[0-3]}} : i32} : memref<0xi32>
// CHECK: gpu.launch_func @sieve_kernels0::@sieve_attention
// CHECK-SAME: : memref<?xi32>, {{.*}} : memref<?xi32>, {{.*}} : memref<?xi32>, {{.*}} : memref<?xi32>)
// CHECK-SAME: sieve.config = "generic wgmma block_q=128
// CHECK-SAME: sieve.variant = "generic"
// CHECK: gpu.module @sieve_kernels0
// CHECK-NOT: memref.global
// CHECK: gpu.func @sieve_attention({{.*}}: !llvm.ptr, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>) kernel
// CHECK-NOT: memref.get_global
// CHECK: nvvm.wgmma.mma_async
// SM80: sieve.config = "generic mma block_q=128
// SM80: gpu.func @sieve_attention({{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>) kernel
// SM80-NOT: memref.get_global
// SM80: nvvm.mma.sync
func.func @generic(%q: memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 0, 1>, scale = 0.125 : f32, block_q = 128, block_k = 128} : memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
