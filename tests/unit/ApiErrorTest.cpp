//===- ApiErrorTest.cpp - bad input at the C++ API is named, not crashed ---===//
#include "TestTensors.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/Session.h"

#include <gtest/gtest.h>

using namespace sieve;
using namespace sieve::compiler;
using sieve::testing::HostTensor;

namespace {

KernelSpec smallSpec() {
  KernelSpec spec;
  spec.shape = {1, 2, 2, 64, 64, 32, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 2, 2, 32, 32, 1.0, 1, false);
  return spec;
}

void expectError(const Error &e, ErrorCode code, const std::string &needle) {
  ASSERT_TRUE(e) << "expected " << errorCodeName(code) << " containing '" << needle << "'";
  EXPECT_EQ(e.code(), code) << e.str();
  EXPECT_NE(e.message().find(needle), std::string::npos) << e.str();
}

TEST(ApiErrors, AskingForTheGpuWithoutOneSaysSo) {
  auto s = Session::create(BackendChoice::Cuda);
  if (s)
    GTEST_SKIP() << "a GPU is present: " << (*s)->deviceName();
  expectError(s.error(), ErrorCode::NoGpu, "CUDA backend was requested");
  // Auto falls back to the CPU instead.
  auto fallback = Session::create(BackendChoice::Auto);
  ASSERT_TRUE(fallback);
  EXPECT_EQ((*fallback)->backend(), runtime::Backend::Cpu);
}

TEST(ApiErrors, SpecValidationNamesTheField) {
  KernelSpec gqa = smallSpec();
  gqa.shape.headsKv = 3;
  expectError(compile(gqa).takeError(), ErrorCode::ShapeMismatch, "multiple of heads_kv");

  KernelSpec uncovered = smallSpec();
  uncovered.shape.seqK = 100; // needs 4 key blocks of 32, the mask has 2
  expectError(compile(uncovered).takeError(), ErrorCode::ShapeMismatch, "need [2, 2, 4]");

  KernelSpec zeroDim = smallSpec();
  zeroDim.shape.headDim = 0;
  expectError(compile(zeroDim).takeError(), ErrorCode::InvalidArgument, "head_dim");

  KernelSpec noMask = smallSpec();
  noMask.mask = runtime::BlockMask();
  expectError(compile(noMask).takeError(), ErrorCode::MalformedMask, "no mask");

  KernelSpec cpuMma = smallSpec();
  cpuMma.options.variant = "mma";
  expectError(compile(cpuMma).takeError(), ErrorCode::Unsupported, "variant 'mma' is a GPU kernel");

  KernelSpec oldChip = smallSpec();
  oldChip.target = Target::cuda("sm_75");
  expectError(compile(oldChip).takeError(), ErrorCode::Unsupported, "sm_75");

  KernelSpec nanScale = smallSpec();
  nanScale.scale = std::nan("");
  expectError(compile(nanScale).takeError(), ErrorCode::InvalidArgument, "scale");
}

class RunErrors : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = Session::create(BackendChoice::Cpu);
    ASSERT_TRUE(s);
    session = std::move(*s);
    auto a = session->compile(smallSpec());
    ASSERT_TRUE(a) << a.error().str();
    artifact = *a;
  }
  Error runWith(const runtime::TensorView &qv) {
    return session->run(*artifact, qv, k.view, v.view, out.view);
  }
  std::unique_ptr<Session> session;
  std::shared_ptr<const runtime::Artifact> artifact;
  HostTensor q{{1, 2, 64, 32}, false}, k{{1, 2, 64, 32}, false}, v{{1, 2, 64, 32}, false},
      out{{1, 2, 64, 32}, false};
};

TEST_F(RunErrors, TheMemoryCacheReturnsTheSameArtifact) {
  auto again = session->compile(smallSpec());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->get(), artifact.get());
  KernelSpec other = smallSpec();
  other.causal = true;
  auto different = session->compile(other);
  ASSERT_TRUE(different);
  EXPECT_NE(different->get(), artifact.get());
  EXPECT_NE((*different)->cacheKey, artifact->cacheKey);
}

TEST_F(RunErrors, ShapeDtypeDeviceAndNullAreNamed) {
  ASSERT_FALSE(runWith(q.view)); // the good case runs

  HostTensor shortQ({1, 2, 63, 32}, false);
  expectError(runWith(shortQ.view), ErrorCode::ShapeMismatch,
              "tensor 'query' has shape [1, 2, 63, 32]");

  runtime::TensorView halfQ = q.view;
  halfQ.dtype = runtime::DType::F16;
  expectError(runWith(halfQ), ErrorCode::DTypeMismatch, "tensor 'query' is f16");

  runtime::TensorView gpuQ = q.view;
  gpuQ.device = runtime::DeviceKind::Cuda;
  expectError(runWith(gpuQ), ErrorCode::WrongDevice, "tensor 'query' is in GPU memory");

  runtime::TensorView nullQ = q.view;
  nullQ.data = nullptr;
  expectError(runWith(nullQ), ErrorCode::InvalidArgument, "no data");

  runtime::TensorView negative = q.view;
  negative.strides[2] = -32;
  expectError(runWith(negative), ErrorCode::InvalidArgument, "stride -32");
}

TEST_F(RunErrors, AnArtifactForAnotherBackendIsRefused) {
  runtime::Artifact cuda = *artifact;
  cuda.backend = runtime::Backend::Cuda;
  expectError(session->run(cuda, q.view, k.view, v.view, out.view), ErrorCode::InvalidArgument,
              "artifact is for the cuda backend");
}

TEST_F(RunErrors, CorruptHostCodeIsACorruptArtifact) {
  runtime::Artifact broken = *artifact;
  broken.code = "this is not MLIR";
  broken.cacheKey = "different-key"; // not the cached module
  Error e = session->run(broken, q.view, k.view, v.view, out.view);
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), ErrorCode::CorruptArtifact) << e.str();
}

} // namespace
