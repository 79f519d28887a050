//===- MiniLm.cpp - the BERT forward pass: Eigen for dense, sieve for attention ===//
#include "sieve/models/MiniLm.h"

#include "sieve/models/SafeTensors.h"

#include <Eigen/Dense>
#include <fmt/format.h>

#include <cmath>

namespace sieve::models {

namespace {

// Row-major like the checkpoint and like the [tokens, features] activations,
// so the attention views below are plain strided views of them.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;

struct LayerWeights {
  Matrix qkv; // [3 * hidden, hidden]: query, key, value projections stacked
  RowVector qkvBias;
  Matrix attnOut;
  RowVector attnOutBias, attnNormScale, attnNormBias;
  Matrix up; // [intermediate, hidden]
  RowVector upBias;
  Matrix down; // [hidden, intermediate]
  RowVector downBias, outNormScale, outNormBias;
};

/// Reads tensors by name with the shapes the config implies, so a file for
/// another model fails naming the tensor rather than misreading it.
class WeightReader {
public:
  explicit WeightReader(const SafeTensors &st) : st_(st) {}

  Error matrix(const std::string &name, int64_t rows, int64_t cols, Matrix &out) {
    auto data = st_.loadFloat(name, {rows, cols});
    if (!data)
      return data.error();
    out = Eigen::Map<const Matrix>(data->data(), rows, cols);
    return Error::success();
  }
  Error vector(const std::string &name, int64_t size, RowVector &out) {
    auto data = st_.loadFloat(name, {size});
    if (!data)
      return data.error();
    out = Eigen::Map<const RowVector>(data->data(), size);
    return Error::success();
  }

private:
  const SafeTensors &st_;
};

/// Checkpoints saved from BertModel name tensors "embeddings.*"; those saved
/// from a task model prefix them "bert.".
std::string tensorPrefix(const SafeTensors &st) {
  return st.find("embeddings.word_embeddings.weight") ? "" : "bert.";
}

void layerNorm(Matrix &x, const RowVector &scale, const RowVector &bias, double eps) {
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    auto row = x.row(r);
    // Double accumulation: a row of 384 floats loses digits in float sums.
    double mean = row.cast<double>().mean();
    double var = (row.cast<double>().array() - mean).square().mean();
    float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    row = ((row.array() - static_cast<float>(mean)) * inv * scale.array() + bias.array()).matrix();
  }
}

float gelu(float v) { return 0.5f * v * (1.0f + std::erf(v * static_cast<float>(M_SQRT1_2))); }

} // namespace

struct MiniLmEncoder::Impl {
  BertConfig config;
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  std::shared_ptr<compiler::Session> session;
  AttentionPlan plan = AttentionPlan::dense();

  Matrix wordEmbeddings, positionEmbeddings;
  RowVector tokenType0, embedNormScale, embedNormBias;
  std::vector<LayerWeights> layers;

  Error loadWeights(const SafeTensors &st);
  Error attention(int layer, Matrix &qkv, Matrix &context);
};

Error MiniLmEncoder::Impl::loadWeights(const SafeTensors &st) {
  const BertConfig &c = config;
  WeightReader r(st);
  const std::string p = tensorPrefix(st);
  Matrix tokenTypes;
  if (Error e =
          r.matrix(p + "embeddings.word_embeddings.weight", c.vocabSize, c.hidden, wordEmbeddings))
    return e;
  if (Error e = r.matrix(p + "embeddings.position_embeddings.weight", c.maxPositions, c.hidden,
                         positionEmbeddings))
    return e;
  if (Error e = r.matrix(p + "embeddings.token_type_embeddings.weight", c.typeVocabSize, c.hidden,
                         tokenTypes))
    return e;
  tokenType0 = tokenTypes.row(0); // single sentences are all segment 0
  if (Error e = r.vector(p + "embeddings.LayerNorm.weight", c.hidden, embedNormScale))
    return e;
  if (Error e = r.vector(p + "embeddings.LayerNorm.bias", c.hidden, embedNormBias))
    return e;

  layers.resize(static_cast<size_t>(c.layers));
  for (int64_t l = 0; l < c.layers; ++l) {
    LayerWeights &w = layers[static_cast<size_t>(l)];
    const std::string at = fmt::format("{}encoder.layer.{}.", p, l);
    w.qkv.resize(3 * c.hidden, c.hidden);
    w.qkvBias.resize(3 * c.hidden);
    const char *parts[] = {"query", "key", "value"};
    for (int i = 0; i < 3; ++i) {
      Matrix m;
      RowVector b;
      if (Error e = r.matrix(at + "attention.self." + parts[i] + ".weight", c.hidden, c.hidden, m))
        return e;
      if (Error e = r.vector(at + "attention.self." + parts[i] + ".bias", c.hidden, b))
        return e;
      w.qkv.middleRows(i * c.hidden, c.hidden) = m;
      w.qkvBias.segment(i * c.hidden, c.hidden) = b;
    }
    struct {
      const char *name;
      int64_t rows, cols;
      Matrix *weight;
      RowVector *bias;
    } dense[] = {{"attention.output.dense", c.hidden, c.hidden, &w.attnOut, &w.attnOutBias},
                 {"intermediate.dense", c.intermediate, c.hidden, &w.up, &w.upBias},
                 {"output.dense", c.hidden, c.intermediate, &w.down, &w.downBias}};
    for (auto &d : dense) {
      if (Error e = r.matrix(at + d.name + ".weight", d.rows, d.cols, *d.weight))
        return e;
      if (Error e = r.vector(at + d.name + ".bias", d.rows, *d.bias))
        return e;
    }
    struct {
      const char *name;
      RowVector *scale, *bias;
    } norms[] = {{"attention.output.LayerNorm", &w.attnNormScale, &w.attnNormBias},
                 {"output.LayerNorm", &w.outNormScale, &w.outNormBias}};
    for (auto &n : norms) {
      if (Error e = r.vector(at + n.name + ".weight", c.hidden, *n.scale))
        return e;
      if (Error e = r.vector(at + n.name + ".bias", c.hidden, *n.bias))
        return e;
    }
  }
  return Error::success();
}

