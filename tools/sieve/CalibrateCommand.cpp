//===- CalibrateCommand.cpp - sieve calibrate: attention stats of a model -===//
//
// Runs all-MiniLM-L6-v2 over a text file (one sentence per line) and writes
// the attention mass per layer, head and tile: by default through the
// calibration kernel (KernelSpec::calibrate) on the GPU when there is one,
// else on the CPU backend; --engine cpu, gpu or reference (the float64 host
// recomputation) choose (sieve::calibration::Calibrator). The model itself
// always runs on the CPU.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "OutputPath.h"
#include "Reach.h"
#include "SpecOptions.h"
#include "Validators.h"

#include "sieve/calibration/Calibrator.h"
#include "sieve/runtime/Limits.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>

namespace sieve::tools {

Command addCalibrateCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand("calibrate",
                                   "Run all-MiniLM-L6-v2 over sentences and write attention stats");
  struct Options {
    std::string model, sentences, out, engine = "kernel";
    int64_t block = 16, maxSeq = 0, limit = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Options>();
  c->add_option("--model", o->model, "all-MiniLM-L6-v2 folder (default: $SIEVE_MINILM_DIR)");
  c->add_option("--sentences", o->sentences, "Text file, one sentence per line")->required();
  c->add_option("--block", o->block, "Tile size (query rows and keys)")
      ->check(sizeUpTo(runtime::kMaxBlock, "tokens"));
  c->add_option("--max-seq", o->maxSeq,
                "Stats grid length in tokens; longer sentences are cut (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--limit", o->limit, "Use only the first N sentences (0: all)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--engine", o->engine,
                "Who measures the attention mass (the model runs on the CPU either way). "
                "kernel: the calibration kernel on the GPU when this machine has one, else on "
                "the CPU; cpu: the CPU calibration kernel; gpu: the GPU calibration kernel "
                "(q, k, v copied to the GPU as bf16; fails without a GPU); reference: float64 "
                "recomputation on the host")
      ->check(CLI::IsMember({"kernel", "cpu", "gpu", "reference"}));
  c->add_flag("-q,--quiet", o->quiet, "No progress on stderr");
  c->add_option("-o,--out", o->out, "Output stats .npy (the .json sidecar goes beside it)")
      ->required();
  return {c, [o]() {
            // Minutes of work must not end in "cannot write".
            if (Error e = checkWritable(o->out, "-o"))
              return reportError(e);
            std::ifstream in(o->sentences);
            if (!in)
              return reportError(Error(ErrorCode::Io, fmt::format("cannot open {}", o->sentences)));
            std::vector<std::string> sentences;
            for (std::string line; std::getline(in, line);) {
              if (!line.empty() && line.back() == '\r')
                line.pop_back();
              if (line.find_first_not_of(" \t") == std::string::npos)
                continue; // blank lines are not sentences
              sentences.push_back(line);
              if (o->limit > 0 && static_cast<int64_t>(sentences.size()) >= o->limit)
                break;
            }
            if (sentences.empty())
              return reportError(Error(ErrorCode::InvalidArgument,
                                       fmt::format("{} holds no sentences", o->sentences)));

            calibration::MiniLmCalibration options;
            options.modelDir = o->model;
            options.blockQ = options.blockK = o->block;
            options.maxSeq = o->maxSeq;
            options.engine = *calibration::parseCalibrationEngine(o->engine);
            using Clock = std::chrono::steady_clock;
            const auto start = Clock::now();
            auto lastReport = start;
            bool reported = false;
            // Progress only on long runs: the first line after a second,
            // then one a second, and a last one when any was printed.
            options.progress = [&](size_t done, size_t total) {
              if (o->quiet)
                return;
              auto now = Clock::now();
              if (now - lastReport < std::chrono::seconds(1) && done != total)
                return;
              if (done == total && !reported)
                return;
              double elapsed = std::chrono::duration<double>(now - start).count();
              std::fprintf(stderr, "calibrate: %zu/%zu sentences, %.1f/s\n", done, total,
                           elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0);
              lastReport = now;
              reported = true;
            };
            auto stats = calibration::calibrateMiniLm(sentences, options);
            if (!stats)
              return reportError(stats.error());
            if (Error e = calibration::writeStatsFile(o->out, *stats))
              return reportError(e);
            int64_t rows = 0;
            for (int64_t l = 0; l < stats->numLayers(); ++l)
              rows += stats->totalRows(l);
            fmt::print("wrote {}: {} layers x {} heads x [{}, {}] tiles of {}x{}, {} sentences, "
                       "{} query rows per layer\n",
                       o->out, stats->numLayers(), stats->heads, stats->queryBlocks(),
                       stats->keyBlocks(), stats->blockQ, stats->blockK, sentences.size(),
                       stats->totalRows(0));
            std::string note = calibrationReachNote(*stats);
            if (!note.empty())
              std::fprintf(stderr, "sieve: %s\n", note.c_str());
            return 0;
          }};
}

} // namespace sieve::tools
