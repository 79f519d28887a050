// RUN: sieve-opt %s --sieve-to-ptx="chip=sm_90a" | FileCheck %s --check-prefix=SM90A
// RUN: sieve-opt %s --sieve-to-ptx="chip=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: sieve-opt %s --sieve-to-ptx="chip=sm_90a" --mlir-print-ir-after=sieve-lower-to-gpu -o /dev/null 2>&1 | FileCheck %s --check-prefix=CONTRACT

// The whole GPU pipeline ends in a gpu.binary holding PTX for the chip asked
// for; the host function keeps no launch (only its return). The launch's
// constant geometry (rows x batch: 6 x 1 blocks of 2 threads) is the
// kernel's #sieve.launch contract, declared by the lowering inside the
// pipeline (the compiler reads it before the kernels become PTX) and not
// carried into the binary.
// SM90A-LABEL: func.func @sieve_attention(
// SM90A-NOT: gpu.launch_func
// SM90A: return
// SM90A-NEXT: }
// SM90A-NEXT: gpu.binary @sieve_kernels0 [#gpu.object<#nvvm.target<{{.*}}chip = "sm_90a"{{.*}}assembly = "{{.*}}.target sm_90a{{.*}}.entry sieve_attention
// SM90A-NOT: sieve.
// CONTRACT: IR Dump After LowerToGpu (sieve-lower-to-gpu)
// CONTRACT: func.func @sieve_attention(
// CONTRACT-NEXT: return
// CONTRACT: gpu.func @sieve_attention(
// CONTRACT-SAME: sieve.launch = #sieve.launch<attention, grid = [6, 1, 1], block = [2, 1, 1], shared = 0, workspace = 0, align = 0, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>]>
// SM80: gpu.binary @sieve_kernels0 [#gpu.object<#nvvm.target<{{.*}}chip = "sm_80"{{.*}}assembly = "{{.*}}.target sm_80{{.*}}.entry sieve_attention
func.func @sieve_attention(%q: memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %k: memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %v: memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %o: memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>
  return
}
