// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s --check-prefixes=CHECK,MMA
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s --check-prefixes=CHECK,WGMMA
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="variant=simt" | FileCheck %s --check-prefixes=CHECK,SIMT

// Threshold mode runs on every GPU body (auto picks the tensor-core one):
// the kernel takes the thresholds as its fifth argument (the launch
// contract's last parameters are the thresholds buffer's descriptor) and
// keeps a score only when it is at or above its head's threshold (log2
// units). The tensor-core bodies then vote whether any score of the key
// tile is left: mma per warp (vote.sync.any), wgmma per warp group (a
// barrier OR-reduction over its 128 threads), and skip the exponentials
// and P·V when none is.
// CHECK-LABEL: func @thresholds
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @sieve_attention({{.*}}, %arg4: memref<2xf32>
// CHECK-SAME: sieve.launch = #sieve.launch<attention, {{.*}}#sieve.param<thresholds.allocated>, #sieve.param<thresholds.aligned>, #sieve.param<thresholds.offset>, #sieve.param<thresholds.size[0]>, #sieve.param<thresholds.stride[0]>
// MMA-SAME: sieve.variant = "mma"
// WGMMA-SAME: sieve.variant = "wgmma"
// SIMT-SAME: sieve.variant = "simt"
// CHECK: memref.load %arg4[%{{.*}}] : memref<2xf32>
// CHECK: arith.cmpf uge
// MMA: nvvm.vote.sync any
// WGMMA: llvm.call_intrinsic "llvm.nvvm.barrier.cta.red.or.aligned.count"
func.func @thresholds(%q: memref<1x2x64x64xf16>, %k: memref<1x2x64x64xf16>, %v: memref<1x2x64x64xf16>, %o: memref<1x2x64x64xf16>, %t: memref<2xf32>) {
  sieve.attention %q, %k, %v, %o thresholds(%t : memref<2xf32>) {mask = #sieve.block_mask<2x1x1, "03">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>
  return
}
