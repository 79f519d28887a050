//===- EvaluateCommand.cpp - sieve evaluate: pruned vs dense, fairly -------===//
//
// Embeds held-out inputs with all-MiniLM-L6-v2 dense, then, at each
// sparsity, with the data mask `sieve prune` would make from a stats file
// and with its baselines matched on the work actually run on these inputs
// (calibration::fairMaskSets): random masks over several seeds and a
// position-only mask (sink columns plus a diagonal band). Two tasks:
// - --sentences: how far the embeddings move (per-sentence cosine to the
//   dense embedding, and whether its nearest neighbour among the others is
//   the dense model's);
// - --pairs: retrieval with exact labels (per query, the rank of its own
//   document among all documents; recall@1 and MRR).
// Writes the per-input numbers as JSON (scripts/pruning-report.py makes the
// tables with error bars from them) and a summary table; --export-masks
// writes every mask set for a run elsewhere (scripts/retrieval-gpu.py).
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "Coverage.h"
#include "OutputPath.h"
#include "SpecOptions.h"
#include "Validators.h"

#include "sieve/calibration/Evaluate.h"
#include "sieve/calibration/MatchedMasks.h"
#include "sieve/calibration/Prune.h"
#include "sieve/models/MiniLm.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/MaskFile.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace sieve::tools {

namespace {

double gridDensity(const std::vector<runtime::BlockMask> &masks) {
  int64_t kept = 0, tiles = 0;
  for (const runtime::BlockMask &m : masks) {
    kept += m.countKept();
    tiles += m.numTiles();
  }
  return static_cast<double>(kept) / static_cast<double>(tiles);
}

/// The evaluated inputs: sentences, or (query, document) pairs whose
/// queries are ids[0, pairs) and documents ids[pairs, 2 pairs).
struct Inputs {
  std::vector<std::vector<int64_t>> ids;
  int64_t pairs = 0; // 0: sentences
  int64_t skipped = 0;
  std::vector<int64_t> lengths() const {
    std::vector<int64_t> out;
    for (const auto &t : ids)
      out.push_back(static_cast<int64_t>(t.size()));
    return out;
  }
};

/// Reads `path`: one sentence a line, or with `pairs` a query and its
/// document separated by a tab. Inputs longer (in tokens) than `grid` are
/// skipped (a pair when either side is): the masks do not cover them.
Expected<Inputs> readInputs(const std::string &path, bool pairs, int64_t grid, int64_t limit,
                            const models::WordPieceTokenizer &tokenizer) {
  std::ifstream in(path);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("cannot open {}", path));
  Inputs out;
  std::vector<std::vector<int64_t>> documents;
  int64_t lineNo = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    std::vector<int64_t> query, document;
    if (pairs) {
      const size_t tab = line.find('\t');
      if (tab == std::string::npos || line.find('\t', tab + 1) != std::string::npos)
        return Error(ErrorCode::InvalidArgument,
                     fmt::format("{} line {}: expected a query and its document separated by "
                                 "one tab",
                                 path, lineNo));
      query = tokenizer.encode(line.substr(0, tab));
      document = tokenizer.encode(line.substr(tab + 1));
    } else {
      query = tokenizer.encode(line);
    }
    if (static_cast<int64_t>(query.size()) > grid || static_cast<int64_t>(document.size()) > grid) {
      ++out.skipped;
      continue;
    }
    out.ids.push_back(std::move(query));
    if (pairs)
      documents.push_back(std::move(document));
    if (limit > 0 && static_cast<int64_t>(out.ids.size()) >= limit)
      break;
  }
  if (out.ids.size() < 2)
    return Error(ErrorCode::InvalidArgument, fmt::format("{} holds fewer than two usable {}", path,
                                                         pairs ? "pairs" : "sentences"));
  if (pairs) {
    out.pairs = static_cast<int64_t>(out.ids.size());
    for (auto &d : documents)
      out.ids.push_back(std::move(d));
  }
  return out;
}

