// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu=chip=sm_90a | FileCheck %s --check-prefix=HOPPER
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask "-sieve-lower-to-gpu=chip=sm_80 shared-bytes=65536" | FileCheck %s --check-prefix=SMALL

// The mma backward at head dims other than 64 and 128. At D = 96 one warp
// owns 16 keys (key-value) or 16 queries (query) as at 64 and 128; the
// kernels may use every register (nvvm.minctasm = 1). On sm_90a the
// Hopper backward refuses these head dims, so auto runs mma there too.
// CHECK-LABEL: func @backward_d96
// CHECK: gpu.func @sieve_backward_rows
// CHECK: gpu.func @sieve_backward_key_value
// CHECK-SAME: nvvm.minctasm = 1
// CHECK-SAME: #sieve.launch<backward_key_value, grid = [8, 1, 1], block = [128, 1, 1], shared = 49152
// CHECK-SAME: sieve.variant = "mma"
// CHECK: gpu.func @sieve_backward_query
// CHECK-SAME: nvvm.minctasm = 1
// CHECK-SAME: #sieve.launch<backward_query, grid = [8, 1, 1], block = [128, 1, 1], shared = 49152
// HOPPER-LABEL: func @backward_d96
// HOPPER: gpu.func @sieve_backward_key_value
// HOPPER-SAME: sieve.variant = "mma"
// HOPPER: gpu.func @sieve_backward_query
// HOPPER-SAME: sieve.variant = "mma"
func.func @backward_d96(%q: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x96xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Above D = 128 two warps share each 16 keys of the key-value kernel (256
// threads for 64 keys), each writing its half of dK's and dV's columns
// through a window of the outputs; 16 queries or keys a step keep both
// kernels at 96 KiB. With less shared memory (a device that reports 64 KiB)
// the blocks keep 32 rows instead of 64.
// CHECK-LABEL: func @backward_d256
// CHECK: gpu.func @sieve_backward_key_value
// CHECK-SAME: #sieve.launch<backward_key_value, grid = [8, 1, 1], block = [256, 1, 1], shared = 98304
// CHECK-COUNT-2: memref.reinterpret_cast
// CHECK: gpu.func @sieve_backward_query
// CHECK-SAME: #sieve.launch<backward_query, grid = [8, 1, 1], block = [128, 1, 1], shared = 98304
// HOPPER-LABEL: func @backward_d256
// HOPPER: gpu.func @sieve_backward_key_value
// HOPPER-SAME: sieve.variant = "mma"
// SMALL-LABEL: func @backward_d256
// SMALL: #sieve.launch<backward_key_value, grid = [16, 1, 1], block = [128, 1, 1], shared = 65536
// SMALL: #sieve.launch<backward_query, grid = [16, 1, 1], block = [64, 1, 1], shared = 65536
func.func @backward_d256(%q: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %do: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x2x256xf32>, %dq: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dk: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, %dv: memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x4x4, "ffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256xf32> -> memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x256x256xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
