//===- TargetInfo.h - what a GPU offers the kernel generator ----*- C++ -*-===//
//
// The one description of a chip that the passes choose kernels by, the
// compiler validates and keys artifacts by, and the runtime reads off a
// live device: its instructions (mma.sync, wgmma, TMA, setmaxnreg), its
// shared memory and registers per block, its SM count and its grid limits.
// MLIR-free, like the rest of the runtime.
//
// A chip name alone ("sm_90a") gives the figures of that chip's usual
// data-centre part (TargetInfo::forChip); a live device gives its own
// (CudaDriver's DeviceInfo::target()), and a compile for that device uses
// them, so split-KV balances over the SMs the device really has.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_TARGETINFO_H
#define SIEVE_RUNTIME_TARGETINFO_H

#include "sieve/Error.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sieve::runtime {

struct TargetInfo {
  std::string chip; // "sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"
  int major = 0, minor = 0;
  /// Instructions the generated PTX may use.
  bool mmaSync = false;    // mma.sync m16n8k16 on f16/bf16, ldmatrix, cp.async (sm_80+)
  bool wgmma = false;      // warp-group MMA (sm_90a only: an arch-specific feature)
  bool tma = false;        // cp.async.bulk.tensor with mbarrier completion (sm_90+)
  bool setmaxnreg = false; // per-warp-group register reallocation (sm_90a only)
  /// Resources.
  int64_t multiprocessors = 0;
  int64_t sharedBytesPerBlock = 0; // the most dynamic shared memory a block may opt into
  int64_t registersPerBlock = 0;   // 32-bit registers a block may hold
  int64_t maxThreadsPerBlock = 0;
  std::array<int64_t, 3> maxGrid{0, 0, 0};

  /// The figures of `chip`'s usual data-centre part (sm_80: A100, sm_86:
  /// A40, sm_89: L40S, sm_90/sm_90a: H100 SXM and H200). Unsupported: any
  /// other name, listing the known ones.
  static Expected<TargetInfo> forChip(std::string_view chip);
  /// The chips forChip knows, oldest first.
  static const std::vector<std::string> &knownChips();

  /// Whether the warp-specialized Hopper kernels (TMA loads onto mbarriers,
  /// wgmma, setmaxnreg) can run here.
  bool hopperKernels() const { return wgmma && tma && setmaxnreg; }
  /// Every field, for cache keys and messages.
  std::string str() const;
};

} // namespace sieve::runtime

#endif
