// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_80" -o /dev/null 2>&1 | FileCheck %s --check-prefixes=CHECK,SM80
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_90a" -o /dev/null 2>&1 | FileCheck %s --check-prefixes=CHECK,SM90
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_80 variant=simt" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SIMT --allow-empty
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-lower-to-gpu="chip=sm_90a variant=simt" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SIMT --allow-empty

// No silent cliff: where `auto` runs f16 or bf16 on the scalar simt body
// on a chip with tensor cores, the op is lowered (the kernel works) and a
// warning names the body and each tensor-core body's reason, fastest
// first; one warning per op. Naming the simt body explicitly warns of
// nothing, and neither does an op a tensor-core body takes, nor f32 (which
// no tensor-core body is meant to take).
// SIMT-NOT: warning

// A head dim no tensor-core body takes (40: not a multiple of 16).
// SM80: warning: the kernel runs on the scalar simt body, many times slower than a tensor-core body, since none runs it: wgmma needs wgmma, TMA and setmaxnreg (sm_90a), not sm_80. mma needs a head dim that is a multiple of 16, at most 256 (k16 steps, registers). (variant=simt chooses the scalar body without this warning.)
// SM90: warning: the kernel runs on the scalar simt body, many times slower than a tensor-core body, since none runs it: wgmma needs a head dim that is a multiple of 16, at most 256 (k16 steps, wgmma N). mma needs a head dim that is a multiple of 16, at most 256 (k16 steps, registers). (variant=simt chooses the scalar body without this warning.)
// CHECK-NOT: warning
func.func @head_dim_40(%q: memref<1x1x64x40xf16>, %k: memref<1x1x64x40xf16>, %v: memref<1x1x64x40xf16>, %o: memref<1x1x64x40xf16>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x40xf16>, memref<1x1x64x40xf16>, memref<1x1x64x40xf16>, memref<1x1x64x40xf16>
  return
}

// -----

// A tensor-core body takes it: no warning.
func.func @tensor_cores(%q: memref<1x1x64x64xf16>, %k: memref<1x1x64x64xf16>, %v: memref<1x1x64x64xf16>, %o: memref<1x1x64x64xf16>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>
  return
}

// -----

// f32 has no tensor-core body by design: no warning.
func.func @f32(%q: memref<1x1x64x40xf32>, %k: memref<1x1x64x40xf32>, %v: memref<1x1x64x40xf32>, %o: memref<1x1x64x40xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x40xf32>, memref<1x1x64x40xf32>, memref<1x1x64x40xf32>, memref<1x1x64x40xf32>
  return
}
