// RUN: sieve-opt %s -split-input-file -verify-diagnostics

// The offsets are [2, B + 1]: cu_seqlens_q and cu_seqlens_k of B sequences.
func.func @offsets_shape(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %s: memref<2x2xi32>) {
  // expected-error @+1 {{operand 'sequences' has shape [2, 2], expected [2, 3] (cu_seqlens_q and cu_seqlens_k of the 2 sequences)}}
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x2xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}

// -----

// A key block lies in one page: the page size is a multiple of block_k.
func.func @page_size(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %p: memref<2x2xi32>) {
  // expected-error @+1 {{attribute 'page_size' (3) must be a multiple of block_k (2): a key block lies in one page}}
  sieve.attention %q, %k, %v, %o pages(%p : memref<2x2xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2, page_size = 3} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}

// -----

// The page table has a column per page of the longest sequence.
func.func @table_shape(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %p: memref<2x3xi32>) {
  // expected-error @+1 {{operand 'pages' has shape [2, 3], expected [2, 2] ([batch, ceil(Sk / page_size)])}}
  sieve.attention %q, %k, %v, %o pages(%p : memref<2x3xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2, page_size = 4} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}

// -----

// A page table needs its page size.
func.func @no_page_size(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %p: memref<2x2xi32>) {
  // expected-error @+1 {{operand 'pages' and attribute 'page_size' come together}}
  sieve.attention %q, %k, %v, %o pages(%p : memref<2x2xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}

// -----

// Forward only: no lse.
func.func @lse(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %l: memref<2x1x4xf32>, %s: memref<2x3xi32>) {
  // expected-error @+1 {{a ragged or paged batch takes no 'stats', 'lse' or 'positions' (forward only)}}
  sieve.attention %q, %k, %v, %o lse(%l : memref<2x1x4xf32>) sequences(%s : memref<2x3xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}