Error MiniLmEncoder::Impl::attention(int layer, Matrix &qkv, Matrix &context) {
  const int64_t seq = qkv.rows(), heads = config.heads, dim = config.headDim(),
                hidden = config.hidden;
  auto mask = plan.maskFor(layer, seq, heads);
  if (!mask)
    return mask.error().withContext(fmt::format("the attention plan's mask for layer {}", layer));

  compiler::KernelSpec spec;
  spec.shape = {/*batch=*/1, heads, heads, seq, seq, dim, runtime::DType::F32};
  spec.mask = *mask;
  auto artifact = session->compile(spec);
  if (!artifact)
    return artifact.error().withContext(fmt::format("compiling layer {}'s attention", layer));

  // Head h of q is columns [h * dim, (h + 1) * dim) of the fused projection's
  // first third: a BSHD view, no copy. Likewise k, v and the context.
  auto view = [&](float *data, int64_t rowStride) {
    runtime::TensorView t;
    t.data = data;
    t.dtype = runtime::DType::F32;
    t.sizes = {1, heads, seq, dim};
    t.strides = {seq * rowStride, dim, rowStride, 1};
    t.device = runtime::DeviceKind::Host;
    return t;
  };
  AttentionCall call;
  call.layer = layer;
  call.seqLen = seq;
  call.scale = spec.effectiveScale();
  call.mask = &spec.mask;
  call.q = view(qkv.data(), 3 * hidden);
  call.k = view(qkv.data() + hidden, 3 * hidden);
  call.v = view(qkv.data() + 2 * hidden, 3 * hidden);
  call.out = view(context.data(), hidden);
  if (Error e = session->run(**artifact, call.q, call.k, call.v, call.out))
    return e.withContext(fmt::format("running layer {}'s attention", layer));
  if (plan.observe)
    if (Error e = plan.observe(call))
      return e.withContext(fmt::format("the attention plan's observer at layer {}", layer));
  return Error::success();
}

namespace {
/// The model's vocabulary with its sequence limit, checked against its config.
Expected<WordPieceTokenizer> tokenizerOf(const std::string &dir, const BertConfig &config) {
  WordPieceOptions options;
  options.maxLength = config.maxSeqLength;
  auto tokenizer = WordPieceTokenizer::fromVocabFile(dir + "/vocab.txt", options);
  if (!tokenizer)
    return tokenizer.error();
  if (tokenizer->vocabSize() != config.vocabSize)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("{}/vocab.txt has {} tokens, config.json's vocab_size is {}", dir,
                             tokenizer->vocabSize(), config.vocabSize));
  return tokenizer;
}
} // namespace

Expected<WordPieceTokenizer> loadMiniLmTokenizer(const std::string &dir) {
  auto config = BertConfig::fromModelDir(dir);
  if (!config)
    return config.error();
  return tokenizerOf(dir, *config);
}

MiniLmEncoder::MiniLmEncoder() : impl_(std::make_unique<Impl>()) {}
MiniLmEncoder::~MiniLmEncoder() = default;

