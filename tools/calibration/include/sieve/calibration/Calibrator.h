//===- Calibrator.h - accumulate attention mass over calls ------*- C++ -*-===//
//
// Two engines fill the same stats:
// - the CPU calibration kernel (KernelSpec::calibrate): sieve's CPU backend
//   recomputes the call's attention with an all-kept mask at the stats' tile
//   size and, in a second pass per query row, adds the row's final softmax
//   probabilities per key block (f32 per call, accumulated here in float64);
// - a host-side float64 reference (Eigen): softmax(scale q k^T) in double
//   precision, the yardstick the kernel is tested against.
// The GPU calibration variant is future work.
//
// Calls may be shorter than the stats grid: they fill its top-left blocks,
// and each query block counts the rows it really saw.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CALIBRATION_CALIBRATOR_H
#define SIEVE_CALIBRATION_CALIBRATOR_H

#include "sieve/calibration/Stats.h"
#include "sieve/models/AttentionPlan.h"
#include "sieve/runtime/TensorView.h"

#include <functional>

namespace sieve::compiler {
class Session;
}

namespace sieve::calibration {

enum class CalibrationEngine { CpuKernel, Reference };
Expected<CalibrationEngine>
parseCalibrationEngine(const std::string &name); // "kernel", "reference"

class Calibrator {
public:
  explicit Calibrator(AttentionStats stats) : stats_(std::move(stats)) {}
  /// Zeroed stats over a grid of `maxSeqQ` x `maxSeqK` tokens.
  static Expected<Calibrator> create(int64_t layers, int64_t heads, int64_t maxSeqQ,
                                     int64_t maxSeqK, int64_t blockQ, int64_t blockK);

  /// Adds one attention call: q [B, Hq, Sq, D], k [B, Hkv, Sk, D] (Hq a
  /// multiple of Hkv), host f32 views with any strides; scores are
  /// scale * q . k, with `causal` keys after the query dropped (top-left
  /// aligned). Sq and Sk must fit the grid. Rows with no key add nothing.
  Error add(int64_t layer, const runtime::TensorView &q, const runtime::TensorView &k, double scale,
            bool causal = false);
  /// The same through the CPU calibration kernel on `session` (a CPU-backend
  /// session; kernels are compiled once per shape and cached), which also
  /// needs v: q, k, v as for sieve's kernels.
  Error addWithKernel(compiler::Session &session, int64_t layer, const runtime::TensorView &q,
                      const runtime::TensorView &k, const runtime::TensorView &v, double scale,
                      bool causal = false);

  /// An AttentionPlan observer that adds every call. The calls must run
  /// every tile (the dense plan): the stats describe unpruned attention.
  /// The Calibrator must outlive the plan's use.
  /// With `kernelSession` the calls go through the CPU calibration kernel
  /// on it, else through the float64 reference.
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
  AttentionStats stats_;
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
  CalibrationEngine engine = CalibrationEngine::CpuKernel;
};

/// Runs the encoder (dense plan, CPU backend) over `sentences` one at a
/// time and returns the stats of its self-attention layers ("layer0", ...).
Expected<AttentionStats> calibrateMiniLm(const std::vector<std::string> &sentences,
                                         const MiniLmCalibration &options);

} // namespace sieve::calibration

#endif
