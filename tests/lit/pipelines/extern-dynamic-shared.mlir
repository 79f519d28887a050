// RUN: sieve-opt %s --pass-pipeline='builtin.module(gpu.module(sieve-extern-dynamic-shared))' | FileCheck %s

// The zero-sized internal global convert-gpu-to-nvvm makes for dynamic
// shared memory becomes an external declaration; other globals, shared or
// not, keep their linkage.
// CHECK: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// CHECK: llvm.mlir.global internal @__mbarrier() {addr_space = 3 : i32, alignment = 8 : i64} : !llvm.array<7 x i64>
// CHECK: llvm.mlir.global private constant @table
gpu.module @kernels {
  llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
  llvm.mlir.global internal @__mbarrier() {addr_space = 3 : i32, alignment = 8 : i64} : !llvm.array<7 x i64>
  llvm.mlir.global private constant @table(dense<[1, 2]> : tensor<2xi32>) {addr_space = 0 : i32} : !llvm.array<2 x i32>
}
