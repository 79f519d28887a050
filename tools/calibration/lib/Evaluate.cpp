//===- Evaluate.cpp - embedding agreement and retrieval ranks -------------===//
#include "sieve/calibration/Evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sieve::calibration {

double cosine(const std::vector<float> &a, const std::vector<float> &b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0)
    return 0;
  return dot / std::sqrt(na * nb);
}

static Error checkSameShape(const Embeddings &a, const Embeddings &b) {
  if (a.size() != b.size())
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("embedding sets differ in size: {} and {}", a.size(), b.size()));
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size())
      return Error(
          ErrorCode::InvalidArgument,
          fmt::format("embedding {} differs in length: {} and {}", i, a[i].size(), b[i].size()));
  return Error::success();
}

Expected<double> meanCosine(const Embeddings &a, const Embeddings &b) {
  if (Error e = checkSameShape(a, b))
    return e;
  if (a.empty())
    return Error(ErrorCode::InvalidArgument, "no embeddings to compare");
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i)
    sum += cosine(a[i], b[i]);
  return sum / static_cast<double>(a.size());
}

std::vector<int64_t> nearestNeighbours(const Embeddings &e) {
  std::vector<int64_t> nn(e.size(), -1);
  for (size_t i = 0; i < e.size(); ++i) {
    double best = -2;
    for (size_t j = 0; j < e.size(); ++j) {
      if (j == i)
        continue;
      double c = cosine(e[i], e[j]);
      if (c > best) {
        best = c;
        nn[i] = static_cast<int64_t>(j);
      }
    }
  }
  return nn;
}

Expected<double> top1Agreement(const Embeddings &dense, const Embeddings &pruned) {
  if (Error e = checkSameShape(dense, pruned))
    return e;
  if (dense.size() < 2)
    return Error(ErrorCode::InvalidArgument, "top-1 agreement needs at least two embeddings");
  std::vector<int64_t> a = nearestNeighbours(dense), b = nearestNeighbours(pruned);
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i)
    same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

Expected<std::vector<int64_t>> retrievalRanks(const Embeddings &queries,
                                              const Embeddings &documents) {
  if (Error e = checkSameShape(queries, documents))
    return e;
  if (queries.empty())
    return Error(ErrorCode::InvalidArgument, "retrieval needs at least one query");
  std::vector<int64_t> ranks;
  ranks.reserve(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    const double own = cosine(queries[i], documents[i]);
    int64_t higher = 0;
    for (size_t j = 0; j < documents.size(); ++j)
      higher += j != i && cosine(queries[i], documents[j]) > own;
    ranks.push_back(1 + higher);
  }
  return ranks;
}

runtime::BlockMask tilesWithMass(const AttentionStats &stats, int64_t layer) {
  runtime::BlockMask m = *runtime::BlockMask::create(stats.heads, stats.queryBlocks(),
                                                     stats.keyBlocks(), stats.blockQ, stats.blockK);
  for (int64_t h = 0; h < stats.heads; ++h)
    for (int64_t qb = 0; qb < stats.queryBlocks(); ++qb)
      for (int64_t kb = 0; kb < stats.keyBlocks(); ++kb)
        m.set(h, qb, kb, stats.at(layer, h, qb, kb) > 0);
  return m;
}

bool tileCrossesDiagonal(int64_t qBlock, int64_t kBlock, int64_t blockQ, int64_t blockK) {
  // Rows [qBlock*blockQ, (qBlock+1)*blockQ) and keys [kBlock*blockK, ...) overlap.
  return qBlock * blockQ < (kBlock + 1) * blockK && kBlock * blockK < (qBlock + 1) * blockQ;
}

Expected<AttentionStats> normalizeByCoverage(const AttentionStats &stats,
                                             const std::vector<int64_t> &lengths) {
  const int64_t QB = stats.queryBlocks(), KB = stats.keyBlocks();
  std::vector<double> coverage(static_cast<size_t>(QB * KB), 0.0);
  for (int64_t n0 : lengths) {
    const int64_t n = std::min(n0, std::min(stats.seqQ, stats.seqK));
    for (int64_t qb = 0; qb < QB; ++qb) {
      const int64_t rowsHere =
          std::max<int64_t>(0, std::min(n, (qb + 1) * stats.blockQ) - qb * stats.blockQ);
      for (int64_t kb = 0; kb < KB && kb * stats.blockK < n; ++kb)
        coverage[static_cast<size_t>(qb * KB + kb)] += static_cast<double>(rowsHere);
    }
  }
  AttentionStats out = stats;
  for (int64_t l = 0; l < stats.numLayers(); ++l)
    for (int64_t h = 0; h < stats.heads; ++h)
      for (int64_t qb = 0; qb < QB; ++qb)
        for (int64_t kb = 0; kb < KB; ++kb) {
          const double cov = coverage[static_cast<size_t>(qb * KB + kb)];
          out.at(l, h, qb, kb) =
              cov > 0 ? stats.at(l, h, qb, kb) / cov / static_cast<double>(KB) : 0.0;
        }
  if (Error e = out.validate())
    return e;
  return out;
}

} // namespace sieve::calibration
