//===- CpuSessionTest.h - one CPU-backend session per test suite -*- C++ -*-===//
//
// The base of the parameterized CPU-backend tests: every case of a suite
// runs its kernels through one Session (its kernel cache is shared by the
// cases), created when the suite starts and dropped when it ends.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_CPUSESSIONTEST_H
#define SIEVE_TESTING_CPUSESSIONTEST_H

#include "sieve/compiler/Session.h"

#include <gtest/gtest.h>

#include <memory>

namespace sieve::testing {

template <class Param> class CpuSessionTest : public ::testing::TestWithParam<Param> {
protected:
  static void SetUpTestSuite() {
    auto s = compiler::Session::create(compiler::BackendChoice::Cpu);
    ASSERT_TRUE(s) << s.error().str();
    session_ = std::move(*s);
  }
  static void TearDownTestSuite() { session_.reset(); }
  static inline std::unique_ptr<compiler::Session> session_;
};

} // namespace sieve::testing

#endif
