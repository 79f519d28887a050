//===- Artifact.h - a compiled kernel and how to launch it ------*- C++ -*-===//
//
// What the compiler hands the runtime: code (PTX, or LLVM-dialect host code
// for the CPU backend), the entry point, the launch geometry and the order of
// the kernel parameters. It is plain data so that `sieve compile` can write it
// ahead of time and a runtime without MLIR can load it.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_ARTIFACT_H
#define SIEVE_RUNTIME_ARTIFACT_H

#include "sieve/Error.h"
#include "sieve/runtime/DType.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sieve::runtime {

enum class Backend { Cuda, Cpu };
const char *backendName(Backend backend);

/// The problem an artifact was specialized for; launches must match it.
struct ProblemShape {
  int64_t batch = 0, headsQ = 0, headsKv = 0, seqQ = 0, seqK = 0, headDim = 0;
  DType dtype = DType::F32;
  bool operator==(const ProblemShape &o) const {
    return batch == o.batch && headsQ == o.headsQ && headsKv == o.headsKv && seqQ == o.seqQ &&
           seqK == o.seqK && headDim == o.headDim && dtype == o.dtype;
  }
  std::string str() const;
};

/// The kernels take each tensor as an MLIR memref descriptor, expanded into
/// scalar parameters: allocated pointer, aligned pointer, offset, 4 sizes,
/// 4 strides. A slot says which of those a parameter is. Hopper kernels
/// also take TMA descriptors (`TensorMap`): the device address of a
/// 128-byte CUtensorMap of the tensor whose box is `boxCols` x `boxRows`
/// (128-byte swizzle), which the runtime encodes at launch.
/// The generic kernel also takes the mask's row tables (RowTables.h) as
/// rank-1 memref descriptors: "tensors" 4-7 (kFirstTable + 0 heads, 1 query
/// blocks, 2 row spans, 3 key blocks), supplied at launch. Kernels with
/// split-KV rows take the f32 workspace the runtime allocates per launch as
/// a rank-1 memref descriptor, "tensor" 8 (kWorkspace).
enum class ParamField { AllocatedPtr, AlignedPtr, Offset, Size, Stride, TensorMap };
struct ParamSlot {
  static constexpr int kFirstTable = 4;
  static constexpr int kWorkspace = 8;
  /// The calibration variant's f32 stats [Hq, QB, KB] (contiguous, rank 3).
  static constexpr int kStats = 9;
  /// Threshold mode's f32 thresholds [Hq] (contiguous, rank 1).
  static constexpr int kThresholds = 10;
  /// The per-row log-sum-exp, f32 [B, Hq, Sq] (contiguous, rank 3): written
  /// by a forward that saves it, read by the backward.
  static constexpr int kLse = 11;
  /// The backward's rank-4 tensors: dout (like out), dq, dk, dv.
  static constexpr int kDout = 12, kDq = 13, kDk = 14, kDv = 15;
  int tensor = 0; // 0 q, 1 k, 2 v, 3 out, 4-7 row tables, 8 workspace, 9 stats, 10 thresholds,
                  // 11 lse, 12 dout, 13 dq, 14 dk, 15 dv
  ParamField field = ParamField::AlignedPtr;
  int dim = 0;                      // for Size and Stride
  int64_t boxRows = 0, boxCols = 0; // for TensorMap
  bool operator==(const ParamSlot &o) const {
    return tensor == o.tensor && field == o.field && dim == o.dim && boxRows == o.boxRows &&
           boxCols == o.boxCols;
  }
};
/// The standard layout of four rank-4 memref descriptors.
std::vector<ParamSlot> memrefDescriptorParams(int numTensors = 4);

/// The second kernel of a split-KV artifact: it merges the parts that long
/// rows were cut into (their partial outputs in the workspace) into `out`.
/// It runs after the attention kernel, on the same stream.
struct CombineLaunch {
  std::string entry; // empty: the artifact has no split rows
  std::array<uint32_t, 3> grid{1, 1, 1};
  std::array<uint32_t, 3> block{1, 1, 1};
  std::vector<ParamSlot> params;
  uint64_t workspaceBytes = 0; // the f32 buffer both kernels take
};

/// A further kernel of a multi-kernel artifact (the backward's dK/dV and
/// dQ kernels), launched after the main one on the same stream.
struct KernelLaunch {
  std::string entry;
  std::array<uint32_t, 3> grid{1, 1, 1};
  std::array<uint32_t, 3> block{1, 1, 1};
  uint32_t sharedBytes = 0;
  std::vector<ParamSlot> params;
};

