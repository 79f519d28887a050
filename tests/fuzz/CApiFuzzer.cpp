//===- CApiFuzzer.cpp - the C API's argument checks -----------------------===//
//
// sieve.h is called from other languages (ctypes, Rust, Julia) whose
// callers get sizes, dtypes and strides wrong, so every function checks its
// arguments and answers a status with a message. This target runs programs
// of C API calls (FuzzInputs.h: an opcode byte, then the arguments) on the
// CPU backend with fuzzed arguments: null pointers, handles of the wrong
// kind or never made, unknown enum values, negative, zero and huge sizes,
// strides that disagree with the shape, mask bits of the wrong length or
// with padding set, streams given to a CPU context. Each call must succeed
// or fail with a status and a non-empty message (SIEVE_ERROR_INTERNAL, "a
// bug in sieve", is a finding too), and nothing may leak.
//
// Only what sieve.h documents as checked is fuzzed: a destroyed handle is
// never passed back, and every tensor the harness passes has memory behind
// every element its sizes and strides reach (between guard pages, so that
// the JIT-compiled kernel, which ASan does not instrument, faults on a
// stray access). Sizes are capped so an input allocates at most ~64 MiB.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"
#include "FuzzInputs.h"
#include "FuzzScratch.h"

#include "sieve/sieve.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

using sieve::fuzz::ByteReader;
using sieve::fuzz::CApiOp;

namespace {

constexpr int kMaxCalls = 64;
// A compile is a JIT run of MLIR and LLVM: bounded so an input stays fast.
constexpr int kMaxCompiles = 4;
constexpr int64_t kMaxTensorElements = int64_t(2) << 20; // 8 MiB of f32, 4 tensors
constexpr int64_t kMaxAttentionWork = int64_t(1) << 26;  // B*Hq*Sq*Sk*D
constexpr size_t kMaxMaskBytes = 4096;

// SIEVE_FUZZ_TRACE=1 prints every call's answer (to read what an input does).
const bool trace = std::getenv("SIEVE_FUZZ_TRACE") != nullptr;

void checkStatus(sieve_status status, const char *call) {
  const char *message = sieve_last_error();
  SIEVE_FUZZ_CHECK(message, "%s: sieve_last_error() is null", call);
  if (trace)
    std::fprintf(stderr, "%s -> %s %s\n", call, sieve_status_name(status), message);
  if (status == SIEVE_OK) {
    SIEVE_FUZZ_CHECK(*message == 0, "%s succeeded but the last error is '%s'", call, message);
    return;
  }
  SIEVE_FUZZ_CHECK(status > SIEVE_OK && status < SIEVE_ERROR_INTERNAL, "%s returned %s (%d): %s",
                   call, sieve_status_name(status), static_cast<int>(status), message);
  SIEVE_FUZZ_CHECK(*message != 0, "%s failed with %s and no message", call,
                   sieve_status_name(status));
}

/// Memory between two inaccessible pages, `bytes` long and ending at the
/// second: reads or writes just outside the tensor fault.
class GuardedBuffer {
public:
  explicit GuardedBuffer(size_t bytes) {
    page_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t pages = (bytes + page_ - 1) / page_;
    length_ = (pages + 2) * page_;
    void *p = ::mmap(nullptr, length_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SIEVE_FUZZ_CHECK(p != MAP_FAILED, "mmap of %zu bytes failed", length_);
    base_ = static_cast<char *>(p);
    ::mprotect(base_, page_, PROT_NONE);
    ::mprotect(base_ + length_ - page_, page_, PROT_NONE);
    data_ = base_ + length_ - page_ - bytes;
  }
  ~GuardedBuffer() { ::munmap(base_, length_); }
  GuardedBuffer(const GuardedBuffer &) = delete;
  GuardedBuffer &operator=(const GuardedBuffer &) = delete;
  char *data() const { return data_; }

private:
  size_t page_ = 0, length_ = 0;
  char *base_ = nullptr, *data_ = nullptr;
};

struct KernelSlot {
  sieve_kernel handle = nullptr;
  sieve_problem problem{}; // what it was compiled for
};

/// The handles an input made, destroyed at its end (a leak is a finding,
/// so the harness itself must not leak).
struct Handles {
  std::array<sieve_context, 2> contexts{};
  std::array<KernelSlot, 4> kernels{};
  std::array<sieve_mask, 4> masks{};

