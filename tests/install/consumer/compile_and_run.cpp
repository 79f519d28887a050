// Links sieve::compiler: compiles a mask for the CPU backend, runs it on
// random inputs and compares with float64 attention (Float64Check.h).
#include "Float64Check.h"

#include "sieve/compiler/Session.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
  using namespace sieve;
  auto session = compiler::Session::create(compiler::BackendChoice::Cpu);
  if (!session) {
    std::fprintf(stderr, "%s\n", session.error().str().c_str());
    return 1;
  }
  compiler::KernelSpec spec;
  spec.shape = {1, 2, 2, 128, 128, 64, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 4, 4, 32, 32, 0.5, std::random_device{}(), true);
  auto artifact = (*session)->compile(spec);
  if (!artifact) {
    std::fprintf(stderr, "%s\n", artifact.error().str().c_str());
    return 1;
  }
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  size_t n = 2 * 128 * 64;
  std::vector<float> q(n), k(n), v(n), out(n, NAN);
  for (auto *t : {&q, &k, &v})
    for (float &x : *t)
      x = normal(rng);
  auto view = [&](std::vector<float> &t) {
    return runtime::TensorView::contiguous(t.data(), runtime::DType::F32, {1, 2, 128, 64},
                                           runtime::DeviceKind::Host);
  };
  if (Error e = (*session)->run(**artifact, view(q), view(k), view(v), view(out))) {
    std::fprintf(stderr, "%s\n", e.str().c_str());
    return 1;
  }
  double err = relativeErrorAgainstFloat64(spec.shape, spec.mask, false, spec.effectiveScale(),
                                           q.data(), k.data(), v.data(), out.data());
  std::printf("compiled and ran %s: relative error %.2e\n", (*artifact)->variant.c_str(), err);
  return err < 1e-5 ? 0 : 1;
}
