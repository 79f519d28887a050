// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: not sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=mma" -o /dev/null 2>&1 | FileCheck %s --check-prefix=MMA

// Threshold mode on the GPU is the simt body (auto picks it): the kernel
// takes the thresholds as its fifth argument (the launch contract's last
// parameters are the thresholds buffer's descriptor) and keeps a score only
// when it is at or above its head's threshold (log2 units).
// CHECK-LABEL: func @thresholds
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @sieve_attention({{.*}}, %[[T:arg[0-9]+]]: memref<2xf32>) workgroup
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 1, 1], block = [64, 1, 1], shared = 0, workspace = 0, align = 0, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>, #sieve.param<thresholds.allocated>, #sieve.param<thresholds.aligned>, #sieve.param<thresholds.offset>, #sieve.param<thresholds.size[0]>, #sieve.param<thresholds.stride[0]>]>
// CHECK-SAME: sieve.variant = "simt"
// CHECK: memref.load %[[T]][%{{.*}}] : memref<2xf32>
// CHECK: arith.cmpf uge
// MMA: error: 'sieve.block_sparse_attention' op variant=mma does not run operand 'thresholds'; the simt body does
func.func @thresholds(%q: memref<1x2x64x64xf16>, %k: memref<1x2x64x64xf16>, %v: memref<1x2x64x64xf16>, %o: memref<1x2x64x64xf16>, %t: memref<2xf32>) {
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<2xf32>) {mask = #sieve.block_mask<2x1x1, "03">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>
  return
}
