//===- GpuExecutor.h - load artifacts as CUDA modules and launch -*- C++ -*-===//
#ifndef SIEVE_RUNTIME_GPUEXECUTOR_H
#define SIEVE_RUNTIME_GPUEXECUTOR_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/BatchLayout.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/runtime/DeviceRowTables.h"
#include "sieve/runtime/Generation.h"
#include "sieve/runtime/TensorMapCache.h"
#include "sieve/runtime/TensorView.h"

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sieve::runtime {

/// A kernel loaded on one device; unloads its module when the last user
/// lets go.
class GpuKernel {
public:
  ~GpuKernel();
  const Artifact &artifact() const { return artifact_; } // `code` is dropped once loaded
  /// The function of each of Artifact::launches, in order.
  const std::vector<CuFunction> &functions() const { return functions_; }
  /// How many streams have a workspace of this kernel's kept (workspaces_).
  size_t keptWorkspaces() const {
    std::lock_guard<std::mutex> lock(workspaceMutex_);
    return workspaces_.size();
  }

private:
  friend class GpuExecutor;
  const CudaDriver *driver_ = nullptr;
  CuModule module_ = nullptr;
  std::vector<CuFunction> functions_;
  Artifact artifact_;
  std::unique_ptr<TensorMapCache> tensorMaps_; // for kernels that take TMA descriptors
  /// The workspace (Artifact::workspaceBytes: split-KV's parts, the
  /// backward's scratch) of each stream the kernel has run on, by
  /// CudaDriver::streamId, kept until the kernel is unloaded. Launches on
  /// one stream run in order, so they may share one; launches on two
  /// streams never do. Keeping it saves a stream-ordered allocation and
  /// release per call: a few microseconds of host time, as much as a decode
  /// step's launch itself (docs/generation.md, "Host cost"). Each starts
  /// zeroed: split-KV's arrival counters begin at 0, and every launch
  /// leaves them there.
  mutable std::mutex workspaceMutex_;
  mutable std::unordered_map<uint64_t, CuDevicePtr> workspaces_;
};

/// Whether PTX compiled for `chip` ("sm_80", "sm_90a") runs on `device`:
/// plain targets run on their architecture and later ones (the driver JITs
/// the PTX); arch-specific "a" targets only on exactly their architecture.
Error checkChipRuns(const std::string &chip, const DeviceInfo &device);

class GpuExecutor {
public:
  /// Fails with ErrorCode::NoGpu when no driver or device is present.
  static Expected<std::unique_ptr<GpuExecutor>> create(int ordinal = 0);

  const CudaDriver &driver() const { return *driver_; }

  /// Loads (or finds in the in-memory module cache, by cache key) the
  /// artifact's module. Thread-safe.
  Expected<std::shared_ptr<GpuKernel>> load(const Artifact &artifact);

  /// Launches on `stream` (the caller's; null is the legacy default stream)
  /// after checking the tensors against the kernel's problem shape and that
  /// they live on the GPU. Does not synchronize.
  /// A kernel that reads its mask at launch (Artifact::maskAtLaunch, the
  /// generic variant) needs `tables` uploaded for a mask of its shape;
  /// others must not be given any. A split-KV kernel (Artifact::splitsKv)
  /// uses its workspace for `stream` (GpuKernel's kept ones, zeroed when
  /// made; one of its own inside a graph capture), so concurrent launches
  /// on other streams never share one.
  /// A threshold-mode kernel (Artifact::thresholds) needs `thresholds`: f32
  /// [Hq] in device memory; others must get none.
  Error launch(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
               const TensorView &v, const TensorView &out, CuStream stream,
               const DeviceRowTables *tables = nullptr, const float *thresholds = nullptr) const;

  /// Runs one step of a generation artifact (Artifact::generation,
  /// docs/generation.md) like launch(): q and out hold the step's Sq
  /// queries, at positions step.qPos + i; k and v are the KV cache of the
  /// kernel's M positions, of which only the first step.seqKLive are read.
  /// The step travels by value in the kernel's parameters: nothing is
  /// allocated, copied to the device or compiled per step. Does not
  /// synchronize.
  Error generate(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                 const TensorView &v, const TensorView &out, const GenerationStep &step,
                 CuStream stream, const float *thresholds = nullptr) const;

  /// Runs a ragged or paged artifact (Artifact::ragged, Artifact::pageSize;
  /// docs/ragged-paged.md) like launch(), with the sequences' offsets and
  /// the page table from `layout` (host arrays, checked by
  /// checkBatchLayout): they are copied to the device on `stream`, in a
  /// buffer allocated and freed there, so the caller may reuse its arrays
  /// when this returns. Does not synchronize.
  Error runBatch(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                 const TensorView &v, const TensorView &out, const BatchLayout &layout,
                 CuStream stream, const float *thresholds = nullptr) const;

  /// Runs a calibration artifact (Artifact::calibrate) like launch() and adds
  /// each query row's probability mass per key block to `stats`: device
  /// memory holding the contiguous f32 [Hq, QB, KB] table, which the caller
  /// owns and zeroes. Does not synchronize.
  Error calibrate(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                  const TensorView &v, const TensorView &out, float *stats, CuStream stream) const;

  /// Runs a forward that saves its log-sum-exp (Artifact::savesLse) like
  /// launch() and writes each row's log-sum-exp into `lse`: device memory
  /// holding f32 [B, Hq, Sq], contiguous. A threshold-mode one needs
  /// `thresholds` as launch() does. Does not synchronize.
  Error forward(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                const TensorView &v, const TensorView &out, float *lse, CuStream stream,
                const float *thresholds = nullptr) const;

  /// Runs a backward artifact (Artifact::backward) on `stream`: the rows
  /// kernel into a workspace allocated on the stream, then the dK/dV and dQ
  /// kernels. A threshold-mode backward needs BackwardTensors::thresholds
  /// in device memory. Does not synchronize.
  Error backward(const GpuKernel &kernel, const BackwardTensors &tensors, CuStream stream) const;

  size_t cachedModules() const;

private:
  /// Every buffer a launch may name (ParamSlot::tensor): the rank-4 views
  /// by their slot number (q, k, v, out, then dout, dq, dk, dv), and the
  /// rank-1 and rank-3 buffers.
  struct Buffers {
    /// A launch's q, k, v and out (slots 0 to 3).
    Buffers(const TensorView &q, const TensorView &k, const TensorView &v, const TensorView &out)
        : views{&q, &k, &v, &out} {}
    std::array<const TensorView *, 16> views{};
    const DeviceRowTables *tables = nullptr;
    CuDevicePtr workspace = 0;
    uint64_t workspaceBytes = 0;
    /// Whether `workspace` is this call's own (allocated on the stream
    /// while it captures a graph), to be freed after the last launch.
    bool ownsWorkspace = false;
    float *stats = nullptr;
    const float *thresholds = nullptr;
    const float *lse = nullptr;
    /// A generation step's (q_pos, seq_k_live), passed by value.
    const int32_t *positions = nullptr;
    /// A ragged batch's offsets, i32 [2, B + 1], and a paged one's page
    /// table, i32 [B, pages per sequence], in device memory (0: none).
    CuDevicePtr sequences = 0, pages = 0;
  };
  /// Every launch of the artifact, in order on `stream`, each kernel's
  /// parameters found by slot in `buffers`, with the stream's workspace
  /// when the artifact has one (workspaceFor).
  Error runLaunches(const GpuKernel &kernel, Buffers &buffers, CuStream stream) const;
  /// The workspace of `kernel`'s launches on `stream` into `buffers`: the
  /// one kept for the stream (GpuKernel::workspaces_, allocated on its first
  /// call), or, while the stream captures a graph, one allocated on the
  /// stream (the graph owns it, so its replays never share the kept one).
  Error workspaceFor(const GpuKernel &kernel, Buffers &buffers, CuStream stream) const;
  /// One launch with its parameters filled in.
  Error launchOne(const GpuKernel &kernel, CuFunction fn, const KernelLaunch &launch,
                  const Buffers &buffers, CuStream stream) const;
  /// launch(), calibrate() and forward(): the checks, then the kernels.
  Error launchChecked(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                      const TensorView &v, const TensorView &out, CuStream stream,
                      const DeviceRowTables *tables, float *stats, const float *thresholds,
                      float *lse, const int32_t *positions = nullptr) const;
  /// Whether thresholds come exactly when the artifact is a threshold-mode
  /// kernel, and in device memory of this GPU.
  Error checkThresholds(const Artifact &artifact, const float *thresholds) const;
  /// Whether each tensor is device memory of this GPU, laid out as the
  /// artifact assumes.
  Error checkDeviceTensors(
      const Artifact &artifact,
      std::initializer_list<std::pair<const char *, const TensorView *>> tensors) const;

  const CudaDriver *driver_ = nullptr;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<GpuKernel>> modules_;
};

} // namespace sieve::runtime

#endif
