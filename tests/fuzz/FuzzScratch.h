//===- FuzzScratch.h - a per-process folder for readers of paths -*- C++ -*-===//
//
// The mask, stats and artifact readers take paths (a table and the JSON
// sidecar beside it), so their targets write each input to files first.
// Every fuzzer process (libFuzzer's -jobs and -fork run several) gets its
// own folder, so parallel runs never read each other's inputs; it is removed
// when the process exits normally.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTS_FUZZ_FUZZSCRATCH_H
#define SIEVE_TESTS_FUZZ_FUZZSCRATCH_H

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace sieve::fuzz {

class ScratchDir {
public:
  /// The process's folder, made on first use.
  static const std::string &path() {
    static ScratchDir dir;
    return dir.path_;
  }
  /// Writes `bytes` to `name` in the folder and returns its path.
  static std::string write(const std::string &name, const std::string &bytes) {
    std::string file = path() + "/" + name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "fuzz: cannot write %s\n", file.c_str());
      std::abort(); // a harness problem, not a finding: stop loudly
    }
    return file;
  }

private:
  ScratchDir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sieve-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string path_;
};

} // namespace sieve::fuzz

#endif
