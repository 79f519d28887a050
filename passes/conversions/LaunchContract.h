//===- LaunchContract.h - the GPU lowering's launch contracts ---*- C++ -*-===//
//
// A GPU kernel leaves the lowering with its launch declared on it
// (#sieve.launch in the `sieve.launch` attribute of its gpu.func, plus
// `sieve.variant` and `sieve.config` for people): role, grid, block, shared
// and workspace bytes, alignment, and one #sieve.param per scalar of its
// arguments, in order. The host side of the op is simply erased: the
// compiler reads the kernels' contracts (compiler/lib/Compiler.cpp), the
// runtime fills parameters by slot (runtime/lib/GpuExecutor.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CONVERSIONS_LAUNCHCONTRACT_H
#define SIEVE_PASSES_CONVERSIONS_LAUNCHCONTRACT_H

#include "sieve/dialect/SieveOps.h"
#include "sieve/runtime/LaunchContract.h"
#include "sieve/runtime/TargetInfo.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <array>

namespace sieve::passes {

/// What the runtime passes for one kernel argument: a memref descriptor of
/// the buffer in `slot` (rank from the argument's type), or the device
/// address of a TMA descriptor of it with a box of `boxRows` x `boxCols`.
struct KernelArgument {
  int slot = 0;
  bool tensorMap = false;
  int64_t boxRows = 0, boxCols = 0;
  /// An i32 passed by value: element `element` of the rank-1 buffer in
  /// `slot` (a GPU generation kernel's q_pos and seq_k_live).
  bool byValue = false;
  int element = 0;
};

/// The op's operands as kernel arguments, in operand order (q, k, v, out,
/// then stats, thresholds and lse when present; the backward's q, k, v,
/// out, dout, lse, dq, dk, dv, then thresholds when present). A generation
/// op's positions come last: a buffer, or with `stepByValue` (the GPU
/// kernels) its two elements by value.
llvm::SmallVector<KernelArgument> operandArguments(dialect::BlockSparseAttentionOp op,
                                                   bool stepByValue = false);
llvm::SmallVector<KernelArgument> operandArguments(dialect::BlockSparseAttentionBackwardOp op);
/// The generic kernel's four row tables (heads, query blocks, spans, key blocks).
llvm::SmallVector<KernelArgument> rowTableArguments();
/// The f32 workspace (split-KV's parts, the backward's scratch).
KernelArgument workspaceArgument();
/// A TMA descriptor of the rank-4 tensor in `slot`, boxes of `boxRows` x `boxCols`.
KernelArgument tensorMapArgument(int slot, int64_t boxRows, int64_t boxCols);

struct LaunchGeometry {
  runtime::LaunchRole role = runtime::LaunchRole::Attention;
  std::array<int64_t, 3> grid{1, 1, 1}, block{1, 1, 1};
  int64_t sharedBytes = 0, workspaceBytes = 0;
  /// Bytes every tensor's base and outer strides must be a multiple of (16
  /// for kernels that copy 16-byte vectors: cp.async, TMA); 0: none.
  int64_t alignBytes = 0;
  /// The kernel begins with griddepcontrol.wait (sm_90): the runtime
  /// launches it as a programmatic dependent launch of the previous one.
  bool waitsOnPrevious = false;
};

/// Declares `kernel`'s launch: the geometry, one parameter per scalar of
/// `arguments` (which must match the kernel's arguments one to one), and
/// the body and configuration it runs. Fails, on `kernel`, when the
/// arguments do not match or the grid or block exceed `target`'s limits.
mlir::LogicalResult declareLaunch(mlir::gpu::GPUFuncOp kernel, const runtime::TargetInfo &target,
                                  const LaunchGeometry &geometry,
                                  llvm::ArrayRef<KernelArgument> arguments, llvm::StringRef variant,
                                  llvm::StringRef config);

/// The same for a host function of the CPU backend (one phase of its
/// kernel): `buffers` describe its leading arguments, after which it takes
/// the [begin, end) of the work units to run (two index arguments). The
/// grid's x is the phase's unit count; block, shared bytes and alignment
/// are 1, 0 and 0.
mlir::LogicalResult declareHostLaunch(mlir::func::FuncOp fn, const LaunchGeometry &geometry,
                                      llvm::ArrayRef<KernelArgument> buffers,
                                      llvm::StringRef variant, llvm::StringRef config);

} // namespace sieve::passes

#endif
