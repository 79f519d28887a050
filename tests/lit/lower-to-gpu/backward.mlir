// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_90a variant=mma" | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu=chip=sm_90a | FileCheck %s --check-prefix=WGMMA
// RUN: not sieve-opt %s -sieve-specialize-mask -sieve-lower-to-gpu=variant=simt -o /dev/null 2>&1 | FileCheck %s --check-prefix=SIMT
// RUN: not sieve-opt %s -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_80 variant=wgmma" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOHOPPER

// The backward becomes three launches on the op's operands and one scratch
// (delta and lse of B x Hq x Sq rows, marked for the runtime): rows, then
// dK/dV by columns (2 heads x 4 key blocks), then dQ by rows (causal 2 x 4
// rows, all active). The kernels read the nine tables as constants of
// their module.
// CHECK-LABEL: func @backward
// CHECK: memref.alloca() {sieve.workspace} : memref<1024xf32>
// CHECK: gpu.launch_func @sieve_backward_kernels0::@sieve_backward_rows blocks in (%c16,
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
// SIMT: the backward runs on the wgmma or mma kernels, not variant=simt
// NOHOPPER: variant=wgmma needs chip=sm_90a

// On sm_90a the matrix kernels are warp-specialized: a producer warp group
// and one consumer per 64 keys (dK/dV) or 64 queries (dQ), each taking TMA
// descriptors of k, v, q, dout (dK/dV) and q, dout, k, v (dQ) made on the
// host, 64-row boxes of one 64-column slab.
// WGMMA-LABEL: func @backward
// WGMMA: memref.alloca() {sieve.workspace} : memref<1024xf32>
// WGMMA: gpu.launch_func @sieve_backward_kernels0::@sieve_backward_rows
// WGMMA-SAME: {sieve.backward = "rows"
// WGMMA-COUNT-4: nvgpu.tma.create.descriptor
// WGMMA: gpu.launch_func @sieve_backward_kernels0::@sieve_backward_key_value blocks in (%c8{{[_0-9]*}},
// WGMMA-SAME: threads in (%c256{{[_0-9]*}},
// WGMMA-SAME: sieve.variant = "wgmma"
// WGMMA-COUNT-4: nvgpu.tma.create.descriptor
// WGMMA: gpu.launch_func @sieve_backward_kernels0::@sieve_backward_query blocks in (%c8{{[_0-9]*}},
// WGMMA-SAME: threads in (%c256{{[_0-9]*}},
// WGMMA: gpu.func @sieve_backward_key_value
// WGMMA-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
// WGMMA: nvvm.setmaxregister decrease 24
// WGMMA: nvgpu.tma.async.load
// WGMMA: nvvm.setmaxregister increase 240
// WGMMA: nvvm.wgmma.mma_async
// WGMMA: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// WGMMA: gpu.func @sieve_backward_query
// WGMMA: nvvm.wgmma.mma_async
// WGMMA: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
func.func @backward(%q: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
