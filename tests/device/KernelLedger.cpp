//===- KernelLedger.cpp ---------------------------------------------------===//
#include "KernelLedger.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/KernelCache.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SHA256.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace sieve::testing {

using runtime::Artifact;
using runtime::ParamSlot;

namespace {

std::string paramsText(const std::vector<ParamSlot> &params) {
  std::string s;
  for (const ParamSlot &p : params)
    s += fmt::format(" {}.{}.{}.{}x{}", p.tensor, static_cast<int>(p.field), p.dim, p.boxRows,
                     p.boxCols);
  return s;
}

std::string launchText(const char *role, const std::string &entry,
                       const std::array<uint32_t, 3> &grid, const std::array<uint32_t, 3> &block,
                       uint32_t sharedBytes, const std::vector<ParamSlot> &params) {
  return fmt::format("{} {} grid {},{},{} block {},{},{} shared {} params{}\n", role, entry,
                     grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedBytes,
                     paramsText(params));
}

} // namespace

std::string sha256Hex(const std::string &bytes) {
  std::string hex;
  for (uint8_t b : llvm::SHA256::hash(llvm::arrayRefFromStringRef(bytes)))
    hex += fmt::format("{:02x}", b);
  return hex;
}

std::string kernelDigest(const Artifact &a) {
  // The launch contract in a text of its own (not the metadata JSON), so
  // that a change of the artifact's file format alone changes no digest:
  // this is the text the attested record of 2026-12-02 hashed, when an
  // artifact held a main launch, a combine launch with the workspace, and
  // the backward's follow-up launches with a scratch. (A split kernel that
  // merges its own parts adds its workspace after its main launch.)
  std::string contract =
      fmt::format("backend {} chip {} align {} unit-inner-stride {}\n",
                  runtime::backendName(a.backend), a.chip, a.alignBytes, a.unitInnerStride);
  for (const runtime::KernelLaunch &l : a.launches) {
    const bool combine = l.role == runtime::LaunchRole::Combine;
    const bool followUp = l.role == runtime::LaunchRole::BackwardKeyValue ||
                          l.role == runtime::LaunchRole::BackwardQuery;
    contract += launchText(combine    ? "combine"
                           : followUp ? "follow-up"
                                      : "main",
                           l.entry, l.grid, l.block, l.sharedBytes, l.params);
    // The workspace goes with the launch that merges split rows: a combine
    // kernel, or (since split kernels merge their own parts) the main one.
    const bool mergesParts =
        combine || (l.role == runtime::LaunchRole::Attention && a.splitsKv() && !a.hasCombine());
    if (mergesParts)
      contract += fmt::format("workspace {}\n", a.workspaceBytes);
  }
  contract += fmt::format("scratch {}\n", a.backward ? a.workspaceBytes : 0);
  return sha256Hex(contract + a.code);
}

KernelLedger &KernelLedger::get() {
  static KernelLedger ledger;
  return ledger;
}

void KernelLedger::startGpu(std::unique_ptr<compiler::Session> session) {
  chip_ = session->target().chip;
  session_ = std::move(session);
  mode_ = Mode::Gpu;
}

void KernelLedger::startCompileOnly(std::string chip) {
  chip_ = std::move(chip);
  mode_ = Mode::CompileOnly;
}

/// A compile failure is part of what a case attests (the Hopper body
/// refusing a shape, say): its digest hashes the message.
static std::string failureDigest(const Error &e) {
  return "error:" + sha256Hex("compile error: " + e.str());
}

std::optional<CompiledKernels> KernelLedger::compile(const std::string &config,
                                                     std::vector<compiler::KernelSpec> specs) {
  const std::string name = currentCaseName();
  if (mode_ == Mode::CompileOnly) {
    std::lock_guard<std::mutex> lock(mutex_);
    Case &c = cases_[name];
    c.config = config;
    for (compiler::KernelSpec &spec : specs)
      c.specs.push_back(std::move(spec));
    return std::nullopt;
  }
  CompiledKernels kernels;
  std::vector<std::string> digests;
  for (compiler::KernelSpec &spec : specs) {
    if (!session_) {
      kernels.emplace_back(Error(ErrorCode::NoGpu, "the device suite runs without a GPU"));
      continue;
    }
    // The chip's usual part (TargetInfo::forChip), not the device's own
    // figures: CI rebuilds exactly these kernels without a GPU.
    spec.target = compiler::Target::cuda(chip_);
    auto artifact = compiler::KernelCache::shared()->get(spec);
    digests.push_back(artifact ? kernelDigest(**artifact) : failureDigest(artifact.error()));
    kernels.push_back(std::move(artifact));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Case &c = cases_[name];
  c.config = config;
  for (compiler::KernelSpec &spec : specs)
    c.specs.push_back(std::move(spec));
  for (std::string &d : digests)
    c.digests.push_back(std::move(d));
  return kernels;
}

void KernelLedger::compileRecorded(unsigned threads, bool throughCache) {
  struct Job {
    Case *c;
    size_t index;
  };
  std::vector<Job> jobs;
  for (auto &[name, c] : cases_) {
    c.digests.assign(c.specs.size(), "");
    for (size_t i = 0; i < c.specs.size(); ++i)
      jobs.push_back({&c, i});
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t j = next++; j < jobs.size(); j = next++) {
      compiler::KernelSpec spec = jobs[j].c->specs[jobs[j].index];
      spec.target = compiler::Target::cuda(chip_);
      std::string &digest = jobs[j].c->digests[jobs[j].index];
      if (throughCache) {
        auto artifact = compiler::KernelCache::shared()->get(spec);
        digest = artifact ? kernelDigest(**artifact) : failureDigest(artifact.error());
      } else {
        auto artifact = compiler::compile(spec);
        digest = artifact ? kernelDigest(*artifact) : failureDigest(artifact.error());
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t)
    pool.emplace_back(work);
  work();
  for (std::thread &t : pool)
    t.join();
}

} // namespace sieve::testing
