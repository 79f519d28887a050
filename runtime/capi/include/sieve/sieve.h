/*===- sieve.h - sieve's C API -----------------------------------*- C -*-===*
 *
 * A stable C surface over sieve's compiler and runtime, for frameworks and
 * for languages with a C FFI (Python's ctypes, Rust, Julia).
 *
 * - Handles are opaque. A context owns a backend (a CUDA device's primary
 *   context, or the host CPU) and the kernel cache; kernels and masks belong
 *   to the context that made them and must be destroyed before it.
 * - Every function returns a sieve_status. On failure, sieve_last_error()
 *   returns a message naming the problem, valid on the calling thread until
 *   its next sieve call. No C++ exception crosses this boundary.
 * - A freed or foreign handle passed back is detected (each handle carries a
 *   tag that destruction clears) and reported as SIEVE_ERROR_INVALID_HANDLE,
 *   as long as its memory has not been reused.
 * - GPU launches go on the caller's stream (a CUstream; NULL is the legacy
 *   default stream) and do not synchronize.
 *
 *===----------------------------------------------------------------------===*/
#ifndef SIEVE_SIEVE_H
#define SIEVE_SIEVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SIEVE_API __declspec(dllexport)
#else
#define SIEVE_API __attribute__((visibility("default")))
#endif

/* Bumped when a signature or struct below changes incompatibly. */
#define SIEVE_C_API_VERSION 1

/* In C++ the enums take int as their fixed underlying type: then any int a
   C caller passes is a value the library can check and reject (an enum
   without one makes a value outside its enumerators undefined behaviour in
   C++). Both are 4 bytes, so C and C++ callers see one ABI. */
#ifdef __cplusplus
#define SIEVE_ENUM(name) enum name : int
#else
#define SIEVE_ENUM(name) enum name
#endif

/* clang-format does not see SIEVE_ENUM(...) as an enum head. */
/* clang-format off */
typedef SIEVE_ENUM(sieve_status) {
  SIEVE_OK = 0,
  SIEVE_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a value out of range */
  SIEVE_ERROR_INVALID_HANDLE = 2,   /* null, freed, or not a handle of that kind */
  SIEVE_ERROR_SHAPE_MISMATCH = 3,   /* tensors, mask and kernel disagree */
  SIEVE_ERROR_DTYPE_MISMATCH = 4,
  SIEVE_ERROR_WRONG_DEVICE = 5,     /* host memory where device memory was needed */
  SIEVE_ERROR_MALFORMED_MASK = 6,
  SIEVE_ERROR_IO = 7,
  SIEVE_ERROR_NO_GPU = 8,           /* no driver or device, and the GPU was asked for */
  SIEVE_ERROR_CUDA = 9,             /* any other CUDA Driver API failure */
  SIEVE_ERROR_COMPILE = 10,
  SIEVE_ERROR_CORRUPT_ARTIFACT = 11,
  SIEVE_ERROR_UNSUPPORTED = 12,     /* valid input sieve cannot run */
  SIEVE_ERROR_INTERNAL = 13         /* a bug in sieve: please report it */
} sieve_status;

typedef SIEVE_ENUM(sieve_backend) {
  SIEVE_BACKEND_AUTO = 0, /* the GPU when there is one, else the CPU */
  SIEVE_BACKEND_CPU = 1,
  SIEVE_BACKEND_CUDA = 2
} sieve_backend;

typedef SIEVE_ENUM(sieve_dtype) {
  SIEVE_DTYPE_F16 = 0,
  SIEVE_DTYPE_BF16 = 1,
  SIEVE_DTYPE_F32 = 2
} sieve_dtype;

/* What a kernel computes, for frameworks that do their own autograd. */
typedef SIEVE_ENUM(sieve_kernel_kind) {
  SIEVE_KERNEL_FORWARD = 0,     /* out = attention(q, k, v): sieve_attention */
  SIEVE_KERNEL_FORWARD_LSE = 1, /* and each query row's log-sum-exp: sieve_attention_forward */
  SIEVE_KERNEL_BACKWARD = 2     /* dq, dk, dv: sieve_attention_backward */
} sieve_kernel_kind;

/* The causal mask, in sieve_problem's `causal` (an int, so the struct is
 * what it always was: 0 and 1 keep their meaning). */
typedef SIEVE_ENUM(sieve_causal) {
  SIEVE_CAUSAL_NONE = 0,
  SIEVE_CAUSAL_TOP_LEFT = 1,    /* query i sees keys j <= i (PyTorch's is_causal) */
  SIEVE_CAUSAL_BOTTOM_RIGHT = 2 /* j <= i + seq_k - seq_q: the queries are the last seq_q
                                   positions (FlashAttention's causal; a KV cache). With
                                   seq_q > seq_k the first seq_q - seq_k rows are zeros. */
} sieve_causal;
/* clang-format on */

