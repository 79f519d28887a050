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
#include "sieve/runtime/BatchLayout.h"
#include "sieve/runtime/Generation.h"
#include "sieve/runtime/TensorView.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sieve::runtime {

class CpuKernel;
struct CpuLibrary;
class CpuThreadPool;

class CpuExecutor {
public:
  CpuExecutor();
  ~CpuExecutor();

  /// JIT-compiles the artifact's host code, or returns the kernel already
  /// compiled for its cache key. Thread-safe.
  Expected<std::shared_ptr<CpuKernel>> load(const Artifact &artifact);

  /// Runs after checking the tensors: each of the kernel's phases in turn,
  /// its work units on this executor's threads with the caller's (all on
  /// the caller's for a small problem), and returns when all are done. The
  /// results do not depend on the thread count.
  /// A calibration artifact (Artifact::calibrate) also needs `stats`: the
  /// caller's contiguous f32 [Hq, QB, KB] buffer, which the kernel adds to;
  /// any other artifact must get none. A threshold-mode artifact
  /// (Artifact::thresholds) needs `thresholds`, f32 [Hq]; others none.
  /// A forward that saves its log-sum-exp (Artifact::savesLse) needs
  /// `lse`, f32 [B, Hq, Sq] contiguous; others none.
  Error run(const CpuKernel &kernel, const TensorView &q, const TensorView &k, const TensorView &v,
            const TensorView &out, float *stats = nullptr, const float *thresholds = nullptr,
            float *lse = nullptr) const;

  /// Runs one step of a generation artifact (Artifact::generation,
  /// docs/generation.md) as run() does: q and out hold the step's Sq
  /// queries, k and v the cache's M positions, of which the kernel reads
  /// the first step.seqKLive. A threshold-mode artifact needs
  /// `thresholds` as for run().
  Error generate(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                 const TensorView &v, const TensorView &out, const GenerationStep &step,
                 const float *thresholds = nullptr) const;

  /// Runs a ragged or paged artifact (Artifact::ragged, pageSize;
  /// docs/ragged-paged.md) as run() does, with the batch's layout: q and
  /// out [1, Hq, total_q, D] when ragged, k and v [1, Hkv, total_k, D] or,
  /// paged, a pool [pages, Hkv, pageSize, D]; checkBatchLayout's checks.
  Error runBatch(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                 const TensorView &v, const TensorView &out, const BatchLayout &layout,
                 const float *thresholds = nullptr) const;

  /// Runs a backward artifact (Artifact::backward) as run() does: writes
  /// dq, dk and dv after checking every tensor.
  Error backward(const CpuKernel &kernel, const BackwardTensors &tensors) const;

  /// The threads this executor's kernels run on, the caller's included:
  /// `threads` > 0 gives it a pool of its own of that size; 0 returns it to
  /// the process's pool (CpuThreadPool::shared(): SIEVE_CPU_THREADS or the
  /// machine's hardware threads, or CpuThreadPool::setShared), where it
  /// starts. Takes effect for the next run.
  void setThreads(int threads);
  int threads() const;

private:
  std::shared_ptr<CpuThreadPool> pool() const;
  Error invoke(const CpuKernel &kernel, const std::vector<void *> &buffers) const;
  /// Launch-time operands after the tensors, each checked already or
  /// null: a generation step's (q_pos, seq_k_live), a ragged batch's i32
  /// [2, B + 1] offsets, a paged batch's page table.
  struct LaunchData {
    int32_t *positions = nullptr;
    int32_t *sequences = nullptr;
    const int32_t *pages = nullptr;
  };
  /// run(), generate() and runBatch().
  Error runForward(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                   const TensorView &v, const TensorView &out, float *stats,
                   const float *thresholds, float *lse, const LaunchData &data) const;

  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<CpuKernel>> kernels_;
  // Its own pool, or null for the process's. A run that finds the pool
  // taken (by another run) runs on its caller's thread alone.
  mutable std::mutex poolMutex_;
  std::shared_ptr<CpuThreadPool> pool_;
};

} // namespace sieve::runtime

#endif