  ~Handles() {
    for (sieve_mask &m : masks)
      if (m)
        checkStatus(sieve_mask_destroy(m), "sieve_mask_destroy");
    for (KernelSlot &k : kernels)
      if (k.handle)
        checkStatus(sieve_kernel_destroy(k.handle), "sieve_kernel_destroy");
    for (sieve_context &c : contexts)
      if (c)
        checkStatus(sieve_context_destroy(c), "sieve_context_destroy");
  }
};

template <typename T, size_t N> T *freeSlot(std::array<T, N> &slots, T empty) {
  for (T &s : slots)
    if (s == empty)
      return &s;
  return nullptr;
}

// Storage whose addresses pose as handles that sieve never made.
int foreignObject;

class Program {
public:
  explicit Program(ByteReader &in) : in_(in) {}

  void run() {
    for (int call = 0; call < kMaxCalls && !in_.empty(); ++call)
      step(static_cast<CApiOp>(in_.u8() % static_cast<uint8_t>(CApiOp::Count)));
  }

private:
  // A handle argument: a live one, null, a live handle of another kind, or
  // an address sieve never handed out.
  template <typename T, size_t N> T pickHandle(const std::array<T, N> &live) {
    uint8_t b = in_.u8();
    if (b < 2 * N)
      return live[b % N];
    switch (b % 3) {
    case 0:
      return nullptr;
    case 1:
      return reinterpret_cast<T>(&foreignObject);
    default: // wrong kind: a context where a kernel belongs, and so on
      for (sieve_context c : h_.contexts)
        if (c)
          return reinterpret_cast<T>(c);
      for (sieve_mask m : h_.masks)
        if (m)
          return reinterpret_cast<T>(m);
      return nullptr;
    }
  }
  sieve_kernel pickKernel(KernelSlot **slot) {
    std::array<sieve_kernel, 4> live{};
    for (size_t i = 0; i < live.size(); ++i)
      live[i] = h_.kernels[i].handle;
    sieve_kernel k = pickHandle(live);
    *slot = nullptr;
    for (KernelSlot &s : h_.kernels)
      if (k && s.handle == k)
        *slot = &s;
    return k;
  }

  // Enum values a C caller can pass: any int (sieve.h gives the enums int
  // as their underlying type in C++, so each is a value to reject), mostly
  // near the enumerators.
  int32_t pickEnumValue() {
    uint8_t b = in_.u8();
    return b < 250 ? int32_t(b % 5) - 1 : static_cast<int32_t>(static_cast<uint32_t>(in_.u64()));
  }
  sieve_dtype pickDType() { return static_cast<sieve_dtype>(pickEnumValue()); }

  double pickScale() {
    switch (in_.u8() % 8) {
    case 0:
      return 0; // the default, 1/sqrt(head_dim)
    case 1:
      return 0.125;
    case 2:
      return -1;
    case 3:
      return HUGE_VAL;
    case 4:
      return std::nan("");
    case 5:
      return 1e-320; // subnormal
    case 6: {
      uint64_t bits = in_.u64();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    }
    default:
      return 0.5;
    }
  }

  sieve_problem pickProblem() {
    sieve_problem p{};
    p.batch = in_.pickInt();
    p.heads_q = in_.pickInt();
    p.heads_kv = in_.pickInt();
    p.seq_q = in_.pickInt();
    p.seq_k = in_.pickInt();
    p.head_dim = in_.pickInt();
    p.dtype = pickDType();
    p.causal = static_cast<int>(in_.u8()) - 1;
    p.scale = pickScale();
    return p;
  }

