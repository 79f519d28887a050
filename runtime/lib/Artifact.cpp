//===- Artifact.cpp - artifact metadata and files -------------------------===//
#include "sieve/runtime/Artifact.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace sieve::runtime {

using nlohmann::json;

const char *backendName(Backend backend) { return backend == Backend::Cuda ? "cuda" : "cpu"; }

std::string ProblemShape::str() const {
  std::ostringstream os;
  os << "B=" << batch << " Hq=" << headsQ << " Hkv=" << headsKv << " Sq=" << seqQ << " Sk=" << seqK
     << " D=" << headDim << " " << dtypeName(dtype);
  return os.str();
}

bool Artifact::maskAtLaunch() const {
  for (const KernelLaunch &l : launches)
    for (const ParamSlot &p : l.params)
      if (p.tensor >= ParamSlot::kFirstTable && p.tensor < ParamSlot::kWorkspace)
        return true;
  return false;
}

const KernelLaunch *Artifact::launch(LaunchRole role) const {
  for (const KernelLaunch &l : launches)
    if (l.role == role)
      return &l;
  return nullptr;
}

Error checkThresholdsGiven(const Artifact &a, bool given) {
  if (a.thresholds && !given)
    return Error(ErrorCode::InvalidArgument, "a threshold-mode kernel needs its thresholds (f32 "
                                             "[Hq], one per query head)");
  if (!a.thresholds && given)
    return Error(ErrorCode::InvalidArgument,
                 "thresholds given to a kernel compiled without threshold mode");
  return Error::success();
}

uint64_t fnv1a64(const std::string &bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

namespace {

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// A metadata number that must be an integer of T's range. nlohmann's
/// get<T>() converts anything numeric: a float out of T's range (undefined
/// behaviour) or a negative or oversized integer (wrapped) would turn a
/// corrupt file into a small wrong number instead of an error.
struct BadNumber : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T> T exactInteger(const json &v, const std::string &what) {
  using Limits = std::numeric_limits<T>;
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() <= static_cast<uint64_t>(Limits::max()))
      return static_cast<T>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    if (x >= 0 ? static_cast<uint64_t>(x) <= static_cast<uint64_t>(Limits::max())
               : Limits::is_signed && x >= static_cast<int64_t>(Limits::min()))
      return static_cast<T>(x);
  }
  throw BadNumber("'" + what + "' is " + v.dump() + ", not an integer in range");
}

/// The integer field `key` of `object` (absent: json's out_of_range).
template <typename T> T integer(const json &object, const char *key) {
  return exactInteger<T>(object.at(key), key);
}

std::array<uint32_t, 3> dim3(const json &object, const char *key) {
  const json &v = object.at(key);
  if (!v.is_array() || v.size() != 3)
    throw BadNumber(std::string("'") + key + "' is " + v.dump() + ", not three dimensions");
  return {exactInteger<uint32_t>(v[0], key), exactInteger<uint32_t>(v[1], key),
          exactInteger<uint32_t>(v[2], key)};
}

std::string codeExtension(Backend b) { return b == Backend::Cuda ? ".ptx" : ".mlir"; }

std::string baseName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dirName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

json paramsJson(const std::vector<ParamSlot> &slots) {
  json params = json::array();
  for (const ParamSlot &p : slots) {
    json slot = {{"tensor", p.tensor}, {"field", paramFieldName(p.field)}, {"dim", p.dim}};
    if (p.field == ParamField::TensorMap) {
      slot["box_rows"] = p.boxRows;
      slot["box_cols"] = p.boxCols;
    }
    params.push_back(slot);
  }
  return params;
}

