//===- Calibrator.cpp - attention mass: the kernels and a float64 reference ===//
#include "sieve/calibration/Calibrator.h"

#include "GpuCalibration.h"

#include "sieve/compiler/Session.h"
#include "sieve/models/MiniLm.h"

#include <Eigen/Dense>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sieve::calibration {

namespace {

using MatrixXdR = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One (batch, head) slice of a [B, H, S, D] f32 view as a double S x D matrix.
MatrixXdR slice(const runtime::TensorView &t, int64_t b, int64_t h) {
  const float *base = static_cast<const float *>(t.data) + b * t.strides[0] + h * t.strides[1];
  MatrixXdR m(t.sizes[2], t.sizes[3]);
  for (int64_t i = 0; i < t.sizes[2]; ++i)
    for (int64_t d = 0; d < t.sizes[3]; ++d)
      m(i, d) = base[i * t.strides[2] + d * t.strides[3]];
  return m;
}

Error checkView(const runtime::TensorView &t, const char *name) {
  if (!t.data)
    return Error(ErrorCode::InvalidArgument, fmt::format("calibration: {} is null", name));
  if (t.device != runtime::DeviceKind::Host)
    return Error(ErrorCode::WrongDevice,
                 fmt::format("calibration: {} must be host memory (the model's tensors; the "
                             "GPU engine copies them to the GPU itself)",
                             name));
  if (t.dtype != runtime::DType::F32)
    return Error(ErrorCode::DTypeMismatch, fmt::format("calibration: {} must be f32", name));
  for (int64_t s : t.sizes)
    if (s <= 0)
      return Error(ErrorCode::ShapeMismatch,
                   fmt::format("calibration: {} has a non-positive size", name));
  return Error::success();
}

} // namespace

Calibrator::Calibrator(AttentionStats stats) : stats_(std::move(stats)) {}
Calibrator::Calibrator(Calibrator &&other) noexcept = default;
Calibrator &Calibrator::operator=(Calibrator &&other) noexcept = default;
Calibrator::~Calibrator() = default;

Expected<Calibrator> Calibrator::create(int64_t layers, int64_t heads, int64_t maxSeqQ,
                                        int64_t maxSeqK, int64_t blockQ, int64_t blockK) {
  auto stats = AttentionStats::create(layers, heads, maxSeqQ, maxSeqK, blockQ, blockK);
  if (!stats)
    return stats.error();
  return Calibrator(std::move(*stats));
}

Expected<CalibrationEngine> parseCalibrationEngine(const std::string &name) {
  for (CalibrationEngine engine : {CalibrationEngine::Kernel, CalibrationEngine::CpuKernel,
                                   CalibrationEngine::GpuKernel, CalibrationEngine::Reference})
    if (name == calibrationEngineName(engine))
      return engine;
  return Error(ErrorCode::InvalidArgument,
               fmt::format("unknown calibration engine '{}' (expected kernel, cpu, gpu or "
                           "reference)",
                           name));
}

const char *calibrationEngineName(CalibrationEngine engine) {
  switch (engine) {
  case CalibrationEngine::Kernel:
    return "kernel";
  case CalibrationEngine::CpuKernel:
    return "cpu";
  case CalibrationEngine::GpuKernel:
    return "gpu";
  case CalibrationEngine::Reference:
    return "reference";
  }
  return "unknown";
}

Expected<std::unique_ptr<compiler::Session>> openGpuSession(CalibrationEngine engine) {
  if (engine != CalibrationEngine::Kernel && engine != CalibrationEngine::GpuKernel)
    return std::unique_ptr<compiler::Session>();
  auto session = compiler::Session::create(compiler::BackendChoice::Cuda);
  if (session)
    return std::move(*session);
  // "kernel" falls back to the CPU where no GPU can run it.
  if (engine == CalibrationEngine::Kernel)
    return std::unique_ptr<compiler::Session>();
  return Error(ErrorCode::NoGpu, fmt::format("calibration engine 'gpu' needs a GPU, and this "
                                             "machine has none usable ({}); use --engine kernel "
                                             "or cpu to calibrate on the CPU",
                                             session.error().message()));
}

Error Calibrator::checkCall(int64_t layer, const runtime::TensorView &q,
                            const runtime::TensorView &k) {
  AttentionStats &s = stats_;
  if (layer < 0 || layer >= s.numLayers())
    return Error(
        ErrorCode::InvalidArgument,
        fmt::format("calibration: layer {} is outside the stats' {} layers", layer, s.numLayers()));
  if (Error e = checkView(q, "q"))
    return e;
  if (Error e = checkView(k, "k"))
    return e;
  const int64_t batch = q.sizes[0], headsQ = q.sizes[1], seqQ = q.sizes[2], dim = q.sizes[3];
  const int64_t headsKv = k.sizes[1], seqK = k.sizes[2];
  if (headsQ != s.heads)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("calibration: q has {} heads, the stats {}", headsQ, s.heads));
  if (k.sizes[0] != batch || k.sizes[3] != dim || headsQ % headsKv != 0)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("calibration: k [{}, {}, {}, {}] does not match q [{}, {}, {}, {}]",
                             k.sizes[0], headsKv, seqK, k.sizes[3], batch, headsQ, seqQ, dim));
  if (seqQ > s.seqQ || seqK > s.seqK)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("calibration: a call of {} queries x {} keys does not fit the stats "
                             "grid of {} x {} tokens",
                             seqQ, seqK, s.seqQ, s.seqK));
  return Error::success();
}

