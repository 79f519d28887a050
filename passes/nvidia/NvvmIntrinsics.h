//===- NvvmIntrinsics.h - NVVM intrinsics and inline PTX of the GPU bodies -*- C++ -*-===//
//
// The one place the GPU kernel bodies name an `llvm.nvvm.*` intrinsic or
// write inline PTX, for what the NVVM dialect's ops do not cover: the
// approximate exp2 and log2 of the softmax, the OR-reduction over a named
// barrier's threads, a counted arrival with GPU-scope fences, and wgmma
// with its A operand in registers. Everything else goes through typed
// ops (nvvm, nvgpu, gpu).
//
// Flush to zero: the approximate ex2 and lg2 are the .ftz forms everywhere,
// which is exact for what the kernels feed them. lg2 only ever sees a
// softmax sum, which is at least 1 (the row's maximum contributes 2^0) or
// exactly 0 (a row without keys: lg2(0) = -inf either way), never a
// denormal. ex2 only ever sees scores minus a maximum (or an lse), at most
// 0: a result below 2^-126 would be a denormal probability that adds
// nothing to sums of at least 1, and rounds to 0 in the 16-bit P either
// way. Without .ftz, ptxas wraps each ex2 and lg2 in a denormal fix-up
// (8 more instructions on sm_90a).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_NVVMINTRINSICS_H
#define SIEVE_PASSES_NVIDIA_NVVMINTRINSICS_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace sieve::passes {

/// exp2 as ex2.approx.ftz.f32: one SFU op, no libdevice. Its relative
/// error (2^-22) is far below the 16-bit inputs'.
mlir::Value emitNvvmExp2(mlir::ImplicitLocOpBuilder &b, mlir::Value x);
/// log2 as lg2.approx.ftz.f32, like exp2: its error (2^-22 relative) is far
/// below the 16-bit outputs'.
mlir::Value emitNvvmLog2(mlir::ImplicitLocOpBuilder &b, mlir::Value x);

/// Whether `pred` (i1) holds in any of the `count` threads (i32, a multiple
/// of 32) that meet at named barrier `id` (i32): barrier.cta.red.or with a
/// thread count, which is also a barrier among them. (nvvm.barrier takes a
/// reduction only on barrier 0, the whole block's.)
mlir::Value emitBarrierAny(mlir::ImplicitLocOpBuilder &b, mlir::Value id, mlir::Value count,
                           mlir::Value pred);

/// One thread's arrival at a counter other thread blocks also count at:
/// adds 1 to the u32 at global address `address` (i64) and returns the count
/// before it (i32); the arrival that finds `lastBefore` (i32) there was the
/// last and resets the counter to 0 for the next launch. A release fence
/// before the add makes what this thread's block wrote (ordered before it
/// by a barrier) visible to whichever block arrives last, and an acquire
/// fence after it makes the others' writes visible to this one: the fence
/// patterns of the PTX memory model, at GPU scope.
mlir::Value emitCountArrival(mlir::ImplicitLocOpBuilder &b, mlir::Value address,
                             mlir::Value lastBefore);

/// acc (64 x 2 acc.size(), f32) += A · B for one warp group: one
/// `wgmma.mma_async` m64nNk16 with A from registers (four 16-bit pairs as
/// i32, `elt` f16 or bf16) and B the MN-major tile of matrix descriptor
/// `descB`. Returns the new accumulator as a value of `accumulatorType`
/// (an LLVM struct of acc.size() f32). Upstream MLIR has no wgmma with a
/// register A operand; this is the instruction nvvm.wgmma.mma_async prints
/// for the shared-memory form.
/// An empty inline asm that reads `values`: they stay live (in their
/// registers) up to this point. Registers an in-flight wgmma reads must
/// not be reused before its wait_group: without this, LLVM gives a value
/// computed meanwhile the registers of one whose last use was the wgmma's
/// issue, and ptxas serializes the wgmmas (C7513).
void emitKeepAlive(mlir::ImplicitLocOpBuilder &b, mlir::ValueRange values);

mlir::Value emitWgmmaRegisterA(mlir::ImplicitLocOpBuilder &b, mlir::Type elt,
                               mlir::Type accumulatorType, llvm::ArrayRef<mlir::Value> acc,
                               llvm::ArrayRef<mlir::Value> a, mlir::Value descB);

} // namespace sieve::passes

#endif
