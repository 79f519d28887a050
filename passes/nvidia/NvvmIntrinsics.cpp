//===- NvvmIntrinsics.cpp - NVVM intrinsics and inline PTX of the GPU bodies ===//
#include "nvidia/NvvmIntrinsics.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include <string>

using namespace mlir;

namespace sieve::passes {

namespace {

Value callF32Intrinsic(ImplicitLocOpBuilder &b, StringRef name, Value x) {
  return LLVM::CallIntrinsicOp::create(b, b.getF32Type(), b.getStringAttr(name), ValueRange{x})
      .getResult(0);
}

} // namespace

Value emitNvvmExp2(ImplicitLocOpBuilder &b, Value x) {
  return callF32Intrinsic(b, "llvm.nvvm.ex2.approx.ftz.f", x);
}

Value emitNvvmLog2(ImplicitLocOpBuilder &b, Value x) {
  return callF32Intrinsic(b, "llvm.nvvm.lg2.approx.ftz.f", x);
}

Value emitBarrierAny(ImplicitLocOpBuilder &b, Value id, Value count, Value pred) {
  return LLVM::CallIntrinsicOp::create(
             b, b.getI1Type(), b.getStringAttr("llvm.nvvm.barrier.cta.red.or.aligned.count"),
             ValueRange{id, count, pred})
      .getResult(0);
}

Value emitCountArrival(ImplicitLocOpBuilder &b, Value address, Value lastBefore) {
  // Generic addressing: the workspace is global memory, whose generic
  // addresses are its global ones.
  const char *asmText = "{\n.reg .pred p;\n"
                        "fence.acq_rel.gpu;\n"
                        "atom.relaxed.gpu.add.u32 $0, [$1], 1;\n"
                        "setp.eq.u32 p, $0, $2;\n"
                        "@p st.relaxed.gpu.u32 [$1], 0;\n"
                        "fence.acq_rel.gpu;\n}\n";
  return LLVM::InlineAsmOp::create(b, b.getI32Type(), ValueRange{address, lastBefore}, asmText,
                                   "=r,l,r,~{memory}", /*has_side_effects=*/true,
                                   /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                                   LLVM::AsmDialectAttr(), ArrayAttr())
      .getResult(0);
}

Value emitWgmmaRegisterA(ImplicitLocOpBuilder &b, Type elt, Type accumulatorType,
                         ArrayRef<Value> acc, ArrayRef<Value> a, Value descB) {
  const int64_t n = static_cast<int64_t>(acc.size());
  const char *type = elt.isBF16() ? "bf16" : "f16";
  std::string asmText = "{\n.reg .pred p;\nsetp.ne.b32 p, $" + std::to_string(2 * n + 5) +
                        ", 0;\nwgmma.mma_async.sync.aligned.m64n" + std::to_string(n * 2) +
                        "k16.f32." + type + "." + type + " {";
  std::string constraints;
  for (int64_t i = 0; i < n; ++i) {
    asmText += (i ? ", $" : "$") + std::to_string(i);
    constraints += (i ? ",=f" : "=f");
  }
  asmText += "}, {$" + std::to_string(2 * n) + ", $" + std::to_string(2 * n + 1) + ", $" +
             std::to_string(2 * n + 2) + ", $" + std::to_string(2 * n + 3) + "}, $" +
             std::to_string(2 * n + 4) + ", p, 1, 1, 1;\n}\n"; // scale-d, scale-a, scale-b, trans-b
  for (int64_t i = 0; i < n; ++i)
    constraints += "," + std::to_string(i); // accumulators are read and written
  constraints += ",r,r,r,r,l,r";
  SmallVector<Value> operands(acc);
  operands.append(a.begin(), a.end());
  operands.push_back(descB);
  operands.push_back(arith::ConstantOp::create(b, b.getI32IntegerAttr(1)));
  return LLVM::InlineAsmOp::create(b, accumulatorType, operands, asmText, constraints,
                                   /*has_side_effects=*/true,
                                   /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                                   LLVM::AsmDialectAttr(), ArrayAttr())
      .getResult(0);
}

void emitKeepAlive(ImplicitLocOpBuilder &b, ValueRange values) {
  if (values.empty())
    return;
  std::string constraints;
  for (Value v : values) {
    if (!constraints.empty())
      constraints += ",";
    constraints += v.getType().isF32() ? "f" : "r";
  }
  LLVM::InlineAsmOp::create(b, TypeRange{}, values, "", constraints, /*has_side_effects=*/true,
                            /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                            LLVM::AsmDialectAttr(), ArrayAttr());
}

} // namespace sieve::passes
