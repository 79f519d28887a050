//===- KernelLedger.h - every kernel the GPU suite runs, for attestation -*- C++ -*-===//
//
// CI has no GPU, so it cannot run a kernel; it can refuse one no GPU has
// run. Every GPU-suite case compiles its kernels through this ledger, under
// the name of its configuration (body, options, mode, dtype, head dim,
// causal: "forward/wgmma/bf16/d128/causal"). Masks are seeded from the case's
// name, so a case compiles the same kernels on any machine; its inputs stay
// random (tests/support/Seeds.h).
//
// Three modes (tests/device/DeviceMain.cpp picks one):
// - GPU: kernels compile through a CUDA session and run; the ledger keeps
//   each case's kernel digests, and after a green suite writes the
//   attested record (tests/device/attested.json).
// - compile-only (CI): no GPU is touched. compile() records the specs and
//   returns nothing, so the case stops there; the specs are then compiled
//   for the record's chip and their digests compared with the record.
// - no GPU: nothing runs; the binary exits with the skip code.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTS_DEVICE_KERNELLEDGER_H
#define SIEVE_TESTS_DEVICE_KERNELLEDGER_H

#include "sieve/compiler/KernelSpec.h"
#include "sieve/compiler/Session.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/testing/Seeds.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sieve::testing {

/// A case that skips must say this first: on a GPU, any other skip fails
/// the run (a case the chip can run was not run).
constexpr const char *kChipCannotRun = "chip cannot run this case: ";

using CompiledKernels = std::vector<Expected<std::shared_ptr<const runtime::Artifact>>>;

/// SHA-256 of what a GPU runs for an artifact: its PTX and its launch
/// contract (entries, grids, blocks, shared bytes, parameter slots,
/// workspace and scratch sizes, the layout it assumes). Descriptions meant
/// for people (variant, config) and keys that hash the compiler's sources
/// (cache key, version) are left out, so a comment changes no digest.
std::string kernelDigest(const runtime::Artifact &artifact);
/// Lower-case hex SHA-256 of `bytes`.
std::string sha256Hex(const std::string &bytes);

class KernelLedger {
public:
  enum class Mode { NoGpu, Gpu, CompileOnly };
  static KernelLedger &get();

  void startGpu(std::unique_ptr<compiler::Session> session);
  void startCompileOnly(std::string chip);
  /// Drops the GPU session (the cases and their digests stay).
  void finish() { session_.reset(); }
  Mode mode() const { return mode_; }
  /// The chip the suite's kernels are built for.
  const std::string &chip() const { return chip_; }
  /// The CUDA session (GPU mode only).
  compiler::Session *session() const { return session_.get(); }

  /// The running case's kernels under configuration `config`. GPU: each
  /// spec compiled for the GPU (failures included, as values), digests kept.
  /// Compile-only: nullopt after recording the specs; the case returns.
  std::optional<CompiledKernels> compile(const std::string &config,
                                         std::vector<compiler::KernelSpec> specs);

  struct Case {
    std::string config;
    std::vector<compiler::KernelSpec> specs;
    std::vector<std::string> digests; // one per spec (GPU mode, or after compileRecorded)
  };
  /// Compile-only mode: compiles every recorded spec on `threads` threads
  /// and fills in the digests. With `throughCache` the kernels go through
  /// the process's kernel cache (memory and folder), so that a GPU run
  /// after this one in the same folder finds them compiled.
  void compileRecorded(unsigned threads, bool throughCache = false);
  /// By case (the gtest full name).
  const std::map<std::string, Case> &cases() const { return cases_; }

private:
  Mode mode_ = Mode::NoGpu;
  std::string chip_;
  std::unique_ptr<compiler::Session> session_;
  mutable std::mutex mutex_;
  std::map<std::string, Case> cases_;
};

inline KernelLedger &ledger() { return KernelLedger::get(); }

} // namespace sieve::testing

/// Compiles the case's kernels into `var` (a CompiledKernels), or, in
/// compile-only mode, records them and returns from the test.
#define SIEVE_DEVICE_KERNELS(var, config, ...)                                                     \
  auto var##Optional = ::sieve::testing::ledger().compile(config, __VA_ARGS__);                    \
  if (!var##Optional)                                                                              \
    return;                                                                                        \
  ::sieve::testing::CompiledKernels &var = *var##Optional

#endif
