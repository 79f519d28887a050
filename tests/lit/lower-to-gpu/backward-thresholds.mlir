// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu=chip=sm_90a | FileCheck %s --check-prefix=WGMMA

// Threshold mode's backward: each of the three kernels takes the
// thresholds last (after the workspace, and on sm_90a after the TMA
// descriptors), so their other arguments keep the plain backward's
// positions; the launch contracts end with the thresholds' descriptor. The
// matrix kernels load their head's threshold and drop the recomputed
// scores under it (an unordered >= test) before the exponent; the rows
// kernel reads none.
// CHECK-LABEL: func @backward_thresholds
// CHECK: gpu.func @sieve_backward_rows({{.*}}, %{{.*}}: memref<?xf32>, %[[RT:.*]]: memref<2xf32>)
// CHECK-SAME: #sieve.param<workspace.stride[0]>, #sieve.param<thresholds.allocated>, #sieve.param<thresholds.aligned>, #sieve.param<thresholds.offset>, #sieve.param<thresholds.size[0]>, #sieve.param<thresholds.stride[0]>]>
// CHECK-NOT: memref.load %[[RT]]
// CHECK: gpu.func @sieve_backward_key_value({{.*}}, %{{.*}}: memref<?xf32>, %[[KT:.*]]: memref<2xf32>)
// CHECK-SAME: #sieve.param<thresholds.stride[0]>]>
// CHECK: memref.load %[[KT]]
// CHECK: arith.cmpf uge
// CHECK: gpu.func @sieve_backward_query({{.*}}, %{{.*}}: memref<?xf32>, %[[QT:.*]]: memref<2xf32>)
// CHECK-SAME: #sieve.param<thresholds.stride[0]>]>
// CHECK: memref.load %[[QT]]
// CHECK: arith.cmpf uge
// WGMMA: gpu.func @sieve_backward_key_value({{.*}}, %{{.*}}: !llvm.ptr, %[[KT:.*]]: memref<2xf32>)
// WGMMA-SAME: #sieve.param<dout.tensor_map{{.*}}>, #sieve.param<thresholds.allocated>
// WGMMA: memref.load %[[KT]]
// WGMMA: arith.cmpf uge
// WGMMA: gpu.func @sieve_backward_query({{.*}}, %{{.*}}: !llvm.ptr, %[[QT:.*]]: memref<2xf32>)
// WGMMA: memref.load %[[QT]]
// WGMMA: arith.cmpf uge
func.func @backward_thresholds(%q: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %t: memref<2xf32>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv thresholds(%t : memref<2xf32>) {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
