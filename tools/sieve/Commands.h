//===- Commands.h - the sieve CLI's subcommands ----------------*- C++ -*-===//
#ifndef SIEVE_TOOLS_COMMANDS_H
#define SIEVE_TOOLS_COMMANDS_H

#include <CLI/CLI.hpp>

#include <functional>

namespace sieve::tools {

/// Each registers its subcommand and returns it with the action to run when
/// it was chosen; the action returns the process exit status.
using Action = std::function<int()>;
struct Command {
  CLI::App *app;
  Action action;
};
Command addMaskCommand(CLI::App &app);
Command addCompileCommand(CLI::App &app);
Command addRunCommand(CLI::App &app);
Command addInspectCommand(CLI::App &app);
Command addCalibrateCommand(CLI::App &app);
Command addPruneCommand(CLI::App &app);
Command addEvaluateCommand(CLI::App &app);
Command addCacheCommand(CLI::App &app);

} // namespace sieve::tools

#endif
