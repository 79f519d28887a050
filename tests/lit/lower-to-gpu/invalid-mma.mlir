// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu=variant=mma -verify-diagnostics

// Asking for tensor cores where they cannot apply names the reason: the
// head dim must be a multiple of 16 (k16 steps), at most 256 (registers).
func.func @mma_head_dim(%q: memref<1x1x64x40xf16>, %k: memref<1x1x64x40xf16>, %v: memref<1x1x64x40xf16>, %o: memref<1x1x64x40xf16>) {
  // expected-error @+1 {{variant=mma needs a head dim that is a multiple of 16, at most 256}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.5 : f32, block_q = 64, block_k = 64} : memref<1x1x64x40xf16>, memref<1x1x64x40xf16>, memref<1x1x64x40xf16>, memref<1x1x64x40xf16>
  return
}

// -----

func.func @mma_head_dim_wide(%q: memref<1x1x64x320xbf16>, %k: memref<1x1x64x320xbf16>, %v: memref<1x1x64x320xbf16>, %o: memref<1x1x64x320xbf16>) {
  // expected-error @+1 {{variant=mma needs a head dim that is a multiple of 16, at most 256}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.5 : f32, block_q = 64, block_k = 64} : memref<1x1x64x320xbf16>, memref<1x1x64x320xbf16>, memref<1x1x64x320xbf16>, memref<1x1x64x320xbf16>
  return
}

// -----

// A dynamic stride on the head dimension rules out 16-byte loads.
func.func @mma_inner_stride(%q: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, %k: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, %v: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, %o: memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>) {
  // expected-error @+1 {{variant=mma needs a static unit stride on the head dimension}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, ?], offset: ?>>
  return
}

// -----

// An unknown variant is an error, not a silent default.
// RUN: not sieve-opt %s -sieve-lower-to-gpu=variant=fast 2>&1 | FileCheck %s --check-prefix=BADVARIANT
// BADVARIANT: variant must be auto, wgmma, mma, simt or generic, not 'fast'

// -----

// The Hopper kernel is sm_90a code.
// RUN: not sieve-opt %s -sieve-lower-to-gpu="variant=wgmma chip=sm_80" 2>&1 | FileCheck %s --check-prefix=WGMMA-CHIP
// WGMMA-CHIP: variant=wgmma needs chip=sm_90a

// -----

// Its TMA boxes and tiles need block_k a multiple of 64.
// RUN: not sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=wgmma chip=sm_90a" 2>&1 | FileCheck %s --check-prefix=WGMMA-BLOCK
// WGMMA-BLOCK: variant=wgmma needs block_k a multiple of the key tile (64)
func.func @small_key_blocks(%q: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 64, block_k = 32} : memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
