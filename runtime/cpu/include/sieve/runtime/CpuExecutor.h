//===- CpuExecutor.h - run CPU artifacts through MLIR's execution engine -*- C++ -*-===//
//
// The CPU backend: an artifact's LLVM-dialect host code is JIT-compiled once
// (per cache key) and then called with the tensors as memref descriptors.
// This part of the runtime needs MLIR; the rest of sieve::runtime does not.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_CPUEXECUTOR_H
#define SIEVE_RUNTIME_CPUEXECUTOR_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/TensorView.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sieve::runtime {

class CpuKernel;

class CpuExecutor {
public:
  CpuExecutor();
  ~CpuExecutor();

  /// JIT-compiles the artifact's host code, or returns the kernel already
  /// compiled for its cache key. Thread-safe.
  Expected<std::shared_ptr<CpuKernel>> load(const Artifact &artifact);

  /// Runs synchronously on the calling thread after checking the tensors.
  /// A calibration artifact (Artifact::calibrate) also needs `stats`: the
  /// caller's contiguous f32 [Hq, QB, KB] buffer, which the kernel adds to;
  /// any other artifact must get none. A threshold-mode artifact
  /// (Artifact::thresholds) needs `thresholds`, f32 [Hq]; others none.
  /// A forward that saves its log-sum-exp (Artifact::savesLse) needs
  /// `lse`, f32 [B, Hq, Sq] contiguous; others none.
  Error run(const CpuKernel &kernel, const TensorView &q, const TensorView &k, const TensorView &v,
            const TensorView &out, float *stats = nullptr, const float *thresholds = nullptr,
            float *lse = nullptr) const;

  /// Runs a backward artifact (Artifact::backward) synchronously: writes
  /// dq, dk and dv after checking every tensor.
  Error backward(const CpuKernel &kernel, const BackwardTensors &tensors) const;

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<CpuKernel>> kernels_;
};

} // namespace sieve::runtime

#endif