Error Calibrator::add(int64_t layer, const runtime::TensorView &q, const runtime::TensorView &k,
                      double scale, bool causal) {
  if (Error e = checkCall(layer, q, k))
    return e;
  AttentionStats &s = stats_;
  const int64_t batch = q.sizes[0], headsQ = q.sizes[1], seqQ = q.sizes[2];
  const int64_t headsKv = k.sizes[1], seqK = k.sizes[2];
  const int64_t group = headsQ / headsKv;
  LayerStats &info = s.layers[static_cast<size_t>(layer)];
  std::vector<double> blockMass(static_cast<size_t>(s.keyBlocks()));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < headsQ; ++h) {
      MatrixXdR qm = slice(q, b, h), km = slice(k, b, h / group);
      MatrixXdR scores = (qm * km.transpose()) * scale;
      for (int64_t i = 0; i < seqQ; ++i) {
        const int64_t keys = causal ? std::min(seqK, i + 1) : seqK;
        if (keys <= 0)
          continue;
        double mx = -INFINITY;
        for (int64_t j = 0; j < keys; ++j)
          mx = std::max(mx, scores(i, j));
        double sum = 0;
        std::fill(blockMass.begin(), blockMass.end(), 0.0);
        for (int64_t j = 0; j < keys; ++j) {
          double e = std::exp(scores(i, j) - mx);
          sum += e;
          blockMass[static_cast<size_t>(j / s.blockK)] += e;
        }
        const int64_t qb = i / s.blockQ;
        for (int64_t kb = 0; kb * s.blockK < keys; ++kb)
          s.at(layer, h, qb, kb) += blockMass[static_cast<size_t>(kb)] / sum;
      }
    }
    // Rows are counted once per batch entry: every head saw the same rows.
    for (int64_t i = 0; i < seqQ; ++i)
      ++info.rows[static_cast<size_t>(i / s.blockQ)];
  }
  ++info.calls;
  return Error::success();
}

Expected<compiler::KernelSpec> Calibrator::kernelSpec(const runtime::ProblemShape &shape,
                                                      double scale, bool causal) const {
  const AttentionStats &s = stats_;
  const int64_t qBlocks = (shape.seqQ + s.blockQ - 1) / s.blockQ,
                kBlocks = (shape.seqK + s.blockK - 1) / s.blockK;
  auto mask = runtime::BlockMask::create(shape.headsQ, qBlocks, kBlocks, s.blockQ, s.blockK);
  if (!mask)
    return mask.error();
  for (int64_t h = 0; h < shape.headsQ; ++h)
    mask->setHead(h, true);
  compiler::KernelSpec spec;
  spec.shape = shape;
  spec.scale = scale;
  spec.causal = causal;
  spec.calibrate = true;
  spec.mask = std::move(*mask);
  return spec;
}

void Calibrator::accumulate(int64_t layer, const std::vector<float> &mass, int64_t batch,
                            int64_t seqQ, int64_t qBlocks, int64_t kBlocks) {
  AttentionStats &s = stats_;
  const int64_t heads = static_cast<int64_t>(mass.size()) / (qBlocks * kBlocks);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t qb = 0; qb < qBlocks; ++qb)
      for (int64_t kb = 0; kb < kBlocks; ++kb)
        s.at(layer, h, qb, kb) += mass[static_cast<size_t>((h * qBlocks + qb) * kBlocks + kb)];
  LayerStats &info = s.layers[static_cast<size_t>(layer)];
  for (int64_t i = 0; i < seqQ; ++i)
    info.rows[static_cast<size_t>(i / s.blockQ)] += batch;
  ++info.calls;
}

