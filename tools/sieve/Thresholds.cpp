//===- Thresholds.cpp -----------------------------------------------------===//
#include "Thresholds.h"

#include "sieve/runtime/Artifact.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace sieve::tools {

Expected<std::vector<std::vector<float>>> readThresholdsFile(const std::string &path,
                                                             int64_t heads) {
  auto bad = [&](const std::string &why) {
    return Error(ErrorCode::InvalidArgument, fmt::format("thresholds file {}: {}", path, why));
  };
  std::ifstream in(path);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("cannot open thresholds file {}", path));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array() || j.empty())
    return bad("expected a JSON list of numbers, or a list of such lists per layer");
  if (!j[0].is_array())
    j = nlohmann::json::array({j});
  std::vector<std::vector<float>> layers;
  for (size_t l = 0; l < j.size(); ++l) {
    if (!j[l].is_array() || int64_t(j[l].size()) != heads)
      return bad(fmt::format("layer {} has {} thresholds, the mask has {} heads", l,
                             j[l].is_array() ? j[l].size() : 0, heads));
    std::vector<float> layer;
    for (const auto &x : j[l]) {
      // A NaN threshold would drop nothing and everything at once.
      if (!x.is_number() || std::isnan(x.get<double>()))
        return bad("a threshold is not a number: " + x.dump());
      layer.push_back(x.get<float>());
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

Error writeThresholdsFile(const std::string &path, const std::vector<std::vector<float>> &layers) {
  nlohmann::json j = layers;
  return runtime::writeFileAtomically(path, j.dump() + "\n");
}

} // namespace sieve::tools
