//===- Passes.td - sieve passes -----------------------------*- tablegen -*-===//
#ifndef SIEVE_PASSES_TD
#define SIEVE_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpecializeMask : Pass<"sieve-specialize-mask", "mlir::ModuleOp"> {
  let summary = "Turn a constant block mask into per-row key-block tables";
  let description = [{
    Rewrites every `sieve.attention` into `sieve.block_sparse_attention`
    (and every `sieve.attention_backward` into
    `sieve.block_sparse_attention_backward`, whose column tables walk the
    same tiles by key block for dK and dV):
    one work row per (head, query block) with the CSR list of the key blocks
    the mask keeps. With `causal`, key blocks wholly above the diagonal are
    dropped here. Rows are ordered longest first (a cheap balance for the GPU
    scheduler); rows left empty, whole pruned heads included, come last and
    only write zeros, so they never read keys or values.
  }];
  let dependentDialects = ["::sieve::dialect::SieveDialect"];
}

def PackGqa : Pass<"sieve-pack-gqa", "mlir::ModuleOp"> {
  let summary = "Decode: pack a key head's query heads into the rows of one tile (pack GQA)";
  let description = [{
    Under grouped-query attention (Hq = g x Hkv) with few queries, the rows
    of `sieve.block_sparse_attention` become (key head, packed block): the
    g x Sq (query head, query) pairs of a key head, `rows` to a work row,
    so a tile reads its key head's keys and values once for all g heads
    and fills its rows. Each row lists the union of its heads' key blocks;
    `key_block_segments` says, per entry, which (head, query block) of the
    row keep it, and the kernels drop the others' scores, so the result is
    the unpacked op's. Ops are packed when Sq <= max-queries and Hq > Hkv,
    without stats or thresholds or split rows, and when no row would span
    more than 32 segments; others are left as they are. Runs before
    `sieve-split-rows`, which then cuts the (few, long) packed rows.
  }];
  let options = [
    Option<"rows", "rows", "int64_t", /*default=*/"64",
           "Packed rows per work row: the kernels' query tile (64 for wgmma's m64)">,
    Option<"maxQueries", "max-queries", "int64_t", /*default=*/"64",
           "Pack only ops with at most this many queries per head (decode)">
  ];
  let dependentDialects = ["::sieve::dialect::SieveDialect"];
}

def SplitRows : Pass<"sieve-split-rows", "mlir::ModuleOp"> {
  let summary = "Split-KV: cut rows too long for a balanced GPU schedule into parts";
  let description = [{
    Longest-first ordering cannot help when one row alone is longer than
    the time every SM needs for its share of the work, or when there are
    fewer rows than SMs: the long rows become the critical path while other
    SMs idle. This pass cuts every row longer than the balanced share,
    `max(min-part-keys / block_k, ceil(batch x kept tiles / sms))` key blocks,
    into near-equal consecutive pieces of its key list, when the longest
    row is at least `imbalance` shares long (below that the gain is lost to
    the partial stores and the combine). Each piece becomes
    a work row with a workspace slot (`row_slots`) and each cut row a split
    group (`split_groups`) that a combine step merges; rows are ordered
    longest first again. Ops that need no cut are left as they are.
    GQA-packed ops (`sieve-pack-gqa`) are cut with `packed-imbalance`:
    decoding has fewer rows than SMs, and each part reads its own keys.
    Their limit is not the balanced share itself but the one from the
    share up to the longest row that minimizes (thread blocks / sms,
    rounded up) x limit, so the parts fill whole waves of the SMs instead
    of leaving a last wave of a few blocks.
    With `generation`, a generation op's decode step (one query per head)
    is split too: its rows are picked at run time, so every row is cut into
    the same S parts, S the count that minimizes (batch x row heads x S /
    sms, rounded up) x ceil(longest row / S), with parts of at least
    `min-part-keys` keys (`generation_parts`; docs/generation.md).
  }];
  let options = [
    Option<"sms", "sms", "int64_t", /*default=*/"0",
           "Thread blocks the GPU runs at once: its SM count (required; the pipelines pass "
           "their target's)">,
    Option<"minPartKeys", "min-part-keys", "int64_t", /*default=*/"::sieve::passes::kMinPartKeys",
           "Fewest keys a part covers: below this the partial store and the "
           "combine cost more than the balance gains">,
    Option<"imbalance", "imbalance", "double", /*default=*/"3.0",
           "Cut only when the longest row is at least this many balanced "
           "shares: on an H200 rows 5x the share ran 3x faster cut, rows "
           "1.8x the share 7% slower (docs/perf-notes.md, v4)">,
    Option<"packedImbalance", "packed-imbalance", "double", /*default=*/"1.0",
           "The same for GQA-packed (decode) ops: their rows are few (Hkv x batch) and "
           "memory-bound, so any row longer than the share is cut to fill the SMs">,
    Option<"generation", "generation", "bool", /*default=*/"false",
           "Split generation ops' decode steps too (generation_parts); the GPU and CPU "
           "pipelines both set it">
  ];
  let dependentDialects = ["::sieve::dialect::SieveDialect"];
}

