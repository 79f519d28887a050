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
#include "sieve/runtime/AtomicFile.h"
#include "sieve/runtime/CausalMask.h"
#include "sieve/runtime/DType.h"
#include "sieve/runtime/LaunchContract.h"

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

struct Artifact {
  static constexpr const char *kFormat = "sieve-artifact";
  static constexpr int kVersion = 7; // 7: the CPU backend's host phases (pack, ...)

  /// Between a CPU artifact's two LLVM-dialect modules: the kernel's library
  /// (its units' code, the same for every mask and sequence length of its
  /// tile configuration, which the executor compiles once per process)
  /// above, the driver (its phases, with the tables) below.
  static constexpr const char *kCpuLibraryMarker = "\n// ----- the kernel's phases\n";

  Backend backend = Backend::Cpu;
  std::string chip; // "sm_90a", "sm_80", or "host"
  std::string code; // PTX text, or LLVM-dialect MLIR text
  /// The kernels to launch, in order, on one stream (LaunchContract.h): the
  /// attention kernel, then split-KV's combine; or the backward's rows,
  /// key-value and query kernels. A CPU artifact's are host functions, one
  /// per phase (pack, then attention and combine, or the backward's
  /// key-value and query phases), each over grid[0] independent work units.
  std::vector<KernelLaunch> launches;
  /// The f32 buffer the launches share (TensorSlot kWorkspace: split-KV's
  /// parts, the backward's delta and lse), allocated per call; 0: none.
  uint64_t workspaceBytes = 0;
  std::string variant; // "wgmma", "mma", "simt", "generic" (CUDA) or "vector" (CPU)
  std::string config;  // the kernel configuration the compiler chose, for people
  /// What the compiler warned of when it built the kernel, for people: on
  /// a chip with tensor cores, `auto` running f16/bf16 on the scalar simt
  /// body, with each tensor-core body's reason. The kernel cache reports
  /// them (once per process and kernel) through its warning handler.
  std::vector<std::string> warnings;
  /// Layout the kernel assumes of every tensor: the head dimension has stride
  /// 1 (`unitInnerStride`), and the base and all other strides are multiples
  /// of `alignBytes` bytes (0: no alignment assumed). Launches check both.
  bool unitInnerStride = false;
  uint32_t alignBytes = 0;
  ProblemShape shape;
  bool causal = false;
  /// Where the causal diagonal sits when Sq != Sk (meaningful with causal).
  CausalAlign causalAlign = CausalAlign::TopLeft;
  /// The causal rule the kernel applies (the generic kernel's mask tables
  /// must be built with the same).
  CausalRule causalRule() const {
    return CausalRule::of(causal, causalAlign, shape.seqQ, shape.seqK);
  }
  /// The calibration variant (KernelSpec::calibrate): the kernel takes a
  /// fifth argument, the f32 stats [Hq, QB, KB] it adds probability mass to
  /// (on the GPU, parameter "tensor" 9, ParamSlot::kStats).
  bool calibrate = false;
  /// Threshold mode (KernelSpec::thresholds): the kernel also takes the
  /// f32 per-head score thresholds [Hq] (after q, k, v, out and before an
  /// lse in a forward, after dv in a backward; on the GPU, parameter
  /// "tensor" 10, ParamSlot::kThresholds). With savesLse or backward too.
  bool thresholds = false;
  double scale = 0;
  int64_t keptTiles = 0, totalTiles = 0;
  int64_t blockQ = 0, blockK = 0; // the mask's tile size
  /// The forward saves each query row's log-sum-exp for the backward
  /// (KernelSpec::saveLse): the kernel takes an f32 [B, Hq, Sq] output
  /// (on the GPU, parameter "tensor" 11, ParamSlot::kLse).
  bool savesLse = false;
  /// The backward pass (KernelSpec::backward): the kernels take q, k, v,
  /// out, dout, lse and write dq, dk, dv (on the GPU three launches: rows,
  /// key-value, query).
  bool backward = false;
  /// A generation kernel (KernelSpec::generation, docs/generation.md): one
  /// kernel for every step of a mask over positions; shape.seqK is the most
  /// positions, and each launch takes the step (q_pos, seq_k_live) as an
  /// i32 [2] buffer (parameter "tensor" 16, ParamSlot::kPositions).
  bool generation = false;
  /// A ragged batch (KernelSpec::ragged, docs/ragged-paged.md): q, out (and
  /// k, v unless paged) hold shape.batch sequences packed along the
  /// sequence axis of batch entry 0, of lengths up to shape.seqQ and
  /// shape.seqK given at launch by cu_seqlens (an i32 [2, B + 1] buffer,
  /// parameter "tensor" 17, ParamSlot::kSequences).
  bool ragged = false;
  /// Paged KV (KernelSpec::pageSize, docs/ragged-paged.md): 0, or the keys
  /// per page; k and v are a pool of pages [pages, Hkv, pageSize, D] read
  /// through a page table, i32 [B, ceil(seqK / pageSize)] (parameter
  /// "tensor" 18, ParamSlot::kPages).
  int64_t pageSize = 0;
  /// The page table's columns: ceil(shape.seqK / pageSize), 0 when not paged.
  int64_t pagesPerSequence() const { return pageSize ? (shape.seqK + pageSize - 1) / pageSize : 0; }
  /// The launch of `role`, or null.
  const KernelLaunch *launch(LaunchRole role) const;
  /// The first launch (the attention kernel, the backward's rows kernel, the
  /// CPU's host function).
  const KernelLaunch &mainLaunch() const { return launches.front(); }
  /// Split-KV: whether a combine kernel merges split rows' parts (the CPU
  /// backend's phase; a GPU kernel's last part merges its group itself).
  bool hasCombine() const { return launch(LaunchRole::Combine) != nullptr; }
  /// Whether some rows run split into parts (split-KV), on either backend:
  /// a forward with a workspace.
  bool splitsKv() const { return !backward && workspaceBytes > 0; }
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
Expected<std::string> readFile(const std::string &path);

} // namespace sieve::runtime

#endif
