//===- SpecOptions.h - the flags that describe a kernel --------*- C++ -*-===//
//
// compile, run and inspect all take a mask file and a problem shape; the
// flags and the defaults are defined once here.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TOOLS_SPECOPTIONS_H
#define SIEVE_TOOLS_SPECOPTIONS_H

#include "sieve/Error.h"
#include "sieve/compiler/KernelSpec.h"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace sieve::tools {

struct SpecOptions {
  std::string maskPath;
  int64_t layer = 0;
  int64_t batch = 1;
  std::optional<int64_t> headsKv, seqQ, seqK;
  int64_t headDim = 64;
  std::string dtype = "auto"; // bf16 on a GPU target, f32 on the CPU
  bool causal = false;
  bool generation = false;
  std::string causalAlign = "top-left";
  std::optional<double> scale;
  compiler::KernelOptions kernel;

  void addTo(CLI::App &command);
  /// Reads the mask and fills a spec for `target`.
  Expected<compiler::KernelSpec> toSpec(const compiler::Target &target) const;
};

/// Parses --target: "cpu" (or "host"), a chip name such as "sm_90a",
/// "auto" (this machine's GPU if it has one, else the CPU) or "cuda" (this
/// machine's GPU if it has one, else kDefaultChip: compiling needs no GPU).
/// `note`, when given, receives a line for the user when "cuda" fell back.
Expected<compiler::Target> parseTarget(const std::string &name, std::string *note = nullptr);

/// The chip `--target cuda` compiles for on a machine without a GPU.
constexpr const char *kDefaultChip = "sm_90a";

/// --target's help text.
std::string targetHelp();

/// Prints "error: <code>: <message>" to stderr and returns the exit status.
int reportError(const Error &error);

} // namespace sieve::tools

#endif
