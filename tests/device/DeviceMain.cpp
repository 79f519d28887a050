//===- DeviceMain.cpp - the GPU suite's entry point ------------------------===//
//
//   sieve-device-tests [gtest flags] [--attest-record=FILE]
//       On a GPU: runs the suite; a case that skipped for any reason but
//       the chip's (kChipCannotRun) fails the run; with --attest-record,
//       writes the attested record to FILE (run.sh). A run of part of the
//       suite (--gtest_filter, or a shard through GTEST_TOTAL_SHARDS and
//       GTEST_SHARD_INDEX) or a run with failures writes a partial record
//       instead (only the configurations whose every case passed), which
//       attests nothing until merged.
//   sieve-device-tests --attest-merge=OUT --attest-parts=A,B,...
//       Joins the partial records of runs that together ran the suite
//       (run.sh runs shards side by side, and the case that fills the
//       card alone) into one record; CI's check decides whether the union
//       covers every configuration.
//       Without a GPU: runs nothing and exits 77, which ctest reports as
//       skipped (SKIP_RETURN_CODE), never as passed.
//   sieve-device-tests --attest-check=FILE
//       No GPU needed (CI): every case compiles its kernels for the
//       record's chip, and the run fails naming each configuration whose
//       kernels the record does not attest, or the whole record when it
//       was made with another toolchain.
//   sieve-device-tests --prewarm-chip=CHIP
//       Compiles every case's kernels for CHIP on all cores into the kernel
//       cache folder and exits: run.sh does this first, so the GPU run,
//       which compiles one case at a time, finds them there.
//   sieve-device-tests --snapshot-write=FILE [--snapshot-chip=sm_90a]
//   sieve-device-tests --snapshot-check=FILE
//       A developer's tool, no GPU: writes the digests of every case's
//       kernels (a snapshot, which attests nothing), or names every
//       configuration whose kernels differ from a snapshot's: a refactor
//       that must leave the generated code byte-identical checks it so.
//
//===----------------------------------------------------------------------===//
#include "Attestation.h"
#include "KernelLedger.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <set>
#include <string>
#include <thread>

using namespace sieve;
using namespace sieve::testing;

namespace {

constexpr int kSkipReturnCode = 77;

std::string envOr(const char *name, const std::string &fallback) {
  const char *v = std::getenv(name);
  return v && *v ? v : fallback;
}

/// Passed and skipped counts per case, and the skips not due to the chip.
struct Results {
  std::map<std::string, bool> passed, skipped;
  std::vector<std::string> unexpectedSkips;
  /// Cases that failed, or skipped for a reason other than the chip.
  std::set<std::string> failedOrSkipped;
  int64_t passedCount = 0, skippedCount = 0;
};

Results collectResults() {
  Results r;
  const ::testing::UnitTest &unit = *::testing::UnitTest::GetInstance();
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const ::testing::TestSuite &suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) {
      const ::testing::TestInfo &info = *suite.GetTestInfo(t);
      if (!info.should_run())
        continue;
      const std::string name = std::string(suite.name()) + "." + info.name();
      const ::testing::TestResult &result = *info.result();
      if (result.Skipped()) {
        ++r.skippedCount;
        r.skipped[name] = true;
        std::string message;
        for (int p = 0; p < result.total_part_count(); ++p)
          if (result.GetTestPartResult(p).skipped())
            message += result.GetTestPartResult(p).message();
        if (message.find(kChipCannotRun) == std::string::npos) {
          r.unexpectedSkips.push_back(name + ": " + message);
          r.failedOrSkipped.insert(name);
        }
      } else if (result.Passed()) {
        ++r.passedCount;
        r.passed[name] = true;
      } else {
        r.failedOrSkipped.insert(name);
      }
    }
  }
  return r;
}