/// Parses a kernel's parameter slots; a bad slot is named in `error`.
bool parseParams(const json &list, std::vector<ParamSlot> &out, std::string &error) {
  for (const json &p : list) {
    ParamSlot s;
    s.tensor = integer<int>(p, "tensor");
    s.dim = integer<int>(p, "dim");
    // Tables and the workspace are rank-1 buffers, the stats and lse rank
    // 3, the backward's gradients rank 4 like q; q, k, v, out and dout are
    // the TMA tensors (dq, dk, dv are written with plain stores).
    const bool gradient = s.tensor >= ParamSlot::kDout && s.tensor <= ParamSlot::kDv;
    const bool buffer = s.tensor >= ParamSlot::kFirstTable && !gradient;
    const int maxDim = !buffer ? 3 : tensorSlotRank(s.tensor) - 1;
    const std::optional<ParamField> field = parseParamField(p.at("field").get<std::string>());
    if (field)
      s.field = *field;
    // A value parameter is one of the two step numbers of the positions.
    const bool byValue = s.field == ParamField::Value;
    if (!field || s.tensor < 0 || s.tensor >= kTensorSlots || s.dim < 0 ||
        s.dim > (byValue ? 1 : maxDim) || (byValue && s.tensor != ParamSlot::kPositions) ||
        ((buffer || (gradient && s.tensor != ParamSlot::kDout)) &&
         s.field == ParamField::TensorMap)) {
      error = "bad parameter slot " + p.dump();
      return false;
    }
    if (s.field == ParamField::TensorMap) {
      s.boxRows = integer<int64_t>(p, "box_rows");
      s.boxCols = integer<int64_t>(p, "box_cols");
      // TMA boxes are 1..256 elements per dimension; a box row of 16-bit
      // elements is a swizzle width: 32, 64 or 128 bytes.
      if (s.boxRows < 1 || s.boxRows > 256 ||
          (s.boxCols != 16 && s.boxCols != 32 && s.boxCols != 64)) {
        error = "bad tensor map box in parameter slot " + p.dump();
        return false;
      }
    }
    out.push_back(s);
  }
  return true;
}

bool usesTensor(const std::vector<ParamSlot> &slots, int tensor) {
  for (const ParamSlot &p : slots)
    if (p.tensor == tensor)
      return true;
  return false;
}

bool usesTensor(const std::vector<KernelLaunch> &launches, int tensor) {
  for (const KernelLaunch &l : launches)
    if (usesTensor(l.params, tensor))
      return true;
  return false;
}

json toJson(const Artifact &a, const std::string &codeFile) {
  json launches = json::array();
  for (const KernelLaunch &l : a.launches) {
    json launch{{"role", launchRoleName(l.role)},
                {"entry", l.entry},
                {"grid", l.grid},
                {"block", l.block},
                {"shared_bytes", l.sharedBytes},
                {"params", paramsJson(l.params)}};
    if (l.waitsOnPrevious)
      launch["waits_on_previous"] = true;
    if (!l.tables.empty() || !l.scalars.empty()) {
      launch["tables"] = l.tables;
      launch["scalars"] = l.scalars;
    }
    launches.push_back(std::move(launch));
  }
  return json{{"format", Artifact::kFormat},
              {"version", Artifact::kVersion},
              {"backend", backendName(a.backend)},
              {"chip", a.chip},
              {"launches", launches},
              {"workspace_bytes", a.workspaceBytes},
              {"variant", a.variant},
              {"config", a.config},
              {"warnings", a.warnings},
              {"unit_inner_stride", a.unitInnerStride},
              {"align_bytes", a.alignBytes},
              {"shape",
               {{"batch", a.shape.batch},
                {"heads_q", a.shape.headsQ},
                {"heads_kv", a.shape.headsKv},
                {"seq_q", a.shape.seqQ},
                {"seq_k", a.shape.seqK},
                {"head_dim", a.shape.headDim},
                {"dtype", dtypeName(a.shape.dtype)}}},
              {"causal", a.causal},
              {"causal_align", causalAlignName(a.causalAlign)},
              {"calibrate", a.calibrate},
              {"thresholds", a.thresholds},
              {"saves_lse", a.savesLse},
              {"backward", a.backward},
              {"generation", a.generation},
              {"ragged", a.ragged},
              {"page_size", a.pageSize},
              {"scale", a.scale},
              {"kept_tiles", a.keptTiles},
              {"total_tiles", a.totalTiles},
              {"block_q", a.blockQ},
              {"block_k", a.blockK},
              {"cache_key", a.cacheKey},
              {"compiler_version", a.compilerVersion},
              {"code_file", codeFile},
              {"code_bytes", a.code.size()},
              {"code_fnv1a64", hex64(fnv1a64(a.code))}};
}

} // namespace

