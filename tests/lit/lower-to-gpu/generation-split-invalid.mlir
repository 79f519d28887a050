// RUN: sieve-opt %s -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=128 generation=true" -sieve-lower-to-gpu="variant=wgmma chip=sm_90a" -verify-diagnostics

// The CPU backend runs a decode step's rows split into parts
// (generation_parts); the mma and wgmma bodies take whole generation rows,
// so a split generation op is refused by name, not run wrong.
func.func @split_decode(%q: memref<1x1x1x64xf16>, %k: memref<1x1x1024x64xf16>, %v: memref<1x1x1024x64xf16>, %o: memref<1x1x1x64xf16>, %p: memref<2xi32>) {
  // expected-error @+1 {{split generation rows ('generation_parts') run on the CPU backend only (yet): the mma and wgmma bodies take whole rows}}
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x16x16, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff">, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x1x1x64xf16>, memref<1x1x1024x64xf16>, memref<1x1x1024x64xf16>, memref<1x1x1x64xf16>
  return
}
