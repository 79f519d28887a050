// RUN: sieve-opt %s -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=128 generation=true" -sieve-lower-to-gpu="variant=wgmma chip=sm_90a" | FileCheck %s --check-prefix=WGMMA
// RUN: sieve-opt %s -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=128 generation=true" -sieve-lower-to-gpu="variant=mma" | FileCheck %s --check-prefix=MMA

// A decode step's row cut into parts (generation_parts, docs/generation.md):
// 16 key blocks of one head on 4 SMs make 4 parts of 4 blocks, one thread
// block each (grid x = heads x parts), each leaving its partial row in a
// workspace slot of its own (4 slots x 1 query x (64 + 1 lse) floats) and
// counting itself at its head's arrival counter (one: 4 bytes more, 1044);
// the last of the 4 merges them into the one query's output. One launch.
// WGMMA: memref.global "private" constant @sieve_slot_groups : memref<4xi32> = dense<0>
// WGMMA: gpu.func @sieve_attention
// WGMMA-SAME: generation split_kv=1 row heads into 4 parts of 4 key blocks (generation)
// WGMMA-SAME: sieve.launch = #sieve.launch<attention, grid = [4, 1, 1], block = [256, 1, 1], shared = 41984, workspace = 1044, align = 16,
// WGMMA-SAME: #sieve.param<workspace.aligned>
// WGMMA: atom.relaxed.gpu.add.u32
// WGMMA: llvm.nvvm.barrier.cta.red.or.aligned.count
// WGMMA-NOT: griddepcontrol
// WGMMA-NOT: gpu.func @sieve_combine

// MMA: gpu.func @sieve_attention
// MMA-SAME: generation split_kv=1 row heads into 4 parts of 4 key blocks (generation)
// MMA-SAME: sieve.launch = #sieve.launch<attention, grid = [4, 1, 1], block = [128, 1, 1], shared = 40960, workspace = 1044, align = 16,
// MMA: atom.relaxed.gpu.add.u32
// MMA: llvm.nvvm.barrier.cta.red.or.aligned.count
// MMA-NOT: gpu.func @sieve_combine
func.func @split_decode(%q: memref<1x1x1x64xf16>, %k: memref<1x1x1024x64xf16>, %v: memref<1x1x1024x64xf16>, %o: memref<1x1x1x64xf16>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x16x16, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x1x1x64xf16>, memref<1x1x1024x64xf16>, memref<1x1x1024x64xf16>, memref<1x1x1x64xf16>
  return
}
