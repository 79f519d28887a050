//===- GpuStreamTest.cpp - split-KV kernels on several streams and in graphs ===//
//
// A split-KV kernel's workspace is kept per stream (GpuKernel::workspaces_):
// - launches of one kernel on two streams, interleaved and unsynchronized,
//   each stay right (two streams never share a workspace), and the kernel
//   keeps exactly one workspace per stream;
// - the same launch captured in a CUDA graph (which allocates a workspace
//   of its own) and replayed beside direct launches on another stream stays
//   right, and the capture keeps no workspace.
// Each result against float64, the outputs poisoned before the runs.
//
//===----------------------------------------------------------------------===//
#include "DeviceProblem.h"
#include "KernelLedger.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/runtime/GpuExecutor.h"
#include "sieve/testing/Reference.h"
#include "sieve/testing/RowCheck.h"
#include "sieve/testing/Seeds.h"

#include <gtest/gtest.h>

#include <memory>

using namespace sieve;
using namespace sieve::compiler;
using namespace sieve::runtime;
using namespace sieve::testing;

namespace {

constexpr int kRounds = 12;

/// A decode step long enough for split-KV: 8 query heads on 2 key heads,
/// one query against 8192 keys, half the key blocks kept.
KernelSpec splitDecodeSpec(uint64_t seed) {
  KernelSpec spec;
  spec.shape = {2, 8, 2, 1, 8192, 128, DType::BF16};
  spec.mask = BlockMask::random(8, 1, 8192 / 128, 64, 128, 0.5, seed, /*keepDiagonal=*/false);
  return spec;
}

/// Streams the test owns, destroyed at its end.
struct Streams {
  const CudaDriver &drv;
  std::vector<CuStream> list;
  explicit Streams(const CudaDriver &drv) : drv(drv) {}
  ~Streams() {
    (void)drv.synchronizeDevice();
    for (CuStream s : list)
      (void)drv.destroyStream(s);
  }
  Expected<CuStream> add() {
    auto s = drv.createStream();
    if (s)
      list.push_back(*s);
    return s;
  }
};

void expectMatchesReference(const KernelSpec &spec, const DeviceProblem &p, const char *what) {
  auto got = p.output();
  ASSERT_TRUE(got) << got.error().str();
  std::vector<double> ref =
      referenceAttention(spec.shape, spec.mask, spec.causal, spec.effectiveScale(), p.q.data(),
                         p.k.data(), p.v.data());
  const auto &s = spec.shape;
  RowComparison rows =
      compareRows(got->data(), ref, s.batch, s.headsQ, s.seqQ, s.headDim, rowTolerance(s.dtype));
  EXPECT_TRUE(rows.ok()) << what << ": " << rows.badRows << " of " << rows.rows
                         << " rows wrong: " << rows.report;
}

/// What both cases start from: the split decode kernel, compiled under
/// `config` (the ledger attests it), checked to need a workspace and
/// loaded, and two problems of fresh inputs, uploaded.
struct SplitKernelCase {
  KernelSpec spec;
  std::shared_ptr<const Artifact> artifact;
  std::shared_ptr<GpuKernel> kernel;
  std::unique_ptr<DeviceProblem> a, b;
};

/// Null in compile-only mode (the ledger recorded the kernel; the case
/// returns) and on a failure, which it reports.
std::unique_ptr<SplitKernelCase> setUpSplitKernel(const std::string &config) {
  const std::string name = currentCaseName();
  std::mt19937_64 rng(inputSeed(name));
  auto c = std::make_unique<SplitKernelCase>();
  c->spec = splitDecodeSpec(maskSeed(name));
  auto kernels = ledger().compile(config, {c->spec});
  if (!kernels)
    return nullptr;
  if (!(*kernels)[0]) {
    ADD_FAILURE() << (*kernels)[0].error().str();
    return nullptr;
  }
  c->artifact = *(*kernels)[0];
  if (!c->artifact->splitsKv()) {
    ADD_FAILURE() << "the test needs a workspace: " << c->artifact->config;
    return nullptr;
  }
  Session &session = *ledger().session();
  auto kernel = session.gpu()->load(*c->artifact);
  if (!kernel) {
    ADD_FAILURE() << kernel.error().str();
    return nullptr;
  }
  c->kernel = *kernel;
  const CudaDriver &drv = session.gpu()->driver();
  c->a = std::make_unique<DeviceProblem>(c->spec.shape, drv, rng);
  c->b = std::make_unique<DeviceProblem>(c->spec.shape, drv, rng);
  for (DeviceProblem *p : {c->a.get(), c->b.get()})
    if (Error e = p->uploadAll()) {
      ADD_FAILURE() << e.str();
      return nullptr;
    }
  return c;
}

TEST(GpuStreams, SplitKvOnTwoStreamsKeepsTheirWorkspacesApart) {
  SCOPED_TRACE(seedTrace(currentCaseName()));
  auto c = setUpSplitKernel("streams/split-kv/auto/bf16/d128/full");
  if (!c)
    return;
  Session &session = *ledger().session();
  const CudaDriver &drv = session.gpu()->driver();
  const Artifact &artifact = *c->artifact;
  DeviceProblem &a = *c->a, &b = *c->b;
  const size_t keptBefore = c->kernel->keptWorkspaces();

  Streams streams(drv);
  auto s0 = streams.add(), s1 = streams.add();
  ASSERT_TRUE(s0 && s1);
  // Each round's output is poisoned first: the last round's must be its
  // own, merged after the earlier rounds left the arrival counters at 0.
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_FALSE(drv.memset8Async(a.dout, 0xFF, a.qBytes.size(), *s0));
    ASSERT_FALSE(drv.memset8Async(b.dout, 0xFF, b.qBytes.size(), *s1));
    ASSERT_FALSE(session.run(artifact, a.qView(), a.kView(), a.vView(), a.outView(), *s0));
    ASSERT_FALSE(session.run(artifact, b.qView(), b.kView(), b.vView(), b.outView(), *s1));
  }
  ASSERT_FALSE(drv.synchronizeDevice());
  expectMatchesReference(c->spec, a, "stream 0");
  expectMatchesReference(c->spec, b, "stream 1");
  EXPECT_EQ(c->kernel->keptWorkspaces(), keptBefore + 2) << "one workspace per stream";
}

