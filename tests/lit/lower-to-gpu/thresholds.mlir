// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: not sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=mma" -o /dev/null 2>&1 | FileCheck %s --check-prefix=MMA

// Threshold mode on the GPU is the simt body (auto picks it): the kernel
// takes the thresholds as its fifth argument and keeps a score only when it
// is at or above its head's threshold (log2 units).
// CHECK-LABEL: func @thresholds
// CHECK: gpu.launch_func @sieve_kernels0::@sieve_attention {{.*}}, %arg4 : memref<2xf32>)
// CHECK-SAME: sieve.variant = "simt"
// CHECK: gpu.func @sieve_attention({{.*}}, %[[T:.*]]: memref<2xf32>) workgroup
// CHECK: memref.load %[[T]][%{{.*}}] : memref<2xf32>
// CHECK: arith.cmpf uge
// MMA: error: 'sieve.block_sparse_attention' op operand 'thresholds' runs on the simt body, not variant=mma
func.func @thresholds(%q: memref<1x2x64x64xf16>, %k: memref<1x2x64x64xf16>, %v: memref<1x2x64x64xf16>, %o: memref<1x2x64x64xf16>, %t: memref<2xf32>) {
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<2xf32>) {mask = #sieve.block_mask<2x1x1, "03">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>
  return
}
