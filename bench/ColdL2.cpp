//===- ColdL2.cpp ----------------------------------------------------------===//
#include "ColdL2.h"

#include <memory>

namespace sieve::bench {

namespace {

/// More than five times the L2 of any part sieve targets (the H100's and
/// H200's 50 MB).
constexpr uint64_t kBytes = uint64_t(256) << 20;

/// Every thread reads 16-byte vectors a grid stride apart and folds them
/// into a register; the store under a condition the fill never meets keeps
/// the loads from being dropped as dead.
constexpr const char *kReadPtx = R"(.version 8.0
.target sm_80
.address_size 64
.visible .entry sieve_bench_read(.param .u64 src, .param .u64 vectors, .param .u64 sink)
{
  .reg .u64 %rd<10>;
  .reg .u32 %r<12>;
  .reg .pred %p<3>;
  ld.param.u64 %rd1, [src];
  ld.param.u64 %rd2, [vectors];
  ld.param.u64 %rd3, [sink];
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mov.u32 %r4, %nctaid.x;
  mul.wide.u32 %rd4, %r1, %r2;
  cvt.u64.u32 %rd5, %r3;
  add.u64 %rd4, %rd4, %rd5;
  mul.wide.u32 %rd6, %r4, %r2;
  mov.u32 %r10, 0;
LOOP:
  setp.ge.u64 %p1, %rd4, %rd2;
  @%p1 bra DONE;
  shl.b64 %rd7, %rd4, 4;
  add.u64 %rd8, %rd1, %rd7;
  ld.global.v4.u32 {%r5, %r6, %r7, %r8}, [%rd8];
  xor.b32 %r10, %r10, %r5;
  xor.b32 %r10, %r10, %r6;
  xor.b32 %r10, %r10, %r7;
  xor.b32 %r10, %r10, %r8;
  add.u64 %rd4, %rd4, %rd6;
  bra LOOP;
DONE:
  setp.ne.u32 %p2, %r10, 2143289345;
  @%p2 bra END;
  st.global.u32 [%rd3], %r10;
END:
  ret;
}
)";

} // namespace

Expected<ColdL2 *> ColdL2::get(const runtime::CudaDriver &driver) {
  static Expected<std::unique_ptr<ColdL2>> made = [&]() -> Expected<std::unique_ptr<ColdL2>> {
    auto cold = std::make_unique<ColdL2>();
    cold->drv_ = &driver;
    auto module = driver.loadModule(kReadPtx);
    if (!module)
      return module.error();
    auto fn = driver.getFunction(*module, "sieve_bench_read");
    if (!fn)
      return fn.error();
    cold->read_ = *fn;
    auto buffer = driver.alloc(kBytes), sink = driver.alloc(16);
    if (!buffer || !sink)
      return buffer ? sink.error() : buffer.error();
    cold->buffer_ = *buffer, cold->sink_ = *sink;
    // 0x3c bytes: the folded value is 0 or 0x3c3c3c3c, never the sentinel.
    if (Error e = driver.memset8(*buffer, 0x3c, kBytes))
      return e;
    return cold; // the module and buffers live as long as the process
  }();
  if (!made)
    return Error(made.error().code(), made.error().message());
  return made->get();
}

Error ColdL2::evict() const {
  uint64_t src = buffer_, vectors = kBytes / 16, sink = sink_;
  void *params[] = {&src, &vectors, &sink};
  const uint32_t grid[3] = {uint32_t(drv_->device().multiprocessors) * 8, 1, 1};
  const uint32_t block[3] = {256, 1, 1};
  return drv_->launch(read_, grid, block, 0, nullptr, params);
}

} // namespace sieve::bench
