// The header-only libraries the CLI's sources include, precompiled once
// (cmake/SievePch.cmake): CLI11 alone costs each file several seconds.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
