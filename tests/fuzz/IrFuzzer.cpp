//===- IrFuzzer.cpp - the sieve dialect's textual IR and its passes -------===//
//
// sieve-opt reads IR that people write by hand (the lit tests, bug reports),
// and the compiler feeds its own passes IR built from user specs. So the
// dialect's parser and verifiers (#sieve.block_mask, sieve.attention,
// sieve.block_sparse_attention) must reject any text with a diagnostic, and
// whatever verifies must be safe to hand to the passes: a pass may fail
// with a diagnostic, but must neither crash nor leave IR that no longer
// verifies.
//
// The input is MLIR source parsed as sieve-opt parses it, with the same
// dialect registry. Modules that verify go through the passes that need no
// GPU toolchain, on copies: sieve-specialize-mask, sieve-split-rows (set to
// cut eagerly), sieve-lower-to-gpu (its zero-row launch layout included;
// the kernel body and chip chosen from a hash of the input) and the whole
// sieve-to-cpu pipeline down to the LLVM dialect.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"

#include "sieve/passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <string>

using namespace mlir;

namespace {

// Inputs above this are rejected unread: every exec stays well under the
// per-input timeout, and a big mask is no more interesting than a small one.
constexpr size_t kMaxInputBytes = 64 << 10;

DialectRegistry *registry = nullptr;

uint32_t hashOf(const std::string &text) {
  uint32_t h = 2166136261u;
  for (unsigned char c : text)
    h = (h ^ c) * 16777619u;
  return h;
}

void buildGpuPipeline(PassManager &pm, uint32_t choice) {
  pm.addPass(sieve::passes::createSpecializeMask());
  sieve::passes::SplitRowsOptions split;
  split.sms = 1 + choice % 8;
  split.minPartKeys = 1;
  split.imbalance = 1.0;
  pm.addPass(sieve::passes::createSplitRows(split));
  static const char *const kVariants[][2] = {
      {"auto", "sm_90a"}, {"auto", "sm_80"}, {"simt", "sm_80"}, {"generic", "sm_90a"}};
  sieve::passes::LowerToGpuOptions lowering;
  lowering.variant = kVariants[(choice >> 3) % 4][0];
  lowering.chip = kVariants[(choice >> 3) % 4][1];
  pm.addPass(sieve::passes::createLowerToGpu(lowering));
}

// Runs `build`'s passes on a copy of `module`. A failure is an answer (the
// diagnostic says why); success with IR that does not verify is a bug.
template <typename Build> void runOnCopy(ModuleOp module, const char *what, Build build) {
  OwningOpRef<ModuleOp> copy(module.clone());
  PassManager pm(module.getContext());
  // Verified once at the end instead: a pass that breaks the IR is then
  // caught, not reported as an ordinary pass failure.
  pm.enableVerifier(false);
  build(pm);
  if (failed(pm.run(*copy)))
    return;
  SIEVE_FUZZ_CHECK(succeeded(verify(*copy)), "%s succeeded but left IR that does not verify", what);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  registry = new DialectRegistry();
  sieve::passes::registerSieveCompilerDialects(*registry);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > kMaxInputBytes)
    return -1; // not added to the corpus
  // A std::string keeps the NUL after the text that MLIR's lexer stops at.
  std::string text(reinterpret_cast<const char *>(data), size);
  // MLIR 22's own attribute parser dereferences null on a dense array of
  // `index` elements (`array<index: ...>`: parseDenseArrayAttr asks an
  // index type for its float width). That is upstream, reachable from any
  // op's attribute dictionary, and no sieve code runs before it: such
  // inputs are left out so the fuzzer keeps testing sieve's parsers.
  if (text.find("array<index") != std::string::npos)
    return -1;

  // A fresh context per input: uniqued attributes and types never carry
  // over, so every finding reproduces from its input alone.
  MLIRContext context(*registry, MLIRContext::Threading::DISABLED);
  ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) { return success(); });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, ParserConfig(&context));
  if (!module)
    return 0;

  uint32_t choice = hashOf(text);
  runOnCopy(*module, "specialize-mask, split-rows and lower-to-gpu",
            [&](PassManager &pm) { buildGpuPipeline(pm, choice); });
  runOnCopy(*module, "the sieve-to-cpu pipeline", [](PassManager &pm) {
    sieve::passes::buildSieveToCpuPipeline(pm, sieve::passes::CpuPipelineOptions());
  });
  return 0;
}
