//===- Compiler.h - KernelSpec -> MLIR -> Artifact --------------*- C++ -*-===//
#ifndef SIEVE_COMPILER_COMPILER_H
#define SIEVE_COMPILER_COMPILER_H

#include "sieve/Error.h"
#include "sieve/compiler/KernelSpec.h"
#include "sieve/runtime/Artifact.h"

#include <string>
#include <utility>
#include <vector>

namespace sieve::compiler {

/// "sieve <version> (MLIR <version>)": part of every cache key.
std::string compilerVersion();

/// SHA-256 of the sources that turn a spec into an artifact (dialect,
/// passes, compiler, artifact format), computed at build time: part of
/// every cache key, so a changed compiler never reads its predecessor's
/// kernels even when the version number stayed the same.
const char *sourceFingerprint();

/// The `sieve.attention` module the pipelines start from, as text.
Expected<std::string> buildAttentionIR(const KernelSpec &spec);

/// Compiles `spec` through sieve-to-ptx or sieve-to-cpu. Thread-safe: each
/// call has its own MLIR context.
Expected<runtime::Artifact> compile(const KernelSpec &spec);

/// The key compile() would give `spec`'s artifact, without running the
/// pipeline: a memory or disk cache looks it up before compiling. It hashes
/// the input IR (shapes, dtype, scale, causal, mask bits), the target, the
/// kernel options after defaults are chosen, the compiler version and
/// source fingerprint, and the artifact format version.
Expected<std::string> cacheKey(const KernelSpec &spec);

/// The IR after each pass of the pipeline, for `sieve inspect`:
/// (pass name, IR text) in order, starting with ("input", ...).
Expected<std::vector<std::pair<std::string, std::string>>> compileStages(const KernelSpec &spec);

} // namespace sieve::compiler

#endif
