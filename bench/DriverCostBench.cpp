//===- DriverCostBench.cpp - host time of the driver calls a launch is made of ===//
//
// A decode step is a few microseconds of host work (docs/generation.md,
// "Host cost"), nearly all of it driver calls. These rows time each kind
// of call alone, wall time on the host, so a step's host cost can be
// accounted for call by call:
// - BM_DriverPointerCheck: cuPointerGetAttribute (the device-memory check
//   every tensor of a launch gets);
// - BM_DriverStreamQueries: cuStreamGetId and cuStreamIsCapturing (how a
//   launch finds its stream's kept workspace);
// - BM_DriverAllocFreeAsync: a stream-ordered allocation and release from
//   sieve's pool (what a split-KV call paid before its workspace was kept);
// - BM_DriverLaunchEmpty/P/pdl: cuLaunchKernel (pdl 0) or cuLaunchKernelEx
//   as a programmatic dependent launch (pdl 1) of an empty kernel taking P
//   8-byte parameters (a decode kernel takes about 100).
// The stream is drained outside the timing every few hundred calls.
// Skips without a GPU.
//
//===----------------------------------------------------------------------===//
#include "GpuKernelTiming.h"

#include "sieve/runtime/CudaDriver.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <vector>

using namespace sieve;

namespace {

constexpr int kDrainEvery = 256;

const runtime::CudaDriver *driverOrSkip(benchmark::State &state) {
  compiler::Session *session = bench::gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return nullptr;
  }
  return &session->gpu()->driver();
}

/// Times `call` per iteration (wall time), draining the stream now and then.
template <typename Call>
void timeCalls(benchmark::State &state, const runtime::CudaDriver &drv, Call call) {
  int calls = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    Error e = call();
    auto t1 = std::chrono::steady_clock::now();
    if (e) {
      state.SkipWithError(e.str().c_str());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    if (++calls % kDrainEvery == 0)
      (void)drv.synchronize(nullptr);
  }
  (void)drv.synchronize(nullptr);
}

void BM_DriverPointerCheck(benchmark::State &state) {
  const runtime::CudaDriver *drv = driverOrSkip(state);
  if (!drv)
    return;
  auto p = drv->alloc(1 << 20);
  if (!p) {
    state.SkipWithError(p.error().str().c_str());
    return;
  }
  const void *ptr = reinterpret_cast<const void *>(*p);
  timeCalls(state, *drv, [&]() -> Error {
    return drv->isDevicePointer(ptr) ? Error::success()
                                     : Error(ErrorCode::Internal, "not device memory");
  });
  (void)drv->free(*p);
}

void BM_DriverStreamQueries(benchmark::State &state) {
  const runtime::CudaDriver *drv = driverOrSkip(state);
  if (!drv)
    return;
  timeCalls(state, *drv, [&]() -> Error {
    Expected<uint64_t> id = drv->streamId(nullptr);
    if (!id)
      return id.error();
    Expected<bool> capturing = drv->isCapturing(nullptr);
    return capturing ? Error::success() : capturing.error();
  });
}

void BM_DriverAllocFreeAsync(benchmark::State &state) {
  const runtime::CudaDriver *drv = driverOrSkip(state);
  if (!drv)
    return;
  timeCalls(state, *drv, [&]() -> Error {
    auto p = drv->allocAsync(size_t(1) << 20, nullptr);
    if (!p)
      return p.error();
    return drv->freeAsync(*p, nullptr);
  });
}

/// PTX of an empty kernel `empty` of `params` u64 parameters (sm_80 and up).
std::string emptyKernelPtx(int64_t params) {
  std::string list;
  for (int64_t i = 0; i < params; ++i)
    list += fmt::format("{}.param .u64 p{}", i ? ", " : "", i);
  return fmt::format(".version 8.0\n.target sm_80\n.address_size 64\n"
                     ".visible .entry empty({}) {{ ret; }}\n",
                     list);
}

void BM_DriverLaunchEmpty(benchmark::State &state) {
  const runtime::CudaDriver *drv = driverOrSkip(state);
  if (!drv)
    return;
  const int64_t params = state.range(0);
  const bool pdl = state.range(1) != 0;
  if (pdl && drv->device().major < 9) {
    state.SkipWithError("programmatic dependent launch needs sm_90");
    return;
  }
  auto module = drv->loadModule(emptyKernelPtx(params));
  if (!module) {
    state.SkipWithError(module.error().str().c_str());
    return;
  }
  auto fn = drv->getFunction(*module, "empty");
  if (!fn) {
    state.SkipWithError(fn.error().str().c_str());
    (void)drv->unloadModule(*module);
    return;
  }
  std::vector<uint64_t> values(params, 0);
  std::vector<void *> pointers(params);
  for (int64_t i = 0; i < params; ++i)
    pointers[i] = &values[i];
  const uint32_t grid[3] = {132, 1, 1}, block[3] = {128, 1, 1};
  timeCalls(state, *drv,
            [&] { return drv->launch(*fn, grid, block, 0, nullptr, pointers.data(), pdl); });
  (void)drv->unloadModule(*module);
}

BENCHMARK(BM_DriverPointerCheck)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.2);
BENCHMARK(BM_DriverStreamQueries)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.2);
BENCHMARK(BM_DriverAllocFreeAsync)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.2);
BENCHMARK(BM_DriverLaunchEmpty)
    ->ArgsProduct({{0, 32, 128}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.2);

} // namespace
