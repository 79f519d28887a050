//===- Prune.cpp - keep the tiles that hold the attention mass ------------===//
#include "sieve/calibration/Prune.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>

namespace sieve::calibration {

namespace {

Error invalid(const std::string &what) { return Error(ErrorCode::InvalidArgument, what); }

// The fraction of head (l, h)'s mass in its heaviest keepFraction of tiles.
double concentration(const AttentionStats &s, int64_t l, int64_t h, double keepFraction) {
  std::vector<double> m;
  m.reserve(static_cast<size_t>(s.queryBlocks() * s.keyBlocks()));
  for (int64_t qb = 0; qb < s.queryBlocks(); ++qb)
    for (int64_t kb = 0; kb < s.keyBlocks(); ++kb)
      m.push_back(s.at(l, h, qb, kb));
  double total = std::accumulate(m.begin(), m.end(), 0.0);
  if (total <= 0)
    return 0;
  size_t n = std::max<size_t>(1, static_cast<size_t>(std::ceil(keepFraction * m.size())));
  n = std::min(n, m.size());
  std::partial_sort(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n), m.end(),
                    std::greater<double>());
  return std::accumulate(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n), 0.0) / total;
}

bool crossesDiagonal(const AttentionStats &s, int64_t qb, int64_t kb) {
  int64_t q0 = qb * s.blockQ, q1 = std::min((qb + 1) * s.blockQ, s.seqQ);
  int64_t k0 = kb * s.blockK, k1 = std::min((kb + 1) * s.blockK, s.seqK);
  return q0 < k1 && k0 < q1;
}

} // namespace

Expected<PruneScope> parsePruneScope(const std::string &name) {
  if (name == "head")
    return PruneScope::Head;
  if (name == "layer")
    return PruneScope::Layer;
  if (name == "global")
    return PruneScope::Global;
  return invalid(fmt::format("unknown scope '{}' (expected head, layer or global)", name));
}

std::vector<std::vector<double>> headImportanceFromStats(const AttentionStats &stats,
                                                         double sparsity) {
  std::vector<std::vector<double>> out(static_cast<size_t>(stats.numLayers()));
  for (int64_t l = 0; l < stats.numLayers(); ++l)
    for (int64_t h = 0; h < stats.heads; ++h)
      out[static_cast<size_t>(l)].push_back(concentration(stats, l, h, 1 - sparsity));
  return out;
}

