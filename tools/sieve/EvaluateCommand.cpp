//===- EvaluateCommand.cpp - sieve evaluate: pruned vs dense embeddings ---===//
//
// Embeds held-out sentences with all-MiniLM-L6-v2 dense, then with the masks
// `sieve prune` would make from a stats file at each sparsity, and with a
// random mask of the same per-head tile count under the same forced-tile
// rules (calibration::randomMaskLike). Reports the mean cosine similarity to
// the dense embeddings and the top-1 nearest-neighbour agreement with the
// dense model, as JSON and as a markdown table (docs/pruning-results.md is
// made this way by scripts/pruning-table.sh).
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "Coverage.h"
#include "OutputPath.h"
#include "SpecOptions.h"
#include "Validators.h"

#include "sieve/calibration/Evaluate.h"
#include "sieve/calibration/Prune.h"
#include "sieve/models/MiniLm.h"
#include "sieve/runtime/Artifact.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

namespace sieve::tools {

namespace {

/// Mean density of the masks as the encoder runs them: each sentence's
/// top-left crop, over sentences and layers.
double effectiveDensity(const std::vector<runtime::BlockMask> &masks,
                        const std::vector<int64_t> &lengths) {
  std::map<int64_t, double> byLength;
  double sum = 0;
  for (int64_t n : lengths) {
    auto it = byLength.find(n);
    if (it == byLength.end()) {
      double d = 0;
      for (const runtime::BlockMask &m : masks)
        d += models::cropMask(m, n)->density();
      it = byLength.emplace(n, d / static_cast<double>(masks.size())).first;
    }
    sum += it->second;
  }
  return sum / static_cast<double>(lengths.size());
}

double gridDensity(const std::vector<runtime::BlockMask> &masks) {
  int64_t kept = 0, tiles = 0;
  for (const runtime::BlockMask &m : masks) {
    kept += m.countKept();
    tiles += m.numTiles();
  }
  return static_cast<double>(kept) / static_cast<double>(tiles);
}

} // namespace

Command addEvaluateCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand(
      "evaluate", "Compare pruned and random-mask all-MiniLM-L6-v2 embeddings with dense ones");
  struct Options {
    std::string model, sentences, stats, coverageFrom, json, markdown, scope = "head";
    std::vector<double> sparsities = {0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9};
    bool keepDiagonal = false, quiet = false;
    int64_t minPerRow = 0, limit = 0;
    uint64_t seed = 1;
  };
  auto o = std::make_shared<Options>();
  c->add_option("--model", o->model, "all-MiniLM-L6-v2 folder (default: $SIEVE_MINILM_DIR)");
  c->add_option("--sentences", o->sentences, "Held-out text file, one sentence per line")
      ->required();
  c->add_option("--stats", o->stats, "Stats .npy from sieve calibrate")->required();
  c->add_option("--sparsity", o->sparsities,
                "Fractions of tiles dropped, as in sieve prune: 0.5,0.9, or percents with their "
                "sign, 50%,90%")
      ->delimiter(',')
      ->transform(fractionOrPercent());
  c->add_option("--scope", o->scope, "As in sieve prune: head, layer or global")
      ->check(CLI::IsMember({"head", "layer", "global"}));
  c->add_flag("--keep-diagonal,!--no-keep-diagonal", o->keepDiagonal,
              "As in sieve prune (and the random masks; off by default)");
  c->add_option("--min-per-row", o->minPerRow, "As in sieve prune (random masks: random tiles)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--coverage-from", o->coverageFrom,
                "The calibration sentences file: rank tiles by mean mass per query row that "
                "reached them (calibration::normalizeByCoverage) instead of total mass");
  c->add_option("--seed", o->seed, "Seed of the random masks (layer l uses seed + l)");
  c->add_option("--limit", o->limit, "Use only the first N sentences (0: all)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--json", o->json, "Write the results as JSON here (sparsity in percent)");
  c->add_option("--markdown", o->markdown, "Write the table as markdown here");
  c->add_flag("-q,--quiet", o->quiet, "No progress on stderr");
  return {
      c, [o]() {
        // The run embeds every sentence several times: refuse an output
        // path that cannot be written before that, not after.
        for (auto [path, flag] : {std::pair{&o->json, "--json"}, {&o->markdown, "--markdown"}})
          if (!path->empty())
            if (Error e = checkWritable(*path, flag))
              return reportError(e);
        auto stats = calibration::readStatsFile(o->stats);
        if (!stats)
          return reportError(stats.error());
        if (stats->blockQ != stats->blockK || stats->seqQ != stats->seqK)
          return reportError(Error(ErrorCode::InvalidArgument,
                                   "evaluate needs self-attention stats with square tiles"));
        auto dir = models::findMiniLmDir(o->model);
        if (!dir)
          return reportError(dir.error());
        auto encoder = models::MiniLmEncoder::load(*dir);
        if (!encoder)
          return reportError(encoder.error());
        models::MiniLmEncoder &enc = **encoder;

        if (!o->coverageFrom.empty())
          if (Error e = normalizeByCoverageOf(*stats, o->coverageFrom, enc.tokenizer()))
            return reportError(e);

        std::ifstream in(o->sentences);
        if (!in)
          return reportError(Error(ErrorCode::Io, fmt::format("cannot open {}", o->sentences)));
        // Sentences longer (in tokens) than the stats grid are skipped:
        // the masks do not cover them.
        std::vector<std::vector<int64_t>> ids;
        std::vector<int64_t> lengths;
        int64_t skipped = 0;
        for (std::string line; std::getline(in, line);) {
          if (!line.empty() && line.back() == '\r')
            line.pop_back();
          if (line.find_first_not_of(" \t") == std::string::npos)
            continue;
          std::vector<int64_t> t = enc.tokenizer().encode(line);
          if (static_cast<int64_t>(t.size()) > stats->seqQ) {
            ++skipped;
            continue;
          }
          lengths.push_back(static_cast<int64_t>(t.size()));
          ids.push_back(std::move(t));
          if (o->limit > 0 && static_cast<int64_t>(ids.size()) >= o->limit)
            break;
        }
        if (ids.size() < 2)
          return reportError(
              Error(ErrorCode::InvalidArgument,
                    fmt::format("{} holds fewer than two usable sentences", o->sentences)));

        using Clock = std::chrono::steady_clock;
        const auto start = Clock::now();
        auto embedAll = [&](const std::string &what) -> Expected<calibration::Embeddings> {
          calibration::Embeddings out;
          for (const auto &t : ids) {
            auto e = enc.embedIds(t);
            if (!e)
              return e.error();
            out.push_back(std::move(*e));
          }
          if (!o->quiet)
            std::fprintf(stderr, "evaluate: %s done, %.0f s\n", what.c_str(),
                         std::chrono::duration<double>(Clock::now() - start).count());
          return out;
        };

        enc.setPlan(models::AttentionPlan::dense(stats->blockQ));
        auto dense = embedAll("dense");
        if (!dense)
          return reportError(dense.error());

        nlohmann::json rows = nlohmann::json::array();
        for (double p : o->sparsities) {
          calibration::PruneOptions po;
          po.sparsity = p;
          po.scope = *calibration::parsePruneScope(o->scope);
          po.keepDiagonal = o->keepDiagonal;
          po.minPerRow = o->minPerRow;
          auto pruned = calibration::prune(*stats, po);
          if (!pruned)
            return reportError(pruned.error());
          std::vector<runtime::BlockMask> randomMasks;
          for (size_t l = 0; l < pruned->masks.size(); ++l) {
            runtime::BlockMask allowed =
                calibration::tilesWithMass(*stats, static_cast<int64_t>(l));
            randomMasks.push_back(calibration::randomMaskLike(pruned->masks[l], o->keepDiagonal,
                                                              o->minPerRow, o->seed + l, &allowed));
          }

          // The JSON and the table keep the percent they always had.
          const double percent = std::round(p * 100 * 1e6) / 1e6;
          nlohmann::json row = {{"sparsity", percent}};
          for (const char *kind : {"data", "random"}) {
            const auto &masks = std::string(kind) == "data" ? pruned->masks : randomMasks;
            enc.setPlan(models::AttentionPlan::perLayer(masks));
            auto emb = embedAll(fmt::format("p={}% {}", percent, kind));
            if (!emb)
              return reportError(emb.error());
            auto cos = calibration::meanCosine(*dense, *emb);
            auto top1 = calibration::top1Agreement(*dense, *emb);
            if (!cos)
              return reportError(cos.error());
            if (!top1)
              return reportError(top1.error());
            row[kind] = {{"mean_cosine", *cos},
                         {"top1_agreement", *top1},
                         {"grid_density", gridDensity(masks)},
                         {"effective_density", effectiveDensity(masks, lengths)}};
          }
          rows.push_back(row);
        }

        int64_t minLen = *std::min_element(lengths.begin(), lengths.end());
        int64_t maxLen = *std::max_element(lengths.begin(), lengths.end());
        double meanLen = 0;
        for (int64_t n : lengths)
          meanLen += static_cast<double>(n);
        meanLen /= static_cast<double>(lengths.size());
        nlohmann::json result = {
            {"model", *dir},
            {"sentences_file", o->sentences},
            {"sentences", ids.size()},
            {"skipped_longer_than_grid", skipped},
            {"tokens", {{"min", minLen}, {"mean", meanLen}, {"max", maxLen}}},
            {"stats", o->stats},
            {"block", stats->blockQ},
            {"grid_tokens", stats->seqQ},
            {"scope", o->scope},
            {"tile_score", o->coverageFrom.empty() ? "total mass" : "mean mass per reaching row"},
            {"keep_diagonal", o->keepDiagonal},
            {"min_per_row", o->minPerRow},
            {"seed", o->seed},
            {"rows", rows}};

        std::string md = fmt::format(
            "| p (%) | density (grid / as run) | cosine, data mask | cosine, random mask | "
            "top-1, data mask | top-1, random mask | density as run, random |\n"
            "|---|---|---|---|---|---|---|\n");
        for (const auto &r : rows)
          md += fmt::format(
              "| {:g} | {:.3f} / {:.3f} | {:.4f} | {:.4f} | {:.3f} | {:.3f} | "
              "{:.3f} |\n",
              r["sparsity"].get<double>(), r["data"]["grid_density"].get<double>(),
              r["data"]["effective_density"].get<double>(), r["data"]["mean_cosine"].get<double>(),
              r["random"]["mean_cosine"].get<double>(), r["data"]["top1_agreement"].get<double>(),
              r["random"]["top1_agreement"].get<double>(),
              r["random"]["effective_density"].get<double>());
        fmt::print("{}", md);
        if (!o->json.empty())
          if (Error e = runtime::writeFileAtomically(o->json, result.dump(2) + "\n"))
            return reportError(e);
        if (!o->markdown.empty())
          if (Error e = runtime::writeFileAtomically(o->markdown, md))
            return reportError(e);
        return 0;
      }};
}

} // namespace sieve::tools
