// RUN: sieve-opt %s --sieve-to-cpu | FileCheck %s

// The CPU pipeline leaves only the LLVM dialect: the entry, its C-interface
// wrapper for the execution engine, and the tables as constant globals.
// CHECK-DAG: llvm.mlir.global private constant @__sieve_cpu0_key_blocks
// CHECK-DAG: llvm.func @sieve_attention(
// CHECK-DAG: llvm.func @_mlir_ciface_sieve_attention(
// CHECK-NOT: sieve.attention
// CHECK-NOT: scf.
// CHECK-NOT: memref.
func.func @sieve_attention(%q: memref<1x2x6x4xf32, strided<[?, ?, ?, ?], offset: ?>>, %k: memref<1x1x5x4xf32, strided<[?, ?, ?, ?], offset: ?>>, %v: memref<1x1x5x4xf32, strided<[?, ?, ?, ?], offset: ?>>, %o: memref<1x2x6x4xf32, strided<[?, ?, ?, ?], offset: ?>>) attributes {llvm.emit_c_interface} {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x6x4xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<1x2x6x4xf32, strided<[?, ?, ?, ?], offset: ?>>
  return
}
