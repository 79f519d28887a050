// Links sieve::runtime alone (no MLIR): loads an ahead-of-time artifact that
// `sieve compile` wrote and checks what it says; on a machine without a GPU
// the executor must refuse with ErrorCode::NoGpu, not crash.
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/GpuExecutor.h"

#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: runtime_only <artifact.json> <expected variant>\n");
    return 2;
  }
  auto artifact = sieve::runtime::Artifact::load(argv[1]);
  if (!artifact) {
    std::fprintf(stderr, "load failed: %s\n", artifact.error().str().c_str());
    return 1;
  }
  if (artifact->variant != argv[2] || artifact->code.empty()) {
    std::fprintf(stderr, "artifact says variant '%s' with %zu bytes of code\n",
                 artifact->variant.c_str(), artifact->code.size());
    return 1;
  }
  auto gpu = sieve::runtime::GpuExecutor::create();
  if (gpu) {
    auto kernel = (*gpu)->load(*artifact);
    std::printf("GPU present: module %s\n", kernel ? "loaded" : kernel.error().str().c_str());
    return kernel ? 0 : 1;
  }
  if (gpu.error().code() != sieve::ErrorCode::NoGpu) {
    std::fprintf(stderr, "unexpected error: %s\n", gpu.error().str().c_str());
    return 1;
  }
  std::printf("loaded %s (%s), grid %u; no GPU here: %s\n", argv[1], artifact->variant.c_str(),
              artifact->grid[0], gpu.error().message().c_str());
  return 0;
}
