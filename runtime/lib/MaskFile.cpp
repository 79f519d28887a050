//===- MaskFile.cpp -------------------------------------------------------===//
#include "sieve/runtime/MaskFile.h"

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/Npy.h"

#include <nlohmann/json.hpp>

#include <set>

namespace sieve::runtime {

namespace {

constexpr const char *kFormatName = "sieve-block-mask";
constexpr int64_t kFormatVersion = 1;

Error malformed(const std::string &what) { return Error(ErrorCode::MalformedMask, what); }

// Reads a positive integer field; `required` says whether absence is an error.
Error readPositive(const nlohmann::json &j, const char *key, bool required,
                   std::optional<int64_t> &out) {
  auto it = j.find(key);
  if (it == j.end())
    return required ? malformed(std::string("sidecar lacks \"") + key + "\"") : Error();
  if (!it->is_number_integer() || it->get<int64_t>() <= 0)
    return malformed(std::string("sidecar \"") + key + "\" must be a positive integer, got " +
                     it->dump());
  out = it->get<int64_t>();
  return Error();
}

Expected<MaskFileMeta> parseSidecar(const std::string &text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return malformed("sidecar is not valid JSON");
  if (!j.is_object())
    return malformed("sidecar is not a JSON object");
  static const std::set<std::string> kKnown = {"format", "version", "block_q", "block_k",
                                               "seq_q",  "seq_k",   "comment"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kKnown.count(it.key()))
      return malformed("sidecar has unknown key \"" + it.key() +
                       "\" (see docs/mask-format.md for the keys of version 1)");
  if (!j.contains("format") || j["format"] != kFormatName)
    return malformed(std::string("sidecar \"format\" must be \"") + kFormatName + "\"");
  if (!j.contains("version") || !j["version"].is_number_integer())
    return malformed("sidecar lacks an integer \"version\"");
  if (j["version"].get<int64_t>() != kFormatVersion)
    return malformed("sidecar version " + j["version"].dump() +
                     " is not supported (this sieve reads version " +
                     std::to_string(kFormatVersion) + ")");
  MaskFileMeta meta;
  std::optional<int64_t> blockQ, blockK;
  if (Error e = readPositive(j, "block_q", true, blockQ))
    return e;
  if (Error e = readPositive(j, "block_k", true, blockK))
    return e;
  if (Error e = readPositive(j, "seq_q", false, meta.seqQ))
    return e;
  if (Error e = readPositive(j, "seq_k", false, meta.seqK))
    return e;
  meta.blockQ = *blockQ;
  meta.blockK = *blockK;
  return meta;
}

// Checks a recorded sequence length against the number of blocks.
Error checkSeqMatchesBlocks(const char *which, std::optional<int64_t> seq, int64_t block,
                            int64_t blocks) {
  if (!seq)
    return Error();
  // ceil(seq / block) without the overflow of seq + block - 1: the sidecar's
  // seq_q may be any positive int64.
  int64_t need = *seq <= 0 ? 0 : (*seq - 1) / block + 1;
  if (need != blocks)
    return malformed(std::string("sidecar ") + which + "=" + std::to_string(*seq) + " needs " +
                     std::to_string(need) + " blocks of " + std::to_string(block) +
                     " but the table has " + std::to_string(blocks));
  return Error();
}

std::string sidecarJson(int64_t blockQ, int64_t blockK, std::optional<int64_t> seqQ,
                        std::optional<int64_t> seqK) {
  nlohmann::json j;
  j["format"] = kFormatName;
  j["version"] = kFormatVersion;
  j["block_q"] = blockQ;
  j["block_k"] = blockK;
  if (seqQ)
    j["seq_q"] = *seqQ;
  if (seqK)
    j["seq_k"] = *seqK;
  return j.dump(2) + "\n";
}

} // namespace

std::string maskSidecarPath(const std::string &npyPath) {
  const std::string ext = ".npy";
  if (npyPath.size() > ext.size() &&
      npyPath.compare(npyPath.size() - ext.size(), ext.size(), ext) == 0)
    return npyPath.substr(0, npyPath.size() - ext.size()) + ".json";
  return npyPath + ".json";
}

Expected<std::vector<BlockMask>> readMaskStack(const std::string &npyPath, MaskFileMeta *metaOut) {
  auto fail = [&](const Error &e) { return e.withContext("mask file " + npyPath); };
  auto bytes = readFile(npyPath);
  if (!bytes)
    return fail(bytes.error());
  std::string sidecar = maskSidecarPath(npyPath);
  auto sidecarText = readFile(sidecar);
  if (!sidecarText)
    return fail(Error(ErrorCode::MalformedMask, "the sidecar " + sidecar +
                                                    " with the block sizes cannot be read (" +
                                                    sidecarText.error().message() + ")"));
  auto meta = parseSidecar(*sidecarText);
  if (!meta)
    return fail(meta.error().withContext(sidecar));

  auto array = parseNpy(*bytes);
  if (!array)
    return fail(array.error());
  if (array->fortranOrder)
    return fail(malformed("table is in Fortran order; save it C-ordered (np.ascontiguousarray)"));
  const auto &shape = array->shape;
  if (shape.size() != 3 && shape.size() != 4)
    return fail(malformed("table has " + std::to_string(shape.size()) +
                          " dimensions; expected [heads, query_blocks, key_blocks] or "
                          "[layers, heads, query_blocks, key_blocks]"));
  for (int64_t d : shape)
    if (d == 0)
      return fail(malformed("table has a zero-length dimension"));
  int64_t layers = shape.size() == 4 ? shape[0] : 1;
  size_t base = shape.size() == 4 ? 1 : 0;
  int64_t heads = shape[base], qBlocks = shape[base + 1], kBlocks = shape[base + 2];
  if (Error e = checkSeqMatchesBlocks("seq_q", meta->seqQ, meta->blockQ, qBlocks))
    return fail(e);
  if (Error e = checkSeqMatchesBlocks("seq_k", meta->seqK, meta->blockK, kBlocks))
    return fail(e);

  std::vector<BlockMask> masks;
  const auto *tiles = reinterpret_cast<const uint8_t *>(array->data.data());
  int64_t perLayer = heads * qBlocks * kBlocks;
  for (int64_t l = 0; l < layers; ++l) {
    auto mask = BlockMask::fromTileBytes(heads, qBlocks, kBlocks, meta->blockQ, meta->blockK,
                                         tiles + l * perLayer);
    if (!mask)
      return fail(mask.error().withContext("layer " + std::to_string(l)));
    masks.push_back(std::move(*mask));
  }
  meta->layers = shape.size() == 4 ? layers : 0;
  if (metaOut)
    *metaOut = *meta;
  return masks;
}

Expected<BlockMask> readMaskFile(const std::string &npyPath, int64_t layer, MaskFileMeta *metaOut) {
  MaskFileMeta meta;
  auto stack = readMaskStack(npyPath, &meta);
  if (!stack)
    return stack.error();
  int64_t available = static_cast<int64_t>(stack->size());
  if (layer < 0 || layer >= available)
    return Error(ErrorCode::InvalidArgument,
                 "mask file " + npyPath + ": layer " + std::to_string(layer) + " asked for, but " +
                     (meta.layers == 0 ? std::string("the table is 3-d (one layer, index 0)")
                                       : "it holds layers 0.." + std::to_string(available - 1)));
  if (metaOut)
    *metaOut = meta;
  return std::move((*stack)[layer]);
}

static Error writeTable(const std::string &npyPath, const std::vector<BlockMask> &layers,
                        bool fourD, std::optional<int64_t> seqQ, std::optional<int64_t> seqK) {
  if (layers.empty())
    return Error(ErrorCode::InvalidArgument, "no masks to write");
  const BlockMask &first = layers.front();
  for (const BlockMask &m : layers)
    if (m.heads() != first.heads() || m.queryBlocks() != first.queryBlocks() ||
        m.keyBlocks() != first.keyBlocks() || m.blockQ() != first.blockQ() ||
        m.blockK() != first.blockK())
      return Error(ErrorCode::ShapeMismatch,
                   "layers of a mask file must share shape and block sizes");
  if (first.numTiles() == 0)
    return Error(ErrorCode::InvalidArgument, "cannot write an empty (default-constructed) mask");
  if (Error e = checkSeqMatchesBlocks("seq_q", seqQ, first.blockQ(), first.queryBlocks()))
    return Error(ErrorCode::ShapeMismatch, e.message());
  if (Error e = checkSeqMatchesBlocks("seq_k", seqK, first.blockK(), first.keyBlocks()))
    return Error(ErrorCode::ShapeMismatch, e.message());

  NpyArray array;
  array.descr = "|b1";
  if (fourD)
    array.shape.push_back(static_cast<int64_t>(layers.size()));
  array.shape.insert(array.shape.end(), {first.heads(), first.queryBlocks(), first.keyBlocks()});
  array.data.reserve(layers.size() * first.numTiles());
  for (const BlockMask &m : layers)
    for (int64_t h = 0; h < m.heads(); ++h)
      for (int64_t q = 0; q < m.queryBlocks(); ++q)
        for (int64_t k = 0; k < m.keyBlocks(); ++k)
          array.data.push_back(m.get(h, q, k) ? 1 : 0);
  auto bytes = serializeNpy(array);
  if (!bytes)
    return bytes.error();
  // Table first, sidecar second: a reader that finds the sidecar finds the
  // table it describes complete (each file is renamed into place whole).
  if (Error e = writeFileAtomically(npyPath, *bytes))
    return e;
  return writeFileAtomically(maskSidecarPath(npyPath),
                             sidecarJson(first.blockQ(), first.blockK(), seqQ, seqK));
}

Error writeMaskFile(const std::string &npyPath, const BlockMask &mask, std::optional<int64_t> seqQ,
                    std::optional<int64_t> seqK) {
  return writeTable(npyPath, {mask}, /*fourD=*/false, seqQ, seqK);
}

Error writeMaskStack(const std::string &npyPath, const std::vector<BlockMask> &layers,
                     std::optional<int64_t> seqQ, std::optional<int64_t> seqK) {
  return writeTable(npyPath, layers, /*fourD=*/true, seqQ, seqK);
}

} // namespace sieve::runtime
