//===- Attestation.cpp ----------------------------------------------------===//
#include "Attestation.h"

#include "sieve/runtime/Artifact.h"

#include "llvm/Config/llvm-config.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#ifndef SIEVE_PTXAS_VERSION
#define SIEVE_PTXAS_VERSION "none"
#endif

namespace sieve::testing {

using json = nlohmann::json;

Toolchain Toolchain::ofThisBuild() {
#if defined(__clang__)
  const std::string host = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  const std::string host = std::string("gcc ") + __VERSION__;
#else
  const std::string host = "an unknown C++ compiler";
#endif
  return {LLVM_VERSION_STRING, SIEVE_PTXAS_VERSION, host};
}

namespace {

constexpr const char *kFormat = "sieve-gpu-attestation";
constexpr int kVersion = 1;

std::string digestOfCases(const std::map<std::string, std::vector<std::string>> &cases) {
  std::string text;
  for (const auto &[name, digests] : cases) {
    text += name;
    for (const std::string &d : digests)
      text += "\t" + d;
    text += "\n";
  }
  return sha256Hex(text);
}

} // namespace

std::map<std::string, AttestedConfiguration> configurationsOf(const KernelLedger &ledger) {
  std::map<std::string, AttestedConfiguration> out;
  for (const auto &[name, c] : ledger.cases())
    out[c.config].cases[name] = c.digests;
  for (auto &[config, attested] : out)
    attested.digest = digestOfCases(attested.cases);
  return out;
}

Expected<AttestationRecord> AttestationRecord::read(const std::string &path) {
  auto text = runtime::readFile(path);
  if (!text)
    return text.error();
  auto bad = [&](const std::string &why) {
    return Error(ErrorCode::InvalidArgument, "attestation record " + path + ": " + why);
  };
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return bad("not a JSON object");
  if (j.value("format", "") != kFormat || j.value("version", 0) != kVersion)
    return bad(fmt::format("not a {} record of version {}", kFormat, kVersion));
  try {
    AttestationRecord r;
    const std::string kind = j.at("kind").get<std::string>();
    if (kind != "gpu-run" && kind != "compile-only-snapshot")
      return bad("unknown kind '" + kind + "'");
    r.gpuRun = kind == "gpu-run";
    r.partOf = j.value("part_of", "");
    r.gpu = j.at("gpu").get<std::string>();
    r.driver = j.at("driver").get<std::string>();
    r.chip = j.at("chip").get<std::string>();
    r.commit = j.at("commit").get<std::string>();
    r.date = j.at("date").get<std::string>();
    r.toolchain = {j.at("toolchain").at("llvm").get<std::string>(),
                   j.at("toolchain").at("ptxas").get<std::string>(),
                   j.at("toolchain").at("host").get<std::string>()};
    r.passed = j.at("suite").at("passed").get<int64_t>();
    r.skipped = j.at("suite").at("skipped").get<int64_t>();
    for (const auto &[name, c] : j.at("configurations").items()) {
      AttestedConfiguration a;
      a.digest = c.at("kernels_sha256").get<std::string>();
      a.passed = c.at("passed").get<int64_t>();
      a.skipped = c.at("skipped").get<int64_t>();
      for (const auto &[caseName, digests] : c.at("cases").items())
        a.cases[caseName] = digests.get<std::vector<std::string>>();
      if (digestOfCases(a.cases) != a.digest)
        return bad("configuration " + name + ": its digest is not that of its cases");
      r.configurations[name] = std::move(a);
    }
    return r;
  } catch (const json::exception &e) {
    return bad(e.what());
  }
}

Error AttestationRecord::write(const std::string &path) const {
  json configs = json::object();
  for (const auto &[name, c] : configurations) {
    json cases = json::object();
    for (const auto &[caseName, digests] : c.cases)
      cases[caseName] = digests;
    configs[name] = {{"kernels_sha256", c.digest},
                     {"passed", c.passed},
                     {"skipped", c.skipped},
                     {"cases", cases}};
  }
  json j = {{"format", kFormat},
            {"version", kVersion},
            {"kind", gpuRun ? "gpu-run" : "compile-only-snapshot"},
            {"gpu", gpu},
            {"driver", driver},
            {"chip", chip},
            {"commit", commit},
            {"date", date},
            {"toolchain",
             {{"llvm", toolchain.llvm}, {"ptxas", toolchain.ptxas}, {"host", toolchain.host}}},
            {"suite", {{"passed", passed}, {"skipped", skipped}}},
            {"configurations", configs}};
  if (!partOf.empty())
    j["part_of"] = partOf;
  return runtime::writeFileAtomically(path, j.dump(1) + "\n");
}

Expected<AttestationRecord> mergeRecords(const std::vector<AttestationRecord> &parts) {
  if (parts.empty())
    return Error(ErrorCode::InvalidArgument, "no records to merge");
  AttestationRecord merged = parts.front();
  merged.partOf.clear();
  merged.passed = merged.skipped = 0;
  merged.configurations.clear();
  for (const AttestationRecord &part : parts) {
    auto mismatch = [&](const char *what, const std::string &a, const std::string &b) {
      return Error(
          ErrorCode::InvalidArgument,
          fmt::format("the records to merge come from different {}: '{}' and '{}'", what, a, b));
    };
    if (!part.gpuRun)
      return Error(ErrorCode::InvalidArgument,
                   "a compile-only snapshot cannot be merged into a GPU run's record");
    if (part.gpu != merged.gpu)
      return mismatch("GPUs", part.gpu, merged.gpu);
    if (part.driver != merged.driver)
      return mismatch("drivers", part.driver, merged.driver);
    if (part.chip != merged.chip)
      return mismatch("chips", part.chip, merged.chip);
    if (part.commit != merged.commit)
      return mismatch("commits", part.commit, merged.commit);
    if (!(part.toolchain == merged.toolchain))
      return mismatch("toolchains", part.toolchain.str(), merged.toolchain.str());
    merged.date = std::max(merged.date, part.date);
    merged.passed += part.passed;
    merged.skipped += part.skipped;
    for (const auto &[name, c] : part.configurations) {
      AttestedConfiguration &into = merged.configurations[name];
      into.passed += c.passed;
      into.skipped += c.skipped;
      for (const auto &[caseName, digests] : c.cases) {
        auto [it, fresh] = into.cases.emplace(caseName, digests);
        if (!fresh && it->second != digests)
          return Error(ErrorCode::InvalidArgument,
                       "case " + caseName + " ran with different kernels in two of the records");
      }
    }
  }
  for (auto &[name, c] : merged.configurations)
    c.digest = digestOfCases(c.cases);
  return merged;
}

std::vector<std::string> unattested(const AttestationRecord &record,
                                    const std::map<std::string, AttestedConfiguration> &current) {
  std::vector<std::string> problems;
  for (const auto &[name, c] : current) {
    auto it = record.configurations.find(name);
    if (it == record.configurations.end()) {
      problems.push_back(name + ": no GPU run attests this configuration (new in the suite)");
      continue;
    }
    if (it->second.digest == c.digest)
      continue;
    std::string changed;
    int listed = 0, more = 0;
    for (const auto &[caseName, digests] : c.cases) {
      auto was = it->second.cases.find(caseName);
      if (was != it->second.cases.end() && was->second == digests)
        continue;
      if (listed++ < 3)
        changed += (changed.empty() ? "" : ", ") + caseName;
      else
        ++more;
    }
    problems.push_back(name + ": its kernels differ from those the GPU run of commit " +
                       record.commit + " attested (" + changed +
                       (more ? fmt::format(" and {} more", more) : "") + ")");
  }
  return problems;
}

} // namespace sieve::testing
