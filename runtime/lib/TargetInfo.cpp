//===- TargetInfo.cpp - the chips sieve generates code for ----------------===//
#include "sieve/runtime/TargetInfo.h"

#include <fmt/format.h>

namespace sieve::runtime {

namespace {

// Every chip sieve targets launches at most 1024 threads a block, on a grid
// of 2^31 - 1 x 65535 x 65535 blocks, with 64 Ki registers a block.
constexpr int64_t kThreadsPerBlock = 1024;
constexpr std::array<int64_t, 3> kGrid{2147483647, 65535, 65535};
constexpr int64_t kRegistersPerBlock = 65536;

TargetInfo chipOf(std::string name, int major, int minor, int64_t sms, int64_t sharedKiB) {
  TargetInfo t;
  t.chip = std::move(name);
  t.major = major;
  t.minor = minor;
  t.mmaSync = major >= 8;
  t.tma = major >= 9;
  // wgmma and setmaxnreg exist only under the arch-specific target.
  t.wgmma = t.setmaxnreg = t.chip == "sm_90a";
  t.multiprocessors = sms;
  t.sharedBytesPerBlock = sharedKiB * 1024;
  t.registersPerBlock = kRegistersPerBlock;
  t.maxThreadsPerBlock = kThreadsPerBlock;
  t.maxGrid = kGrid;
  return t;
}

/// The data-centre part of each chip (CUDA programming guide's table of
/// technical specifications for the shared memory a block may opt into).
const std::vector<TargetInfo> &table() {
  static const std::vector<TargetInfo> chips = {
      chipOf("sm_80", 8, 0, 108, 163),  // A100
      chipOf("sm_86", 8, 6, 84, 99),    // A40
      chipOf("sm_89", 8, 9, 142, 99),   // L40S
      chipOf("sm_90", 9, 0, 132, 227),  // H100 SXM, H200
      chipOf("sm_90a", 9, 0, 132, 227), // the same, with the arch-specific instructions
  };
  return chips;
}

} // namespace

Expected<TargetInfo> TargetInfo::forChip(std::string_view chip) {
  for (const TargetInfo &t : table())
    if (t.chip == chip)
      return t;
  std::string known;
  for (const std::string &c : knownChips())
    known += (known.empty() ? "" : ", ") + c;
  return Error(ErrorCode::Unsupported,
               fmt::format("unsupported chip '{}' (expected {})", chip, known));
}

const std::vector<std::string> &TargetInfo::knownChips() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const TargetInfo &t : table())
      n.push_back(t.chip);
    return n;
  }();
  return names;
}

std::string TargetInfo::str() const {
  return fmt::format("{} (cc {}.{}{}{}{}{}; {} SMs, {} B shared/block, {} registers/block, {} "
                     "threads/block, grid {}x{}x{})",
                     chip, major, minor, mmaSync ? ", mma.sync" : "", wgmma ? ", wgmma" : "",
                     tma ? ", tma" : "", setmaxnreg ? ", setmaxnreg" : "", multiprocessors,
                     sharedBytesPerBlock, registersPerBlock, maxThreadsPerBlock, maxGrid[0],
                     maxGrid[1], maxGrid[2]);
}

} // namespace sieve::runtime