Expected<std::unique_ptr<MiniLmEncoder>>
MiniLmEncoder::load(const std::string &dir, std::shared_ptr<compiler::Session> session) {
  std::unique_ptr<MiniLmEncoder> encoder(new MiniLmEncoder());
  Impl &m = *encoder->impl_;
  auto config = BertConfig::fromModelDir(dir);
  if (!config)
    return config.error();
  m.config = *config;
  auto tokenizer = tokenizerOf(dir, m.config);
  if (!tokenizer)
    return tokenizer.error();
  m.tokenizer = std::make_unique<WordPieceTokenizer>(std::move(*tokenizer));

  auto st = SafeTensors::open(dir + "/model.safetensors");
  if (!st)
    return st.error();
  if (Error e = m.loadWeights(*st))
    return e;

  if (!session) {
    auto created = compiler::Session::create(compiler::BackendChoice::Cpu);
    if (!created)
      return created.error();
    session = std::move(*created);
  }
  if (session->backend() != runtime::Backend::Cpu)
    return Error(ErrorCode::Unsupported,
                 fmt::format("the MiniLM encoder keeps its tensors on the host and needs a CPU "
                             "session; this one runs on {}",
                             session->deviceName()));
  m.session = std::move(session);
  return encoder;
}

const BertConfig &MiniLmEncoder::config() const { return impl_->config; }
const WordPieceTokenizer &MiniLmEncoder::tokenizer() const { return *impl_->tokenizer; }
compiler::Session &MiniLmEncoder::session() { return *impl_->session; }
void MiniLmEncoder::setPlan(AttentionPlan plan) { impl_->plan = std::move(plan); }
const AttentionPlan &MiniLmEncoder::plan() const { return impl_->plan; }

Expected<std::vector<float>> MiniLmEncoder::hiddenStates(const std::vector<int64_t> &ids) {
  Impl &m = *impl_;
  const BertConfig &c = m.config;
  const int64_t seq = static_cast<int64_t>(ids.size());
  if (seq == 0 || seq > c.maxPositions)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{} tokens; the model takes 1 to {}", seq, c.maxPositions));
  for (int64_t id : ids)
    if (id < 0 || id >= c.vocabSize)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("token id {} is outside the vocabulary [0, {})", id, c.vocabSize));

  Matrix x(seq, c.hidden);
  for (int64_t s = 0; s < seq; ++s)
    x.row(s) = m.wordEmbeddings.row(ids[s]) + m.positionEmbeddings.row(s) + m.tokenType0;
  layerNorm(x, m.embedNormScale, m.embedNormBias, c.layerNormEps);

  Matrix qkv, context(seq, c.hidden), attended, up, down;
  for (int64_t l = 0; l < c.layers; ++l) {
    const LayerWeights &w = m.layers[static_cast<size_t>(l)];
    qkv.noalias() = x * w.qkv.transpose();
    qkv.rowwise() += w.qkvBias;
    if (Error e = m.attention(static_cast<int>(l), qkv, context))
      return e;

    attended.noalias() = context * w.attnOut.transpose();
    attended.rowwise() += w.attnOutBias;
    attended += x;
    layerNorm(attended, w.attnNormScale, w.attnNormBias, c.layerNormEps);

    up.noalias() = attended * w.up.transpose();
    up.rowwise() += w.upBias;
    up = up.unaryExpr(&gelu);
    down.noalias() = up * w.down.transpose();
    down.rowwise() += w.downBias;
    down += attended;
    layerNorm(down, w.outNormScale, w.outNormBias, c.layerNormEps);
    x.swap(down);
  }
  return std::vector<float>(x.data(), x.data() + x.size());
}

Expected<std::vector<float>> MiniLmEncoder::embedIds(const std::vector<int64_t> &ids) {
  auto states = hiddenStates(ids);
  if (!states)
    return states.error();
  const int64_t hidden = impl_->config.hidden, seq = static_cast<int64_t>(ids.size());
  Eigen::Map<const Matrix> x(states->data(), seq, hidden);
  // Every token counts: a single unpadded sentence has an all-ones mask.
  RowVector pooled = x.cast<double>().colwise().mean().cast<float>();
  if (impl_->config.normalize) {
    // As torch.nn.functional.normalize: divide by max(norm, 1e-12).
    double norm = pooled.cast<double>().norm();
    pooled /= static_cast<float>(std::max(norm, 1e-12));
  }
  return std::vector<float>(pooled.data(), pooled.data() + pooled.size());
}

Expected<std::vector<std::vector<float>>>
MiniLmEncoder::embed(const std::vector<std::string> &sentences) {
  std::vector<std::vector<float>> out;
  out.reserve(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    auto embedding = embedIds(impl_->tokenizer->encode(sentences[i]));
    if (!embedding)
      return embedding.error().withContext(fmt::format("sentence {}", i));
    out.push_back(std::move(*embedding));
  }
  return out;
}

} // namespace sieve::models