/* What a kernel computes besides its kind, ORed into
 * sieve_kernel_compile_flags' `flags`. */
/* Threshold mode (learned run-time pruning): the kernel takes one float
 * threshold per query head, [Hq], at every launch and drops each score
 * scale * q . k under its head's threshold like a masked key (a row left
 * without keys gives zeros, and lse -inf). Any kind: the training forward's
 * lse is the thresholded attention's, and the backward's gradients are
 * (dropped scores get none; the thresholds get none). Run such kernels
 * with the *_thresholds entry points below. */
#define SIEVE_KERNEL_THRESHOLDS 1u
/* A ragged batch (docs/ragged-paged.md): `batch` sequences of different
 * lengths, at most seq_q queries and seq_k keys each, packed one after
 * another; launches give their cumulative offsets (sieve_attention_batch).
 * The forward kind only, on the CPU backend (for now). */
#define SIEVE_KERNEL_RAGGED 2u
/* Generation (docs/generation.md): one kernel serves every step of a mask
 * over positions, with no compile per step. `problem->seq_k` is M, the most
 * positions (the KV cache's length), `seq_q` the queries per call (1 for a
 * decode step, up to block_q for a prompt chunk), and the mask is
 * [Hq, ceil(M / block_q), ceil(M / block_k)] over positions. `causal` is
 * SIEVE_CAUSAL_NONE or SIEVE_CAUSAL_BOTTOM_RIGHT: causal over positions,
 * query i (position q_pos + i) sees keys j <= q_pos + i. The forward kind
 * only, with or without SIEVE_KERNEL_THRESHOLDS; run it with
 * sieve_attention_generate. */
#define SIEVE_KERNEL_GENERATION 4u

typedef struct sieve_context_t *sieve_context;
typedef struct sieve_kernel_t *sieve_kernel;
/* A block mask placed where the context's generic kernels read it. */
typedef struct sieve_mask_t *sieve_mask;

/* A borrowed [B, H, S, D] tensor; strides are in elements, so BHSD and BSHD
 * memory are both views of the same logical tensor. */
typedef struct sieve_tensor {
  void *data;
  sieve_dtype dtype;
  int64_t sizes[4];
  int64_t strides[4];
} sieve_tensor;

/* What a kernel is compiled for. The mask is one bit per (head, query
 * block, key block) tile, row-major, packed LSB first (bit n is bit n%8 of
 * byte n/8): docs/mask-format.md. */
typedef struct sieve_problem {
  int64_t batch, heads_q, heads_kv, seq_q, seq_k, head_dim;
  sieve_dtype dtype;
  int causal;   /* a sieve_causal: 0 none, 1 top-left, 2 bottom-right; other values
                   are rejected */
  double scale; /* 0: 1/sqrt(head_dim) */
} sieve_problem;

typedef struct sieve_block_mask {
  int64_t heads, query_blocks, key_blocks, block_q, block_k;
  const uint8_t *bits; /* ceil(heads*query_blocks*key_blocks / 8) bytes */
  size_t bits_size;    /* checked against the count above */
} sieve_block_mask;

/* Kernel choices; zero-initialized means "let the compiler choose". */
typedef struct sieve_kernel_options {
  const char *variant; /* NULL or "auto", "wgmma", "mma", "simt", "generic" */
  int64_t query_tile, key_tile, stages;
} sieve_kernel_options;

SIEVE_API int sieve_api_version(void);
/* The library's version, "0.1.0". */
SIEVE_API const char *sieve_version(void);
/* The message of this thread's last failure ("" after a success). */
SIEVE_API const char *sieve_last_error(void);
SIEVE_API const char *sieve_status_name(sieve_status status);

SIEVE_API sieve_status sieve_context_create(sieve_backend backend, int device, sieve_context *out);
SIEVE_API sieve_status sieve_context_destroy(sieve_context ctx);
/* SIEVE_BACKEND_CPU or SIEVE_BACKEND_CUDA: what AUTO resolved to. */
SIEVE_API sieve_status sieve_context_backend(sieve_context ctx, sieve_backend *out);
/* "NVIDIA H100 80GB HBM3 (sm_90a)" or "host CPU", into buf (NUL-terminated;
 * SIEVE_ERROR_INVALID_ARGUMENT when it does not fit). */
SIEVE_API sieve_status sieve_context_device_name(sieve_context ctx, char *buf, size_t size);

/* Compiles (or finds in the kernel cache) the kernel for `problem` and
 * `mask`; `options` may be NULL. A "generic" kernel does not depend on the
 * mask's bits, only on its shape: launch it with masks from
 * sieve_mask_create. */
SIEVE_API sieve_status sieve_kernel_compile(sieve_context ctx, const sieve_problem *problem,
                                            const sieve_block_mask *mask,
                                            const sieve_kernel_options *options, sieve_kernel *out);
