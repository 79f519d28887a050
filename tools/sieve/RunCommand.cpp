//===- RunCommand.cpp - sieve run: compile, run, check, time --------------===//
#include "CacheFlag.h"
#include "Commands.h"
#include "SpecOptions.h"

#include "sieve/compiler/Harness.h"
#include "sieve/compiler/Session.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>

namespace sieve::tools {

namespace {
/// `--thresholds`: [θ per head], or [[θ per head] per layer] picked by `layer`.
Expected<std::vector<float>> readThresholds(const std::string &path, int64_t layer, int64_t heads) {
  auto bad = [&](const std::string &why) {
    return Error(ErrorCode::InvalidArgument, fmt::format("thresholds file {}: {}", path, why));
  };
  std::ifstream in(path);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("cannot open thresholds file {}", path));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array() || j.empty())
    return bad("expected a JSON list of numbers, or a list of such lists per layer");
  if (j[0].is_array()) {
    if (layer < 0 || layer >= int64_t(j.size()))
      return bad(fmt::format("has {} layers, --layer {} is outside", j.size(), layer));
    j = j[layer];
  }
  if (int64_t(j.size()) != heads)
    return bad(fmt::format("has {} thresholds, the mask has {} heads", j.size(), heads));
  std::vector<float> out;
  for (const auto &x : j) {
    if (!x.is_number())
      return bad("a threshold is not a number: " + x.dump());
    out.push_back(x.get<float>());
  }
  return out;
}
} // namespace

Command addRunCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand(
      "run",
      "Run a mask's kernel on fresh random inputs, compare with the float64 reference, time it");
  auto spec = std::make_shared<SpecOptions>();
  auto backend = std::make_shared<std::string>("auto");
  auto harness = std::make_shared<compiler::HarnessOptions>();
  auto tolerance = std::make_shared<double>(-1);
  auto noCheck = std::make_shared<bool>(false);
  auto cache = std::make_shared<CacheFlag>();
  spec->addTo(*c);
  cache->addTo(*c);
  c->add_option("--backend", *backend, "auto (GPU if present), cuda, or cpu");
  c->add_option("--seed", harness->seed, "Seed of the random inputs");
  c->add_option("--iters", harness->iterations, "Timed runs (the median is printed)");
  c->add_option("--warmup", harness->warmup, "Untimed runs first");
  c->add_flag("--bshd", harness->bshd, "Lay tensors out as [B, S, H, D] views");
  c->add_flag("--no-check", *noCheck, "Skip the float64 reference (large shapes)");
  auto thresholdsPath = std::make_shared<std::string>();
  c->add_option("--thresholds", *thresholdsPath,
                "Threshold mode: a JSON list of per-head score thresholds (one per query head), "
                "or a list of such lists per layer (with --layer); scores under them are dropped");
  c->add_option("--tolerance", *tolerance,
                "Fail above this relative error (default 1e-2 for f16/bf16, 1e-4 for f32)");
  return {c, [=]() {
            auto choice = compiler::parseBackendChoice(*backend);
            if (!choice)
              return reportError(choice.error());
            auto session = compiler::Session::create(*choice, 0, cache->makeCache());
            if (!session)
              return reportError(session.error());
            auto s = spec->toSpec((*session)->target());
            if (!s)
              return reportError(s.error());
            compiler::HarnessOptions options = *harness;
            if (!thresholdsPath->empty()) {
              auto thresholds = readThresholds(*thresholdsPath, spec->layer, s->shape.headsQ);
              if (!thresholds)
                return reportError(thresholds.error());
              options.thresholds = std::move(*thresholds);
              s->thresholds = true;
              if (Error e = s->validate())
                return reportError(e);
            }
            auto t0 = std::chrono::steady_clock::now();
            runtime::CacheSource source = runtime::CacheSource::Produced;
            auto artifact = (*session)->compile(*s, &source);
            if (!artifact)
              return reportError(artifact.error());
            double compileMs =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            options.check = !*noCheck;
            auto result = compiler::runAndCheck(**session, **artifact, *s, options);
            if (!result)
              return reportError(result.error());
            const runtime::ProblemShape &sh = s->shape;
            double keptFlops = 4.0 * sh.batch * (*artifact)->keptTiles * s->mask.blockQ() *
                               s->mask.blockK() * sh.headDim;
            fmt::print("device   {}\nproblem  {}{} mask {} ({} of {} tiles kept)\n",
                       (*session)->deviceName(), sh.str(), s->causal ? " causal" : "",
                       spec->maskPath, (*artifact)->keptTiles, (*artifact)->totalTiles);
            fmt::print("cache    {}\n", CacheFlag::describe((*session)->cache(), source));
            fmt::print("compile  {:.1f} ms\ntime     median {:.3f} ms, min {:.3f} ms over {} runs "
                       "({:.2f} GFLOP/s on kept tiles)\n",
                       compileMs, result->medianMs, result->minMs, options.iterations,
                       keptFlops / (result->medianMs * 1e-3) / 1e9);
            if (!result->checked) {
              fmt::print("check    skipped\n");
              return 0;
            }
            double tol =
                *tolerance > 0 ? *tolerance : (sh.dtype == runtime::DType::F32 ? 1e-4 : 1e-2);
            bool ok = result->relativeError <= tol && result->poisonedLeft == 0;
            fmt::print("error    {:.3e} relative to the float64 reference (tolerance {:.0e}), {} "
                       "unwritten: {}\n",
                       result->relativeError, tol, result->poisonedLeft, ok ? "PASS" : "FAIL");
            return ok ? 0 : 2;
          }};
}

} // namespace sieve::tools
