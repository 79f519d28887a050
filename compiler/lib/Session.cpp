//===- Session.cpp --------------------------------------------------------===//
#include "sieve/compiler/Session.h"

namespace sieve::compiler {

using runtime::Backend;

Expected<BackendChoice> parseBackendChoice(const std::string &name) {
  if (name == "auto")
    return BackendChoice::Auto;
  if (name == "cuda" || name == "gpu")
    return BackendChoice::Cuda;
  if (name == "cpu")
    return BackendChoice::Cpu;
  return Error(ErrorCode::InvalidArgument,
               "unknown backend '" + name + "' (expected auto, cuda or cpu)");
}

Expected<std::unique_ptr<Session>> Session::create(BackendChoice choice, int device,
                                                   std::shared_ptr<KernelCache> cache) {
  std::unique_ptr<Session> s(new Session());
  s->cache_ = cache ? std::move(cache) : KernelCache::shared();
  if (choice != BackendChoice::Cpu) {
    auto gpu = runtime::GpuExecutor::create(device);
    if (gpu) {
      s->gpu_ = std::move(*gpu);
      // Kernels for this device are generated for its own SM count and
      // shared memory, read off the driver.
      auto device = s->gpu_->driver().device().target();
      if (!device)
        return device.error().withContext("this session's GPU is older than sm_80");
      s->target_ = Target::of(*device);
      return s;
    }
    if (choice == BackendChoice::Cuda)
      return gpu.error().withContext("the CUDA backend was requested");
  }
  s->cpu_ = std::make_unique<runtime::CpuExecutor>();
  s->target_ = Target::cpu();
  return s;
}

std::string Session::deviceName() const {
  if (gpu_)
    return gpu_->driver().device().name + " (" + target_.chip + ")";
  return "host CPU";
}

Expected<std::shared_ptr<const runtime::Artifact>> Session::compile(KernelSpec spec,
                                                                    runtime::CacheSource *source) {
  spec.target = target_;
  return cache_->get(spec, source);
}

Expected<std::unique_ptr<runtime::DeviceRowTables>>
Session::uploadMask(const runtime::BlockMask &mask, int64_t seqQ, runtime::CausalRule causal) {
  if (!gpu_)
    return Error(ErrorCode::Unsupported,
                 "run-time mask tables are for the generic GPU kernel; this session runs on the "
                 "CPU");
  return runtime::DeviceRowTables::upload(gpu_->driver(), mask, seqQ, causal);
}

Error Session::checkBackend(const runtime::Artifact &artifact) const {
  if (artifact.backend != target_.backend)
    return Error(ErrorCode::InvalidArgument,
                 std::string("artifact is for the ") + runtime::backendName(artifact.backend) +
                     " backend, this session runs " + runtime::backendName(target_.backend));
  return Error::success();
}

namespace {

/// Loads `artifact` on whichever executor the session has and runs it with
/// onGpu(kernel) or onCpu(kernel).
template <typename OnGpu, typename OnCpu>
Error dispatch(runtime::GpuExecutor *gpu, runtime::CpuExecutor *cpu,
               const runtime::Artifact &artifact, OnGpu onGpu, OnCpu onCpu) {
  if (gpu) {
    auto kernel = gpu->load(artifact);
    if (!kernel)
      return kernel.error();
    return onGpu(**kernel);
  }
  auto kernel = cpu->load(artifact);
  if (!kernel)
    return kernel.error();
  return onCpu(**kernel);
}

} // namespace

Error Session::run(const runtime::Artifact &artifact, const runtime::TensorView &q,
                   const runtime::TensorView &k, const runtime::TensorView &v,
                   const runtime::TensorView &out, runtime::CuStream stream,
                   const runtime::DeviceRowTables *tables, const float *thresholds) {
  if (Error e = checkBackend(artifact))
    return e;
  return dispatch(
      gpu_.get(), cpu_.get(), artifact,
      [&](const runtime::GpuKernel &kernel) {
        return gpu_->launch(kernel, q, k, v, out, stream, tables, thresholds);
      },
      [&](const runtime::CpuKernel &kernel) {
        return cpu_->run(kernel, q, k, v, out, /*stats=*/nullptr, thresholds);
      });
}

Error Session::generate(const runtime::Artifact &artifact, const runtime::TensorView &q,
                        const runtime::TensorView &k, const runtime::TensorView &v,
                        const runtime::TensorView &out, const runtime::GenerationStep &step,
                        runtime::CuStream stream, const float *thresholds) {
  if (Error e = checkBackend(artifact))
    return e;
  if (!artifact.generation)
    return Error(ErrorCode::InvalidArgument,
                 "generate() needs an artifact compiled with KernelSpec::generation");
  return dispatch(
      gpu_.get(), cpu_.get(), artifact,
      [&](const runtime::GpuKernel &kernel) {
        return gpu_->generate(kernel, q, k, v, out, step, stream, thresholds);
      },
      [&](const runtime::CpuKernel &kernel) {
        return cpu_->generate(kernel, q, k, v, out, step, thresholds);
      });
}

Error Session::runBatch(const runtime::Artifact &artifact, const runtime::TensorView &q,
                        const runtime::TensorView &k, const runtime::TensorView &v,
                        const runtime::TensorView &out, const runtime::BatchLayout &layout,
                        runtime::CuStream stream, const float *thresholds) {
  if (Error e = checkBackend(artifact))
    return e;
  if (!artifact.ragged && !artifact.pageSize)
    return Error(ErrorCode::InvalidArgument,
                 "runBatch() needs an artifact compiled with KernelSpec::ragged or a pageSize");
  return dispatch(
      gpu_.get(), cpu_.get(), artifact,
      [&](const runtime::GpuKernel &kernel) {
        return gpu_->runBatch(kernel, q, k, v, out, layout, stream, thresholds);
      },
      [&](const runtime::CpuKernel &kernel) {
        return cpu_->runBatch(kernel, q, k, v, out, layout, thresholds);
      });
}

Error Session::forward(const runtime::Artifact &artifact, const runtime::TensorView &q,
                       const runtime::TensorView &k, const runtime::TensorView &v,
                       const runtime::TensorView &out, float *lse, runtime::CuStream stream,
                       const float *thresholds) {
  if (Error e = checkBackend(artifact))
    return e;
  if (!artifact.savesLse)
    return Error(ErrorCode::InvalidArgument,
                 "forward() needs an artifact compiled with KernelSpec::saveLse");
  if (!lse)
    return Error(ErrorCode::InvalidArgument, "forward: the lse buffer is null");
  return dispatch(
      gpu_.get(), cpu_.get(), artifact,
      [&](const runtime::GpuKernel &kernel) {
        return gpu_->forward(kernel, q, k, v, out, lse, stream, thresholds);
      },
      [&](const runtime::CpuKernel &kernel) {
        return cpu_->run(kernel, q, k, v, out, nullptr, thresholds, lse);
      });
}

Error Session::backward(const runtime::Artifact &artifact, const runtime::BackwardTensors &tensors,
                        runtime::CuStream stream) {
  if (Error e = checkBackend(artifact))
    return e;
  return dispatch(
      gpu_.get(), cpu_.get(), artifact,
      [&](const runtime::GpuKernel &kernel) { return gpu_->backward(kernel, tensors, stream); },
      [&](const runtime::CpuKernel &kernel) { return cpu_->backward(kernel, tensors); });
}

Error Session::calibrate(const runtime::Artifact &artifact, const runtime::TensorView &q,
                         const runtime::TensorView &k, const runtime::TensorView &v,
                         const runtime::TensorView &out, float *stats, runtime::CuStream stream) {
  if (!artifact.calibrate)
    return Error(ErrorCode::InvalidArgument,
                 "calibrate needs an artifact compiled with KernelSpec::calibrate");
  if (!stats)
    return Error(ErrorCode::InvalidArgument, "calibrate: the stats buffer is null");
  return dispatch(
      gpu_.get(), cpu_.get(), artifact,
      [&](const runtime::GpuKernel &kernel) {
        return gpu_->calibrate(kernel, q, k, v, out, stats, stream);
      },
      [&](const runtime::CpuKernel &kernel) { return cpu_->run(kernel, q, k, v, out, stats); });
}

} // namespace sieve::compiler