  // A mask description and the bits it points at (kept in `bits`). The
  // bits are null, a buffer of a length read from the input, or one sized
  // for the claimed shape (its padding bits as the input has them).
  sieve_block_mask pickMask(std::string &bits) {
    sieve_block_mask m{};
    m.heads = in_.pickInt();
    m.query_blocks = in_.pickInt();
    m.key_blocks = in_.pickInt();
    m.block_q = in_.pickInt();
    m.block_k = in_.pickInt();
    uint8_t mode = in_.u8();
    if (mode % 3 == 0) {
      m.bits = nullptr;
      m.bits_size = static_cast<size_t>(in_.pickInt());
      return m;
    }
    size_t length = in_.u16() % (kMaxMaskBytes + 1);
    int64_t tiles = 0;
    bool small = m.heads > 0 && m.query_blocks > 0 && m.key_blocks > 0 &&
                 !__builtin_mul_overflow(m.heads, m.query_blocks, &tiles) &&
                 !__builtin_mul_overflow(tiles, m.key_blocks, &tiles) &&
                 tiles <= static_cast<int64_t>(8 * kMaxMaskBytes);
    if (mode % 3 == 2 && small)
      length = static_cast<size_t>((tiles + 7) / 8);
    bits = in_.bytes(length);
    bits.resize(length, '\xff'); // the input ran out: all kept
    m.bits = reinterpret_cast<const uint8_t *>(bits.data());
    m.bits_size = bits.size();
    return m;
  }

  sieve_kernel_options pickOptions() {
    static const char *const kVariants[] = {nullptr, "auto",    "wgmma", "mma",
                                            "simt",  "generic", "",      "loops"};
    sieve_kernel_options o{};
    o.variant = kVariants[in_.u8() % 8];
    o.query_tile = in_.pickInt();
    o.key_tile = in_.pickInt();
    o.stages = in_.pickInt();
    return o;
  }

  void step(CApiOp op) {
    uint8_t flags = in_.u8(); // bit 0: pass a null `out`
    bool nullOut = flags & 1;
    switch (op) {
    case CApiOp::ContextCreate: {
      auto backend = static_cast<sieve_backend>(pickEnumValue());
      int device = static_cast<int>(in_.pickInt());
      sieve_context *slot = freeSlot(h_.contexts, sieve_context{});
      if (!slot && !nullOut)
        return;
      checkStatus(sieve_context_create(backend, device, nullOut ? nullptr : slot),
                  "sieve_context_create");
      return;
    }
    case CApiOp::ContextDestroy: {
      sieve_context c = pickHandle(h_.contexts);
      checkStatus(sieve_context_destroy(c), "sieve_context_destroy");
      forget(h_.contexts, c);
      return;
    }
    case CApiOp::ContextBackend: {
      sieve_backend backend;
      checkStatus(sieve_context_backend(pickHandle(h_.contexts), nullOut ? nullptr : &backend),
                  "sieve_context_backend");
      return;
    }
    case CApiOp::ContextDeviceName: {
      sieve_context c = pickHandle(h_.contexts);
      copyOut([&](char *buf, size_t size) { return sieve_context_device_name(c, buf, size); },
              nullOut, "sieve_context_device_name");
      return;
    }
    case CApiOp::KernelCompile:
      compile(nullOut, flags);
      return;
    case CApiOp::KernelLoad:
      load(nullOut, flags);
      return;
    case CApiOp::KernelDestroy: {
      KernelSlot *slot;
      sieve_kernel k = pickKernel(&slot);
      checkStatus(sieve_kernel_destroy(k), "sieve_kernel_destroy");
      if (slot)
        *slot = KernelSlot{};
      return;
    }
    case CApiOp::KernelDescribe: {
      KernelSlot *slot;
      sieve_kernel k = pickKernel(&slot);
      copyOut([&](char *buf, size_t size) { return sieve_kernel_describe(k, buf, size); }, nullOut,
              "sieve_kernel_describe");
      return;
    }
    case CApiOp::KernelNeedsMask: {
      KernelSlot *slot;
      sieve_kernel k = pickKernel(&slot);
      int needs = -1;
      sieve_status s = sieve_kernel_needs_mask(k, nullOut ? nullptr : &needs);
      checkStatus(s, "sieve_kernel_needs_mask");
      if (s == SIEVE_OK)
        SIEVE_FUZZ_CHECK(needs == 0 || needs == 1, "sieve_kernel_needs_mask gave %d", needs);
      return;
    }
    case CApiOp::MaskCreate: {
      sieve_context c = pickHandle(h_.contexts);
      std::string bits;
      sieve_block_mask m = pickMask(bits);
      int64_t seqQ = in_.pickInt();
      int causal = in_.u8() & 1;
      sieve_mask *slot = freeSlot(h_.masks, sieve_mask{});
      if (!slot && !nullOut)
        return;
      checkStatus(
          sieve_mask_create(c, (flags & 2) ? nullptr : &m, seqQ, causal, nullOut ? nullptr : slot),
          "sieve_mask_create");
      return;
    }
    case CApiOp::MaskDestroy: {
      sieve_mask m = pickHandle(h_.masks);
      checkStatus(sieve_mask_destroy(m), "sieve_mask_destroy");
      forget(h_.masks, m);
      return;
    }
    case CApiOp::Attention:
      attention(flags);
      return;
    case CApiOp::Count:
      return;
    }
  }

