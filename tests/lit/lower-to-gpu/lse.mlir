// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu=variant=mma | FileCheck %s --check-prefix=MMA
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu=variant=simt | FileCheck %s --check-prefix=SIMT
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=wgmma chip=sm_90a" | FileCheck %s --check-prefix=WGMMA

// The training forward's lse: every body reduces the row's sum, takes
// lg2.approx of it, adds the running maximum (raw scores times scale log2 e
// in the tensor-core bodies, already scaled in simt), converts to natural
// log and stores one f32 per query row; the empty row's zero-fill block
// stores -inf. Row 1 (query block 1) keeps no key block.
// MMA-LABEL: gpu.func @sieve_attention
// MMA: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// MMA: memref.store %[[NEGINF]], %arg4
// MMA: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// MMA: math.fma
// MMA: memref.store %{{.*}}, %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x1x128xf32>
// SIMT-LABEL: gpu.func @sieve_attention
// SIMT: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// SIMT: memref.store %{{.*}}, %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x1x128xf32>
// WGMMA-LABEL: gpu.func @sieve_attention
// WGMMA: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// WGMMA: memref.store %{{.*}}, %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x1x128xf32>
func.func @lse(%q: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %lse: memref<1x1x128xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o lse(%lse : memref<1x1x128xf32>) {block_k = 64 : i64, block_q = 64 : i64, key_blocks = array<i32: 0, 1>, row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 2, 2, 2>, scale = 1.250000e-01 : f32} : memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x128x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
