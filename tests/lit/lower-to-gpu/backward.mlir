// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: not sieve-opt %s -sieve-specialize-mask -sieve-lower-to-gpu=variant=simt -o /dev/null 2>&1 | FileCheck %s --check-prefix=SIMT

// The backward becomes three launches on the op's operands and one delta
// scratch (B x Hq x Sq floats, marked for the runtime): delta, then dK/dV
// by columns (2 heads x 4 key blocks), then dQ by rows (causal 2 x 4 rows,
// all active). The kernels read the nine tables as constants of their module.
// CHECK-LABEL: func @backward
// CHECK: memref.alloca() {sieve.workspace} : memref<512xf32>
// CHECK: gpu.launch_func @sieve_backward_kernels0::@sieve_backward_delta blocks in (%c16,
// CHECK-SAME: threads in (%c256,
// CHECK: gpu.launch_func @sieve_backward_kernels0::@sieve_backward_key_value blocks in (%c8,
// CHECK-SAME: threads in (%c128,
// CHECK-SAME: dynamic_shared_memory_size %c49152_i32
// CHECK: gpu.launch_func @sieve_backward_kernels0::@sieve_backward_query blocks in (%c8
// CHECK: gpu.module @sieve_backward_kernels0
// CHECK-DAG: memref.global "private" constant @sieve_bwd_col_spans
// CHECK-DAG: memref.global "private" constant @sieve_bwd_row_spans
// CHECK: gpu.func @sieve_backward_key_value
// CHECK: nvvm.mma.sync
// CHECK: gpu.func @sieve_backward_query
// CHECK: nvvm.mma.sync
// SIMT: the backward runs on the mma kernels, not variant=simt
func.func @backward(%q: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