/// The task's per-input numbers and their means for one model's embeddings.
Expected<nlohmann::json> score(const Inputs &inputs, const calibration::Embeddings &dense,
                               const calibration::Embeddings &emb) {
  if (inputs.pairs > 0) {
    const auto n = static_cast<std::ptrdiff_t>(inputs.pairs);
    calibration::Embeddings queries(emb.begin(), emb.begin() + n),
        documents(emb.begin() + n, emb.end());
    auto ranks = calibration::retrievalRanks(queries, documents);
    if (!ranks)
      return ranks.error();
    double hits = 0, reciprocal = 0;
    for (int64_t r : *ranks) {
      hits += r == 1;
      reciprocal += 1.0 / static_cast<double>(r);
    }
    return nlohmann::json{{"ranks", *ranks},
                          {"recall_at_1", hits / static_cast<double>(ranks->size())},
                          {"mrr", reciprocal / static_cast<double>(ranks->size())}};
  }
  auto mean = calibration::meanCosine(dense, emb);
  if (!mean)
    return mean.error();
  std::vector<double> cosines;
  for (size_t i = 0; i < emb.size(); ++i)
    cosines.push_back(calibration::cosine(dense[i], emb[i]));
  std::vector<int64_t> a = calibration::nearestNeighbours(dense),
                       b = calibration::nearestNeighbours(emb), same;
  double agree = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    same.push_back(a[i] == b[i]);
    agree += a[i] == b[i];
  }
  return nlohmann::json{{"cosine", cosines},
                        {"top1", same},
                        {"mean_cosine", *mean},
                        {"top1_agreement", agree / static_cast<double>(a.size())}};
}

/// "mean ± sd" of `values` (sd over seeds, n - 1; just the mean for one).
std::string meanSd(const std::vector<double> &values, int digits) {
  double mean = 0;
  for (double v : values)
    mean += v;
  mean /= static_cast<double>(values.size());
  if (values.size() < 2)
    return fmt::format("{:.{}f}", mean, digits);
  double var = 0;
  for (double v : values)
    var += (v - mean) * (v - mean);
  var /= static_cast<double>(values.size() - 1);
  return fmt::format("{:.{}f} ± {:.{}f}", mean, digits, std::sqrt(var), digits);
}

/// The summary table: per sparsity the densities and the task's two
/// numbers for the data mask, the random masks (mean ± sd over seeds) and
/// the position-only mask.
std::string summaryTable(const nlohmann::json &rows, bool pairs) {
  const char *m1 = pairs ? "recall_at_1" : "mean_cosine";
  const char *m2 = pairs ? "mrr" : "top1_agreement";
  std::string md = fmt::format(
      "| p (%) | density, nominal (data) | density as run: data / random / position | {} "
      "data | random | position | {} data | random | position |\n"
      "|---|---|---|---|---|---|---|---|---|\n",
      pairs ? "recall@1," : "cosine,", pairs ? "MRR," : "top-1,");
  for (const auto &r : rows) {
    const auto &data = r["data"], &position = r["position"];
    std::vector<double> d, a, b;
    for (const auto &x : r["random"]) {
      d.push_back(x["as_run_density"].get<double>());
      if (x.contains(m1)) {
        a.push_back(x[m1].get<double>());
        b.push_back(x[m2].get<double>());
      }
    }
    auto value = [](const nlohmann::json &j, const char *k) {
      return j.contains(k) ? fmt::format("{:.3f}", j[k].get<double>()) : std::string("-");
    };
    md += fmt::format("| {:g} | {:.3f} | {:.3f} / {} / {:.3f} | {} | {} | {} | {} | {} | {} |\n",
                      r["sparsity"].get<double>(), data["nominal_density"].get<double>(),
                      data["as_run_density"].get<double>(), d.empty() ? "-" : meanSd(d, 3),
                      position["as_run_density"].get<double>(), value(data, m1),
                      a.empty() ? "-" : meanSd(a, 3), value(position, m1), value(data, m2),
                      b.empty() ? "-" : meanSd(b, 3), value(position, m2));
  }
  return md;
}

} // namespace

