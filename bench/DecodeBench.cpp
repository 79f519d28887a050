//===- DecodeBench.cpp - decode against a KV cache and its memory floor ---===//
//
// One generated token per sequence (Sq = 1) against a KV cache of Sk keys,
// GQA with Hq = 32 query heads over Hkv = 8 key heads, D = 128, bf16,
// bottom-right causal (the query is the last position, so it sees every
// key; the option is set as a decoder sets it). The work is a read of the
// kept K and V: the kernel is memory-bound, and the time to beat is the
// memory floor,
//
//   floor = kept K+V bytes / copy bandwidth,
//   kept K+V bytes = B x sum over key heads of |the union of its g query
//                    heads' kept key blocks| x block_k x D x 2 (K and V)
//                    x 2 bytes (keys past Sk not counted),
//
// the least any kernel must read (each kept block once per key head), with
// the bandwidth measured here by a device-to-device copy (copyBandwidth).
// Query and output bytes (B x Hq x D x 2 each) are left out: under 0.1%
// at these shapes.
//
// BM_Decode/B/Sk/dens/group/pack: dens 100 keeps every key block, 50
// exactly half of them per query head, drawn at random (128-key blocks,
// seeded). With group 0 each query head draws its own (the union per key
// head is then about 1 - 0.5^4 = 94% of the blocks, and so is the floor);
// with group 1 the 4 query heads of a key head share one draw (the union
// is half: what a mask pruned per key head saves). pack 1 lets the compiler pack GQA
// (sieve-pack-gqa: one row per key head, K and V read once for its 4 query heads), pack 0 keeps a
// row per query head (K and V read by each). Each launch is timed on a cold L2, queued behind an
// untimed read of 256 MiB that holds the stream while the host issues it (TimingOptions::coldCache,
// ColdL2.h), so the times are the kernels' own. Counters: the median launch time (median_us,
// split rows' merge included), kept_MB, read_MB (what the schedule reads: the union per key head
// packed, each query head's own blocks unpacked), floor_us at the measured bandwidth (copy_TBps),
// and time_per_floor = median_us / floor_us (the target is at most 1.2); copy_us, a cold copy of
// half the kept bytes (as many bytes moved as the kernel reads) timed as the kernel is: the floor
// as the memory system delivers it at this size, with time_per_copy = median_us / copy_us.
//
//===----------------------------------------------------------------------===//
#include "GpuKernelTiming.h"

#include <benchmark/benchmark.h>

using namespace sieve;