std::string Artifact::metadataJson() const { return toJson(*this, "").dump(2); }

Expected<Artifact> Artifact::fromMetadataJson(const std::string &text, std::string code,
                                              bool verifyCodeHash) {
  auto corrupt = [](const std::string &why) {
    return Error(ErrorCode::CorruptArtifact, "artifact metadata: " + why);
  };
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return corrupt("not a JSON object");
  try {
    if (j.value("format", "") != kFormat)
      return corrupt("'format' is not \"" + std::string(kFormat) + "\"");
    if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != kVersion)
      return corrupt("'version' " + j.value("version", json(-1)).dump() + " is not " +
                     std::to_string(kVersion));
    Artifact a;
    std::string backend = j.at("backend").get<std::string>();
    if (backend == "cuda")
      a.backend = Backend::Cuda;
    else if (backend == "cpu")
      a.backend = Backend::Cpu;
    else
      return corrupt("unknown backend '" + backend + "'");
    a.chip = j.at("chip").get<std::string>();
    a.variant = j.at("variant").get<std::string>();
    a.config = j.at("config").get<std::string>();
    if (j.contains("warnings")) // absent before artifacts kept their warnings
      a.warnings = j.at("warnings").get<std::vector<std::string>>();
    a.unitInnerStride = j.at("unit_inner_stride").get<bool>();
    a.alignBytes = integer<uint32_t>(j, "align_bytes");
    if (a.alignBytes != 0 && (a.alignBytes & (a.alignBytes - 1)) != 0)
      return corrupt("'align_bytes' " + std::to_string(a.alignBytes) + " is not a power of two");
    std::string bad;
    for (const json &l : j.at("launches")) {
      KernelLaunch launch;
      const std::optional<LaunchRole> role = parseLaunchRole(l.at("role").get<std::string>());
      if (!role)
        return corrupt("unknown launch role " + l.at("role").dump());
      launch.role = *role;
      launch.entry = l.at("entry").get<std::string>();
      launch.grid = dim3(l, "grid");
      launch.block = dim3(l, "block");
      launch.sharedBytes = integer<uint32_t>(l, "shared_bytes");
      if (l.contains("waits_on_previous")) {
        launch.waitsOnPrevious = l.at("waits_on_previous").get<bool>();
        if (launch.waitsOnPrevious && a.launches.empty())
          return corrupt(std::string("the first launch (") + launchRoleName(launch.role) +
                         ") waits on a previous one");
      }
      if (l.contains("tables"))
        launch.tables = l.at("tables").get<std::vector<std::string>>();
      if (l.contains("scalars"))
        launch.scalars = l.at("scalars").get<std::vector<int64_t>>();
      if (!parseParams(l.at("params"), launch.params, bad))
        return corrupt(std::string(launchRoleName(launch.role)) + " launch: " + bad);
      if (launch.entry.empty())
        return corrupt(std::string("the ") + launchRoleName(launch.role) +
                       " launch names no entry");
      a.launches.push_back(std::move(launch));
    }
    a.workspaceBytes = integer<uint64_t>(j, "workspace_bytes");
    a.backward = j.at("backward").get<bool>();
    a.savesLse = j.at("saves_lse").get<bool>();
    // The launches an artifact of its kind runs, in order: a workspace
    // parameter without a buffer, split rows never merged, or a backward
    // missing a kernel would each run something wrong.
    std::vector<LaunchRole> roles;
    for (const KernelLaunch &l : a.launches)
      roles.push_back(l.role);
    const bool gpuBackward = a.backend == Backend::Cuda && a.backward;
    const bool combine = roles.size() == 2 && roles[1] == LaunchRole::Combine;
    // The CPU's host phases: pack (none when no row reads a key), then
    // attention (and combine) or the backward's key-value and query phases.
    std::vector<LaunchRole> cpuRoles = roles;
    if (!cpuRoles.empty() && cpuRoles.front() == LaunchRole::Pack)
      cpuRoles.erase(cpuRoles.begin());
    const bool cpuFit =
        a.backward
            ? cpuRoles ==
                  std::vector<LaunchRole>{LaunchRole::BackwardKeyValue, LaunchRole::BackwardQuery}
            : cpuRoles == std::vector<LaunchRole>{LaunchRole::Attention} ||
                  cpuRoles == std::vector<LaunchRole>{LaunchRole::Attention, LaunchRole::Combine};
    const bool rolesFit =
        gpuBackward ? roles == std::vector<LaunchRole>{LaunchRole::BackwardRows,
                                                       LaunchRole::BackwardKeyValue,
                                                       LaunchRole::BackwardQuery}
        : a.backend == Backend::Cpu
            ? cpuFit
            : !roles.empty() && roles[0] == LaunchRole::Attention && (roles.size() == 1 || combine);
    if (!rolesFit)
      return corrupt("launches " + j.at("launches").dump().substr(0, 200) + " are not those of a " +
                     (a.backward ? "backward" : "forward") + " " + backendName(a.backend) +
                     " artifact");
    if (usesTensor(a.launches, ParamSlot::kWorkspace) != (a.workspaceBytes > 0) ||
        (combine && a.backend == Backend::Cuda &&
         !usesTensor(a.launches[1].params, ParamSlot::kWorkspace)))
      return corrupt("workspace parameters and 'workspace_bytes' (split-KV's parts, or the "
                     "backward's scratch) must come together");
    const json &shape = j.at("shape");
    a.shape.batch = integer<int64_t>(shape, "batch");
    a.shape.headsQ = integer<int64_t>(shape, "heads_q");
    a.shape.headsKv = integer<int64_t>(shape, "heads_kv");
    a.shape.seqQ = integer<int64_t>(shape, "seq_q");
    a.shape.seqK = integer<int64_t>(shape, "seq_k");
    a.shape.headDim = integer<int64_t>(shape, "head_dim");
    auto dtype = parseDType(shape.at("dtype").get<std::string>());
    if (!dtype)
      return corrupt(dtype.error().message());
    a.shape.dtype = *dtype;
    a.causal = j.at("causal").get<bool>();
    // Absent before bottom-right alignment existed: those kernels are top-left.
    auto align = parseCausalAlign(j.value("causal_align", std::string("top_left")));
    if (!align)
      return corrupt(align.error().message());
    a.causalAlign = *align;
    a.calibrate = j.value("calibrate", false); // absent before calibration kernels existed
    // A GPU kernel takes the stats table exactly when it calibrates: one
    // without the slot would be launched with stats it ignores, one with it
    // but no flag with a null table.
    if (a.backend == Backend::Cuda && usesTensor(a.launches, ParamSlot::kStats) != a.calibrate)
      return corrupt("'calibrate' and the stats parameters (tensor 9) must come together");
    a.thresholds = j.value("thresholds", false); // absent before threshold mode existed
    if (a.backend == Backend::Cuda &&
        usesTensor(a.launches, ParamSlot::kThresholds) != a.thresholds)
      return corrupt("'thresholds' and the threshold parameters (tensor 10) must come together");
    if (a.calibrate && a.thresholds)
      return corrupt("'calibrate' and 'thresholds' exclude each other");
    if ((a.backward || a.savesLse) && a.calibrate)
      return corrupt("'backward' and 'saves_lse' exclude 'calibrate'");
    if (a.backward && a.savesLse)
      return corrupt("'backward' reads the log-sum-exp a forward with 'saves_lse' wrote; one "
                     "artifact is not both");
    if (a.backend == Backend::Cuda && !a.backward &&
        usesTensor(a.launches, ParamSlot::kLse) != a.savesLse)
      return corrupt("'saves_lse' and the lse parameters (tensor 11) must come together");
    a.generation = j.value("generation", false); // absent before generation kernels existed
    if (usesTensor(a.launches, ParamSlot::kPositions) != a.generation)
      return corrupt("'generation' and the positions parameters (tensor 16) must come together");
    if (a.generation && (a.backward || a.savesLse || a.calibrate))
      return corrupt("'generation' excludes 'backward', 'saves_lse' and 'calibrate'");
    // Absent before ragged and paged kernels existed.
    a.ragged = j.value("ragged", false);
    a.pageSize = j.value("page_size", int64_t{0});
    if (usesTensor(a.launches, ParamSlot::kSequences) != a.ragged)
      return corrupt("'ragged' and the sequences parameters (tensor 17) must come together");
    if (a.pageSize < 0 || usesTensor(a.launches, ParamSlot::kPages) != (a.pageSize > 0))
      return corrupt("'page_size' and the pages parameters (tensor 18) must come together");
    if ((a.ragged || a.pageSize) && (a.generation || a.backward || a.savesLse || a.calibrate))
      return corrupt("'ragged' and 'page_size' exclude 'generation', 'backward', 'saves_lse' and "
                     "'calibrate'");
    a.scale = j.at("scale").get<double>();
    a.keptTiles = integer<int64_t>(j, "kept_tiles");
    a.totalTiles = integer<int64_t>(j, "total_tiles");
    a.blockQ = integer<int64_t>(j, "block_q");
    a.blockK = integer<int64_t>(j, "block_k");
    a.cacheKey = j.at("cache_key").get<std::string>();
    a.compilerVersion = j.at("compiler_version").get<std::string>();
    if (integer<uint64_t>(j, "code_bytes") != code.size())
      return corrupt("code is " + std::to_string(code.size()) + " bytes, metadata says " +
                     std::to_string(integer<uint64_t>(j, "code_bytes")) + " (truncated?)");
    if (verifyCodeHash && j.at("code_fnv1a64").get<std::string>() != hex64(fnv1a64(code)))
      return corrupt("code checksum does not match the metadata");
    a.code = std::move(code);
    return a;
  } catch (const json::exception &e) {
    return corrupt(e.what());
  } catch (const BadNumber &e) {
    return corrupt(e.what());
  }
}

