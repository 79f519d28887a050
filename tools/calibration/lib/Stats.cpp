//===- Stats.cpp - attention statistics and their file format -------------===//
#include "sieve/calibration/Stats.h"

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/Npy.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace sieve::calibration {

namespace {

constexpr const char *kFormatName = "sieve-attention-stats";
constexpr int64_t kFormatVersion = 1;

Error invalid(const std::string &what) { return Error(ErrorCode::InvalidArgument, what); }

Expected<std::string> readWholeFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("cannot open {}", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Expected<int64_t> positiveField(const nlohmann::json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end())
    return invalid(fmt::format("sidecar lacks \"{}\"", key));
  if (!it->is_number_integer() || it->get<int64_t>() <= 0)
    return invalid(
        fmt::format("sidecar \"{}\" must be a positive integer, got {}", key, it->dump()));
  return it->get<int64_t>();
}

} // namespace

const char *layerKindName(LayerKind kind) { return kind == LayerKind::Self ? "self" : "cross"; }

Expected<AttentionStats> AttentionStats::create(int64_t layers, int64_t heads, int64_t seqQ,
                                                int64_t seqK, int64_t blockQ, int64_t blockK) {
  if (layers <= 0 || heads <= 0 || seqQ <= 0 || seqK <= 0 || blockQ <= 0 || blockK <= 0)
    return invalid(fmt::format("stats sizes must be positive: layers {}, heads {}, seq {}x{}, "
                               "blocks {}x{}",
                               layers, heads, seqQ, seqK, blockQ, blockK));
  AttentionStats s;
  s.heads = heads;
  s.seqQ = seqQ;
  s.seqK = seqK;
  s.blockQ = blockQ;
  s.blockK = blockK;
  const int64_t tiles = layers * heads * s.queryBlocks() * s.keyBlocks();
  if (tiles > (int64_t(1) << 31))
    return invalid(fmt::format("{} tiles of statistics is too many", tiles));
  for (int64_t l = 0; l < layers; ++l) {
    LayerStats layer;
    layer.name = fmt::format("layer{}", l);
    layer.rows.assign(static_cast<size_t>(s.queryBlocks()), 0);
    s.layers.push_back(std::move(layer));
  }
  s.mass.assign(static_cast<size_t>(tiles), 0.0);
  return s;
}

int64_t AttentionStats::totalRows(int64_t layer) const {
  int64_t n = 0;
  for (int64_t r : layers[static_cast<size_t>(layer)].rows)
    n += r;
  return n;
}

double AttentionStats::headMass(int64_t layer, int64_t head) const {
  double m = 0;
  for (int64_t qb = 0; qb < queryBlocks(); ++qb)
    for (int64_t kb = 0; kb < keyBlocks(); ++kb)
      m += at(layer, head, qb, kb);
  return m;
}

Error AttentionStats::validate() const {
  if (layers.empty())
    return invalid("stats have no layers");
  if (heads <= 0 || blockQ <= 0 || blockK <= 0 || seqQ <= 0 || seqK <= 0)
    return invalid(fmt::format("heads {}, blocks {}x{} and sequence lengths {}x{} must be positive",
                               heads, blockQ, blockK, seqQ, seqK));
  const size_t need = static_cast<size_t>(numLayers() * heads * queryBlocks() * keyBlocks());
  if (mass.size() != need)
    return invalid(fmt::format("the mass table has {} values, [layers {}, heads {}, query blocks "
                               "{}, key blocks {}] needs {}",
                               mass.size(), numLayers(), heads, queryBlocks(), keyBlocks(), need));
  std::set<std::string> names;
  for (int64_t l = 0; l < numLayers(); ++l) {
    const LayerStats &layer = layers[static_cast<size_t>(l)];
    if (layer.name.empty())
      return invalid(fmt::format("layer {} has an empty name", l));
    if (!names.insert(layer.name).second)
      return invalid(fmt::format("layer name \"{}\" appears twice", layer.name));
    if (layer.calls < 0)
      return invalid(fmt::format("layer \"{}\" has a negative call count", layer.name));
    if (static_cast<int64_t>(layer.rows.size()) != queryBlocks())
      return invalid(fmt::format("layer \"{}\" has rows for {} query blocks, not {}", layer.name,
                                 layer.rows.size(), queryBlocks()));
    for (int64_t qb = 0; qb < queryBlocks(); ++qb) {
      int64_t rows = layer.rows[static_cast<size_t>(qb)];
      if (rows < 0)
        return invalid(
            fmt::format("layer \"{}\" query block {} has {} rows", layer.name, qb, rows));
      for (int64_t h = 0; h < heads; ++h) {
        double sum = 0;
        for (int64_t kb = 0; kb < keyBlocks(); ++kb) {
          double m = at(l, h, qb, kb);
          if (!std::isfinite(m) || m < 0)
            return invalid(fmt::format("layer \"{}\" head {} tile ({}, {}) has mass {}; mass "
                                       "must be finite and not negative",
                                       layer.name, h, qb, kb, m));
          sum += m;
        }
        // Each row's probabilities sum to one: a query block cannot hold
        // more mass than rows (slack for the kernel's f32 sums).
        if (sum > rows * (1 + 1e-5) + 1e-6)
          return invalid(fmt::format("layer \"{}\" head {} query block {} has mass {} but only {} "
                                     "rows were seen (each row's probabilities sum to 1)",
                                     layer.name, h, qb, sum, rows));
      }
    }
  }
  return Error::success();
}

std::string statsSidecarPath(const std::string &npyPath) {
  const std::string ext = ".npy";
  if (npyPath.size() > ext.size() &&
      npyPath.compare(npyPath.size() - ext.size(), ext.size(), ext) == 0)
    return npyPath.substr(0, npyPath.size() - ext.size()) + ".json";
  return npyPath + ".json";
}

Error writeStatsFile(const std::string &npyPath, const AttentionStats &stats) {
  if (Error e = stats.validate())
    return e.withContext("writing stats " + npyPath);
  runtime::NpyArray array;
  array.descr = "<f8";
  array.shape = {stats.numLayers(), stats.heads, stats.queryBlocks(), stats.keyBlocks()};
  array.data.resize(stats.mass.size() * sizeof(double));
  std::memcpy(array.data.data(), stats.mass.data(), array.data.size());
  auto bytes = runtime::serializeNpy(array);
  if (!bytes)
    return bytes.error();

  nlohmann::ordered_json j;
  j["format"] = kFormatName;
  j["version"] = kFormatVersion;
  j["heads"] = stats.heads;
  j["block_q"] = stats.blockQ;
  j["block_k"] = stats.blockK;
  j["seq_q"] = stats.seqQ;
  j["seq_k"] = stats.seqK;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerStats &l : stats.layers) {
    nlohmann::ordered_json o;
    o["name"] = l.name;
    o["kind"] = layerKindName(l.kind);
    o["calls"] = l.calls;
    o["rows"] = l.rows;
    layers.push_back(std::move(o));
  }
  j["layers"] = std::move(layers);
  if (!stats.comment.empty())
    j["comment"] = stats.comment;
  // Table first, sidecar second: a sidecar always describes a whole table.
  if (Error e = runtime::writeFileAtomically(npyPath, *bytes))
    return e;
  return runtime::writeFileAtomically(statsSidecarPath(npyPath), j.dump(2) + "\n");
}