namespace {

constexpr int64_t kHeadsQ = 32, kHeadsKv = 8, kHeadDim = 128, kBlockK = 128;
// The mask's query block: one 64-row tile, of which the one query uses a
// row (the layout a decoder keeps for a prompt's last block; packing
// regroups the rows whatever it is).
constexpr int64_t kBlockQ = 64;

/// The copy bandwidth, measured once per process (bytes/s).
double measuredBandwidth(compiler::Session *session) {
  static const double bandwidth = bench::copyBandwidth(session);
  return bandwidth;
}

/// Bytes of K and V in key block `kb`: its keys below Sk.
double blockBytes(int64_t kb, int64_t seqK) {
  const int64_t keys = std::min(kBlockK, seqK - kb * kBlockK);
  return 2.0 * keys * kHeadDim * 2;
}

/// {kept bytes: the union per key head, read bytes unpacked: per query head}
std::pair<double, double> keyValueBytes(const runtime::BlockMask &mask, int64_t batch,
                                        int64_t seqK) {
  const int64_t group = kHeadsQ / kHeadsKv;
  double kept = 0, perHead = 0;
  for (int64_t kvh = 0; kvh < kHeadsKv; ++kvh)
    for (int64_t kb = 0; kb < mask.keyBlocks(); ++kb) {
      int64_t heads = 0;
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
        heads += mask.get(h, 0, kb) ? 1 : 0;
      kept += heads > 0 ? blockBytes(kb, seqK) : 0;
      perHead += heads * blockBytes(kb, seqK);
    }
  return {batch * kept, batch * perHead};
}

/// One decode row: B, Sk, density, a mask shared by a key head's query
/// heads or drawn per query head, GQA packing, and the K/V stages (0: the
/// compiler's choice).
void runDecode(benchmark::State &state, int64_t batch, int64_t seqK, double density, bool shared,
               bool pack, int64_t stages) {
  compiler::Session *session = bench::gpuSession();
  if (!session) {
    state.SkipWithError("no GPU");
    return;
  }
  const double bandwidth = measuredBandwidth(session);
  if (bandwidth <= 0) {
    state.SkipWithError("could not measure the copy bandwidth");
    return;
  }

  compiler::KernelSpec spec;
  spec.shape = {batch, kHeadsQ, kHeadsKv, 1, seqK, kHeadDim, runtime::DType::BF16};
  const int64_t keyBlocks = (seqK + kBlockK - 1) / kBlockK;
  const int64_t group = kHeadsQ / kHeadsKv, draws = shared ? kHeadsKv : kHeadsQ;
  auto drawn = runtime::BlockMask::randomExact(draws, 1, keyBlocks, kBlockQ, kBlockK, density,
                                               /*seed=*/20261206, /*keepDiagonal=*/false);
  auto mask = runtime::BlockMask::create(kHeadsQ, 1, keyBlocks, kBlockQ, kBlockK);
  if (!drawn || !mask) {
    state.SkipWithError("could not make the mask");
    return;
  }
  for (int64_t h = 0; h < kHeadsQ; ++h)
    for (int64_t kb = 0; kb < keyBlocks; ++kb)
      mask->set(h, 0, kb, drawn->get(shared ? h / group : h, 0, kb));
  spec.mask = std::move(*mask);
  spec.causal = true;
  spec.causalAlign = runtime::CausalAlign::BottomRight;
  spec.options.packGqa = pack ? "auto" : "off";
  spec.options.stages = stages;
  spec.target = session->target();

  // Cold cache: K and V come from HBM, as the floor assumes (B = 1,
  // Sk = 4096 would otherwise sit in the L2 the previous launch warmed).
  const double medianMs = bench::timeKernel(state, session, spec, bench::standardNormalInputs, {},
                                            bench::TimingOptions{/*coldCache=*/true});
  if (medianMs <= 0)
    return;
  auto [kept, read] = keyValueBytes(spec.mask, batch, seqK);
  if (pack)
    read = kept;
  const double floorUs = kept / bandwidth * 1e6, medianUs = medianMs * 1e3;
  // Sq = 1: one query row per head, not the mask's whole tiles.
  state.counters["TFLOP"] =
      benchmark::Counter(4.0 * batch * spec.mask.countKept() * kBlockK * kHeadDim / 1e12,
                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["median_us"] = medianUs;
  state.counters["kept_MB"] = kept / 1e6;
  state.counters["read_MB"] = read / 1e6;
  state.counters["copy_TBps"] = bandwidth / 1e12;
  state.counters["floor_us"] = floorUs;
  state.counters["time_per_floor"] = medianUs / floorUs;
  // The floor measured at this size: a copy of half the kept bytes (read
  // and written: as many bytes moved as the kernel reads), cold, timed as
  // the kernel is.
  const double copyUs = bench::timeDeviceCopy(session, static_cast<size_t>(kept / 2),
                                              bench::TimingOptions{/*coldCache=*/true}) *
                        1e3;
  if (copyUs > 0) {
    state.counters["copy_us"] = copyUs;
    state.counters["time_per_copy"] = medianUs / copyUs;
  }
}

// {B, Sk, density %, group-shared mask, pack}
void BM_Decode(benchmark::State &state) {
  runDecode(state, state.range(0), state.range(1), state.range(2) / 100.0, state.range(3) != 0,
            state.range(4) != 0, /*stages=*/0);
}

// {B, Sk, stages}: the dense packed row with 2 or 3 stages of K and V
// (64 KB each at 128 keys, D = 128, bf16; four do not fit beside the
// 16 KB query tile) in flight per thread block: a
// decode block streams its part alone, so the bytes it keeps in flight
// bound its share of the bandwidth (docs/perf-notes.md d4).
void BM_DecodeStages(benchmark::State &state) {
  runDecode(state, state.range(0), state.range(1), 1.0, false, true, state.range(2));
}

void decodeRows(benchmark::internal::Benchmark *b) {
  b->ArgNames({"B", "Sk", "dens", "group", "pack"});
  for (int64_t batch : {1, 8, 32})
    for (int64_t seqK : {4096, 32768, 131072})
      for (auto [density, shared] : {std::pair{100, 0}, {50, 0}, {50, 1}})
        for (int64_t pack : {0, 1})
          b->Args({batch, seqK, density, shared, pack});
}

// A fixed count of launches per repetition: Google Benchmark otherwise
// calls a row several times to find its count, and each call uploads the
// row's inputs again (up to 17 GB of K and V at B = 32) and, on a cold L2,
// writes 256 MiB before each of thousands of 20 µs launches: ~20 s a row.
constexpr int64_t kLaunchesPerRepetition = 200;

BENCHMARK(BM_Decode)
    ->Apply(decodeRows)
    ->Iterations(kLaunchesPerRepetition)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeStages)
    ->ArgNames({"B", "Sk", "stages"})
    ->ArgsProduct({{1, 8}, {32768, 131072}, {2, 3}})
    ->Iterations(kLaunchesPerRepetition)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

} // namespace
