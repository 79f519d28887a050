//===- CompileCommand.cpp - sieve compile: ahead-of-time artifacts --------===//
#include "CacheFlag.h"
#include "Commands.h"
#include "OutputPath.h"
#include "SpecOptions.h"

#include "sieve/compiler/Compiler.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

namespace sieve::tools {

Command addCompileCommand(CLI::App &app) {
  CLI::App *c =
      app.add_subcommand("compile", "Compile a mask into a kernel artifact (code + JSON metadata)");
  auto spec = std::make_shared<SpecOptions>();
  auto target = std::make_shared<std::string>("auto");
  auto out = std::make_shared<std::string>();
  auto cache = std::make_shared<CacheFlag>();
  spec->addTo(*c);
  cache->addTo(*c);
  c->add_option("--target", *target, targetHelp());
  auto calibrate = std::make_shared<bool>(false);
  c->add_flag("--calibrate", *calibrate,
              "The calibration variant: also adds each query row's probability mass per key "
              "block to an f32 stats table (docs/stats-format.md)");
  auto thresholds = std::make_shared<bool>(false);
  c->add_flag("--thresholds", *thresholds,
              "Threshold mode: the kernel also takes f32 per-head score thresholds [Hq] at "
              "launch and drops every score under its head's");
  auto saveLse = std::make_shared<bool>(false);
  c->add_flag("--save-lse", *saveLse,
              "The training forward: also writes each query row's log-sum-exp (f32 [B, Hq, Sq]) "
              "for the backward");
  auto backward = std::make_shared<bool>(false);
  c->add_flag("--backward", *backward,
              "The backward pass: dq, dk, dv from q, k, v, out, dout and the forward's lse");
  auto ragged = std::make_shared<bool>(false);
  c->add_flag("--ragged", *ragged,
              "A ragged batch (docs/ragged-paged.md): --batch sequences of different lengths, at "
              "most --seq-q queries and --seq-k keys each, packed; launches give cu_seqlens "
              "(C API: sieve_attention_batch). CPU target only, for now");
  auto pageSize = std::make_shared<int64_t>(0);
  c->add_option("--page-size", *pageSize,
                "Paged KV (docs/ragged-paged.md): keys per page, a multiple of the mask's "
                "block_k; K and V are read through a page table given at launch (0: contiguous). "
                "CPU target only, for now")
      ->check(CLI::NonNegativeNumber);
  c->add_option("-o,--out", *out, "Output stem: writes <stem>.json and <stem>.ptx (or .mlir)")
      ->required();
  return {c, [=]() {
            std::string note;
            auto t = parseTarget(*target, &note);
            if (!t)
              return reportError(t.error());
            if (!note.empty())
              std::fprintf(stderr, "sieve: %s\n", note.c_str());
            if (Error e = checkWritable(*out + ".json", "-o"))
              return reportError(e);
            auto start = std::chrono::steady_clock::now();
            auto s = spec->toSpec(*t);
            if (!s)
              return reportError(s.error());
            s->calibrate = *calibrate;
            s->thresholds = *thresholds;
            s->saveLse = *saveLse;
            s->backward = *backward;
            s->ragged = *ragged;
            s->pageSize = *pageSize;
            if (Error e = s->validate())
              return reportError(e);
            // Through the cache: a kernel compiled here is one a later run
            // (or an MLIR-free runtime, by key) finds without compiling.
            auto kernels = cache->makeCache();
            runtime::CacheSource source = runtime::CacheSource::Produced;
            auto artifact = kernels->get(*s, &source);
            if (!artifact)
              return reportError(artifact.error());
            double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            const runtime::Artifact &a = **artifact;
            if (Error e = a.save(*out))
              return reportError(e);
            fmt::print(
                "compiled {} for {} in {:.1f} ms: {} of {} tiles kept ({:.1f}%), grid {}x{}x{}, "
                "block {}, {} bytes of code\nvariant {}\nkernel {}\nkey {}\ncache {}\n",
                spec->maskPath, t->str(), ms, a.keptTiles, a.totalTiles,
                100.0 * a.keptTiles / a.totalTiles, a.mainLaunch().grid[0], a.mainLaunch().grid[1],
                a.mainLaunch().grid[2], a.mainLaunch().block[0], a.code.size(), a.variant, a.config,
                a.cacheKey, CacheFlag::describe(*kernels, source));
            return 0;
          }};
}

} // namespace sieve::tools
