//===- MatchedMasks.cpp - baselines matched on the work actually run ------===//
#include "sieve/calibration/MatchedMasks.h"

#include "sieve/calibration/Evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>

namespace sieve::calibration {

namespace {

Error invalid(const std::string &what) { return Error(ErrorCode::InvalidArgument, what); }

Error checkWeights(const runtime::BlockMask &like, const std::vector<double> &weights) {
  const int64_t tiles = like.queryBlocks() * like.keyBlocks();
  if (static_cast<int64_t>(weights.size()) != tiles)
    return invalid(fmt::format("the tile weights cover {} tiles, the mask's grid {} ({}x{})",
                               weights.size(), tiles, like.queryBlocks(), like.keyBlocks()));
  for (double w : weights)
    if (!(w >= 0) || !std::isfinite(w))
      return invalid("tile weights must be finite and >= 0");
  return Error::success();
}

/// Adds tiles of `order` (indices qb * KB + kb) to head `h` of `m` towards
/// the head weight `target`. With `prefixOnly`, each tile in turn while that
/// brings the weight closer (ties: added), the first one that does not ending
/// the walk: the kept tiles are a prefix of `order`. Otherwise every tile
/// that fits under the target, in order, then the one remaining tile that
/// brings the weight closest, then swaps of an added tile for one not taken
/// while they bring it closer: accepting any tile that merely brings the
/// weight closer would overshoot by up to half a heavy tile on most heads,
/// a bias.
void fillTowards(runtime::BlockMask &m, int64_t h, const std::vector<int64_t> &order,
                 const std::vector<double> &weights, double target, bool prefixOnly) {
  const int64_t KB = m.keyBlocks();
  double have = headRunWeight(m, h, weights);
  auto weightOf = [&](int64_t t) { return weights[static_cast<size_t>(t)]; };
  auto kept = [&](int64_t t) { return m.get(h, t / KB, t % KB); };
  auto add = [&](int64_t t) {
    m.set(h, t / KB, t % KB, true);
    have += weightOf(t);
  };
  std::vector<bool> keptOnEntry(weights.size(), false);
  for (int64_t t : order)
    keptOnEntry[static_cast<size_t>(t)] = kept(t);
  if (prefixOnly) {
    for (int64_t t : order) {
      if (kept(t))
        continue;
      if (std::abs(have + weightOf(t) - target) > std::abs(have - target))
        return;
      add(t);
    }
    return;
  }
  for (int64_t t : order)
    if (!kept(t) && have + weightOf(t) <= target)
      add(t);
  int64_t best = -1;
  double bestGap = std::abs(have - target);
  for (int64_t t : order)
    if (!kept(t) && std::abs(have + weightOf(t) - target) < bestGap) {
      best = t;
      bestGap = std::abs(have + weightOf(t) - target);
    }
  if (best >= 0)
    add(best);
  // What remains is less than the lightest tile left, which on short inputs
  // can be a heavy one (and the step above may overshoot by most of it):
  // swap an added tile for one not taken, or drop it, while that brings the
  // weight closer. Tiles kept on entry (the forced ones) stay.
  std::vector<int64_t> added, free;
  for (int64_t t : order)
    if (!keptOnEntry[static_cast<size_t>(t)])
      (kept(t) ? added : free).push_back(t);
  for (int step = 0; step < 64; ++step) {
    double gap = std::abs(have - target);
    size_t bestOut = 0, bestIn = 0; // bestIn == free.size(): drop, no replacement
    bool found = false;
    for (size_t i = 0; i < added.size(); ++i)
      for (size_t j = 0; j <= free.size(); ++j) {
        const double in = j < free.size() ? weightOf(free[j]) : 0.0;
        const double g = std::abs(have - weightOf(added[i]) + in - target);
        if (g < gap) {
          gap = g;
          bestOut = i;
          bestIn = j;
          found = true;
        }
      }
    if (!found)
      break;
    const int64_t out = added[bestOut];
    m.set(h, out / KB, out % KB, false);
    have -= weightOf(out);
    if (bestIn < free.size()) {
      add(free[bestIn]);
      added[bestOut] = free[bestIn];
      free[bestIn] = out;
    } else {
      added.erase(added.begin() + static_cast<std::ptrdiff_t>(bestOut));
      free.push_back(out);
    }
  }
}

} // namespace

Expected<std::vector<double>> tileRunCounts(const std::vector<int64_t> &lengths, int64_t block,
                                            int64_t queryBlocks, int64_t keyBlocks) {
  if (block <= 0 || queryBlocks <= 0 || keyBlocks <= 0)
    return invalid(fmt::format("tile run counts need a positive block and grid, got block {} and "
                               "{}x{} tiles",
                               block, queryBlocks, keyBlocks));
  const int64_t longest = std::min(queryBlocks, keyBlocks) * block;
  std::vector<double> counts(static_cast<size_t>(queryBlocks * keyBlocks), 0.0);
  for (int64_t n : lengths) {
    if (n < 1 || n > longest)
      return invalid(fmt::format("an input of {} tokens does not fit the mask's grid of {} tokens",
                                 n, longest));
    const int64_t blocks = (n + block - 1) / block;
    for (int64_t qb = 0; qb < blocks; ++qb)
      for (int64_t kb = 0; kb < blocks; ++kb)
        counts[static_cast<size_t>(qb * keyBlocks + kb)] += 1;
  }
  return counts;
}

double headRunWeight(const runtime::BlockMask &mask, int64_t head,
                     const std::vector<double> &weights) {
  const int64_t QB = mask.queryBlocks(), KB = mask.keyBlocks();
  double sum = 0;
  for (int64_t qb = 0; qb < QB; ++qb)
    for (int64_t kb = 0; kb < KB; ++kb)
      if (mask.get(head, qb, kb))
        sum += weights[static_cast<size_t>(qb * KB + kb)];
  return sum;
}

double asRunDensity(const std::vector<runtime::BlockMask> &masks,
                    const std::vector<double> &weights) {
  const double perHead = std::accumulate(weights.begin(), weights.end(), 0.0);
  double kept = 0, all = 0;
  for (const runtime::BlockMask &m : masks)
    for (int64_t h = 0; h < m.heads(); ++h) {
      kept += headRunWeight(m, h, weights);
      all += perHead;
    }
  return all > 0 ? kept / all : 0.0;
}

Expected<runtime::BlockMask> matchedRandomMask(const runtime::BlockMask &like,
                                               const std::vector<double> &weights,
                                               bool keepDiagonal, int64_t minPerRow, uint64_t seed,
                                               const runtime::BlockMask *allowed) {
  if (Error e = checkWeights(like, weights))
    return e;
  if (minPerRow < 0)
    return invalid(fmt::format("the minimum of tiles per row must be >= 0, got {}", minPerRow));
  const int64_t H = like.heads(), QB = like.queryBlocks(), KB = like.keyBlocks();
  if (allowed &&
      (allowed->heads() != H || allowed->queryBlocks() != QB || allowed->keyBlocks() != KB))
    return invalid("the allowed tiles' mask differs in shape from the mask to match");
  auto m = runtime::BlockMask::create(H, QB, KB, like.blockQ(), like.blockK());
  if (!m)
    return m.error();
  auto usable = [&](int64_t h, int64_t t) {
    return weights[static_cast<size_t>(t)] > 0 && (!allowed || allowed->get(h, t / KB, t % KB));
  };
  std::mt19937_64 rng(seed);
  for (int64_t h = 0; h < H; ++h) {
    const double target = headRunWeight(like, h, weights);
    bool empty = true;
    for (int64_t t = 0; t < QB * KB && empty; ++t)
      empty = !like.get(h, t / KB, t % KB);
    if (empty)
      continue; // a pruned head stays pruned
    for (int64_t qb = 0; qb < QB; ++qb) {
      if (keepDiagonal)
        for (int64_t kb = 0; kb < KB; ++kb)
          if (tileCrossesDiagonal(qb, kb, like.blockQ(), like.blockK()))
            m->set(h, qb, kb, true);
      if (minPerRow > 0) {
        // Top the row up with random tiles the inputs run (the diagonal
        // counts), in place of the heaviest the data mask forces.
        std::vector<int64_t> kbs(static_cast<size_t>(KB));
        std::iota(kbs.begin(), kbs.end(), 0);
        std::shuffle(kbs.begin(), kbs.end(), rng);
        int64_t inRow = 0;
        for (int64_t kb = 0; kb < KB; ++kb)
          inRow += m->get(h, qb, kb);
        for (size_t i = 0; i < kbs.size() && inRow < minPerRow; ++i)
          if (!m->get(h, qb, kbs[i]) && usable(h, qb * KB + kbs[i])) {
            m->set(h, qb, kbs[i], true);
            ++inRow;
          }
      }
    }
    std::vector<int64_t> order;
    for (int64_t t = 0; t < QB * KB; ++t)
      if (usable(h, t))
        order.push_back(t);
    std::shuffle(order.begin(), order.end(), rng);
    fillTowards(*m, h, order, weights, target, /*prefixOnly=*/false);
  }
  return m;
}

Expected<runtime::BlockMask> matchedPositionMask(const runtime::BlockMask &like,
                                                 const std::vector<double> &weights,
                                                 int64_t sinkBlocks) {
  if (Error e = checkWeights(like, weights))
    return e;
  if (sinkBlocks < 0)
    return invalid(fmt::format("sink blocks must be >= 0, got {}", sinkBlocks));
  if (like.blockQ() != like.blockK())
    return invalid(fmt::format("a position-only mask needs square tiles, got {}x{}", like.blockQ(),
                               like.blockK()));
  const int64_t H = like.heads(), QB = like.queryBlocks(), KB = like.keyBlocks();
  // Sink columns, then |qb - kb| = 0, 1, ...; within a band keys before the
  // query first, then by query block. Tiles no input runs are left out.
  std::vector<int64_t> order;
  for (int64_t t = 0; t < QB * KB; ++t)
    if (weights[static_cast<size_t>(t)] > 0)
      order.push_back(t);
  auto rank = [&](int64_t t) {
    const int64_t qb = t / KB, kb = t % KB;
    const bool sink = kb < sinkBlocks;
    return std::make_tuple(sink ? 0 : 1, sink ? kb : std::llabs(qb - kb), kb > qb, qb);
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return rank(a) < rank(b); });
  auto m = runtime::BlockMask::create(H, QB, KB, like.blockQ(), like.blockK());
  if (!m)
    return m.error();
  for (int64_t h = 0; h < H; ++h) {
    bool empty = true;
    for (int64_t t = 0; t < QB * KB && empty; ++t)
      empty = !like.get(h, t / KB, t % KB);
    if (!empty)
      fillTowards(*m, h, order, weights, headRunWeight(like, h, weights), /*prefixOnly=*/true);
  }
  return m;
}