Command addEvaluateCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand(
      "evaluate", "Compare pruned all-MiniLM-L6-v2 with the dense model and with baselines "
                  "matched on the work actually run");
  struct Options {
    std::string model, sentences, pairs, stats, coverageFrom, json, markdown, exportMasks,
        scope = "head";
    std::vector<double> sparsities = {0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9};
    bool keepDiagonal = false, quiet = false, masksOnly = false;
    int64_t minPerRow = 0, limit = 0, seeds = 5, sinkBlocks = 1;
    uint64_t seed = 1;
  };
  auto o = std::make_shared<Options>();
  c->add_option("--model", o->model, "all-MiniLM-L6-v2 folder (default: $SIEVE_MINILM_DIR)");
  auto *sentences = c->add_option("--sentences", o->sentences,
                                  "Held-out text file, one sentence per line: how far the "
                                  "embeddings move from the dense model's");
  auto *pairs = c->add_option("--pairs", o->pairs,
                              "Retrieval pairs, one a line: a query, a tab, its document; each "
                              "query ranks all documents (recall@1, MRR)");
  sentences->excludes(pairs);
  pairs->excludes(sentences);
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
  c->add_option("--seed", o->seed, "First seed of the random masks (layer l adds l)");
  c->add_option("--seeds", o->seeds, "How many random masks (seeds seed, seed+1, ...)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000}));
  c->add_option("--sink-blocks", o->sinkBlocks,
                "Key blocks the position-only mask keeps first (its sink columns)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  c->add_option("--limit", o->limit, "Use only the first N sentences or pairs (0: all)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--export-masks", o->exportMasks,
                "Write every mask set here (p<percent>-<kind>[-s<seed>].npy and index.json)");
  c->add_flag("--masks-only", o->masksOnly,
              "Make (and export) the masks and their densities; embed nothing");
  c->add_option("--json", o->json, "Write the results as JSON here (sparsity in percent)");
  c->add_option("--markdown", o->markdown, "Write the summary table as markdown here");
  c->add_flag("-q,--quiet", o->quiet, "No progress on stderr");
  return {
      c, [o]() {
        if (o->sentences.empty() == o->pairs.empty())
          return reportError(
              Error(ErrorCode::InvalidArgument, "evaluate needs --sentences or --pairs"));
        // The run embeds every input many times: refuse an output path that
        // cannot be written before that, not after.
        for (auto [path, flag] : {std::pair{&o->json, "--json"}, {&o->markdown, "--markdown"}})
          if (!path->empty())
            if (Error e = checkWritable(*path, flag))
              return reportError(e);
        if (!o->exportMasks.empty()) {
          std::error_code ec;
          std::filesystem::create_directories(o->exportMasks, ec);
          if (ec)
            return reportError(Error(ErrorCode::Io, fmt::format("--export-masks: cannot create "
                                                                "{}: {}",
                                                                o->exportMasks, ec.message())));
        }
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

        const bool isPairs = !o->pairs.empty();
        auto inputs = readInputs(isPairs ? o->pairs : o->sentences, isPairs, stats->seqQ, o->limit,
                                 enc.tokenizer());
        if (!inputs)
          return reportError(inputs.error());
        const std::vector<int64_t> lengths = inputs->lengths();
        auto weights = calibration::tileRunCounts(lengths, stats->blockQ, stats->queryBlocks(),
                                                  stats->keyBlocks());
        if (!weights)
          return reportError(weights.error());

        using Clock = std::chrono::steady_clock;
        const auto start = Clock::now();
        auto embedAll = [&](const std::string &what) -> Expected<calibration::Embeddings> {
          const auto begin = Clock::now();
          calibration::Embeddings out;
          for (const auto &t : inputs->ids) {
            auto e = enc.embedIds(t);
            if (!e)
              return e.error();
            out.push_back(std::move(*e));
          }
          if (!o->quiet) {
            const double took = std::chrono::duration<double>(Clock::now() - begin).count();
            std::fprintf(stderr, "evaluate: %s done, %.1f s (%.3f s per input), %.0f s in all\n",
                         what.c_str(), took, took / static_cast<double>(inputs->ids.size()),
                         std::chrono::duration<double>(Clock::now() - start).count());
          }
          return out;
        };

        calibration::Embeddings dense;
        nlohmann::json denseScore;
        if (!o->masksOnly) {
          enc.setPlan(models::AttentionPlan::dense(stats->blockQ));
          auto d = embedAll("dense");
          if (!d)
            return reportError(d.error());
          dense = std::move(*d);
          auto s = score(*inputs, dense, dense);
          if (!s)
            return reportError(s.error());
          denseScore = std::move(*s);
        }

        nlohmann::json rows = nlohmann::json::array(), index = nlohmann::json::array();
        for (double p : o->sparsities) {
          calibration::PruneOptions po;
          po.sparsity = p;
          po.scope = *calibration::parsePruneScope(o->scope);
          po.keepDiagonal = o->keepDiagonal;
          po.minPerRow = o->minPerRow;
          auto sets =
              calibration::fairMaskSets(*stats, po, *weights, o->seeds, o->seed, o->sinkBlocks);
          if (!sets)
            return reportError(sets.error());
          // The JSON and the table keep the percent they always had.
          const double percent = std::round(p * 100 * 1e6) / 1e6;
          nlohmann::json row = {{"sparsity", percent}, {"random", nlohmann::json::array()}};
          for (const calibration::MaskSet &set : *sets) {
            const bool random = set.kind == "random";
            const std::string name = random ? fmt::format("{}-s{}", set.kind, set.seed) : set.kind;
            nlohmann::json entry = {
                {"nominal_density", gridDensity(set.masks)},
                {"as_run_density", calibration::asRunDensity(set.masks, *weights)}};
            if (random)
              entry["seed"] = set.seed;
            if (!o->exportMasks.empty()) {
              const std::string file = fmt::format("p{:g}-{}.npy", percent, name);
              if (Error e = runtime::writeMaskStack(o->exportMasks + "/" + file, set.masks,
                                                    stats->seqQ, stats->seqK))
                return reportError(e);
              nlohmann::json item = entry;
              item.update({{"sparsity", percent}, {"kind", set.kind}, {"file", file}});
              index.push_back(item);
            }
            if (!o->masksOnly) {
              enc.setPlan(models::AttentionPlan::perLayer(set.masks));
              auto emb = embedAll(fmt::format("p={}% {}", percent, name));
              if (!emb)
                return reportError(emb.error());
              auto s = score(*inputs, dense, *emb);
              if (!s)
                return reportError(s.error());
              entry.update(*s);
            }
            if (random)
              row["random"].push_back(std::move(entry));
            else
              row[set.kind] = std::move(entry);
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
            {"task", isPairs ? "retrieval" : "embedding agreement"},
            {"inputs_file", isPairs ? o->pairs : o->sentences},
            {isPairs ? "pairs" : "sentences",
             isPairs ? inputs->pairs : static_cast<int64_t>(inputs->ids.size())},
            {"skipped_longer_than_grid", inputs->skipped},
            {"tokens", {{"min", minLen}, {"mean", meanLen}, {"max", maxLen}}},
            {"stats", o->stats},
            {"block", stats->blockQ},
            {"grid_tokens", stats->seqQ},
            {"scope", o->scope},
            {"tile_score", o->coverageFrom.empty() ? "total mass" : "mean mass per reaching row"},
            {"keep_diagonal", o->keepDiagonal},
            {"min_per_row", o->minPerRow},
            {"seed", o->seed},
            {"seeds", o->seeds},
            {"sink_blocks", o->sinkBlocks},
            {"backend", "cpu (sieve evaluate, f32)"},
            {"rows", rows}};
        if (!o->masksOnly)
          result["dense"] = denseScore;

        const std::string md = summaryTable(rows, isPairs);
        fmt::print("{}", md);
        if (!o->exportMasks.empty()) {
          nlohmann::json meta = result;
          meta.erase("rows");
          meta.erase("dense");
          meta["masks"] = index;
          if (Error e =
                  runtime::writeFileAtomically(o->exportMasks + "/index.json", meta.dump(2) + "\n"))
            return reportError(e);
        }
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
