//===- InspectCommand.cpp - sieve inspect: the IR after each stage --------===//
#include "Commands.h"
#include "SpecOptions.h"

#include "sieve/compiler/Compiler.h"

#include <fmt/format.h>

namespace sieve::tools {

Command addInspectCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand("inspect", "Print the IR after each stage of the pipeline");
  auto spec = std::make_shared<SpecOptions>();
  auto target = std::make_shared<std::string>("cpu");
  auto stage = std::make_shared<std::string>();
  spec->addTo(*c);
  c->add_option("--target", *target, "cpu, or a chip: sm_80, sm_86, sm_89, sm_90, sm_90a");
  c->add_option("--stage", *stage, "Print only stages whose name contains this text");
  return {c, [=]() {
            auto t = parseTarget(*target);
            if (!t)
              return reportError(t.error());
            auto s = spec->toSpec(*t);
            if (!s)
              return reportError(s.error());
            auto stages = compiler::compileStages(*s);
            if (!stages)
              return reportError(stages.error());
            for (const auto &[name, ir] : *stages)
              if (stage->empty() || name.find(*stage) != std::string::npos)
                fmt::print("// ===== {} =====\n{}\n", name, ir);
            return 0;
          }};
}

} // namespace sieve::tools
