// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_90a" | FileCheck %s --check-prefix=HOPPER

// A ragged batch (docs/ragged-paged.md) on the mma body: grid y runs the
// sequences, every row of the mask has an attention block (query block 1
// keeps no tile: it writes its sequence's rows as zeros, up to its own
// length), the kernel takes the offsets [2, B + 1] (launch slot
// `sequences`), loads each sequence's offsets and lengths, returns from
// blocks past its queries, and cuts the row's key blocks at its key count
// by binary search. On sm_90a auto runs it on the mma body too.
// CHECK-LABEL: func @ragged
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 2, 1]
// CHECK-SAME: #sieve.param<sequences.allocated>, #sieve.param<sequences.aligned>, #sieve.param<sequences.offset>, #sieve.param<sequences.size[0]>, #sieve.param<sequences.size[1]>, #sieve.param<sequences.stride[0]>, #sieve.param<sequences.stride[1]>]>
// CHECK-SAME: sieve.variant = "mma"
// CHECK: memref.load %{{.*}}[%c0{{(_[0-9]+)?}}, %{{.*}}] : memref<2x3xi32>
// CHECK: memref.load %{{.*}}[%c1{{(_[0-9]+)?}}, %{{.*}}] : memref<2x3xi32>
// CHECK: cf.cond_br
// CHECK: gpu.return
// CHECK: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// HOPPER-LABEL: func @ragged
// HOPPER: sieve.variant = "mma"
func.func @ragged(%q: memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %s: memref<2x3xi32>) {
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) {mask = #sieve.block_mask<1x2x2, "03">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}

// -----

// Paged KV: the kernel takes the page table [B, pages] (launch slot
// `pages`) and reads a tile's page from it.
// CHECK-LABEL: func @paged
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: #sieve.param<pages.allocated>
// CHECK-SAME: sieve.variant = "mma"
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<2x1xi32>
func.func @paged(%q: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, %p: memref<2x1xi32>) {
  sieve.attention %q, %k, %v, %o pages(%p : memref<2x1xi32>) {mask = #sieve.block_mask<1x1x2, "03">, scale = 0.125 : f32, block_q = 64, block_k = 64, page_size = 128, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x128x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<2x1x64x64xf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
