//===- GpuKernelTiming.h - time one compiled kernel on the GPU -*- C++ -*-===//
//
// The GPU suites' common piece: the process's CUDA session, and the timing
// loop (CUDA events around each launch, split rows' merge included, on a
// warm or a cold L2) on inputs uploaded once, outside the timing.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_BENCH_GPUKERNELTIMING_H
#define SIEVE_BENCH_GPUKERNELTIMING_H

#include "sieve/compiler/Session.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace sieve::bench {

/// The process's session on GPU 0, or null without a GPU.
compiler::Session *gpuSession();

/// Fills tensor `which` (0 q, 1 k, 2 v) of [B, H, S, D] elements, row-major
/// BHSD, with the values to upload (they are rounded to the spec's dtype).
using InputFill =
    std::function<void(int which, const std::array<int64_t, 4> &sizes, std::vector<float> &values)>;
/// Standard-normal values, as the peers get (bench/peers): on an H100 the
/// tensor cores draw less power on constant data and then hold higher
/// clocks, so constant inputs flatter a kernel by ~10% on dense rows.
void standardNormalInputs(int which, const std::array<int64_t, 4> &sizes,
                          std::vector<float> &values);

/// How timeKernel brackets a launch.
struct TimingOptions {
  /// Before each launch (untimed), read a buffer of five times the L2's
  /// size (ColdL2.h), so the launch reads its inputs from HBM, not from the
  /// L2 the previous launch left warm: what a memory floor is measured
  /// against (a model's layers each read their own KV cache). The read,
  /// ~0.1 ms of GPU work, also holds the stream while the host issues the
  /// launch, so the event pair brackets the kernels alone, not the host's
  /// launch work (which otherwise dominates launches of a few microseconds).
  bool coldCache = false;
};

/// Compiles `spec`, uploads inputs made by `fill` (and, for a threshold-mode
/// spec, `thresholds`, f32 [Hq]; for a calibration spec, a stats table),
/// then times its launches. Reports TFLOP/s
/// on the mask's kept tiles and the kernel's configuration as the label.
/// Returns the median launch time in ms (0 when it could not run). Tensors
/// over 2^27 elements repeat the fill of their first 2^24 elements (the
/// fill sees that piece as [1, 1, rows, D]).
double timeKernel(benchmark::State &state, compiler::Session *session,
                  const compiler::KernelSpec &spec, const InputFill &fill = standardNormalInputs,
                  const std::vector<float> &thresholds = {}, TimingOptions options = {});

/// The median time in ms of a device-to-device copy of `bytes` (read once,
/// written once), each copy timed as timeKernel times a launch with
/// `options` (on a cold L2 with coldCache). A copy of half a kernel's bytes
/// is the floor measured at that kernel's size: at a few megabytes the
/// copy's own start-up and HBM latency are a visible share of it, which
/// the 1 GiB bandwidth of copyBandwidth does not show. 0 when it failed.
double timeDeviceCopy(compiler::Session *session, size_t bytes, TimingOptions options,
                      int iterations = 50);

/// The device's copy bandwidth in bytes/s: a 1 GiB cuMemcpyDtoD, median of
/// 10 after 2 to warm up, counting each byte read and written (2 GiB
/// moved); 0 when it could not be measured. The memory floor of a kernel
/// is the bytes it must read over this.
double copyBandwidth(compiler::Session *session);

} // namespace sieve::bench

#endif
