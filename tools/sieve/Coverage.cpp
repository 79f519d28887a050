//===- Coverage.cpp -------------------------------------------------------===//
#include "Coverage.h"

#include "sieve/calibration/Evaluate.h"

#include <fmt/format.h>

#include <fstream>

namespace sieve::tools {

Error normalizeByCoverageOf(calibration::AttentionStats &stats, const std::string &sentencesPath,
                            const models::WordPieceTokenizer &tokenizer) {
  std::ifstream in(sentencesPath);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("cannot open {}", sentencesPath));
  std::vector<int64_t> lengths;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    lengths.push_back(static_cast<int64_t>(tokenizer.encode(line).size()));
  }
  auto normalized = calibration::normalizeByCoverage(stats, lengths);
  if (!normalized)
    return normalized.error();
  stats = std::move(*normalized);
  return Error::success();
}

} // namespace sieve::tools
