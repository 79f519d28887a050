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

/// A spec that KernelSpec::validate() accepted. The compiler's entry points
/// check a spec once, where it enters, and hand this on; it refers to the
/// spec, which must outlive it.
class CheckedSpec {
public:
  static Expected<CheckedSpec> of(const KernelSpec &spec);
  const KernelSpec &operator*() const { return *spec_; }
  const KernelSpec *operator->() const { return spec_; }

private:
  explicit CheckedSpec(const KernelSpec &spec) : spec_(&spec) {}
  const KernelSpec *spec_;
};

/// The `sieve.attention` module the pipelines start from, as text.
Expected<std::string> buildAttentionIR(const KernelSpec &spec);

/// Compiles `spec` through sieve-to-ptx or sieve-to-cpu. Thread-safe: each
/// call has its own MLIR context.
Expected<runtime::Artifact> compile(const KernelSpec &spec);
Expected<runtime::Artifact> compile(CheckedSpec spec);

/// Everything the artifact of `spec` depends on, in one canonical text:
/// shapes, dtype, the scale as the kernels' f32, causal and its alignment, modes, the mask's
/// geometry and bits (none for the generic kernel, which reads its mask at
/// launch), the target's description and the kernel options after defaults
/// are chosen. Two specs with the same text compile to the same artifact.
/// Builds no IR.
std::string specIdentity(CheckedSpec spec);

/// The key compile() gives `spec`'s artifact, without building any IR: a
/// memory or disk cache looks it up before compiling. It hashes the spec's
/// identity with the compiler version and source fingerprint and the
/// artifact format version.
Expected<std::string> cacheKey(const KernelSpec &spec);
std::string cacheKey(CheckedSpec spec);
/// The key of a spec whose identity is `identity` (the hash alone).
std::string cacheKeyOfIdentity(const std::string &identity);

/// The IR after each pass of the pipeline, for `sieve inspect`:
/// (pass name, IR text) in order, starting with ("input", ...).
Expected<std::vector<std::pair<std::string, std::string>>> compileStages(const KernelSpec &spec);

} // namespace sieve::compiler

#endif
