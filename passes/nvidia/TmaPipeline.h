//===- TmaPipeline.h - the TMA/mbarrier pipeline of the Hopper kernels -*- C++ -*-===//
//
// The Hopper kernels (the forward and the backward's dK/dV and dQ kernels)
// stream tiles through a ring of `stages` shared-memory buffers that a
// producer fills by TMA and consumer warp groups drain, as CUTLASS's
// PipelineTmaAsync does. Step t of the ring uses stage t % stages with
// phase parity (t / stages) % 2, guarded by mbarriers:
//
//   full(s, i)  i < fullPerStage: completes when the bytes committed on it
//               (arrive.expect_tx) have landed, plus any plain arrivals.
//               The forward has two per stage (K and V land separately, so
//               S = Q·Kᵀ starts before V is in), the backward one.
//   empty(s)    completes when every consumer thread has released the stage.
//
// plus one `resident` barrier for the tiles a block loads once (Q in the
// forward, a pair in the backward). Barrier ids: resident 0, full(s, i)
// 1 + i * stages + s, empty(s) 1 + fullPerStage * stages + s.
//
// The producer acquires step t (waits on empty, whose first pass over the
// ring returns at once), commits the bytes of each full barrier and issues
// the TMA copies; consumers wait on full and release the stage.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_TMAPIPELINE_H
#define SIEVE_PASSES_NVIDIA_TMAPIPELINE_H

#include "nvidia/WgmmaEmitter.h"

#include <functional>

namespace sieve::passes {

/// Where step `step` of the ring stands: its stage (step % stages) and the
/// phase parity (i1) its barriers are waited on with (the producer's, on
/// empty, one phase behind the consumers', on full).
struct PipelineState {
  mlir::Value step, stage, phase;
};

class TmaPipeline {
public:
  /// Creates the barriers of a ring of `stages` buffers with `fullPerStage`
  /// full barriers each, for tiles of `sh` that `e` loads.
  TmaPipeline(WgmmaEmitter &e, const SwizzledShared &sh, int64_t stages, int64_t fullPerStage);

  /// Thread `threadId` 0 initializes the barriers (resident: one arrival;
  /// full: `fullArrivals`; empty: `emptyArrivals`) and fences them for the
  /// TMA unit, then the block synchronizes. Sets `leader`.
  void init(mlir::Value threadId, int64_t fullArrivals, int64_t emptyArrivals);
  /// Whether this thread is the one that initialized the barriers (thread 0):
  /// it issues the TMA copies.
  mlir::Value leader;

  /// The tiles loaded once: commit their bytes, copy them, wait for them.
  void commitResident(int64_t bytes);
  void copyResident(mlir::Value desc, mlir::Value firstRow, mlir::Value head, mlir::Value batch,
                    int64_t rows, int64_t offset);
  void waitResident();

  /// The producer's loop over `numSteps` steps: each acquires its stage
  /// (waits until every consumer released it), then runs body(state).
  void producerLoop(mlir::Value numSteps, const std::function<void(const PipelineState &)> &body);
  /// arrive.expect_tx on full(state, i): this thread's arrival, `bytes`
  /// more to land on it.
  void commit(const PipelineState &state, int64_t i, int64_t bytes);
  /// The TMA copy of a `rows` x D tile (rows from `firstRow` of `head` and
  /// `batch`) to byte `offset` of shared memory, slab by slab (e.slab),
  /// completing on full(state, i).
  void copy(const PipelineState &state, int64_t i, mlir::Value desc, mlir::Value firstRow,
            mlir::Value head, mlir::Value batch, int64_t rows, int64_t offset);
  /// A plain arrival on full(state, i), with release semantics: what this
  /// thread stored in the stage is visible to consumers past the wait.
  void arrive(const PipelineState &state, int64_t i);
  /// Runs `body(s)` for the static stage s equal to the state's run-time
  /// stage (shared-memory views take static offsets).
  void forStage(const PipelineState &state, const std::function<void(int64_t)> &body);

  /// The consumers' state of step `step`.
  PipelineState consumerState(mlir::Value step);
  /// Waits until full(state, i) has completed.
  void consumerWait(const PipelineState &state, int64_t i);
  /// This thread is done reading the stage.
  void consumerRelease(const PipelineState &state);

private:
  WgmmaEmitter &e;
  const SwizzledShared &sh;
  int64_t stages, fullPerStage;
  mlir::Value group; // the mbarriers
  mlir::Value ticks; // suspend-time hint of each try_wait

  mlir::Value resident() { return e.idx(0); }
  mlir::Value full(mlir::Value stage, int64_t i) { return e.add(stage, 1 + i * stages); }
  mlir::Value empty(mlir::Value stage) { return e.add(stage, 1 + fullPerStage * stages); }
  /// The phase parity step t waits on; the producer's first pass over the
  /// ring finds every buffer free (`flip`).
  mlir::Value parity(mlir::Value t, bool flip);
  void initBarrier(int64_t id, int64_t arrivals);
  void wait(mlir::Value id, mlir::Value phase);
  void expectBytes(mlir::Value id, int64_t bytes);
  void loadTile(mlir::Value desc, mlir::Value barrier, mlir::Value firstRow, mlir::Value head,
                mlir::Value batch, int64_t rows, int64_t offset);
};

} // namespace sieve::passes

#endif
