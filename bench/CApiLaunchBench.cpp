//===- CApiLaunchBench.cpp - host time of one sieve_attention call --------===//
//
// LaunchBench.cpp's measurement through the C API: the wall time of one
// sieve_attention call on a compiled kernel whose module is loaded, on the
// same problem. This binary links only libsieve_c.so and the MLIR-free
// runtime (for the device buffers), as a C caller does. Skips without a GPU.
//
//===----------------------------------------------------------------------===//
#include "sieve/runtime/BlockMask.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/sieve.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

using namespace sieve;

namespace {

// LaunchBench.cpp's problem: bf16, 128x128 tiles at density 0.25.
constexpr int64_t B = 1, H = 8, S = 1024, D = 128, kBlocks = S / 128;
constexpr int kDrainEvery = 256;

void BM_LaunchHostCApi(benchmark::State &state) {
  sieve_context ctx = nullptr;
  auto driver = runtime::CudaDriver::get(0);
  if (!driver || sieve_context_create(SIEVE_BACKEND_CUDA, 0, &ctx) != SIEVE_OK) {
    state.SkipWithError("no GPU");
    return;
  }
  const runtime::BlockMask m =
      runtime::BlockMask::random(H, kBlocks, kBlocks, 128, 128, 0.25, 20261202, true);
  sieve_problem problem{B, H, H, S, S, D, SIEVE_DTYPE_BF16, 0, 0.0};
  sieve_block_mask mask{m.heads(),  m.queryBlocks(),       m.keyBlocks(),        m.blockQ(),
                        m.blockK(), m.packedBits().data(), m.packedBits().size()};
  sieve_kernel kernel = nullptr;
  std::vector<runtime::CuDevicePtr> buffers;
  sieve_tensor t[4];
  bool ready = sieve_kernel_compile(ctx, &problem, &mask, nullptr, &kernel) == SIEVE_OK;
  for (int i = 0; ready && i < 4; ++i) {
    auto p = (*driver)->alloc(B * H * S * D * 2);
    ready = p && !(*driver)->memset8(*p, 0x3c, B * H * S * D * 2); // finite bf16 data
    if (!p)
      break;
    buffers.push_back(*p);
    t[i] = {reinterpret_cast<void *>(*p), SIEVE_DTYPE_BF16, {B, H, S, D}, {H * S * D, S * D, D, 1}};
  }
  if (ready) // the first call loads the module
    ready = sieve_attention(kernel, &t[0], &t[1], &t[2], &t[3], nullptr, nullptr) == SIEVE_OK &&
            !(*driver)->synchronize(nullptr);
  if (!ready)
    state.SkipWithError(sieve_last_error());
  int launches = 0;
  for (auto _ : state) {
    if (!ready)
      break;
    auto t0 = std::chrono::steady_clock::now();
    sieve_status status = sieve_attention(kernel, &t[0], &t[1], &t[2], &t[3], nullptr, nullptr);
    auto t1 = std::chrono::steady_clock::now();
    if (status != SIEVE_OK) {
      state.SkipWithError(sieve_last_error());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    if (++launches % kDrainEvery == 0)
      (void)(*driver)->synchronize(nullptr);
  }
  (void)(*driver)->synchronize(nullptr);
  for (auto p : buffers)
    (void)(*driver)->free(p);
  if (kernel)
    sieve_kernel_destroy(kernel);
  sieve_context_destroy(ctx);
}

BENCHMARK(BM_LaunchHostCApi)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.5);

} // namespace
