//===- RunCommand.cpp - sieve run: compile, run, check, time --------------===//
#include "CacheFlag.h"
#include "Commands.h"
#include "SpecOptions.h"
#include "Thresholds.h"
#include "Throughput.h"
#include "Validators.h"

#include "sieve/compiler/Session.h"
#include "sieve/testing/Harness.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <optional>

namespace sieve::tools {

Command addRunCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand(
      "run",
      "Run a mask's kernel on fresh random inputs, compare with the float64 reference, time it");
  auto spec = std::make_shared<SpecOptions>();
  auto backend = std::make_shared<std::string>("auto");
  auto harness = std::make_shared<testing::HarnessOptions>();
  auto tolerance = std::make_shared<std::optional<double>>();
  auto noCheck = std::make_shared<bool>(false);
  auto cache = std::make_shared<CacheFlag>();
  spec->addTo(*c);
  cache->addTo(*c);
  c->add_option("--backend", *backend, "auto (GPU if present), cuda, or cpu");
  c->add_option("--seed", harness->seed, "Seed of the random inputs");
  c->add_option("--iters", harness->iterations, "Timed runs (the median is printed)")
      ->check(sizeUpTo(1000000, "runs"));
  c->add_option("--warmup", harness->warmup, "Untimed runs first")->check(CLI::Range(0, 1000000));
  c->add_flag("--bshd", harness->bshd, "Lay tensors out as [B, S, H, D] views");
  c->add_flag("--no-check", *noCheck,
              fmt::format("Skip the float64 reference (large shapes). Inputs, outputs and the "
                          "check may take at most {} GiB of host memory",
                          harness->maxHostBytes >> 30));
  auto thresholdsPath = std::make_shared<std::string>();
  c->add_option("--thresholds", *thresholdsPath,
                "Threshold mode: a JSON list of per-head score thresholds (one per query head), "
                "or a list of such lists per layer (with --layer); scores under them are dropped");
  c->add_option("--tolerance", *tolerance,
                "Fail above this relative error (default 1e-2 for f16/bf16, 1e-4 for f32)")
      ->check(positiveFinite());
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
            testing::HarnessOptions options = *harness;
            if (!thresholdsPath->empty()) {
              auto layers = readThresholdsFile(*thresholdsPath, s->shape.headsQ);
              if (!layers)
                return reportError(layers.error());
              if (spec->layer < 0 || spec->layer >= int64_t(layers->size()))
                return reportError(
                    Error(ErrorCode::InvalidArgument,
                          fmt::format("thresholds file {} has {} layers, --layer {} "
                                      "is outside",
                                      *thresholdsPath, layers->size(), spec->layer)));
              options.thresholds = (*layers)[spec->layer];
              s->thresholds = true;
              if (Error e = s->validate())
                return reportError(e);
            }
            options.check = !*noCheck;
            // Before compiling: a problem too large to run is refused at once.
            if (Error e = testing::checkHostBytes(s->shape, options))
              return reportError(e);
            auto t0 = std::chrono::steady_clock::now();
            runtime::CacheSource source = runtime::CacheSource::Produced;
            auto artifact = (*session)->compile(*s, &source);
            if (!artifact)
              return reportError(artifact.error());
            double compileMs =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            auto result = testing::runAndCheck(**session, **artifact, *s, options);
            if (!result)
              return reportError(result.error());
            const runtime::ProblemShape &sh = s->shape;
            // 2 D FLOPs per scored pair for Q.K^T, 2 D per kept score for P.V.
            const double pairs = double(sh.batch) * double(scoredPairs(*s));
            const bool thresholdsCounted = result->scoresKept >= 0 && !options.thresholds.empty();
            const double products = thresholdsCounted ? double(result->scoresKept) : pairs;
            const double flops = 2.0 * double(sh.headDim) * (pairs + products);
            std::string counted = options.thresholds.empty() ? "on the kept tiles' unmasked pairs"
                                  : thresholdsCounted
                                      ? "on the kept tiles' unmasked pairs, P.V on scores over the "
                                        "thresholds"
                                      : "on the kept tiles' unmasked pairs, thresholds not counted "
                                        "without the check: an upper bound";
            fmt::print("device   {}\nproblem  {}{} mask {} ({} of {} tiles kept)\n",
                       (*session)->deviceName(), sh.str(),
                       !s->causal                                        ? ""
                       : s->causalAlign == runtime::CausalAlign::TopLeft ? " causal"
                                                                         : " causal bottom-right",
                       spec->maskPath, (*artifact)->keptTiles, (*artifact)->totalTiles);
            fmt::print("cache    {}\n", CacheFlag::describe((*session)->cache(), source));
            // Which body ran (on the GPU: wgmma, mma or the scalar simt, of
            // which the cache warned on stderr if auto chose it).
            fmt::print("variant  {}: {}\n", (*artifact)->variant, (*artifact)->config);
            fmt::print("compile  {:.1f} ms\ntime     median {:.3f} ms, min {:.3f} ms over {} runs "
                       "({}: {:.0f} FLOP {})\n",
                       compileMs, result->medianMs, result->minMs, options.iterations,
                       formatFlopRate(flops, result->medianMs), flops, counted);
            if (!result->checked) {
              fmt::print("check    skipped\n");
              return 0;
            }
            double tol = tolerance->value_or(sh.dtype == runtime::DType::F32 ? 1e-4 : 1e-2);
            bool ok = result->relativeError <= tol && result->poisonedLeft == 0;
            fmt::print("error    {:.3e} relative to the float64 reference (tolerance {:.0e}), {} "
                       "unwritten: {}\n",
                       result->relativeError, tol, result->poisonedLeft, ok ? "PASS" : "FAIL");
            return ok ? 0 : 2;
          }};
}

} // namespace sieve::tools