Error Calibrator::addWithKernel(compiler::Session &session, int64_t layer,
                                const runtime::TensorView &q, const runtime::TensorView &k,
                                const runtime::TensorView &v, double scale, bool causal) {
  if (Error e = checkCall(layer, q, k))
    return e;
  if (Error e = checkView(v, "v"))
    return e;
  if (v.sizes != k.sizes)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("calibration: v [{}, {}, {}, {}] does not match k [{}, {}, {}, {}]",
                             v.sizes[0], v.sizes[1], v.sizes[2], v.sizes[3], k.sizes[0], k.sizes[1],
                             k.sizes[2], k.sizes[3]));
  const AttentionStats &s = stats_;
  const bool onGpu = session.backend() == runtime::Backend::Cuda;
  const int64_t batch = q.sizes[0], headsQ = q.sizes[1], seqQ = q.sizes[2], dim = q.sizes[3];
  const int64_t headsKv = k.sizes[1], seqK = k.sizes[2];
  const int64_t qBlocks = (seqQ + s.blockQ - 1) / s.blockQ,
                kBlocks = (seqK + s.blockK - 1) / s.blockK;
  // The GPU kernels take 16-bit inputs (bf16 keeps f32's range); the CPU
  // runs the model's f32 views as they are.
  const runtime::ProblemShape shape{
      batch, headsQ, headsKv, seqQ, seqK, dim, onGpu ? runtime::DType::BF16 : runtime::DType::F32};
  auto spec = kernelSpec(shape, scale, causal);
  if (!spec)
    return spec.error();
  auto artifact = session.compile(std::move(*spec));
  if (!artifact)
    return artifact.error().withContext("compiling the calibration kernel");
  std::vector<float> mass;
  if (onGpu) {
    if (!gpu_)
      gpu_ = std::make_unique<GpuCalibrationRun>();
    auto gpuMass = gpu_->run(session, **artifact, shape, q, k, v, qBlocks, kBlocks);
    if (!gpuMass)
      return gpuMass.error();
    mass = std::move(*gpuMass);
  } else {
    std::vector<float> out(static_cast<size_t>(batch * headsQ * seqQ * dim));
    auto outView = runtime::TensorView::contiguous(
        out.data(), runtime::DType::F32, {batch, headsQ, seqQ, dim}, runtime::DeviceKind::Host);
    mass.assign(static_cast<size_t>(headsQ * qBlocks * kBlocks), 0.f);
    if (Error e = session.calibrate(**artifact, q, k, v, outView, mass.data()))
      return e;
  }
  accumulate(layer, mass, batch, seqQ, qBlocks, kBlocks);
  return Error::success();
}

std::function<Error(const models::AttentionCall &)>
Calibrator::observer(compiler::Session *kernelSession) {
  return [this, kernelSession](const models::AttentionCall &call) -> Error {
    if (call.mask && call.mask->countKept() != call.mask->numTiles())
      return Error(ErrorCode::Unsupported,
                   "calibration needs the dense plan (every tile kept): it measures unpruned "
                   "attention");
    if (kernelSession)
      return addWithKernel(*kernelSession, call.layer, call.q, call.k, call.v, call.scale);
    return add(call.layer, call.q, call.k, call.scale, /*causal=*/false);
  };
}

void Calibrator::attachTo(models::AttentionPlan &plan, compiler::Session *kernelSession) {
  plan.blockQ = stats_.blockQ;
  plan.blockK = stats_.blockK;
  plan.observe = observer(kernelSession);
}

Expected<AttentionStats> calibrateMiniLm(const std::vector<std::string> &sentences,
                                         const MiniLmCalibration &options) {
  // The encoder runs on its CPU session; a GPU engine gets a session of its
  // own for the calibration kernel (opened first: no GPU fails at once).
  auto gpuSession = openGpuSession(options.engine);
  if (!gpuSession)
    return gpuSession.error();
  auto dir = models::findMiniLmDir(options.modelDir);
  if (!dir)
    return dir.error();
  auto encoder = models::MiniLmEncoder::load(*dir);
  if (!encoder)
    return encoder.error();
  const models::BertConfig &config = (*encoder)->config();
  const int64_t maxSeq = options.maxSeq > 0 ? options.maxSeq : config.maxSeqLength;
  auto calibrator = Calibrator::create(config.layers, config.heads, maxSeq, maxSeq, options.blockQ,
                                       options.blockK);
  if (!calibrator)
    return calibrator.error();
  compiler::Session *kernelSession = nullptr;
  std::string engine = "float64 host reference on the host CPU";
  if (*gpuSession) {
    kernelSession = gpuSession->get();
    engine = "GPU calibration kernel on " + kernelSession->deviceName();
  } else if (options.engine != CalibrationEngine::Reference) {
    kernelSession = &(*encoder)->session();
    engine = "CPU calibration kernel on the " + kernelSession->deviceName();
  }
  calibrator->stats().comment =
      fmt::format("all-MiniLM-L6-v2 from {}, {} sentences, {}", *dir, sentences.size(), engine);
  models::AttentionPlan plan = models::AttentionPlan::dense(options.blockQ);
  calibrator->attachTo(plan, kernelSession);
  (*encoder)->setPlan(plan);
  for (size_t i = 0; i < sentences.size(); ++i) {
    std::vector<int64_t> ids = (*encoder)->tokenizer().encode(sentences[i]);
    if (static_cast<int64_t>(ids.size()) > maxSeq) {
      // The grid is shorter than the model's cut: keep [CLS] ... [SEP].
      int64_t sep = ids.back();
      ids.resize(static_cast<size_t>(maxSeq));
      ids.back() = sep;
    }
    if (auto states = (*encoder)->hiddenStates(ids); !states)
      return states.error().withContext(fmt::format("sentence {}", i + 1));
    if (options.progress)
      options.progress(i + 1, sentences.size());
  }
  return std::move(calibrator->stats());
}

} // namespace sieve::calibration