Expected<std::string> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(ErrorCode::Io, "cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return Error(ErrorCode::Io, "cannot read '" + path + "'");
  return ss.str();
}

Error Artifact::save(const std::string &stem) const {
  std::string codePath = stem + codeExtension(backend);
  // Code first: metadata that exists always names complete code.
  if (Error e = writeFileAtomically(codePath, code))
    return e;
  return writeFileAtomically(stem + ".json", toJson(*this, baseName(codePath)).dump(2) + "\n");
}

Expected<Artifact> Artifact::load(const std::string &metadataPath) {
  auto meta = readFile(metadataPath);
  if (!meta)
    return meta.error();
  json j = json::parse(*meta, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("code_file") || !j["code_file"].is_string())
    return Error(ErrorCode::CorruptArtifact,
                 "'" + metadataPath + "' is not sieve artifact metadata (no 'code_file')");
  std::string codeFile = j["code_file"].get<std::string>();
  if (codeFile.empty() || codeFile.find('/') != std::string::npos)
    return Error(ErrorCode::CorruptArtifact, "'" + metadataPath + "': bad 'code_file'");
  auto code = readFile(dirName(metadataPath) + "/" + codeFile);
  if (!code)
    return code.error();
  auto artifact = fromMetadataJson(*meta, std::move(*code));
  if (!artifact)
    return artifact.error().withContext(metadataPath);
  return artifact;
}

} // namespace sieve::runtime
