//===- Calibrator.h - accumulate attention mass over calls ------*- C++ -*-===//
//
// Three engines fill the same stats:
// - the CPU calibration kernel (KernelSpec::calibrate): sieve's CPU backend
//   recomputes the call's attention with an all-kept mask at the stats' tile
//   size and, in a second pass per query row, adds the row's final softmax
//   probabilities per key block (f32 per call, accumulated here in float64);
// - the GPU calibration kernel: the same on a GPU session (the wgmma body on
//   sm_90a where the tiles allow it, mma on sm_80 and later, the scalar simt
//   for tiles neither takes), fed the call's host tensors as bf16 device
//   copies; its f32 stats table comes back after each call and is
//   accumulated as the CPU's is;
// - a host-side float64 reference (Eigen): softmax(scale q k^T) in double
//   precision, the yardstick the kernels are tested against.
//
// Calls may be shorter than the stats grid: they fill its top-left blocks,
// and each query block counts the rows it really saw.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CALIBRATION_CALIBRATOR_H
#define SIEVE_CALIBRATION_CALIBRATOR_H

#include "sieve/calibration/Stats.h"
#include "sieve/compiler/KernelSpec.h"
#include "sieve/models/AttentionPlan.h"
#include "sieve/runtime/TensorView.h"

#include <functional>
#include <memory>

namespace sieve::compiler {
class Session;
}

namespace sieve::calibration {

class GpuCalibrationRun;

/// Which engine computes the mass.
enum class CalibrationEngine {
  Kernel,    ///< "kernel": the GPU calibration kernel when there is a GPU, else the CPU's
  CpuKernel, ///< "cpu": the CPU backend's calibration kernel
  GpuKernel, ///< "gpu": the GPU calibration kernel; fails without a GPU
  Reference, ///< "reference": float64 on the host
};
/// "kernel", "cpu", "gpu" or "reference".
Expected<CalibrationEngine> parseCalibrationEngine(const std::string &name);
const char *calibrationEngineName(CalibrationEngine engine);

/// The GPU session `engine` runs its kernel on: a CUDA session for
/// GpuKernel (ErrorCode::NoGpu naming the engine when this machine has no
/// usable GPU), and for Kernel when this machine has one; null where the
/// calls run on the host (Kernel without a GPU, CpuKernel, Reference).
Expected<std::unique_ptr<compiler::Session>> openGpuSession(CalibrationEngine engine);

class Calibrator {
public:
  explicit Calibrator(AttentionStats stats);
  Calibrator(Calibrator &&other) noexcept;
  Calibrator &operator=(Calibrator &&other) noexcept;
  ~Calibrator();
  /// Zeroed stats over a grid of `maxSeqQ` x `maxSeqK` tokens.
  static Expected<Calibrator> create(int64_t layers, int64_t heads, int64_t maxSeqQ,
                                     int64_t maxSeqK, int64_t blockQ, int64_t blockK);

  /// Adds one attention call: q [B, Hq, Sq, D], k [B, Hkv, Sk, D] (Hq a
  /// multiple of Hkv), host f32 views with any strides; scores are
  /// scale * q . k, with `causal` keys after the query dropped (top-left
  /// aligned). Sq and Sk must fit the grid. Rows with no key add nothing.
  Error add(int64_t layer, const runtime::TensorView &q, const runtime::TensorView &k, double scale,
            bool causal = false);
  /// The same through the calibration kernel of `session` (kernels are
  /// compiled once per shape and cached by the session), which also needs v
  /// (shaped like k). On a CPU session the views run as they are; on a GPU
  /// session they are copied to the GPU as contiguous bf16 (device buffers
  /// kept for the next call of the same shape) and the call synchronizes.
  Error addWithKernel(compiler::Session &session, int64_t layer, const runtime::TensorView &q,
                      const runtime::TensorView &k, const runtime::TensorView &v, double scale,
                      bool causal = false);
  /// The spec addWithKernel compiles for a call of `shape` (f32 on the CPU,
  /// bf16 on the GPU): calibrate, every tile kept at the stats' tile size.
  Expected<compiler::KernelSpec> kernelSpec(const runtime::ProblemShape &shape, double scale,
                                            bool causal) const;

  /// An AttentionPlan observer that adds every call. The calls must run
  /// every tile (the dense plan): the stats describe unpruned attention.
  /// The Calibrator must outlive the plan's use.
  /// With `kernelSession` the calls go through its calibration kernel (CPU
  /// or GPU), else through the float64 reference.
  std::function<Error(const models::AttentionCall &)>
  observer(compiler::Session *kernelSession = nullptr);
  /// Sets `plan.observe` to observer(kernelSession) and the plan's block
  /// sizes to the stats' (so the dense kernels tile as the stats do).
  void attachTo(models::AttentionPlan &plan, compiler::Session *kernelSession = nullptr);

  const AttentionStats &stats() const { return stats_; }
  AttentionStats &stats() { return stats_; }

private:
  /// Checks a call against the stats; fills the sizes.
  Error checkCall(int64_t layer, const runtime::TensorView &q, const runtime::TensorView &k);
  /// Adds a kernel's f32 stats table [Hq, QB, KB] of a call of `batch` x
  /// `seqQ` query rows to `layer`, and counts the call and its rows.
  void accumulate(int64_t layer, const std::vector<float> &mass, int64_t batch, int64_t seqQ,
                  int64_t qBlocks, int64_t kBlocks);
  AttentionStats stats_;
  /// The GPU engine's device buffers (made on its first call).
  std::unique_ptr<GpuCalibrationRun> gpu_;
};

/// Calibrating all-MiniLM-L6-v2 (tools/models) on sentences.
struct MiniLmCalibration {
  /// The model folder; empty: $SIEVE_MINILM_DIR (models::findMiniLmDir).
  std::string modelDir;
  int64_t blockQ = 16, blockK = 16;
  /// The stats grid's length in tokens; 0: the model's max_seq_length.
  int64_t maxSeq = 0;
  /// Called after each sentence with (done, total).
  std::function<void(size_t, size_t)> progress;
  CalibrationEngine engine = CalibrationEngine::Kernel;
};

/// Runs the encoder (dense plan, CPU backend) over `sentences` one at a
/// time and returns the stats of its self-attention layers ("layer0", ...).
/// Its attention calls are measured by `options.engine`: on a GPU engine
/// through a GPU session opened here (the encoder itself stays on the CPU).
/// The stats' comment names the engine and the device that ran it.
Expected<AttentionStats> calibrateMiniLm(const std::vector<std::string> &sentences,
                                         const MiniLmCalibration &options);

} // namespace sieve::calibration

#endif
