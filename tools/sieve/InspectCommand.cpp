//===- InspectCommand.cpp - sieve inspect: the IR after each stage --------===//
#include "Commands.h"
#include "SpecOptions.h"

#include "sieve/compiler/Compiler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>

namespace sieve::tools {

Command addInspectCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand("inspect", "Print the IR after each stage of the pipeline");
  auto spec = std::make_shared<SpecOptions>();
  auto target = std::make_shared<std::string>("cpu");
  auto stage = std::make_shared<std::string>();
  spec->addTo(*c);
  c->add_option("--target", *target, targetHelp());
  c->add_option("--stage", *stage,
                "Print only stages whose name contains this text (none matching is an error "
                "that lists them)");
  return {c, [=]() {
            std::string note;
            auto t = parseTarget(*target, &note);
            if (!t)
              return reportError(t.error());
            if (!note.empty())
              std::fprintf(stderr, "sieve: %s\n", note.c_str());
            auto s = spec->toSpec(*t);
            if (!s)
              return reportError(s.error());
            auto stages = compiler::compileStages(*s);
            if (!stages)
              return reportError(stages.error());
            std::vector<std::string> names;
            bool printed = false;
            for (const auto &[name, ir] : *stages) {
              // "LowerToCpu (sieve-lower-to-cpu) ('builtin.module' operation)":
              // the pass and its flag, which either matches.
              names.push_back(name.substr(0, name.find(" ('")));
              if (stage->empty() || name.find(*stage) != std::string::npos) {
                fmt::print("// ===== {} =====\n{}\n", name, ir);
                printed = true;
              }
            }
            if (!printed)
              return reportError(Error(ErrorCode::InvalidArgument,
                                       fmt::format("--stage {}: no stage's name contains it; the "
                                                   "stages for {} are {}",
                                                   *stage, t->str(), fmt::join(names, ", "))));
            return 0;
          }};
}

} // namespace sieve::tools