Expected<PruneResult> prune(const AttentionStats &s, const PruneOptions &o) {
  if (Error e = s.validate())
    return e;
  auto checkRatio = [](const char *name, double p) -> Error {
    if (!(p >= 0 && p <= 1))
      return invalid(fmt::format("{} must be in [0, 1], got {}", name, p));
    return Error::success();
  };
  if (Error e = checkRatio("sparsity", o.sparsity))
    return e;
  if (o.crossSparsity)
    if (Error e = checkRatio("cross-attention sparsity", *o.crossSparsity))
      return e;
  if (o.minPerRow < 0)
    return invalid(fmt::format("the minimum of tiles per row must be >= 0, got {}", o.minPerRow));
  const int64_t L = s.numLayers(), H = s.heads, QB = s.queryBlocks(), KB = s.keyBlocks();
  if (o.keepHeads && (*o.keepHeads < 1 || *o.keepHeads > L * H))
    return invalid(fmt::format("heads to keep must be in [1, {}] ({} layers x {} heads), got {}",
                               L * H, L, H, *o.keepHeads));
  if (!o.headScores.empty()) {
    if (static_cast<int64_t>(o.headScores.size()) != L)
      return invalid(
          fmt::format("head scores cover {} layers, the stats have {}", o.headScores.size(), L));
    for (int64_t l = 0; l < L; ++l) {
      const auto &row = o.headScores[static_cast<size_t>(l)];
      if (static_cast<int64_t>(row.size()) != H)
        return invalid(
            fmt::format("head scores of layer {} have {} heads, the stats {}", l, row.size(), H));
      for (double v : row)
        if (!std::isfinite(v))
          return invalid(fmt::format("head scores of layer {} hold a non-finite value", l));
    }
  }
  auto sparsityOf = [&](int64_t l) {
    return s.layers[static_cast<size_t>(l)].kind == LayerKind::Cross && o.crossSparsity
               ? *o.crossSparsity
               : o.sparsity;
  };

  PruneResult r;
  // Head importance and the heads kept.
  r.importance = o.headScores;
  if (r.importance.empty()) {
    r.importance.assign(static_cast<size_t>(L), {});
    for (int64_t l = 0; l < L; ++l)
      for (int64_t h = 0; h < H; ++h)
        r.importance[static_cast<size_t>(l)].push_back(concentration(s, l, h, 1 - sparsityOf(l)));
  }
  r.headKept.assign(static_cast<size_t>(L), std::vector<bool>(static_cast<size_t>(H), true));
  if (o.keepHeads) {
    std::vector<std::pair<int64_t, int64_t>> order;
    for (int64_t l = 0; l < L; ++l)
      for (int64_t h = 0; h < H; ++h)
        order.push_back({l, h});
    // Most important first; ties to the earlier head, so results are stable.
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) {
      return r.importance[static_cast<size_t>(a.first)][static_cast<size_t>(a.second)] >
             r.importance[static_cast<size_t>(b.first)][static_cast<size_t>(b.second)];
    });
    for (size_t i = 0; i < order.size(); ++i)
      r.headKept[static_cast<size_t>(order[i].first)][static_cast<size_t>(order[i].second)] =
          static_cast<int64_t>(i) < *o.keepHeads;
  }

  for (int64_t l = 0; l < L; ++l) {
    auto mask = runtime::BlockMask::create(H, QB, KB, s.blockQ, s.blockK);
    if (!mask)
      return mask.error();
    r.masks.push_back(std::move(*mask));
  }

  // Forced tiles: the diagonal, and the heaviest minPerRow of each row.
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h) {
      if (!r.headKept[static_cast<size_t>(l)][static_cast<size_t>(h)])
        continue;
      runtime::BlockMask &m = r.masks[static_cast<size_t>(l)];
      for (int64_t qb = 0; qb < QB; ++qb) {
        if (o.keepDiagonal)
          for (int64_t kb = 0; kb < KB; ++kb)
            if (crossesDiagonal(s, qb, kb))
              m.set(h, qb, kb, true);
        if (o.minPerRow > 0) {
          std::vector<int64_t> kbs(static_cast<size_t>(KB));
          std::iota(kbs.begin(), kbs.end(), 0);
          std::stable_sort(kbs.begin(), kbs.end(), [&](int64_t a, int64_t b) {
            return s.at(l, h, qb, a) > s.at(l, h, qb, b);
          });
          for (int64_t i = 0; i < std::min(o.minPerRow, KB); ++i)
            m.set(h, qb, kbs[static_cast<size_t>(i)], true);
        }
      }
    }

  // Budgets: each group keeps round((1 - p) x its tiles), forced tiles
  // included; the rest of the budget goes to the heaviest tiles with mass.
  struct Tile {
    int64_t l, h, qb, kb;
    double score;
  };
  std::map<int64_t, std::vector<Tile>> groups;
  std::map<int64_t, int64_t> groupTiles, groupKept;
  std::map<int64_t, double> groupSparsity;
  for (int64_t l = 0; l < L; ++l) {
    const double rows = static_cast<double>(s.totalRows(l));
    for (int64_t h = 0; h < H; ++h) {
      if (!r.headKept[static_cast<size_t>(l)][static_cast<size_t>(h)])
        continue;
      int64_t g = o.scope == PruneScope::Head ? l * H + h
                  : o.scope == PruneScope::Layer
                      ? l
                      : static_cast<int64_t>(s.layers[static_cast<size_t>(l)].kind);
      groupSparsity[g] = sparsityOf(l);
      for (int64_t qb = 0; qb < QB; ++qb)
        for (int64_t kb = 0; kb < KB; ++kb) {
          ++groupTiles[g];
          double mass = s.at(l, h, qb, kb);
          if (r.masks[static_cast<size_t>(l)].get(h, qb, kb)) {
            ++groupKept[g];
            continue;
          }
          if (mass <= 0)
            continue;
          // Over the model, layers compare by mass per query row seen.
          double score = o.scope == PruneScope::Global ? (rows > 0 ? mass / rows : 0) : mass;
          groups[g].push_back({l, h, qb, kb, score});
        }
    }
  }
  for (auto &[g, tiles] : groups) {
    int64_t budget = static_cast<int64_t>(
        std::llround((1 - groupSparsity[g]) * static_cast<double>(groupTiles[g])));
    std::stable_sort(tiles.begin(), tiles.end(),
                     [](const Tile &a, const Tile &b) { return a.score > b.score; });
    for (const Tile &t : tiles) {
      if (groupKept[g] >= budget)
        break;
      r.masks[static_cast<size_t>(t.l)].set(t.h, t.qb, t.kb, true);
      ++groupKept[g];
    }
  }

  // Retained mass.
  r.retained.assign(static_cast<size_t>(L), std::vector<double>(static_cast<size_t>(H), 0.0));
  for (int64_t l = 0; l < L; ++l) {
    double layerKept = 0, layerTotal = 0;
    for (int64_t h = 0; h < H; ++h) {
      double kept = 0, total = 0;
      for (int64_t qb = 0; qb < QB; ++qb)
        for (int64_t kb = 0; kb < KB; ++kb) {
          total += s.at(l, h, qb, kb);
          if (r.masks[static_cast<size_t>(l)].get(h, qb, kb))
            kept += s.at(l, h, qb, kb);
        }
      bool headKept = r.headKept[static_cast<size_t>(l)][static_cast<size_t>(h)];
      r.retained[static_cast<size_t>(l)][static_cast<size_t>(h)] =
          total > 0 ? kept / total : (headKept ? 1.0 : 0.0);
      layerKept += kept;
      layerTotal += total;
    }
    r.layerRetained.push_back(layerTotal > 0 ? layerKept / layerTotal : 1.0);
  }
  return r;
}