  template <typename T, size_t N> static void forget(std::array<T, N> &slots, T handle) {
    for (T &s : slots)
      if (handle && s == handle)
        s = nullptr;
  }

  // A caller's buffer: null, or `size` bytes of a larger array (never a size
  // beyond the memory given: that lie the API cannot check).
  template <typename F> void copyOut(F call, bool nullBuf, const char *what) {
    char buf[256];
    size_t size = in_.u8();
    sieve_status s = call(nullBuf ? nullptr : buf, nullBuf ? size : std::min(size, sizeof buf));
    checkStatus(s, what);
    if (s == SIEVE_OK)
      SIEVE_FUZZ_CHECK(std::memchr(buf, 0, std::min(size, sizeof buf)),
                       "%s did not NUL-terminate its answer", what);
  }

  void compile(bool nullOut, uint8_t flags) {
    sieve_context c = pickHandle(h_.contexts);
    sieve_problem problem = pickProblem();
    std::string bits;
    sieve_block_mask mask = pickMask(bits);
    sieve_kernel_options options = pickOptions();
    KernelSlot *slot = nullptr;
    for (KernelSlot &k : h_.kernels)
      if (!k.handle && !slot)
        slot = &k;
    if ((!slot && !nullOut) || compiles_ >= kMaxCompiles)
      return;
    ++compiles_;
    sieve_kernel out = nullptr;
    const sieve_problem *problemArg = (flags & 2) ? nullptr : &problem;
    const sieve_block_mask *maskArg = (flags & 4) ? nullptr : &mask;
    const sieve_kernel_options *optionsArg = (flags & 8) ? nullptr : &options;
    if (flags & 32) // any kind and any flags (thresholds, ragged, generation, others)
      checkStatus(sieve_kernel_compile_flags(c, problemArg, maskArg, optionsArg,
                                             static_cast<sieve_kernel_kind>(pickEnumValue()),
                                             static_cast<uint32_t>(in_.pickInt()),
                                             nullOut ? nullptr : &out),
                  "sieve_kernel_compile_flags");
    else if (flags & 16) // a training kernel, or any int as its kind
      checkStatus(sieve_kernel_compile_kind(c, problemArg, maskArg, optionsArg,
                                            static_cast<sieve_kernel_kind>(pickEnumValue()),
                                            nullOut ? nullptr : &out),
                  "sieve_kernel_compile_kind");
    else
      checkStatus(
          sieve_kernel_compile(c, problemArg, maskArg, optionsArg, nullOut ? nullptr : &out),
          "sieve_kernel_compile");
    if (out) {
      slot->handle = out;
      slot->problem = problem;
    }
  }

