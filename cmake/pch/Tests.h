// What the GoogleTest suites include, precompiled once per test target
// (cmake/SievePch.cmake).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>
#include <string>
#include <vector>
