//===- TestTensors.h - host tensors for kernel tests ------------*- C++ -*-===//
//
// Fresh random inputs in BHSD or BSHD storage, an output surrounded by guard
// elements and poisoned with NaN, and gathering a strided view back into
// contiguous BHSD for the reference.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTS_UNIT_TESTTENSORS_H
#define SIEVE_TESTS_UNIT_TESTTENSORS_H

#include "sieve/runtime/TensorView.h"

#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace sieve::testing {

/// One tensor: storage with `kGuard` elements either side of the data, and a
/// [B, H, S, D] view of it laid out as BHSD or BSHD.
struct HostTensor {
  static constexpr int64_t kGuard = 64;
  std::vector<float> storage;
  runtime::TensorView view;

  HostTensor(std::array<int64_t, 4> bhsd, bool bshd) {
    auto [b, h, s, d] = bhsd;
    storage.assign(b * h * s * d + 2 * kGuard, kGuardValue);
    std::array<int64_t, 4> strides = bshd ? std::array<int64_t, 4>{s * h * d, d, h * d, 1}
                                          : std::array<int64_t, 4>{h * s * d, s * d, d, 1};
    view = runtime::TensorView{storage.data() + kGuard, runtime::DType::F32, bhsd, strides,
                               runtime::DeviceKind::Host};
  }
  float &at(int64_t b, int64_t h, int64_t s, int64_t d) {
    const auto &st = view.strides;
    return static_cast<float *>(view.data)[b * st[0] + h * st[1] + s * st[2] + d * st[3]];
  }
  void fillNormal(std::mt19937_64 &rng) {
    std::normal_distribution<float> normal;
    forEach([&](float &x) { x = normal(rng); });
  }
  void poison() {
    forEach([](float &x) { x = std::numeric_limits<float>::quiet_NaN(); });
  }
  /// Contiguous BHSD copy of the view.
  std::vector<float> gather() {
    std::vector<float> out;
    forEach([&](float &x) { out.push_back(x); });
    return out;
  }
  bool guardsIntact() const {
    for (int64_t i = 0; i < kGuard; ++i)
      if (storage[i] != kGuardValue || storage[storage.size() - 1 - i] != kGuardValue)
        return false;
    return true;
  }

private:
  static constexpr float kGuardValue = 12345.0f;
  template <typename F> void forEach(F f) {
    auto [B, H, S, D] = view.sizes;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t d = 0; d < D; ++d)
            f(at(b, h, s, d));
  }
};

/// A seed that differs on every run (inputs are fresh), printed on failure.
inline uint64_t freshSeed() {
  return (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
}

} // namespace sieve::testing

#endif