TEST(GpuStreams, SplitKvInACapturedGraphUsesAWorkspaceOfItsOwn) {
  SCOPED_TRACE(seedTrace(currentCaseName()));
  auto c = setUpSplitKernel("streams/split-kv-graph/auto/bf16/d128/full");
  if (!c)
    return;
  Session &session = *ledger().session();
  const CudaDriver &drv = session.gpu()->driver();
  const Artifact &artifact = *c->artifact;
  DeviceProblem &a = *c->a, &b = *c->b;

  Streams streams(drv);
  auto captured = streams.add(), direct = streams.add();
  ASSERT_TRUE(captured && direct);
  // A direct launch first: the module and the tensor maps are loaded
  // before the capture, as a framework's warm-up does.
  ASSERT_FALSE(session.run(artifact, b.qView(), b.kView(), b.vView(), b.outView(), *direct));
  ASSERT_FALSE(drv.synchronizeDevice());
  const size_t keptBefore = c->kernel->keptWorkspaces();
  ASSERT_FALSE(drv.memset8(a.dout, 0xFF, a.qBytes.size()));
  auto graph = drv.captureGraph(*captured, [&] {
    return session.run(artifact, a.qView(), a.kView(), a.vView(), a.outView(), *captured);
  });
  ASSERT_TRUE(graph) << graph.error().str();
  EXPECT_EQ(c->kernel->keptWorkspaces(), keptBefore) << "a capture kept a workspace";
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_FALSE(drv.memset8Async(a.dout, 0xFF, a.qBytes.size(), *captured));
    ASSERT_FALSE(drv.launchGraph(*graph, *captured));
    ASSERT_FALSE(drv.memset8Async(b.dout, 0xFF, b.qBytes.size(), *direct));
    ASSERT_FALSE(session.run(artifact, b.qView(), b.kView(), b.vView(), b.outView(), *direct));
  }
  ASSERT_FALSE(drv.synchronizeDevice());
  ASSERT_FALSE(drv.destroyGraph(*graph));
  expectMatchesReference(c->spec, a, "graph replays");
  expectMatchesReference(c->spec, b, "direct launches");
}

} // namespace