struct Artifact {
  static constexpr const char *kFormat = "sieve-artifact";
  static constexpr int kVersion = 5;

  Backend backend = Backend::Cpu;
  std::string chip;  // "sm_90a", "sm_80", or "host"
  std::string entry; // kernel name (CUDA) or function symbol (CPU)
  std::string code;  // PTX text, or LLVM-dialect MLIR text
  std::array<uint32_t, 3> grid{1, 1, 1};
  std::array<uint32_t, 3> block{1, 1, 1};
  uint32_t sharedBytes = 0; // dynamic shared memory
  std::string variant;      // "wgmma", "mma", "simt" (CUDA) or "loops" (CPU)
  std::string config;       // the kernel configuration the compiler chose, for people
  /// Layout the kernel assumes of every tensor: the head dimension has stride
  /// 1 (`unitInnerStride`), and the base and all other strides are multiples
  /// of `alignBytes` bytes (0: no alignment assumed). Launches check both.
  bool unitInnerStride = false;
  uint32_t alignBytes = 0;
  std::vector<ParamSlot> params;
  ProblemShape shape;
  bool causal = false;
  /// The calibration variant (KernelSpec::calibrate): the kernel takes a
  /// fifth argument, the f32 stats [Hq, QB, KB] it adds probability mass to
  /// (on the GPU, parameter "tensor" 9, ParamSlot::kStats).
  bool calibrate = false;
  /// Threshold mode (KernelSpec::thresholds): the kernel takes a fifth
  /// argument, the f32 per-head score thresholds [Hq] (on the GPU,
  /// parameter "tensor" 10, ParamSlot::kThresholds).
  bool thresholds = false;
  double scale = 0;
  int64_t keptTiles = 0, totalTiles = 0;
  int64_t blockQ = 0, blockK = 0; // the mask's tile size
  /// The forward saves each query row's log-sum-exp for the backward
  /// (KernelSpec::saveLse): the kernel takes an f32 [B, Hq, Sq] output
  /// (on the GPU, parameter "tensor" 11, ParamSlot::kLse).
  bool savesLse = false;
  /// The backward pass (KernelSpec::backward): the kernels take q, k, v,
  /// out, dout, lse and write dq, dk, dv. On the GPU the main kernel
  /// computes delta = rowsum(dout * out) into an f32 scratch of
  /// `scratchBytes` (parameter "tensor" 8) and `followUps` (dK/dV, then dQ)
  /// run after it.
  bool backward = false;
  std::vector<KernelLaunch> followUps;
  uint64_t scratchBytes = 0;
  /// Split-KV: the combine kernel and the workspace (none when `entry` is empty).
  CombineLaunch combine;
  bool hasCombine() const { return !combine.entry.empty(); }
  /// Whether the kernel reads the mask at launch (the generic variant):
  /// launches must then pass row tables made for this shape.
  bool maskAtLaunch() const;
  std::string cacheKey;        // hex digest, stable across runs and machines
  std::string compilerVersion; // the sieve build that made it

  /// Metadata as JSON (everything but `code`).
  std::string metadataJson() const;
  /// Checks `code` against the metadata's size and FNV-1a hash; with
  /// `verifyCodeHash` false only the size, for callers that verified the
  /// bytes already (a disk cache entry's checksum covers them, and FNV-1a
  /// costs a millisecond per megabyte of PTX on every disk hit).
  static Expected<Artifact> fromMetadataJson(const std::string &json, std::string code,
                                             bool verifyCodeHash = true);

  /// Writes `<stem>.json` and `<stem>.ptx` (or `.mlir`), each through a
  /// temporary file and a rename, so a reader never sees half an artifact.
  Error save(const std::string &stem) const;
  /// Loads what save() wrote; checks format, version and that the code file
  /// is the one the metadata names (by size and hash).
  static Expected<Artifact> load(const std::string &metadataPath);
};

/// Whether a launch brings thresholds exactly when the artifact is a
/// threshold-mode kernel (every executor's and the harness's one check).
Error checkThresholdsGiven(const Artifact &artifact, bool given);

/// 64-bit FNV-1a, for integrity checks of artifact files (not for keys).
uint64_t fnv1a64(const std::string &bytes);
/// Writes `contents` to `path` atomically (temporary file in the same folder,
/// then rename).
Error writeFileAtomically(const std::string &path, const std::string &contents);
Expected<std::string> readFile(const std::string &path);

} // namespace sieve::runtime

#endif