def ExternDynamicShared : Pass<"sieve-extern-dynamic-shared", "mlir::gpu::GPUModuleOp"> {
  let summary = "Declare the dynamic shared memory symbol extern, as CUDA's `extern __shared__` is";
  let description = [{
    convert-gpu-to-nvvm gives `gpu.dynamic_shared_memory` an internal,
    zero-sized `llvm.mlir.global` in address space 3. The NVPTX backend
    demotes an internal shared global used by one kernel to a static
    variable of that kernel, and a zero-sized one is printed as one byte
    (`.shared .b8 __dynamic_shmem__0;`): ptxas then places other static
    shared variables (the wgmma kernel's mbarriers) right after it, inside
    what the kernel takes for its dynamic region, and the region it uses
    starts before the one the launch allocated. As an external declaration
    it is printed as `.extern .shared .b8 __dynamic_shmem__0[];`, which
    ptxas places after every static variable. compute-sanitizer racecheck
    found the overlap: the wgmma kernel's TMA tiles and epilogue stores
    landed on its mbarriers.
  }];
}

def LowerToCpu : Pass<"sieve-lower-to-cpu", "mlir::ModuleOp"> {
  let summary = "Lower sieve.block_sparse_attention to vectorized host phases of work units";
  let description = [{
    Each op becomes host functions, one per phase, each over a range of
    independent work units (`func.func @__sieve_cpu<i>_<phase>(<operands>,
    %workspace: memref<?xf32>, %begin: index, %end: index)`, with a
    `#sieve.launch` contract: role, units as the grid's x, workspace
    bytes), and the op itself becomes their serial run:

    - `pack`: per (batch, key head, key block), the keys transposed and the
      values as f32 tiles in the workspace (f16/bf16 widened on load);
    - `attention`: per (batch, work row) (per work row with every batch
      entry when calibrating, so one unit owns a row's statistics), rows
      of `vector-width` lanes: the row's queries in tiles of up to 32 rows,
      Q K^T and P V as register-blocked micro-kernels of vector FMAs, an
      online softmax along the key vectors (exp2 as a polynomial), causal
      and ragged edges masked, the output narrowed on store;
    - `combine` (split rows only): each split group's parts merged.

    Work units are in the row tables' order, longest first. The row tables
    become `memref.global` constants of the module. An op with a `stats`
    operand (calibration) gets a second pass over each row's key blocks with
    the row's final max and sum, adding its probability mass per key block
    into `stats[head, query block, key block]`. An `lse` operand gets each
    row's log-sum-exp. Split rows (`sieve-split-rows`: `row_slots`,
    `split_groups`) run as on the GPU: each part stores its normalized
    output and log2-sum-exp in the workspace laid out as the GPU's, and the
    combine phase merges every split group into `out` with the combine
    kernel's arithmetic. The CPU pipeline cuts rows only when asked
    (`sieve-to-cpu{split-kv=1 workers=N}`), to check a GPU's schedule where
    there is no GPU.

    `sieve.block_sparse_attention_backward` becomes a `pack` phase (q, dout,
    k and v as f32 tiles both ways, delta = rowsum(dout * out) and the lse
    per query row), then dK and dV per (batch, column) over its column
    tiles and dQ per (batch, work row) over its row's key blocks, with the
    same micro-kernels and the probabilities recomputed from the saved
    log-sum-exp.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"8",
           "f32 lanes of the host's widest vectors (16 with AVX-512, 8 with AVX2, 4 "
           "with SSE or NEON); the compiler passes the host's">,
  ];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect", "mlir::math::MathDialect",
                           "mlir::vector::VectorDialect", "mlir::func::FuncDialect"];
}

def LowerToGpu : Pass<"sieve-lower-to-gpu", "mlir::ModuleOp"> {
  let summary = "Lower sieve.block_sparse_attention to a gpu.module kernel and its launch";
  let description = [{
    Each op becomes `gpu.func` kernels in a `gpu.module` of their own, each
    carrying its launch contract (`sieve.launch`: role, grid, block, shared
    and workspace bytes, alignment and parameter slots, which the compiler
    copies into the artifact), and the op is erased; the row tables become
    constant globals of the kernel module. One thread block computes one
    work row of one batch entry (grid = rows x batch). Each kernel body is a
    rewrite pattern that declines, with its reason, what it cannot run on
    the target; an op no body takes is an error naming every reason:

    - `mma` (tensor cores, sm_80 and later): one warp per 16 query rows;
      `nvgpu.ldmatrix` from swizzled shared memory feeds `nvvm.mma.sync`
      m16n8k16; key/value tiles stream through `stages` shared buffers
      filled by `nvgpu.device_async_copy` (cp.async); the online softmax
      and the f32 accumulator live in registers. Needs f16/bf16, head dim
      64 or 128, block_q a multiple of 16 up to 128, and a static unit
      stride on the head dimension.
    - `simt` (any shape): one thread per query row with scalar FMAs; the
      correctness baseline.

    - `wgmma` (sm_90a): warp-specialized; a producer warp group issues
      `nvgpu.tma.async.load`s of Q, K and V tiles (column slabs as wide as
      the widest of the 128-, 64- and 32-byte swizzles that divides a row)
      completing on `nvgpu.mbarrier`s, consumer warp groups (64 query rows
      each, `setmaxnreg`) run `nvvm.wgmma.mma_async` for S = Q·Kᵀ and a
      register-A wgmma for O += P·V. Needs f16/bf16, a head dim that is a
      multiple of 16 up to 256, block_q a multiple of the query tile (64 or
      128) and block_k of the key tile (64 or 128; 64 by default above 128
      columns). q, k and v travel as TMA descriptors too
      (`#sieve.param<query.tensor_map[RxC]>`: the runtime encodes them).

    - `generic`: the `wgmma` (sm_90a) or `mma` body with the four row
      tables as kernel arguments instead of constants, one block per
      (head, query block): the mask becomes run-time data (no recompile per
      mask), the baseline that specialization must beat and the fallback
      while a specialization compiles.

    `auto` picks `wgmma` on sm_90a, else `mma`, where they apply, and
    `simt` elsewhere.
  }];
  let options = [
    Option<"variant", "variant", "std::string", /*default=*/"\"auto\"",
           "Kernel body: auto, wgmma, mma, simt or generic">,
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "Target chip (runtime::TargetInfo::forChip); auto picks wgmma where it has wgmma, "
           "TMA and setmaxnreg (sm_90a)">,
    Option<"sms", "sms", "int64_t", /*default=*/"0",
           "The target's SM count (0: the chip's usual part; a compile for a live device "
           "passes its own)">,
    Option<"sharedBytes", "shared-bytes", "int64_t", /*default=*/"0",
           "Dynamic shared memory a block may take (0: the chip's)">,
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"0",
           "wgmma/mma: query rows per thread block (divides block_q; 0 = the kernel's default)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"0",
           "wgmma/mma: keys per pipeline step (divides block_k; 0 = the kernel's default)">,
    Option<"stages", "stages", "int64_t", /*default=*/"2",
           "wgmma/mma: shared-memory buffers for key/value tiles (2 to 4)">,
    Option<"overlap", "overlap", "bool", /*default=*/"false",
           "wgmma: run each tile's softmax beside the previous tile's P·V (3+ stages)">,
    Option<"chunkElements", "chunk-elements", "int64_t", /*default=*/"4096",
           "simt: key chunk staged in shared memory, in elements per operand (keys x head dim)">
  ];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect", "mlir::gpu::GPUDialect",
                           "mlir::LLVM::LLVMDialect", "mlir::NVVM::NVVMDialect",
                           "mlir::nvgpu::NVGPUDialect", "mlir::vector::VectorDialect",
                           "mlir::math::MathDialect", "mlir::cf::ControlFlowDialect"];
}

#endif // SIEVE_PASSES_TD
