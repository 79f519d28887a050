//===- HostCpu.cpp --------------------------------------------------------===//
#include "sieve/compiler/HostCpu.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <vector>

namespace sieve::compiler {

const HostCpu &HostCpu::get() {
  static const HostCpu host = [] {
    HostCpu h;
    h.name = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    std::vector<std::string> enabled;
    for (const auto &f : features)
      if (f.second)
        enabled.push_back(f.first().str());
    std::sort(enabled.begin(), enabled.end());
    for (const std::string &f : enabled)
      h.features += (h.features.empty() ? "+" : ",+") + f;
    auto has = [&](const char *f) {
      auto it = features.find(f);
      return it != features.end() && it->second;
    };
    // AVX-512 and AVX registers hold 16 and 8 f32; SSE, NEON and the rest 4.
    h.vectorWidth = has("avx512f") ? 16 : has("avx") ? 8 : 4;
    return h;
  }();
  return host;
}

} // namespace sieve::compiler
