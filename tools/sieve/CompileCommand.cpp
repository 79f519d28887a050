//===- CompileCommand.cpp - sieve compile: ahead-of-time artifacts --------===//
#include "Commands.h"
#include "SpecOptions.h"

#include "sieve/compiler/Compiler.h"

#include <fmt/format.h>

#include <chrono>

namespace sieve::tools {

Command addCompileCommand(CLI::App &app) {
  CLI::App *c =
      app.add_subcommand("compile", "Compile a mask into a kernel artifact (code + JSON metadata)");
  auto spec = std::make_shared<SpecOptions>();
  auto target = std::make_shared<std::string>("sm_90a");
  auto out = std::make_shared<std::string>();
  spec->addTo(*c);
  c->add_option("--target", *target, "cpu, or a chip: sm_80, sm_86, sm_89, sm_90, sm_90a");
  c->add_option("-o,--out", *out, "Output stem: writes <stem>.json and <stem>.ptx (or .mlir)")
      ->required();
  return {c, [=]() {
            auto t = parseTarget(*target);
            if (!t)
              return reportError(t.error());
            auto start = std::chrono::steady_clock::now();
            auto s = spec->toSpec(*t);
            if (!s)
              return reportError(s.error());
            auto artifact = compiler::compile(*s);
            if (!artifact)
              return reportError(artifact.error());
            double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            if (Error e = artifact->save(*out))
              return reportError(e);
            fmt::print(
                "compiled {} for {} in {:.1f} ms: {} of {} tiles kept ({:.1f}%), grid {}x{}x{}, "
                "block {}, {} bytes of code\nkernel {}\nkey {}\n",
                spec->maskPath, t->str(), ms, artifact->keptTiles, artifact->totalTiles,
                100.0 * artifact->keptTiles / artifact->totalTiles, artifact->grid[0],
                artifact->grid[1], artifact->grid[2], artifact->block[0], artifact->code.size(),
                artifact->config, artifact->cacheKey);
            return 0;
          }};
}

} // namespace sieve::tools