std::string today() {
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

/// Which part of the suite this run covers: empty for all of it, else the
/// gtest filter and shard that narrowed it.
std::string selectionOfThisRun() {
  std::string part;
  if (::testing::GTEST_FLAG(filter) != "*")
    part = "--gtest_filter=" + ::testing::GTEST_FLAG(filter);
  const std::string shards = envOr("GTEST_TOTAL_SHARDS", "1");
  if (shards != "1")
    part += (part.empty() ? "" : ", ") + std::string("shard ") + envOr("GTEST_SHARD_INDEX", "0") +
            " of " + shards;
  return part;
}

int runOnGpu(const std::string &recordPath) {
  auto session = compiler::Session::create(compiler::BackendChoice::Cuda);
  if (!session) {
    std::printf("sieve-device-tests: no GPU, so no case runs (skipped): %s\n",
                session.error().str().c_str());
    return kSkipReturnCode;
  }
  const std::string gpuName = (*session)->deviceName();
  ledger().startGpu(std::move(*session));
  const int rc = RUN_ALL_TESTS();
  const Results results = collectResults();
  for (const std::string &s : results.unexpectedSkips)
    std::printf("sieve-device-tests: FAILED: a case this GPU can run was skipped: %s\n", s.c_str());
  const bool green = rc == 0 && results.unexpectedSkips.empty();
  ledger().finish(); // the session goes before the driver's statics do
  // A run with failures still records the configurations whose every case
  // passed, as a partial record: what it attests is decided when the
  // parts are merged and CI checks the union.
  if (!recordPath.empty()) {
    AttestationRecord record;
    record.partOf = selectionOfThisRun();
    if (!green)
      record.partOf += std::string(record.partOf.empty() ? "" : ", ") + "the configurations " +
                       "that passed in a run where " +
                       std::to_string(results.failedOrSkipped.size()) + " cases failed";
    record.gpu = gpuName;
    record.driver = envOr("SIEVE_ATTEST_DRIVER", "unknown");
    record.chip = ledger().chip();
    record.commit = envOr("SIEVE_ATTEST_COMMIT", "unknown");
    record.date = today();
    record.toolchain = Toolchain::ofThisBuild();
    record.passed = results.passedCount;
    record.skipped = results.skippedCount;
    record.configurations = configurationsOf(ledger());
    for (auto it = record.configurations.begin(); it != record.configurations.end();) {
      AttestedConfiguration &c = it->second;
      bool allPassed = true;
      for (const auto &[name, digests] : c.cases) {
        c.passed += results.passed.count(name);
        c.skipped += results.skipped.count(name);
        allPassed = allPassed && !results.failedOrSkipped.count(name);
      }
      if (allPassed) {
        ++it;
      } else {
        std::printf("sieve-device-tests: not recorded (a case failed): %s\n", it->first.c_str());
        record.passed -= c.passed;
        record.skipped -= c.skipped;
        it = record.configurations.erase(it);
      }
    }
    if (Error e = record.write(recordPath)) {
      std::printf("sieve-device-tests: could not write the attested record: %s\n", e.str().c_str());
      return 1;
    }
    std::printf("sieve-device-tests: %s %zu configurations (%lld cases passed, %lld skipped "
                "by the chip) in %s%s\n",
                record.partOf.empty() ? "attested" : "recorded", record.configurations.size(),
                static_cast<long long>(record.passed), static_cast<long long>(record.skipped),
                recordPath.c_str(),
                record.partOf.empty() ? ""
                                      : (" (a partial record of " + record.partOf +
                                         ": it attests nothing until --attest-merge joins it)")
                                            .c_str());
  }
  return green ? 0 : 1;
}

/// Compile-only mode over every case for `chip`; the configurations with
/// their digests.
std::map<std::string, AttestedConfiguration>
compileEveryCase(const std::string &chip, double *seconds, bool throughCache = false) {
  ledger().startCompileOnly(chip);
  ::testing::GTEST_FLAG(brief) = true;
  if (RUN_ALL_TESTS() != 0) {
    std::printf("sieve-device-tests: FAILED: a case failed before compiling its kernels\n");
    std::exit(1);
  }
  auto start = std::chrono::steady_clock::now();
  ledger().compileRecorded(std::max(1u, std::thread::hardware_concurrency()), throughCache);
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return configurationsOf(ledger());
}

int writeSnapshot(const std::string &path, const std::string &chip) {
  double seconds = 0;
  AttestationRecord snapshot;
  snapshot.gpuRun = false;
  snapshot.gpu = "none (compile-only snapshot)";
  snapshot.driver = "none";
  snapshot.chip = chip;
  snapshot.commit = envOr("SIEVE_ATTEST_COMMIT", "unknown");
  snapshot.date = today();
  snapshot.toolchain = Toolchain::ofThisBuild();
  snapshot.configurations = compileEveryCase(chip, &seconds);
  if (Error e = snapshot.write(path)) {
    std::printf("sieve-device-tests: %s\n", e.str().c_str());
    return 1;
  }
  std::printf("sieve-device-tests: snapshot of %zu configurations (%zu cases) for %s in %s "
              "(%.0f s)\n",
              snapshot.configurations.size(), ledger().cases().size(), chip.c_str(), path.c_str(),
              seconds);
  return 0;
}

int checkSnapshot(const std::string &path) {
  auto snapshot = AttestationRecord::read(path);
  if (!snapshot) {
    std::printf("sieve-device-tests: %s\n", snapshot.error().str().c_str());
    return 1;
  }
  double seconds = 0;
  const auto current = compileEveryCase(snapshot->chip, &seconds);
  std::vector<std::string> problems = unattested(*snapshot, current);
  for (const std::string &p : problems)
    std::printf("  differs: %s\n", p.c_str());
  std::printf("sieve-device-tests: %zu of %zu configurations differ from the snapshot (%.0f s)\n",
              problems.size(), current.size(), seconds);
  return problems.empty() ? 0 : 1;
}

int mergeAttestations(const std::string &outPath, const std::string &partList) {
  std::vector<AttestationRecord> parts;
  std::string rest = partList;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string path = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    auto part = AttestationRecord::read(path);
    if (!part) {
      std::printf("sieve-device-tests: cannot merge: %s\n", part.error().str().c_str());
      return 1;
    }
    parts.push_back(std::move(*part));
  }
  auto merged = mergeRecords(parts);
  if (!merged) {
    std::printf("sieve-device-tests: cannot merge: %s\n", merged.error().str().c_str());
    return 1;
  }
  if (Error e = merged->write(outPath)) {
    std::printf("sieve-device-tests: could not write the merged record: %s\n", e.str().c_str());
    return 1;
  }
  std::printf("sieve-device-tests: attested %zu configurations (%lld cases passed, %lld skipped by "
              "the chip) in %s, merged from %zu partial records\n",
              merged->configurations.size(), static_cast<long long>(merged->passed),
              static_cast<long long>(merged->skipped), outPath.c_str(), parts.size());
  return 0;
}