/* As sieve_kernel_compile, for a kernel of `kind`: the training forward
 * (which also saves the log-sum-exp the backward reads) or the backward. */
SIEVE_API sieve_status sieve_kernel_compile_kind(sieve_context ctx, const sieve_problem *problem,
                                                 const sieve_block_mask *mask,
                                                 const sieve_kernel_options *options,
                                                 sieve_kernel_kind kind, sieve_kernel *out);
/* As sieve_kernel_compile_kind, with `flags` (0, or SIEVE_KERNEL_THRESHOLDS
 * and/or SIEVE_KERNEL_GENERATION; other bits are refused). */
SIEVE_API sieve_status sieve_kernel_compile_flags(sieve_context ctx, const sieve_problem *problem,
                                                  const sieve_block_mask *mask,
                                                  const sieve_kernel_options *options,
                                                  sieve_kernel_kind kind, uint32_t flags,
                                                  sieve_kernel *out);
/* A forward kernel for ragged batches and/or paged KV (docs/ragged-paged.md):
 * `flags` as sieve_kernel_compile_flags' (SIEVE_KERNEL_RAGGED,
 * SIEVE_KERNEL_THRESHOLDS), `page_size` 0 for contiguous K and V or the
 * keys per page (a multiple of the mask's block_k): K and V are then a
 * pool of pages read through a page table. Run it with
 * sieve_attention_batch. On the CPU backend, and on a GPU on the mma body
 * (f16 or bf16; the offsets and page table stay host arrays). */
SIEVE_API sieve_status sieve_kernel_compile_batch(sieve_context ctx, const sieve_problem *problem,
                                                  const sieve_block_mask *mask,
                                                  const sieve_kernel_options *options,
                                                  uint32_t flags, int64_t page_size,
                                                  sieve_kernel *out);
/* Loads an ahead-of-time artifact written by `sieve compile -o <stem>`. */
SIEVE_API sieve_status sieve_kernel_load(sieve_context ctx, const char *stem, sieve_kernel *out);
SIEVE_API sieve_status sieve_kernel_destroy(sieve_kernel kernel);
/* The variant the compiler chose ("wgmma", "mma", "simt", "generic",
 * "vector") and its configuration, into buf. */
SIEVE_API sieve_status sieve_kernel_describe(sieve_kernel kernel, char *buf, size_t size);
/* The body that runs the kernel alone: "wgmma", "mma", "simt" or "generic"
 * on a GPU, "vector" on the CPU, into buf. */
SIEVE_API sieve_status sieve_kernel_variant(sieve_kernel kernel, char *buf, size_t size);
/* What the compiler warned of when it built the kernel, one warning a line
 * ("" when none), into buf: on a GPU, that variant "auto" runs f16/bf16 on
 * the scalar simt body, and why each tensor-core body declined. The kernel
 * cache also reports them on stderr when a kernel first comes from the
 * compiler or the cache folder. */
SIEVE_API sieve_status sieve_kernel_warnings(sieve_kernel kernel, char *buf, size_t size);
/* Whether launches need a sieve_mask (the generic variant). */
SIEVE_API sieve_status sieve_kernel_needs_mask(sieve_kernel kernel, int *out);
/* Whether the kernel is a threshold-mode one (SIEVE_KERNEL_THRESHOLDS, or
 * `sieve compile --thresholds`): its launches take thresholds. */
SIEVE_API sieve_status sieve_kernel_needs_thresholds(sieve_kernel kernel, int *out);

/* Uploads `mask`'s row tables for generic kernels of queries of length
 * `seq_q` (and `causal`: SIEVE_CAUSAL_NONE or SIEVE_CAUSAL_TOP_LEFT;
 * bottom-right depends on seq_k too: use sieve_mask_create_causal). */
SIEVE_API sieve_status sieve_mask_create(sieve_context ctx, const sieve_block_mask *mask,
                                         int64_t seq_q, int causal, sieve_mask *out);
/* As sieve_mask_create, for kernels of `seq_q` queries against `seq_k`
 * keys and any sieve_causal `causal` (the kernel's sieve_problem values). */
SIEVE_API sieve_status sieve_mask_create_causal(sieve_context ctx, const sieve_block_mask *mask,
                                                int64_t seq_q, int64_t seq_k, int causal,
                                                sieve_mask *out);
SIEVE_API sieve_status sieve_mask_destroy(sieve_mask mask);

/* out = attention(q, k, v). `mask` is NULL except for generic kernels.
 * `stream` is a CUstream for CUDA contexts (NULL: the default stream) and
 * must be NULL for CPU ones, whose runs finish before returning. */
SIEVE_API sieve_status sieve_attention(sieve_kernel kernel, const sieve_tensor *q,
                                       const sieve_tensor *k, const sieve_tensor *v,
                                       const sieve_tensor *out, sieve_mask mask, void *stream);