namespace {

Expected<AttentionStats> parseStats(const std::string &npyBytes, const std::string &sidecarText) {
  nlohmann::json j = nlohmann::json::parse(sidecarText, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return invalid("sidecar is not valid JSON");
  if (!j.is_object())
    return invalid("sidecar is not a JSON object");
  if (!j.contains("format") || j["format"] != kFormatName)
    return invalid(fmt::format("sidecar \"format\" must be \"{}\"", kFormatName));
  static const std::set<std::string> kKnown = {"format", "version", "heads",  "block_q", "block_k",
                                               "seq_q",  "seq_k",   "layers", "comment"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kKnown.count(it.key()))
      return invalid("sidecar has unknown key \"" + it.key() +
                     "\" (see docs/stats-format.md for the keys of version 1)");
  if (!j.contains("version") || !j["version"].is_number_integer())
    return invalid("sidecar lacks an integer \"version\"");
  if (j["version"].get<int64_t>() != kFormatVersion)
    return invalid(fmt::format("sidecar version {} is not supported (this sieve reads version {})",
                               j["version"].dump(), kFormatVersion));
  AttentionStats s;
  for (auto [key, field] : {std::pair{"heads", &s.heads}, std::pair{"block_q", &s.blockQ},
                            std::pair{"block_k", &s.blockK}, std::pair{"seq_q", &s.seqQ},
                            std::pair{"seq_k", &s.seqK}}) {
    auto v = positiveField(j, key);
    if (!v)
      return v.error();
    *field = *v;
  }
  if (j.contains("comment")) {
    if (!j["comment"].is_string())
      return invalid("sidecar \"comment\" must be a string");
    s.comment = j["comment"].get<std::string>();
  }
  if (!j.contains("layers") || !j["layers"].is_array() || j["layers"].empty())
    return invalid("sidecar \"layers\" must be a non-empty array");
  for (size_t l = 0; l < j["layers"].size(); ++l) {
    const nlohmann::json &o = j["layers"][l];
    if (!o.is_object())
      return invalid(fmt::format("sidecar layers[{}] is not an object", l));
    for (auto it = o.begin(); it != o.end(); ++it)
      if (it.key() != "name" && it.key() != "kind" && it.key() != "calls" && it.key() != "rows")
        return invalid(fmt::format("sidecar layers[{}] has unknown key \"{}\"", l, it.key()));
    LayerStats layer;
    if (!o.contains("name") || !o["name"].is_string())
      return invalid(fmt::format("sidecar layers[{}] lacks a string \"name\"", l));
    layer.name = o["name"].get<std::string>();
    if (!o.contains("kind") || !o["kind"].is_string() ||
        (o["kind"] != "self" && o["kind"] != "cross"))
      return invalid(fmt::format("sidecar layers[{}] \"kind\" must be \"self\" or \"cross\"", l));
    layer.kind = o["kind"] == "self" ? LayerKind::Self : LayerKind::Cross;
    if (!o.contains("calls") || !o["calls"].is_number_integer() || o["calls"].get<int64_t>() < 0)
      return invalid(fmt::format("sidecar layers[{}] \"calls\" must be an integer >= 0", l));
    layer.calls = o["calls"].get<int64_t>();
    if (!o.contains("rows") || !o["rows"].is_array())
      return invalid(fmt::format("sidecar layers[{}] lacks a \"rows\" array", l));
    for (const nlohmann::json &r : o["rows"]) {
      if (!r.is_number_integer() || r.get<int64_t>() < 0)
        return invalid(fmt::format("sidecar layers[{}] \"rows\" must hold integers >= 0, got {}", l,
                                   r.dump()));
      layer.rows.push_back(r.get<int64_t>());
    }
    s.layers.push_back(std::move(layer));
  }

  auto array = runtime::parseNpy(npyBytes, runtime::NpyElements::Float64);
  if (!array)
    return invalid(array.error().message());
  if (array->fortranOrder)
    return invalid("the table is Fortran-ordered; write it in C order");
  std::vector<int64_t> want = {s.numLayers(), s.heads, s.queryBlocks(), s.keyBlocks()};
  if (array->shape != want)
    return invalid(fmt::format("the table's shape is [{}] but the sidecar ({} layers, {} heads, "
                               "seq {}x{} in {}x{} tiles) needs [{}]",
                               fmt::join(array->shape, ", "), s.numLayers(), s.heads, s.seqQ,
                               s.seqK, s.blockQ, s.blockK, fmt::join(want, ", ")));
  s.mass.resize(array->data.size() / sizeof(double));
  std::memcpy(s.mass.data(), array->data.data(), array->data.size());
  if (Error e = s.validate())
    return e;
  return s;
}

} // namespace

Expected<AttentionStats> readStatsFile(const std::string &npyPath) {
  auto npy = readWholeFile(npyPath);
  if (!npy)
    return npy.error().withContext("stats file " + npyPath);
  std::string sidecarPath = statsSidecarPath(npyPath);
  auto sidecar = readWholeFile(sidecarPath);
  if (!sidecar)
    return Error(ErrorCode::Io,
                 fmt::format("stats file {}: the sidecar {} cannot be read", npyPath, sidecarPath));
  auto stats = parseStats(*npy, *sidecar);
  if (!stats)
    return stats.error().withContext("stats file " + npyPath);
  return stats;
}

} // namespace sieve::calibration
