//===- main.cpp - the sieve command-line tool -----------------------------===//
#include "Commands.h"

#include "sieve/compiler/Compiler.h"
#include "sieve/runtime/AtomicFile.h"
#include "sieve/runtime/CpuThreadPool.h"

#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
  // Ctrl-C or a kill while writing a mask, stats or kernel leaves no
  // temporary file behind.
  sieve::runtime::removeTemporariesOnSignals();
  CLI::App app{"sieve: block-sparse attention compiled for a fixed mask"};
  app.require_subcommand(1);
  app.set_version_flag("--version", sieve::compiler::compilerVersion());
  // --help shows every option's default; subcommands inherit this.
  app.option_defaults()->always_capture_default();
  // Bad flags read like every other error: "error: <what>".
  app.failure_message([](const CLI::App *, const CLI::Error &e) {
    return std::string("error: ") + e.what() + "\nRun with --help for more information.\n";
  });
  int threads = 0;
  app.add_option("--threads", threads,
                 "CPU backend: threads that run kernels, the caller's included (default: "
                 "SIEVE_CPU_THREADS, else the machine's hardware threads)")
      ->check(CLI::PositiveNumber);
  std::vector<sieve::tools::Command> commands = {
      sieve::tools::addMaskCommand(app),      sieve::tools::addCompileCommand(app),
      sieve::tools::addRunCommand(app),       sieve::tools::addInspectCommand(app),
      sieve::tools::addCalibrateCommand(app), sieve::tools::addPruneCommand(app),
      sieve::tools::addEvaluateCommand(app),  sieve::tools::addCacheCommand(app)};
  CLI11_PARSE(app, argc, argv);
  if (threads > 0)
    sieve::runtime::CpuThreadPool::setShared(threads);
  for (auto &command : commands)
    if (command.app->parsed())
      return command.action();
  return 1;
}
