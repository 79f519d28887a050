// RUN: sieve-opt %s --sieve-to-ptx="chip=sm_90a" | FileCheck %s --check-prefix=SM90A
// RUN: sieve-opt %s --sieve-to-ptx="chip=sm_80" | FileCheck %s --check-prefix=SM80

// The whole GPU pipeline ends in a gpu.binary holding PTX for the chip asked
// for; the host side keeps a launch with constant geometry (rows x batch).
// SM90A: gpu.launch_func @sieve_kernels0::@sieve_attention
// SM90A: gpu.binary @sieve_kernels0 [#gpu.object<#nvvm.target<{{.*}}chip = "sm_90a"{{.*}}assembly = "{{.*}}.target sm_90a{{.*}}.entry sieve_attention
// SM90A-NOT: sieve.
// SM80: gpu.binary @sieve_kernels0 [#gpu.object<#nvvm.target<{{.*}}chip = "sm_80"{{.*}}assembly = "{{.*}}.target sm_80{{.*}}.entry sieve_attention
func.func @sieve_attention(%q: memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %k: memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %v: memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %o: memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>
  return
}
