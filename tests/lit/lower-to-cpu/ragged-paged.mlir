// RUN: sieve-opt %s -sieve-specialize-mask -sieve-lower-to-cpu | FileCheck %s

// A ragged, paged op on the CPU backend: the offsets and the page table
// are launch parameters (tensors 17 and 18); the pack unit takes where a
// key block is (the page the table names, the row in it), and the
// attention unit the sequence's first query row in the packed q and out.
// CHECK-LABEL: func.func @__sieve_cpu_pack_unit
// CHECK-SAME: %arg3: index, %arg4: index, %arg5: index, %arg6: index, %arg7: index, %arg8: index)
// CHECK-LABEL: func.func @__sieve_cpu0_attention
// CHECK-SAME: %arg4: memref<2x3xi32>, %arg5: memref<2x2xi32>
// CHECK-SAME: #sieve.param<sequences.aligned>
// CHECK-SAME: #sieve.param<pages.aligned>
func.func @ragged_paged(%q: memref<2x1x4x4xf32>, %k: memref<2x1x8x4xf32>, %v: memref<2x1x8x4xf32>, %o: memref<2x1x4x4xf32>, %s: memref<2x3xi32>, %p: memref<2x2xi32>) {
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) pages(%p : memref<2x2xi32>) {mask = #sieve.block_mask<1x2x4, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>, page_size = 4} : memref<2x1x4x4xf32>, memref<2x1x8x4xf32>, memref<2x1x8x4xf32>, memref<2x1x4x4xf32>
  return
}
