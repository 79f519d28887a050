//===- LaunchContract.h - how a compiled kernel is launched ------*- C++ -*-===//
//
// The launch ABI, shared by the passes (which declare it in the sieve
// dialect's #sieve.launch and #sieve.param attributes on each kernel) and by
// the runtime (which finds the buffers of a launch by slot): MLIR-free, so
// a runtime that only loads ahead-of-time artifacts needs nothing else.
//
// A kernel takes each buffer as an MLIR memref descriptor expanded into
// scalar parameters (allocated pointer, aligned pointer, offset, a size and
// a stride per dimension); a Hopper kernel also takes TMA descriptors: the
// device address of a 128-byte CUtensorMap of a rank-4 tensor, whose box is
// `boxCols` x `boxRows`, swizzled at the width of a box row (32, 64 or 128
// bytes: one slab of the kernel's shared-memory layout), which the runtime
// encodes at launch.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_LAUNCHCONTRACT_H
#define SIEVE_RUNTIME_LAUNCHCONTRACT_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sieve::runtime {

/// The buffers a kernel parameter can name. The rank-4 tensors are q, k, v,
/// out and the backward's dout, dq, dk, dv; the generic kernel's row tables
/// (RowTables.h: heads, query blocks, row spans, key blocks) are rank-1 i32;
/// the workspace is the rank-1 f32 buffer the runtime allocates per call
/// (split-KV's parts, the backward's delta and lse scratch); the stats
/// [Hq, QB, KB] and the lse [B, Hq, Sq] are contiguous rank-3 f32; the
/// thresholds [Hq] rank-1 f32; a generation kernel's positions rank-1 i32;
/// a ragged batch's sequences and a paged one's page table rank-2 i32.
enum TensorSlot : int {
  kQuery = 0,
  kKey = 1,
  kValue = 2,
  kOut = 3,
  kRowHeads = 4,
  kRowQueryBlocks = 5,
  kRowSpans = 6,
  kKeyBlocks = 7,
  kWorkspace = 8,
  kStats = 9,
  kThresholds = 10,
  kLse = 11,
  kDout = 12,
  kDq = 13,
  kDk = 14,
  kDv = 15,
  /// A generation kernel's step (docs/generation.md): i32 [2] holding
  /// q_pos and seq_k_live, read at launch.
  kPositions = 16,
  /// A ragged batch's offsets (docs/ragged-paged.md): i32 [2, B + 1],
  /// cu_seqlens_q then cu_seqlens_k, read at launch.
  kSequences = 17,
  /// A paged KV cache's page table (docs/ragged-paged.md): i32 [B, pages
  /// per sequence], read at launch.
  kPages = 18,
};
constexpr int kTensorSlots = 19;
/// "query", "key", ..., "row_heads", ..., "dv"; nullptr out of range.
const char *tensorSlotName(int slot);
std::optional<TensorSlot> parseTensorSlot(std::string_view name);
/// The rank of the buffer a slot names (4, 3 or 1).
int tensorSlotRank(int slot);

/// A memref descriptor's fields, a TMA descriptor's address, or (`Value`)
/// element `dim` of a rank-1 i32 buffer passed by value: a GPU generation
/// kernel takes its step, positions[0] = q_pos and positions[1] =
/// seq_k_live, as two i32 parameters (docs/generation.md), so a step
/// writes two integers and copies nothing to the device.
enum class ParamField { AllocatedPtr, AlignedPtr, Offset, Size, Stride, TensorMap, Value };
/// "allocated", "aligned", "offset", "size", "stride", "tensor_map", "value".
const char *paramFieldName(ParamField field);
std::optional<ParamField> parseParamField(std::string_view name);

/// One scalar of the memref descriptor (allocated and aligned pointer,
/// offset 0, sizes, row-major strides) of a contiguous buffer of `rank`
/// dimensions `sizes` at `address`: what a launch passes for the row
/// tables, workspace and thresholds (rank 1), a batch's offsets and page
/// table (rank 2), the stats and the lse (rank 3). 0 for other fields.
uint64_t contiguousDescriptorField(ParamField field, uint64_t address, const uint64_t *sizes,
                                   int rank, int dim);

/// One kernel parameter: a field of a buffer's descriptor.
struct ParamSlot {
  // The slot numbers by their old names, for the code that reads them so.
  static constexpr int kFirstTable = kRowHeads;
  static constexpr int kWorkspace = runtime::kWorkspace;
  static constexpr int kStats = runtime::kStats;
  static constexpr int kThresholds = runtime::kThresholds;
  static constexpr int kLse = runtime::kLse;
  static constexpr int kDout = runtime::kDout, kDq = runtime::kDq, kDk = runtime::kDk,
                       kDv = runtime::kDv;
  static constexpr int kPositions = runtime::kPositions;
  static constexpr int kSequences = runtime::kSequences, kPages = runtime::kPages;
  int tensor = 0; // a TensorSlot
  ParamField field = ParamField::AlignedPtr;
  int dim = 0;                      // for Size and Stride; Value's element
  int64_t boxRows = 0, boxCols = 0; // for TensorMap
  bool operator==(const ParamSlot &o) const {
    return tensor == o.tensor && field == o.field && dim == o.dim && boxRows == o.boxRows &&
           boxCols == o.boxCols;
  }
};
/// The standard layout of four rank-4 memref descriptors (q, k, v, out).
std::vector<ParamSlot> memrefDescriptorParams(int numTensors = 4);

/// What a launch does in its artifact's sequence; each artifact's launches
/// run in order on one stream.
enum class LaunchRole {
  Attention,        // the forward (or calibration) kernel
  Combine,          // merges split-KV's parts into out
  BackwardRows,     // delta and lse*log2(e) per query row into the workspace
  BackwardKeyValue, // dK and dV by columns
  BackwardQuery,    // dQ by rows
  Pack,             // CPU backend: tensors into the workspace's f32 tiles, first
};
/// "attention", "combine", "backward_rows", "backward_key_value",
/// "backward_query", "pack".
const char *launchRoleName(LaunchRole role);
std::optional<LaunchRole> parseLaunchRole(std::string_view name);

/// One kernel launch of an artifact.
struct KernelLaunch {
  LaunchRole role = LaunchRole::Attention;
  std::string entry; // the kernel's name in the module (CPU: the host function's)
  std::array<uint32_t, 3> grid{1, 1, 1};
  std::array<uint32_t, 3> block{1, 1, 1};
  uint32_t sharedBytes = 0; // dynamic shared memory
  std::vector<ParamSlot> params;
  /// The kernel waits (griddepcontrol.wait, sm_90) for the previous launch
  /// of its artifact before it reads that launch's results, so the runtime
  /// launches it as a programmatic dependent launch: its blocks may start
  /// while the previous kernel's last blocks still run.
  bool waitsOnPrevious = false;
  /// CPU backend: what the host function (`entry`, in the code's library)
  /// takes after the buffers of `params` and before its unit range: i32
  /// tables (names of constant globals of the code) and index values.
  std::vector<std::string> tables;
  std::vector<int64_t> scalars;
};

} // namespace sieve::runtime

#endif
