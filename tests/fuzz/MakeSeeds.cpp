//===- MakeSeeds.cpp - the fuzz targets' seed corpus, from sieve's writers -===//
//
// Seeds are real files: masks and stats written by writeMaskFile and
// writeStatsFile, cache entries of artifacts the compiler built, the IR the
// compiler hands its pipelines, the lit tests' IR, and C API programs that
// compile and run a kernel. Made with the same code that makes such files
// in use, they start each fuzzer deep inside the reader instead of at its
// first magic-number check. The output is checked in (tests/fuzz/corpus);
// run this again when a format changes:
//
//   ninja -C build-fuzz sieve-fuzz-seeds
//   build-fuzz/tests/fuzz/sieve-fuzz-seeds tests/fuzz/corpus tests/lit
//
//===----------------------------------------------------------------------===//
#include "FuzzInputs.h"
#include "FuzzScratch.h"

#include "sieve/calibration/Stats.h"
#include "sieve/compiler/Compiler.h"
#include "sieve/runtime/CacheEntry.h"
#include "sieve/runtime/MaskFile.h"
#include "sieve/runtime/Npy.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace sieve;
using namespace sieve::fuzz;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void put(const fs::path &dir, const std::string &name, const std::string &bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

template <typename T> T orDie(Expected<T> value, const char *what) {
  if (!value) {
    std::fprintf(stderr, "sieve-fuzz-seeds: %s: %s\n", what, value.error().str().c_str());
    std::exit(1);
  }
  return std::move(*value);
}

void orDie(const Error &e, const char *what) {
  if (e) {
    std::fprintf(stderr, "sieve-fuzz-seeds: %s: %s\n", what, e.str().c_str());
    std::exit(1);
  }
}

// [u16 sidecar length][sidecar][npy], the layout of FuzzInputs.h.
std::string sidecarAndTable(const std::string &npyPath, const std::string &sidecarPath) {
  ByteWriter w;
  std::string sidecar = slurp(sidecarPath);
  w.u16(static_cast<uint16_t>(sidecar.size()));
  w.bytes(sidecar);
  w.bytes(slurp(npyPath));
  return w.out;
}

void maskSeeds(const fs::path &out) {
  const std::string npy = ScratchDir::path() + "/m.npy";
  auto one = runtime::BlockMask::random(2, 3, 5, 64, 32, 0.5, 1, true);
  orDie(runtime::writeMaskFile(npy, one, 150, 160), "writeMaskFile");
  put(out, "3d-seq", '\0' + sidecarAndTable(npy, runtime::maskSidecarPath(npy)));
  orDie(runtime::writeMaskFile(npy, one), "writeMaskFile");
  put(out, "3d", '\0' + sidecarAndTable(npy, runtime::maskSidecarPath(npy)));
  std::vector<runtime::BlockMask> layers = {
      runtime::BlockMask::random(1, 4, 4, 16, 16, 0.3, 2, false),
      runtime::BlockMask::random(1, 4, 4, 16, 16, 0.7, 3, false),
      runtime::BlockMask::random(1, 4, 4, 16, 16, 1.0, 4, false)};
  orDie(runtime::writeMaskStack(npy, layers, 64, 61), "writeMaskStack");
  put(out, "4d-layer1", '\1' + sidecarAndTable(npy, runtime::maskSidecarPath(npy)));
  // numpy's uint8 tables are masks too (np.save of a uint8 array).
  runtime::NpyArray u8;
  u8.descr = "|u1";
  u8.shape = {1, 2, 2};
  u8.data = std::string("\1\0\0\1", 4);
  std::ofstream(npy, std::ios::binary) << orDie(runtime::serializeNpy(u8), "serializeNpy");
  put(out, "3d-uint8", '\0' + sidecarAndTable(npy, runtime::maskSidecarPath(npy)));
}

void statsSeeds(const fs::path &out) {
  const std::string npy = ScratchDir::path() + "/s.npy";
  auto stats = orDie(calibration::AttentionStats::create(2, 2, 40, 33, 16, 16), "stats");
  stats.layers[1].kind = calibration::LayerKind::Cross;
  stats.comment = "seed";
  for (auto &layer : stats.layers) {
    layer.calls = 3;
    for (size_t qb = 0; qb < layer.rows.size(); ++qb)
      layer.rows[qb] = 16;
  }
  // Each row's mass spread over the key blocks: within what the rows allow.
  for (size_t i = 0; i < stats.mass.size(); ++i)
    stats.mass[i] = 16.0 / static_cast<double>(stats.keyBlocks()) * ((i % 3) / 2.0);
  orDie(calibration::writeStatsFile(npy, stats), "writeStatsFile");
  put(out, "two-layers", sidecarAndTable(npy, calibration::statsSidecarPath(npy)));
  auto small = orDie(calibration::AttentionStats::create(1, 1, 8, 8, 8, 8), "stats");
  orDie(calibration::writeStatsFile(npy, small), "writeStatsFile");
  put(out, "zero-mass", sidecarAndTable(npy, calibration::statsSidecarPath(npy)));
}

compiler::KernelSpec smallSpec(bool causal, int64_t headsKv) {
  compiler::KernelSpec spec;
  spec.shape = {1, 2, headsKv, 24, 20, 8, runtime::DType::F32};
  spec.mask = runtime::BlockMask::random(2, 3, 3, 8, 8, 0.6, 7, true);
  spec.causal = causal;
  return spec;
}

void cacheEntrySeeds(const fs::path &out) {
  compiler::KernelSpec cpuSpec = smallSpec(false, 1);
  runtime::Artifact cpu = orDie(compiler::compile(cpuSpec), "compile (cpu)");
  cpu.cacheKey = kCacheEntryKey;
  put(out, "cpu-entry", '\0' + runtime::encodeCacheEntry(cpu));
  // A shape the tensor-core bodies take (head dim 64, 32-row blocks).
  compiler::KernelSpec gpuSpec;
  gpuSpec.shape = {1, 2, 2, 64, 64, 64, runtime::DType::F16};
  gpuSpec.mask = runtime::BlockMask::random(2, 2, 2, 32, 32, 0.5, 5, true);
  gpuSpec.causal = true;
  gpuSpec.target = compiler::Target::cuda("sm_80");
  // The metadata of GPU artifacts (parameter slots, the combine launch) with
  // a short stand-in for the PTX: the entry's sizes and checksum cover it.
  for (const char *variant : {"simt", "generic"}) {
    gpuSpec.options.variant = variant;
    runtime::Artifact gpu = orDie(compiler::compile(gpuSpec), "compile (cuda)");
    gpu.cacheKey = kCacheEntryKey;
    gpu.code = "// ptx";
    std::string meta = gpu.metadataJson();
    ByteWriter w;
    w.u8(1);
    w.u16(static_cast<uint16_t>(meta.size()));
    w.bytes(meta);
    w.bytes(gpu.code);
    put(out, std::string("cuda-") + variant + "-metadata", w.out);
  }
}

void irSeeds(const fs::path &out, const fs::path &litRoot) {
  compiler::KernelSpec spec = smallSpec(true, 1);
  put(out, "compiler-causal", orDie(compiler::buildAttentionIR(spec), "buildAttentionIR"));
  spec.calibrate = true;
  put(out, "compiler-calibrate", orDie(compiler::buildAttentionIR(spec), "buildAttentionIR"));
  spec.calibrate = false;
  spec.thresholds = true;
  put(out, "compiler-thresholds", orDie(compiler::buildAttentionIR(spec), "buildAttentionIR"));
  // The lit tests' IR, one split-input-file chunk a seed, as sieve-opt reads it.
  if (litRoot.empty())
    return;
  for (const auto &entry : fs::recursive_directory_iterator(litRoot)) {
    if (entry.path().extension() != ".mlir")
      continue;
    std::string text = slurp(entry.path().string());
    std::string stem =
        entry.path().parent_path().filename().string() + "-" + entry.path().stem().string();
    size_t start = 0;
    for (int chunk = 0; start <= text.size(); ++chunk) {
      size_t sep = text.find("// -----", start);
      std::string part = text.substr(start, sep == std::string::npos ? sep : sep - start);
      put(out, "lit-" + stem + "-" + std::to_string(chunk), part);
      if (sep == std::string::npos)
        break;
      start = text.find('\n', sep);
      start = start == std::string::npos ? text.size() + 1 : start + 1;
    }
  }
}

// C API programs (CApiFuzzer.cpp's encoding): each field below is read in
// this order by the harness.
struct Program {
  ByteWriter w;
  void op(CApiOp o, uint8_t flags = 0) {
    w.u8(static_cast<uint8_t>(o));
    w.u8(flags);
  }
  void createCpuContext() {
    op(CApiOp::ContextCreate);
    w.u8(1); // SIEVE_BACKEND_CPU
    w.pickInt(0);
  }
  void mask(const runtime::BlockMask &m) {
    for (int64_t v : {m.heads(), m.queryBlocks(), m.keyBlocks(), m.blockQ(), m.blockK()})
      w.pickInt(v);
    w.u8(1); // a buffer of the length that follows
    const std::vector<uint8_t> &bits = m.packedBits();
    w.u16(static_cast<uint16_t>(bits.size()));
    w.bytes(std::string(bits.begin(), bits.end()));
  }
  void compile(const compiler::KernelSpec &spec) {
    op(CApiOp::KernelCompile);
    w.u8(0); // context 0
    const runtime::ProblemShape &s = spec.shape;
    for (int64_t v : {s.batch, s.headsQ, s.headsKv, s.seqQ, s.seqK, s.headDim})
      w.pickInt(v);
    w.u8(2);                   // SIEVE_DTYPE_F32
    w.u8(spec.causal ? 2 : 1); // causal = byte - 1
    w.u8(0);                   // scale: the default
    mask(spec.mask);
    w.u8(0); // variant NULL
    for (int i = 0; i < 3; ++i)
      w.pickInt(0);
  }
  void describeAndRun(uint8_t tensorLayout) {
    op(CApiOp::KernelDescribe);
    w.u8(0);
    w.u8(200);
    op(CApiOp::KernelNeedsMask);
    w.u8(0);
    op(CApiOp::Attention);
    w.u8(0); // kernel 0
    w.u8(9); // no mask
    for (int t = 0; t < 4; ++t)
      w.u8(tensorLayout);
  }
};

void capiSeeds(const fs::path &out) {
  {
    Program p;
    p.createCpuContext();
    p.compile(smallSpec(false, 1));
    p.describeAndRun(0); // BHSD
    p.op(CApiOp::KernelDestroy);
    p.w.u8(0);
    p.op(CApiOp::ContextDestroy);
    p.w.u8(0);
    put(out, "compile-run", p.w.out);
  }
  {
    Program p;
    p.createCpuContext();
    p.compile(smallSpec(true, 2));
    p.describeAndRun(64); // BSHD
    put(out, "causal-bshd", p.w.out);
  }
  {
    Program p;
    p.createCpuContext();
    p.op(CApiOp::ContextBackend);
    p.w.u8(0);
    p.op(CApiOp::ContextDeviceName);
    p.w.u8(0);
    p.w.u8(64);
    p.op(CApiOp::MaskCreate);
    p.w.u8(0);
    p.mask(runtime::BlockMask::random(2, 3, 3, 8, 8, 0.5, 9, false));
    p.w.pickInt(24);
    p.w.u8(0);
    p.op(CApiOp::MaskDestroy);
    p.w.u8(0);
    put(out, "context-and-mask", p.w.out);
  }
  {
    // sieve_kernel_load of what `sieve compile -o` writes (Artifact::save).
    runtime::Artifact a = orDie(compiler::compile(smallSpec(false, 1)), "compile (cpu)");
    // The stem the harness writes its files under, so `code_file` matches.
    std::string stem = ScratchDir::path() + "/artifact";
    orDie(a.save(stem), "Artifact::save");
    Program p;
    p.createCpuContext();
    p.op(CApiOp::KernelLoad);
    p.w.u8(0);
    std::string meta = slurp(stem + ".json"), code = slurp(stem + ".mlir");
    p.w.u16(static_cast<uint16_t>(meta.size()));
    p.w.bytes(meta);
    p.w.u16(static_cast<uint16_t>(code.size()));
    p.w.bytes(code);
    put(out, "load-artifact", p.w.out);
  }
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sieve-fuzz-seeds <corpus folder> [<lit tests folder>]\n");
    return 2;
  }
  fs::path corpus = argv[1];
  maskSeeds(corpus / "sieve-fuzz-mask-file");
  statsSeeds(corpus / "sieve-fuzz-stats-file");
  cacheEntrySeeds(corpus / "sieve-fuzz-cache-entry");
  irSeeds(corpus / "sieve-fuzz-ir", argc > 2 ? argv[2] : "");
  capiSeeds(corpus / "sieve-fuzz-capi");
  return 0;
}