Expected<std::vector<MaskSet>> fairMaskSets(const AttentionStats &stats,
                                            const PruneOptions &options,
                                            const std::vector<double> &weights, int64_t randomSeeds,
                                            uint64_t firstSeed, int64_t sinkBlocks) {
  if (randomSeeds < 0)
    return invalid(fmt::format("the number of random seeds must be >= 0, got {}", randomSeeds));
  auto pruned = prune(stats, options);
  if (!pruned)
    return pruned.error();
  std::vector<MaskSet> sets;
  sets.push_back({"data", 0, pruned->masks});
  for (int64_t s = 0; s < randomSeeds; ++s) {
    MaskSet set{"random", firstSeed + static_cast<uint64_t>(s), {}};
    for (size_t l = 0; l < pruned->masks.size(); ++l) {
      runtime::BlockMask allowed = tilesWithMass(stats, static_cast<int64_t>(l));
      auto m = matchedRandomMask(pruned->masks[l], weights, options.keepDiagonal, options.minPerRow,
                                 set.seed + l, &allowed);
      if (!m)
        return m.error();
      set.masks.push_back(std::move(*m));
    }
    sets.push_back(std::move(set));
  }
  MaskSet position{"position", 0, {}};
  for (const runtime::BlockMask &like : pruned->masks) {
    auto m = matchedPositionMask(like, weights, sinkBlocks);
    if (!m)
      return m.error();
    position.masks.push_back(std::move(*m));
  }
  sets.push_back(std::move(position));
  return sets;
}

} // namespace sieve::calibration
