//===- Attestation.h - the record of kernels a GPU has run ------*- C++ -*-===//
//
// tests/device/attested.json says which kernels passed the GPU suite on a
// real GPU: the GPU, its driver, the commit, the toolchain that generated
// the PTX, and per configuration (KernelLedger.h) the digest of its cases'
// kernels with its passed and skipped counts. tests/device/run.sh writes it
// after a green suite; CI's `gpu-attestation` test compiles the same cases
// and fails naming every configuration whose kernels no GPU run attested.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTS_DEVICE_ATTESTATION_H
#define SIEVE_TESTS_DEVICE_ATTESTATION_H

#include "KernelLedger.h"

#include "sieve/Error.h"

#include <map>
#include <string>
#include <vector>

namespace sieve::testing {

/// What generated the PTX: a different LLVM or ptxas may generate or accept
/// different code, and so may sieve built by another C++ compiler (the
/// order in which a compiler evaluates the arguments of a call that
/// creates two ops decides their order in the IR: clang and gcc build the
/// same kernels with their instructions in other orders). A record from
/// another toolchain attests nothing.
struct Toolchain {
  std::string llvm, ptxas, host;
  /// The toolchain this binary was built with.
  static Toolchain ofThisBuild();
  bool operator==(const Toolchain &o) const {
    return llvm == o.llvm && ptxas == o.ptxas && host == o.host;
  }
  std::string str() const { return "LLVM " + llvm + ", ptxas " + ptxas + ", built by " + host; }
};

struct AttestedConfiguration {
  std::string digest; // SHA-256 over its cases' kernel digests
  int64_t passed = 0, skipped = 0;
  std::map<std::string, std::vector<std::string>> cases; // case -> kernel digests
};

struct AttestationRecord {
  /// A GPU run's record attests; a compile-only snapshot (a developer's
  /// before-and-after comparison of generated code) never does.
  bool gpuRun = true;
  /// A GPU run of part of the suite (a gtest shard or filter) names its
  /// selection here; such a record attests nothing until mergeRecords
  /// joins it with the records of the other parts.
  std::string partOf;
  std::string gpu, driver, chip, commit, date;
  Toolchain toolchain;
  int64_t passed = 0, skipped = 0;
  std::map<std::string, AttestedConfiguration> configurations;

  static Expected<AttestationRecord> read(const std::string &path);
  /// Written through a temporary file and a rename.
  Error write(const std::string &path) const;
};

/// One record from the records of GPU runs that each ran part of the suite
/// (run.sh runs shards side by side): the union of their configurations'
/// cases, with their passed and skipped counts summed. The parts must come
/// from the same GPU, driver, chip, commit and toolchain, and a case run by
/// two parts must have the same kernels in both. Whether the union covers
/// the whole suite is what CI's `gpu-attestation` check decides.
Expected<AttestationRecord> mergeRecords(const std::vector<AttestationRecord> &parts);

/// The ledger's cases grouped by configuration, each with its digest
/// (counts left zero).
std::map<std::string, AttestedConfiguration> configurationsOf(const KernelLedger &ledger);

/// Every configuration of `current` whose kernels `record` does not attest,
/// each as one line naming it and why; empty when all are attested.
std::vector<std::string> unattested(const AttestationRecord &record,
                                    const std::map<std::string, AttestedConfiguration> &current);

} // namespace sieve::testing

#endif