/* The training forward (a SIEVE_KERNEL_FORWARD_LSE kernel): out as
 * sieve_attention, and `lse`, a contiguous float [B, Hq, Sq] buffer in the
 * tensors' memory, each query row's natural-log log-sum-exp (-inf for a row
 * the mask leaves without keys). */
SIEVE_API sieve_status sieve_attention_forward(sieve_kernel kernel, const sieve_tensor *q,
                                               const sieve_tensor *k, const sieve_tensor *v,
                                               const sieve_tensor *out, float *lse, void *stream);
/* The backward (a SIEVE_KERNEL_BACKWARD kernel): dq, dk, dv (shaped like q,
 * k, v) from the forward's q, k, v, out and lse and the upstream gradient
 * dout (shaped like out). dk and dv of a key head sum over the query heads
 * that share it. */
SIEVE_API sieve_status sieve_attention_backward(sieve_kernel kernel, const sieve_tensor *q,
                                                const sieve_tensor *k, const sieve_tensor *v,
                                                const sieve_tensor *out, const sieve_tensor *dout,
                                                const float *lse, const sieve_tensor *dq,
                                                const sieve_tensor *dk, const sieve_tensor *dv,
                                                void *stream);

/* The three launches above for threshold-mode kernels (and only those):
 * the same arguments and `thresholds`, a contiguous float [Hq] buffer in
 * the tensors' memory (device memory for a CUDA context, host memory for a
 * CPU one), one threshold per query head. The backward needs the
 * thresholds its forward ran with. */
SIEVE_API sieve_status sieve_attention_thresholds(sieve_kernel kernel, const sieve_tensor *q,
                                                  const sieve_tensor *k, const sieve_tensor *v,
                                                  const sieve_tensor *out, const float *thresholds,
                                                  sieve_mask mask, void *stream);
SIEVE_API sieve_status sieve_attention_forward_thresholds(
    sieve_kernel kernel, const sieve_tensor *q, const sieve_tensor *k, const sieve_tensor *v,
    const sieve_tensor *out, float *lse, const float *thresholds, void *stream);
SIEVE_API sieve_status sieve_attention_backward_thresholds(
    sieve_kernel kernel, const sieve_tensor *q, const sieve_tensor *k, const sieve_tensor *v,
    const sieve_tensor *out, const sieve_tensor *dout, const float *lse, const float *thresholds,
    const sieve_tensor *dq, const sieve_tensor *dk, const sieve_tensor *dv, void *stream);

/* A ragged or paged kernel's launch (sieve_kernel_compile_batch): as
 * sieve_attention, with the batch's layout in host memory. Ragged: q and
 * out are [1, Hq, total_q, D] (the sequences packed along the sequence
 * axis; a [total_q, Hq, D] buffer is such a view), `cu_seqlens_q` and
 * `cu_seqlens_k` [batch + 1] non-decreasing offsets, and k and v
 * [1, Hkv, total_k, D] unless paged. Paged: k and v are a pool
 * [pages, Hkv, page_size, D] and `page_table` [batch, ceil(seq_k /
 * page_size)] row-major names the page of each sequence's keys (with
 * ragged, cu_seqlens_k gives the key lengths). NULL for what the kernel
 * does not take; `thresholds` as sieve_attention_thresholds' or NULL. */
SIEVE_API sieve_status sieve_attention_batch(sieve_kernel kernel, const sieve_tensor *q,
                                             const sieve_tensor *k, const sieve_tensor *v,
                                             const sieve_tensor *out, const int32_t *cu_seqlens_q,
                                             const int32_t *cu_seqlens_k, const int32_t *page_table,
                                             const float *thresholds, void *stream);

/* One step of a generation kernel (SIEVE_KERNEL_GENERATION): q and out
 * hold the step's seq_q queries, at positions q_pos .. q_pos + seq_q - 1;
 * k and v are the KV cache, [B, Hkv, cached, D] with any `cached` from
 * seq_k_live to the kernel's M positions (a cache allocated for M, or one
 * grown token by token), of which only the first `seq_k_live` positions
 * are read (0 means q_pos + seq_q: the step's own keys, just appended, are
 * the last live ones). The step goes by value in the launch: nothing is
 * compiled, allocated or copied per step. `thresholds` as
 * sieve_attention_thresholds' for a threshold-mode kernel, else NULL. */
SIEVE_API sieve_status sieve_attention_generate(sieve_kernel kernel, const sieve_tensor *q,
                                                const sieve_tensor *k, const sieve_tensor *v,
                                                const sieve_tensor *out, int64_t q_pos,
                                                int64_t seq_k_live, const float *thresholds,
                                                void *stream);

#ifdef __cplusplus
}
#endif

#endif /* SIEVE_SIEVE_H */
