//===- MaskCommand.cpp - sieve mask: write sample masks -------------------===//
//
// Calibrated masks come from `sieve prune`; this writes the synthetic ones
// the peers' benchmarks use (random tiles at a density, diagonal kept), so
// the README's first command and the benchmarks need no model.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "SpecOptions.h"

#include "sieve/runtime/BlockMask.h"
#include "sieve/runtime/MaskFile.h"

#include <fmt/format.h>

namespace sieve::tools {

Command addMaskCommand(CLI::App &app) {
  CLI::App *c = app.add_subcommand("mask", "Write a random block mask file");
  struct Options {
    int64_t heads = 8, seqQ = 1024, seqK = 1024, blockQ = 64, blockK = 64;
    double density = 0.25;
    uint64_t seed = 1;
    bool keepDiagonal = true;
    int64_t emptyHeads = 0;
    std::string out;
  };
  auto o = std::make_shared<Options>();
  c->add_option("--heads", o->heads, "Query heads");
  c->add_option("--seq-q", o->seqQ, "Query length");
  c->add_option("--seq-k", o->seqK, "Key length");
  c->add_option("--block-q", o->blockQ, "Query rows per tile");
  c->add_option("--block-k", o->blockK, "Keys per tile");
  c->add_option("--density", o->density, "Fraction of tiles kept")->check(CLI::Range(0.0, 1.0));
  c->add_option("--seed", o->seed, "Random seed");
  c->add_option("--keep-diagonal", o->keepDiagonal,
                "Always keep tiles on the diagonal (true/false)");
  c->add_option("--empty-heads", o->emptyHeads, "Prune the last N heads entirely");
  c->add_option("-o,--out", o->out, "Output .npy path (the .json sidecar goes beside it)")
      ->required();
  return {c, [o]() {
            if (o->heads <= 0 || o->seqQ <= 0 || o->seqK <= 0 || o->blockQ <= 0 || o->blockK <= 0)
              return reportError(Error(ErrorCode::InvalidArgument, "sizes must be positive"));
            if (o->emptyHeads < 0 || o->emptyHeads > o->heads)
              return reportError(
                  Error(ErrorCode::InvalidArgument, "--empty-heads must be in [0, heads]"));
            int64_t qb = (o->seqQ + o->blockQ - 1) / o->blockQ,
                    kb = (o->seqK + o->blockK - 1) / o->blockK;
            runtime::BlockMask mask = runtime::BlockMask::random(
                o->heads, qb, kb, o->blockQ, o->blockK, o->density, o->seed, o->keepDiagonal);
            for (int64_t h = o->heads - o->emptyHeads; h < o->heads; ++h)
              mask.setHead(h, false);
            if (Error e = runtime::writeMaskFile(o->out, mask, o->seqQ, o->seqK))
              return reportError(e);
            fmt::print("wrote {}: [{}, {}, {}] tiles of {}x{}, density {:.3f}\n", o->out, o->heads,
                       qb, kb, o->blockQ, o->blockK, mask.density());
            return 0;
          }};
}

} // namespace sieve::tools