  // Artifact files a caller points at: none, or metadata and code from the
  // input. A loaded kernel is described and destroyed, never run: its code
  // is whatever the file held.
  void load(bool nullOut, uint8_t flags) {
    sieve_context c = pickHandle(h_.contexts);
    std::string stem = sieve::fuzz::ScratchDir::path() + "/artifact";
    sieve::fuzz::ScratchDir::write("artifact.json", in_.bytes(in_.u16()));
    sieve::fuzz::ScratchDir::write("artifact.mlir", in_.bytes(in_.u16()));
    const char *path = (flags & 2) ? nullptr : (flags & 4) ? "/nonexistent/sieve" : stem.c_str();
    if (compiles_ >= kMaxCompiles)
      return;
    ++compiles_;
    sieve_kernel out = nullptr;
    checkStatus(sieve_kernel_load(c, path, nullOut ? nullptr : &out), "sieve_kernel_load");
    if (!out)
      return;
    char buf[256];
    checkStatus(sieve_kernel_describe(out, buf, sizeof buf), "sieve_kernel_describe");
    checkStatus(sieve_kernel_destroy(out), "sieve_kernel_destroy");
  }

  struct Tensor {
    sieve_tensor t{};
    std::unique_ptr<GuardedBuffer> memory;
    int64_t elements = 0; // what the sizes and strides reach (0: unknown)
  };

  // One tensor argument: by default exactly what the kernel expects, with
  // fuzzed departures (dtype, sizes, strides, no data) chosen by a byte.
  void pickTensor(Tensor &x, const sieve_problem &p, bool isKv) {
    uint8_t t = in_.u8();
    x.t.dtype = (t & 8) ? pickDType() : p.dtype;
    std::array<int64_t, 4> want = {p.batch, isKv ? p.heads_kv : p.heads_q, isKv ? p.seq_k : p.seq_q,
                                   p.head_dim};
    for (int d = 0; d < 4; ++d)
      x.t.sizes[d] = (t & 16) ? in_.pickInt() : want[d];
    const int64_t *s = x.t.sizes;
    if (t & 32) {
      for (int d = 0; d < 4; ++d)
        x.t.strides[d] = in_.pickInt();
    } else {
      // Row-major strides of BSHD or BHSD memory, wrapping as a caller's
      // unchecked arithmetic would for absurd sizes.
      auto mul = [](int64_t a, int64_t b) {
        return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
      };
      bool bshd = t & 64;
      x.t.strides[0] = mul(mul(s[1], s[2]), s[3]);
      x.t.strides[1] = bshd ? s[3] : mul(s[2], s[3]);
      x.t.strides[2] = bshd ? mul(s[1], s[3]) : s[3];
      x.t.strides[3] = 1;
    }
    // What the view reaches above and below its base, in wide arithmetic.
    // Only views the harness can back with memory get data; any other view
    // must be rejected before a read.
    // (Each term is below 2^126, so stopping once past the cap cannot overflow.)
    __int128 above = 0, below = 0;
    if (s[0] > 0 && s[1] > 0 && s[2] > 0 && s[3] > 0)
      for (int d = 0; d < 4 && 1 + above + below <= kMaxTensorElements; ++d) {
        __int128 reach = static_cast<__int128>(s[d] - 1) * x.t.strides[d];
        (reach < 0 ? below : above) += reach < 0 ? -reach : reach;
      }
    if ((t & 128) || 1 + above + below > kMaxTensorElements) {
      x.t.data = nullptr;
      return;
    }
    x.elements = static_cast<int64_t>(1 + above + below);
    size_t elementBytes = x.t.dtype == SIEVE_DTYPE_F32 ? 4 : 2;
    x.memory = std::make_unique<GuardedBuffer>(static_cast<size_t>(x.elements) * elementBytes);
    // Negative strides reach below the base (sieve must reject them, but a
    // check that let them through must still find memory there).
    x.t.data = x.memory->data() + static_cast<size_t>(below) * elementBytes;
    fill(x.memory->data(), x.elements, elementBytes);
  }

