//===- PruneCommand.cpp - sieve prune: attention stats to a mask file -----===//
#include "Commands.h"
#include "Coverage.h"
#include "OutputPath.h"
#include "Reach.h"
#include "SpecOptions.h"
#include "Thresholds.h"
#include "Validators.h"

#include "sieve/calibration/Prune.h"
#include "sieve/models/MiniLm.h"
#include "sieve/runtime/MaskFile.h"

#include <fmt/format.h>

#include <cstdio>
#include <optional>

namespace sieve::tools {

Command addPruneCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand(
      "prune", "Turn attention stats (sieve calibrate) into a [layers, heads, ...] mask file");
  struct Options {
    std::string stats, out, scope = "head", headScores, coverageFrom, model, thresholds;
    double sparsity = 0.9;
    std::optional<double> crossSparsity;
    bool keepDiagonal = false;
    int64_t minPerRow = 0;
    std::optional<int64_t> keepHeads;
  };
  auto o = std::make_shared<Options>();
  c->add_option("--stats", o->stats, "Stats .npy (its .json sidecar beside it)")->required();
  c->add_option("--sparsity", o->sparsity,
                "Fraction of tiles dropped (self-attention): 0.9, or a percent with its sign, 90%")
      ->transform(fractionOrPercent());
  c->add_option("--cross-sparsity", o->crossSparsity,
                "Fraction dropped in cross-attention layers (default: --sparsity)")
      ->transform(fractionOrPercent());
  c->add_option("--scope", o->scope, "Where tiles compete: head, layer or global")
      ->check(CLI::IsMember({"head", "layer", "global"}));
  c->add_flag("--keep-diagonal,!--no-keep-diagonal", o->keepDiagonal,
              "Always keep tiles that cross the diagonal (off by default)");
  c->add_option("--min-per-row", o->minPerRow,
                "Keep at least this many tiles per query block of a kept head")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--keep-heads", o->keepHeads,
                "Keep only the K most important heads over the model; the rest get empty masks");
  c->add_option("--head-scores", o->headScores,
                "JSON [[score per head] per layer]: head importance for --keep-heads "
                "(default: concentration from the stats)");
  c->add_option("--coverage-from", o->coverageFrom,
                "Calibration sentences: rank tiles by mean mass per query row that reached them "
                "(as sieve evaluate does) instead of total mass");
  c->add_option("--model", o->model,
                "all-MiniLM-L6-v2 folder, for --coverage-from's tokenizer (default: "
                "$SIEVE_MINILM_DIR)");
  c->add_option("--thresholds", o->thresholds,
                "Threshold mode: learned per-head score thresholds (a JSON list per layer), "
                "checked against the stats and kept beside the mask as <out>.thresholds.json "
                "for sieve run --thresholds");
  c->add_option("-o,--out", o->out, "Output mask .npy (the .json sidecar goes beside it)")
      ->required();
  return {c, [o]() {
            if (Error e = checkWritable(o->out, "-o"))
              return reportError(e);
            auto stats = calibration::readStatsFile(o->stats);
            if (!stats)
              return reportError(stats.error());
            // Checked before anything is written: a bad file leaves no mask behind.
            std::optional<std::vector<std::vector<float>>> thresholds;
            if (!o->thresholds.empty()) {
              auto layers = readThresholdsFile(o->thresholds, stats->heads);
              if (!layers)
                return reportError(layers.error());
              if (int64_t(layers->size()) != stats->numLayers())
                return reportError(
                    Error(ErrorCode::ShapeMismatch,
                          fmt::format("thresholds file {} has {} layers, the stats have {}",
                                      o->thresholds, layers->size(), stats->numLayers())));
              thresholds = std::move(*layers);
            }
            if (!o->coverageFrom.empty()) {
              auto dir = models::findMiniLmDir(o->model);
              if (!dir)
                return reportError(dir.error());
              // Token counts need the vocabulary only, not the weights.
              auto tokenizer = models::loadMiniLmTokenizer(*dir);
              if (!tokenizer)
                return reportError(tokenizer.error());
              if (Error e = normalizeByCoverageOf(*stats, o->coverageFrom, *tokenizer))
                return reportError(e);
            }
            calibration::PruneOptions options;
            options.sparsity = o->sparsity;
            options.crossSparsity = o->crossSparsity;
            options.scope = *calibration::parsePruneScope(o->scope);
            options.keepDiagonal = o->keepDiagonal;
            options.minPerRow = o->minPerRow;
            options.keepHeads = o->keepHeads;
            if (!o->headScores.empty()) {
              if (!o->keepHeads)
                return reportError(
                    Error(ErrorCode::InvalidArgument, "--head-scores needs --keep-heads"));
              auto scores =
                  calibration::readHeadScores(o->headScores, stats->numLayers(), stats->heads);
              if (!scores)
                return reportError(scores.error());
              options.headScores = std::move(*scores);
            }
            auto result = calibration::prune(*stats, options);
            if (!result)
              return reportError(result.error());
            if (Error e = runtime::writeMaskStack(o->out, result->masks, stats->seqQ, stats->seqK))
              return reportError(e);
            int64_t kept = 0, tiles = 0;
            for (const runtime::BlockMask &m : result->masks) {
              kept += m.countKept();
              tiles += m.numTiles();
            }
            fmt::print("wrote {}: [{}, {}, {}, {}] tiles of {}x{}, density {:.3f}\n", o->out,
                       stats->numLayers(), stats->heads, stats->queryBlocks(), stats->keyBlocks(),
                       stats->blockQ, stats->blockK,
                       static_cast<double>(kept) / static_cast<double>(tiles));
            fmt::print("{}", calibration::formatRetained(*stats, *result));
            std::string warning = unreachedPruneWarning(*stats, *result);
            if (!warning.empty())
              std::fprintf(stderr, "sieve: %s\n", warning.c_str());
            if (thresholds) {
              std::string stem = o->out.size() > 4 && o->out.substr(o->out.size() - 4) == ".npy"
                                     ? o->out.substr(0, o->out.size() - 4)
                                     : o->out;
              std::string path = stem + ".thresholds.json";
              if (Error e = writeThresholdsFile(path, *thresholds))
                return reportError(e);
              fmt::print("thresholds: {} layers x {} heads kept in {} (sieve run --thresholds)\n",
                         thresholds->size(), stats->heads, path);
            }
            return 0;
          }};
}

} // namespace sieve::tools
