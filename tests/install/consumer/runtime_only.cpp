// Links sieve::runtime alone (no MLIR): loads an ahead-of-time artifact that
// `sieve compile` wrote and checks what it says. Without a GPU the executor
// must refuse with ErrorCode::NoGpu, not crash; with one, the kernel is
// launched on random inputs (output poisoned first) and compared with
// float64 attention (Float64Check.h) for the mask it was compiled from.
#include "Float64Check.h"

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/GpuExecutor.h"
#include "sieve/runtime/MaskFile.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace sieve;

namespace {

int launchAndCheck(runtime::GpuExecutor &gpu, const runtime::Artifact &artifact,
                   const std::string &maskPath) {
  auto kernel = gpu.load(artifact);
  auto mask = runtime::readMaskFile(maskPath);
  if (!kernel || !mask) {
    std::fprintf(stderr, "%s\n", (!kernel ? kernel.error() : mask.error()).str().c_str());
    return 1;
  }
  const runtime::ProblemShape &s = artifact.shape;
  const runtime::CudaDriver &drv = gpu.driver();
  size_t qElems = size_t(s.batch * s.headsQ * s.seqQ * s.headDim);
  size_t kElems = size_t(s.batch * s.headsKv * s.seqK * s.headDim);
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  std::vector<float> host[3] = {std::vector<float>(qElems), std::vector<float>(kElems),
                                std::vector<float>(kElems)};
  runtime::TensorView views[4];
  runtime::CuDevicePtr device[4];
  size_t elt = runtime::dtypeSize(s.dtype);
  for (int t = 0; t < 4; ++t) {
    size_t n = t == 1 || t == 2 ? kElems : qElems;
    auto p = drv.alloc(n * elt);
    if (!p) {
      std::fprintf(stderr, "%s\n", p.error().str().c_str());
      return 1;
    }
    device[t] = *p;
    std::vector<uint8_t> bytes(n * elt, 0xff); // 0xffff: NaN in f16 and bf16 (the poison)
    if (t < 3) {
      for (float &x : host[t])
        x = normal(rng);
      runtime::encodeFloats(s.dtype, host[t].data(), bytes.data(), n);
    }
    (void)drv.copyToDevice(*p, bytes.data(), bytes.size());
    int64_t heads = t == 1 || t == 2 ? s.headsKv : s.headsQ;
    int64_t seq = t == 1 || t == 2 ? s.seqK : s.seqQ;
    views[t] = runtime::TensorView::contiguous(reinterpret_cast<void *>(*p), s.dtype,
                                               {s.batch, heads, seq, s.headDim},
                                               runtime::DeviceKind::Cuda);
  }
  if (Error e = gpu.launch(**kernel, views[0], views[1], views[2], views[3], nullptr)) {
    std::fprintf(stderr, "%s\n", e.str().c_str());
    return 1;
  }
  (void)drv.synchronizeDevice();
  std::vector<uint8_t> outBytes(qElems * elt);
  (void)drv.copyToHost(outBytes.data(), device[3], outBytes.size());
  std::vector<float> out(qElems);
  runtime::decodeFloats(s.dtype, outBytes.data(), out.data(), qElems);
  // The reference sees the inputs as the kernel does: rounded to 16 bits.
  for (auto &t : host) {
    std::vector<uint8_t> rounded(t.size() * elt);
    runtime::encodeFloats(s.dtype, t.data(), rounded.data(), t.size());
    runtime::decodeFloats(s.dtype, rounded.data(), t.data(), t.size());
  }
  double err =
      relativeErrorAgainstFloat64(s, *mask, artifact.causal, artifact.scale, host[0].data(),
                                  host[1].data(), host[2].data(), out.data());
  for (auto p : device)
    (void)drv.free(p);
  std::printf("launched %s on %s: relative error %.2e against float64\n", artifact.variant.c_str(),
              drv.device().name.c_str(), err);
  return err < 1e-2 ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: runtime_only <artifact.json> <expected variant> <mask.npy>\n");
    return 2;
  }
  auto artifact = runtime::Artifact::load(argv[1]);
  if (!artifact) {
    std::fprintf(stderr, "load failed: %s\n", artifact.error().str().c_str());
    return 1;
  }
  if (artifact->variant != argv[2] || artifact->code.empty()) {
    std::fprintf(stderr, "artifact says variant '%s' with %zu bytes of code\n",
                 artifact->variant.c_str(), artifact->code.size());
    return 1;
  }
  auto gpu = runtime::GpuExecutor::create();
  if (gpu)
    return launchAndCheck(**gpu, *artifact, argv[3]);
  if (gpu.error().code() != ErrorCode::NoGpu) {
    std::fprintf(stderr, "unexpected error: %s\n", gpu.error().str().c_str());
    return 1;
  }
  std::printf("loaded %s (%s), grid %u; no GPU here: %s\n", argv[1], artifact->variant.c_str(),
              artifact->mainLaunch().grid[0], gpu.error().message().c_str());
  return 0;
}