Expected<std::vector<std::vector<double>>> readHeadScores(const std::string &path, int64_t layers,
                                                          int64_t heads) {
  std::ifstream in(path);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("cannot open head scores {}", path));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string &what) {
    return invalid(fmt::format("head scores {}: {}", path, what));
  };
  if (j.is_discarded())
    return bad("not valid JSON");
  if (!j.is_array() || static_cast<int64_t>(j.size()) != layers)
    return bad(
        fmt::format("expected an array of {} layers (each an array of {} numbers)", layers, heads));
  std::vector<std::vector<double>> out;
  for (size_t l = 0; l < j.size(); ++l) {
    if (!j[l].is_array() || static_cast<int64_t>(j[l].size()) != heads)
      return bad(fmt::format("layer {} must be an array of {} numbers", l, heads));
    out.emplace_back();
    for (const auto &v : j[l]) {
      if (!v.is_number() || !std::isfinite(v.get<double>()))
        return bad(fmt::format("layer {} holds {}, not a finite number", l, v.dump()));
      out.back().push_back(v.get<double>());
    }
  }
  return out;
}

std::string formatRetained(const AttentionStats &s, const PruneResult &r) {
  std::string out = "attention mass retained (per head; - = pruned head)\n";
  size_t width = 5;
  for (const LayerStats &l : s.layers)
    width = std::max(width, l.name.size());
  out += fmt::format("{:<{}}  {:<5}  {:>7}  {:>8}  heads\n", "layer", width, "kind", "density",
                     "retained");
  for (int64_t l = 0; l < s.numLayers(); ++l) {
    const LayerStats &layer = s.layers[static_cast<size_t>(l)];
    std::string heads;
    for (int64_t h = 0; h < s.heads; ++h) {
      if (h)
        heads += ' ';
      heads +=
          r.headKept[static_cast<size_t>(l)][static_cast<size_t>(h)]
              ? fmt::format("{:.3f}", r.retained[static_cast<size_t>(l)][static_cast<size_t>(h)])
              : std::string("-");
    }
    out += fmt::format("{:<{}}  {:<5}  {:>7.3f}  {:>8.3f}  {}\n", layer.name, width,
                       layerKindName(layer.kind), r.masks[static_cast<size_t>(l)].density(),
                       r.layerRetained[static_cast<size_t>(l)], heads);
  }
  return out;
}

} // namespace sieve::calibration
