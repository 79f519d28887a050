//===- MaskCommand.cpp - sieve mask: write sample masks -------------------===//
//
// Calibrated masks come from `sieve prune`; this writes the synthetic ones
// the peers' benchmarks use (random tiles at a density, diagonal kept), so
// the README's first command and the benchmarks need no model.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "OutputPath.h"
#include "SpecOptions.h"
#include "Validators.h"

#include "sieve/runtime/BlockMask.h"
#include "sieve/runtime/Limits.h"
#include "sieve/runtime/MaskFile.h"

#include <fmt/format.h>

#include <cmath>

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
  c->add_option("--heads", o->heads, "Query heads")
      ->check(sizeUpTo(runtime::kMaxHeads, "query heads"));
  c->add_option("--seq-q", o->seqQ, "Query length")
      ->check(sizeUpTo(runtime::kMaxSequence, "tokens"));
  c->add_option("--seq-k", o->seqK, "Key length")->check(sizeUpTo(runtime::kMaxSequence, "tokens"));
  c->add_option("--block-q", o->blockQ, "Query rows per tile")
      ->check(sizeUpTo(runtime::kMaxBlock, "rows"));
  c->add_option("--block-k", o->blockK, "Keys per tile")
      ->check(sizeUpTo(runtime::kMaxBlock, "keys"));
  c->add_option("--density", o->density,
                "Fraction of each head's tiles kept, exactly (the diagonal's included)")
      ->check(CLI::Range(0.0, 1.0));
  c->add_option("--seed", o->seed, "Random seed");
  c->add_flag("--keep-diagonal,!--no-keep-diagonal", o->keepDiagonal,
              "Always keep the tiles that cross the diagonal (on by default)");
  c->add_option("--empty-heads", o->emptyHeads, "Prune the last N heads entirely")
      ->check(CLI::NonNegativeNumber);
  c->add_option("-o,--out", o->out, "Output .npy path (the .json sidecar goes beside it)")
      ->required();
  return {c, [o]() {
            if (o->emptyHeads > o->heads)
              return reportError(
                  Error(ErrorCode::InvalidArgument, "--empty-heads must be in [0, heads]"));
            int64_t qb = (o->seqQ - 1) / o->blockQ + 1, kb = (o->seqK - 1) / o->blockK + 1;
            if (Error e = runtime::checkMaskTiles(o->heads, qb, kb))
              return reportError(e);
            if (Error e = checkWritable(o->out, "-o"))
              return reportError(e);
            auto mask = runtime::BlockMask::randomExact(o->heads, qb, kb, o->blockQ, o->blockK,
                                                        o->density, o->seed, o->keepDiagonal);
            if (!mask)
              return reportError(mask.error().withContext("--density"));
            // Only the diagonal can make it denser than asked: say so.
            const double perHead = double(qb) * double(kb);
            const int64_t kept = mask->countKept(), asked = std::llround(o->density * perHead);
            if (kept > asked * o->heads)
              fmt::print(stderr,
                         "sieve: the diagonal alone is {} of a head's {} tiles, more than "
                         "--density {:g} keeps ({}); the mask keeps the diagonal only "
                         "(--no-keep-diagonal for exactly {:g})\n",
                         kept / o->heads, qb * kb, o->density, asked, o->density);
            for (int64_t h = o->heads - o->emptyHeads; h < o->heads; ++h)
              mask->setHead(h, false);
            if (Error e = runtime::writeMaskFile(o->out, *mask, o->seqQ, o->seqK))
              return reportError(e);
            fmt::print("wrote {}: [{}, {}, {}] tiles of {}x{}, density {:.3f}\n", o->out, o->heads,
                       qb, kb, o->blockQ, o->blockK, mask->density());
            return 0;
          }};
}

} // namespace sieve::tools
