//===- SieveDialect.td - the sieve dialect ------------------*- tablegen -*-===//
//
// The sieve dialect describes block-sparse attention whose mask is known at
// compile time. Ops here say *what* is computed; passes/ decide how.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_DIALECT_TD
#define SIEVE_DIALECT_TD

include "mlir/IR/OpBase.td"

def Sieve_Dialect : Dialect {
  let name = "sieve";
  let summary = "Block-sparse attention with a compile-time block mask";
  let description = [{
    `sieve.attention` computes softmax(scale * Q K^T + mask) V over the tiles
    that a `#sieve.block_mask` keeps. Specialization passes turn the mask into
    constant per-row key-block tables (`sieve.block_sparse_attention`), which
    the GPU and CPU lowerings turn into loops over upstream dialects.
  }];
  let cppNamespace = "::sieve::dialect";
  let useDefaultAttributePrinterParser = 1;
  // What the GPU lowering leaves on each kernel (gpu.func) for the compiler
  // to read: its launch contract, and for people the body it runs and the
  // configuration the lowering chose.
  let discardableAttrs = (ins
    "::sieve::dialect::LaunchAttr":$launch,
    "::mlir::StringAttr":$variant,
    "::mlir::StringAttr":$config
  );
}

class Sieve_Op<string mnemonic, list<Trait> traits = []>
    : Op<Sieve_Dialect, mnemonic, traits>;

#endif // SIEVE_DIALECT_TD
