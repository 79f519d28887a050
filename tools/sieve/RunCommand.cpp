//===- RunCommand.cpp - sieve run: compile, run, check, time --------------===//
#include "CacheFlag.h"
#include "Commands.h"
#include "SpecOptions.h"
#include "Thresholds.h"

#include "sieve/compiler/Session.h"
#include "sieve/testing/Harness.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

namespace sieve::tools {

Command addRunCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand(
      "run",
      "Run a mask's kernel on fresh random inputs, compare with the float64 reference, time it");
  auto spec = std::make_shared<SpecOptions>();
  auto backend = std::make_shared<std::string>("auto");
  auto harness = std::make_shared<testing::HarnessOptions>();
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
  return {
      c, [=]() {
        auto choice = compiler::parseBackendChoice(*backend);
        if (!choice)
          return reportError(choice.error());
        auto session = compiler::Session::create(*choice, 0, cache->makeCache());
        if (!session)
          return reportError(session.error());
        auto s = spec->toSpec((*session)->target());
        if (!s)
          return reportError(s.error());
        testing::HarnessOptions options = *harness;
        if (!thresholdsPath->empty()) {
          auto layers = readThresholdsFile(*thresholdsPath, s->shape.headsQ);
          if (!layers)
            return reportError(layers.error());
          if (spec->layer < 0 || spec->layer >= int64_t(layers->size()))
            return reportError(Error(ErrorCode::InvalidArgument,
                                     fmt::format("thresholds file {} has {} layers, --layer {} "
                                                 "is outside",
                                                 *thresholdsPath, layers->size(), spec->layer)));
          options.thresholds = (*layers)[spec->layer];
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
        auto result = testing::runAndCheck(**session, **artifact, *s, options);
        if (!result)
          return reportError(result.error());
        const runtime::ProblemShape &sh = s->shape;
        double keptFlops = 4.0 * sh.batch * (*artifact)->keptTiles * s->mask.blockQ() *
                           s->mask.blockK() * sh.headDim;
        fmt::print("device   {}\nproblem  {}{} mask {} ({} of {} tiles kept)\n",
                   (*session)->deviceName(), sh.str(), s->causal ? " causal" : "", spec->maskPath,
                   (*artifact)->keptTiles, (*artifact)->totalTiles);
        fmt::print("cache    {}\n", CacheFlag::describe((*session)->cache(), source));
        fmt::print("compile  {:.1f} ms\ntime     median {:.3f} ms, min {:.3f} ms over {} runs "
                   "({:.2f} GFLOP/s on kept tiles)\n",
                   compileMs, result->medianMs, result->minMs, options.iterations,
                   keptFlops / (result->medianMs * 1e-3) / 1e9);
        if (!result->checked) {
          fmt::print("check    skipped\n");
          return 0;
        }
        double tol = *tolerance > 0 ? *tolerance : (sh.dtype == runtime::DType::F32 ? 1e-4 : 1e-2);
        bool ok = result->relativeError <= tol && result->poisonedLeft == 0;
        fmt::print("error    {:.3e} relative to the float64 reference (tolerance {:.0e}), {} "
                   "unwritten: {}\n",
                   result->relativeError, tol, result->poisonedLeft, ok ? "PASS" : "FAIL");
        return ok ? 0 : 2;
      }};
}

} // namespace sieve::tools
