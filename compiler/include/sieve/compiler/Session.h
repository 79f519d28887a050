//===- Session.h - compile and run on whichever backend is here -*- C++ -*-===//
//
// The one-stop API: pick the GPU when there is one (or the CPU backend when
// there is not, or fail clearly when the GPU was demanded), compile specs for
// that target once per cache key, and run them on caller-provided tensors.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_COMPILER_SESSION_H
#define SIEVE_COMPILER_SESSION_H

#include "sieve/Error.h"
#include "sieve/compiler/KernelCache.h"
#include "sieve/compiler/KernelSpec.h"
#include "sieve/runtime/CpuExecutor.h"
#include "sieve/runtime/GpuExecutor.h"

#include <memory>
#include <string>

namespace sieve::compiler {

enum class BackendChoice { Auto, Cuda, Cpu };
Expected<BackendChoice> parseBackendChoice(const std::string &name);

class Session {
public:
  /// Auto: CUDA if a driver and device are present, else CPU. Cuda: fails
  /// with ErrorCode::NoGpu (and the driver's reason) when there is no GPU.
  /// Kernels come through `cache`, or KernelCache::shared() when null.
  static Expected<std::unique_ptr<Session>> create(BackendChoice choice = BackendChoice::Auto,
                                                   int device = 0,
                                                   std::shared_ptr<KernelCache> cache = nullptr);

  runtime::Backend backend() const { return target_.backend; }
  /// The target specs are compiled for (the device's chip, or the host).
  const Target &target() const { return target_; }
  /// "NVIDIA H100 80GB HBM3 (sm_90a)" or "host CPU".
  std::string deviceName() const;
  runtime::GpuExecutor *gpu() { return gpu_.get(); }
  /// The CPU backend's executor (its thread count: CpuExecutor::setThreads),
  /// null on a GPU session.
  runtime::CpuExecutor *cpu() { return cpu_.get(); }

  /// Compiles `spec` for this session's target (spec.target is overwritten)
  /// through the kernel cache: memory, then the cache folder, then the
  /// compiler. `source` says which answered.
  Expected<std::shared_ptr<const runtime::Artifact>>
  compile(KernelSpec spec, runtime::CacheSource *source = nullptr);
  KernelCache &cache() { return *cache_; }

  /// Runs an artifact of this session's backend. GPU launches go on
  /// `stream` and are not synchronized; CPU runs finish before returning.
  /// A threshold-mode artifact (Artifact::thresholds) needs `thresholds`,
  /// f32 [Hq] (host memory on the CPU backend, device memory on the GPU).
  /// A generic artifact (Artifact::maskAtLaunch) needs `tables` made by
  /// uploadMask for the mask to apply.
  Error run(const runtime::Artifact &artifact, const runtime::TensorView &q,
            const runtime::TensorView &k, const runtime::TensorView &v,
            const runtime::TensorView &out, runtime::CuStream stream = nullptr,
            const runtime::DeviceRowTables *tables = nullptr, const float *thresholds = nullptr);

  /// Runs one step of a generation artifact (KernelSpec::generation,
  /// docs/generation.md): q and out hold the step's Sq queries, k and v
  /// the KV cache of the kernel's M positions, of which the first
  /// step.seqKLive are read (0: q_pos + Sq). One compile serves every step;
  /// on a GPU the step goes by value in the kernel's parameters (nothing is
  /// allocated or copied per step) and the launch does not synchronize.
  Error generate(const runtime::Artifact &artifact, const runtime::TensorView &q,
                 const runtime::TensorView &k, const runtime::TensorView &v,
                 const runtime::TensorView &out, const runtime::GenerationStep &step,
                 runtime::CuStream stream = nullptr, const float *thresholds = nullptr);

  /// Runs a ragged or paged artifact (KernelSpec::ragged, pageSize;
  /// docs/ragged-paged.md) with its batch's layout: the cumulative
  /// offsets of the sequences packed in q, out (and k, v), or the page
  /// table K and V are read through. One compile serves every layout. The
  /// CPU backend only, for now.
  Error runBatch(const runtime::Artifact &artifact, const runtime::TensorView &q,
                 const runtime::TensorView &k, const runtime::TensorView &v,
                 const runtime::TensorView &out, const runtime::BatchLayout &layout,
                 runtime::CuStream stream = nullptr, const float *thresholds = nullptr);

  /// Runs a calibration artifact (KernelSpec::calibrate): as run(), and adds
  /// each query row's probability mass per key block to `stats`, a
  /// contiguous f32 [Hq, QB, KB] buffer the caller owns and zeroes (host
  /// memory on the CPU backend, device memory on the GPU, where the launch
  /// goes on `stream` and does not synchronize).
  Error calibrate(const runtime::Artifact &artifact, const runtime::TensorView &q,
                  const runtime::TensorView &k, const runtime::TensorView &v,
                  const runtime::TensorView &out, float *stats, runtime::CuStream stream = nullptr);

  /// Runs a forward artifact that saves its log-sum-exp (KernelSpec::saveLse):
  /// as run(), and writes each query row's natural-log log-sum-exp into
  /// `lse`, a contiguous f32 [B, Hq, Sq] buffer in the tensors' memory. A
  /// threshold-mode artifact needs `thresholds` as run() does.
  Error forward(const runtime::Artifact &artifact, const runtime::TensorView &q,
                const runtime::TensorView &k, const runtime::TensorView &v,
                const runtime::TensorView &out, float *lse, runtime::CuStream stream = nullptr,
                const float *thresholds = nullptr);

  /// Runs a backward artifact (KernelSpec::backward): dq, dk, dv from the
  /// forward's q, k, v, out and lse and the upstream gradient dout (and, in
  /// threshold mode, the forward's thresholds: BackwardTensors::thresholds).
  /// GPU launches go on `stream` and are not synchronized.
  Error backward(const runtime::Artifact &artifact, const runtime::BackwardTensors &tensors,
                 runtime::CuStream stream = nullptr);

  /// The row tables of `mask` on this session's GPU, for generic artifacts
  /// of query length `seqQ` and the `causal` rule (KernelSpec::causalRule).
  Expected<std::unique_ptr<runtime::DeviceRowTables>>
  uploadMask(const runtime::BlockMask &mask, int64_t seqQ, runtime::CausalRule causal);

private:
  Session() = default;
  /// Whether `artifact` was compiled for this session's backend.
  Error checkBackend(const runtime::Artifact &artifact) const;
  Target target_;
  std::unique_ptr<runtime::GpuExecutor> gpu_;
  std::unique_ptr<runtime::CpuExecutor> cpu_;
  std::shared_ptr<KernelCache> cache_;
};

} // namespace sieve::compiler

#endif
