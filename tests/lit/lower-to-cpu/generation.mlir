// RUN: sieve-opt %s -sieve-specialize-mask -sieve-lower-to-cpu | FileCheck %s

// A generation op on the CPU backend: a constant table of each (head,
// position block)'s row, which the attention phase indexes at run time by
// the step's q_pos; the positions buffer is a launch parameter (tensor 16);
// the attention phase runs one unit per (head, batch entry) for a single
// query, whatever the position.
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_position_rows : memref<6xi32> = dense<[4, 2, 0, 5, 3, 1]>
// CHECK-LABEL: func.func @__sieve_cpu0_attention
// CHECK-SAME: tables = [@__sieve_cpu0_row_heads, @__sieve_cpu0_row_query_blocks, @__sieve_cpu0_row_spans, @__sieve_cpu0_key_blocks, @__sieve_cpu0_position_rows]
// CHECK-SAME: #sieve.launch<attention, grid = [2, 1, 1]
// CHECK-SAME: #sieve.param<positions.aligned>
func.func @decode(%q: memref<1x2x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x2x1x4xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<2x3x3, "ffff03">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x2x1x4xf32>
  return
}