int checkAttestation(const std::string &recordPath) {
  auto record = AttestationRecord::read(recordPath);
  if (record && !record->gpuRun)
    record = Error(ErrorCode::InvalidArgument,
                   recordPath + " is a compile-only snapshot: it attests nothing");
  if (record && !record->partOf.empty())
    record = Error(ErrorCode::InvalidArgument,
                   recordPath + " is the partial record of a run of " + record->partOf +
                       ": merge it with the other parts' records (--attest-merge)");
  if (!record) {
    std::printf("gpu-attestation: FAILED: %s\n  (run tests/device/run.sh on a GPU: it writes the "
                "record after a green GPU suite)\n",
                record.error().str().c_str());
    return 1;
  }
  const Toolchain here = Toolchain::ofThisBuild();
  if (!(record->toolchain == here)) {
    std::printf("gpu-attestation: FAILED: re-attest on a GPU: the record was made with %s, this "
                "build generates PTX with %s\n",
                record->toolchain.str().c_str(), here.str().c_str());
    return 1;
  }
  double seconds = 0;
  const auto current = compileEveryCase(record->chip, &seconds);
  size_t kernels = 0;
  for (const auto &[name, c] : ledger().cases())
    kernels += c.digests.size();
  std::vector<std::string> problems = unattested(*record, current);
  for (const auto &[name, c] : record->configurations)
    if (!current.count(name))
      std::printf("gpu-attestation: note: the record attests %s, which the suite no longer has\n",
                  name.c_str());
  if (!problems.empty()) {
    std::printf("gpu-attestation: FAILED: %zu of %zu configurations hold kernels no GPU run has "
                "attested (record: %s, commit %s, %s). Run the GPU suite on a GPU "
                "(tests/device/build.sh, then tests/device/run.sh) and commit its "
                "tests/device/attested.json:\n",
                problems.size(), current.size(), record->gpu.c_str(), record->commit.c_str(),
                record->date.c_str());
    for (const std::string &p : problems)
      std::printf("  %s\n", p.c_str());
    return 1;
  }
  std::printf("gpu-attestation: all %zu configurations (%zu cases, %zu kernels compiled for %s in "
              "%.0f s) attested by the GPU run of commit %s on %s, driver %s (%s)\n",
              current.size(), ledger().cases().size(), kernels, record->chip.c_str(), seconds,
              record->commit.c_str(), record->gpu.c_str(), record->driver.c_str(),
              record->date.c_str());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string recordPath, checkPath, snapshotOut, snapshotIn, snapshotChip = "sm_90a", prewarmChip,
                                                              mergeOut, mergeParts;
  const std::pair<const char *, std::string *> flags[] = {
      {"--attest-record=", &recordPath},   {"--attest-check=", &checkPath},
      {"--attest-merge=", &mergeOut},      {"--attest-parts=", &mergeParts},
      {"--snapshot-write=", &snapshotOut}, {"--snapshot-check=", &snapshotIn},
      {"--snapshot-chip=", &snapshotChip}, {"--prewarm-chip=", &prewarmChip}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool known = false;
    for (auto [prefix, value] : flags)
      if (arg.rfind(prefix, 0) == 0) {
        *value = arg.substr(std::string(prefix).size());
        known = true;
      }
    if (!known) {
      std::printf("sieve-device-tests: unknown argument '%s' (gtest flags, --attest-record=FILE, "
                  "--attest-check=FILE, --attest-merge=FILE --attest-parts=A,B,..., "
                  "--snapshot-write=FILE, --snapshot-check=FILE)\n",
                  argv[i]);
      return 2;
    }
  }
  if (!checkPath.empty())
    return checkAttestation(checkPath);
  if (!mergeOut.empty() || !mergeParts.empty()) {
    if (mergeOut.empty() || mergeParts.empty()) {
      std::printf(
          "sieve-device-tests: --attest-merge=FILE and --attest-parts=A,B,... go together\n");
      return 2;
    }
    return mergeAttestations(mergeOut, mergeParts);
  }
  if (!prewarmChip.empty()) {
    double seconds = 0;
    auto configs = compileEveryCase(prewarmChip, &seconds, /*throughCache=*/true);
    std::printf("sieve-device-tests: compiled the kernels of %zu configurations for %s into the "
                "cache in %.0f s\n",
                configs.size(), prewarmChip.c_str(), seconds);
    return 0;
  }
  if (!snapshotOut.empty())
    return writeSnapshot(snapshotOut, snapshotChip);
  if (!snapshotIn.empty())
    return checkSnapshot(snapshotIn);
  return runOnGpu(recordPath);
}