  static void fill(char *bytes, int64_t elements, size_t elementBytes) {
    // Values in [-1, 1] as f32, or the low half of their bits (some f16/bf16).
    for (int64_t i = 0; i < elements; ++i) {
      float v = static_cast<float>((i * 7919) % 2001 - 1000) / 1000.0f;
      std::memcpy(bytes + i * elementBytes, &v, elementBytes);
    }
  }

  void attention(uint8_t flags) {
    KernelSlot *slot;
    sieve_kernel k = pickKernel(&slot);
    sieve_problem p = slot ? slot->problem : sieve_problem{};
    if (!slot) { // no kernel: shapes come from the input
      p.batch = p.heads_q = p.heads_kv = p.seq_q = p.seq_k = p.head_dim = 1;
      p.dtype = SIEVE_DTYPE_F32;
    }
    int64_t work = 1;
    for (int64_t factor : {p.batch, p.heads_q, p.seq_q, p.seq_k, p.head_dim})
      if (__builtin_mul_overflow(work, factor, &work) || work > kMaxAttentionWork)
        return;
    sieve_mask m = pickHandle(h_.masks);
    void *stream = (flags & 2) ? reinterpret_cast<void *>(&foreignObject) : nullptr;
    Tensor q, kk, v, out;
    pickTensor(q, p, false);
    pickTensor(kk, p, true);
    pickTensor(v, p, true);
    pickTensor(out, p, false);
    auto arg = [&](Tensor &x, uint8_t bit) { return (flags & bit) ? nullptr : &x.t; };
    // Bits 6-7: the plain call, the training forward, the backward, or the
    // backward without its lse.
    const int mode = flags >> 6;
    if (mode == 0 && (flags & 1)) { // a generation step at any q_pos and seq_k_live
      const int64_t qPos = in_.pickInt(), seqKLive = in_.pickInt();
      checkStatus(sieve_attention_generate(k, arg(q, 4), arg(kk, 8), arg(v, 16), arg(out, 32), qPos,
                                           seqKLive, nullptr, stream),
                  "sieve_attention_generate");
      return;
    }
    if (mode == 0) {
      checkStatus(sieve_attention(k, arg(q, 4), arg(kk, 8), arg(v, 16), arg(out, 32), m, stream),
                  "sieve_attention");
      return;
    }
    // The lse: exactly B x Hq x Sq floats (the work bound above keeps it small).
    GuardedBuffer lse(static_cast<size_t>(std::max<int64_t>(1, p.batch * p.heads_q * p.seq_q)) *
                      sizeof(float));
    float *lseArg = mode == 3 ? nullptr : reinterpret_cast<float *>(lse.data());
    if (mode == 1) {
      checkStatus(sieve_attention_forward(k, arg(q, 4), arg(kk, 8), arg(v, 16), arg(out, 32),
                                          lseArg, stream),
                  "sieve_attention_forward");
      return;
    }
    Tensor dout, dq, dk, dv;
    pickTensor(dout, p, false);
    pickTensor(dq, p, false);
    pickTensor(dk, p, true);
    pickTensor(dv, p, true);
    checkStatus(sieve_attention_backward(k, arg(q, 4), arg(kk, 8), arg(v, 16), arg(out, 32),
                                         &dout.t, lseArg, &dq.t, &dk.t, &dv.t, stream),
                "sieve_attention_backward");
  }

  ByteReader &in_;
  Handles h_;
  int compiles_ = 0;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  // The kernel cache's memory tier only: a fuzz run writes nothing to the
  // user's cache folder, and no input is answered by a previous run's file.
  ::setenv("SIEVE_CACHE", "0", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ByteReader in(data, size);
  Program(in).run();
  return 0;
}
