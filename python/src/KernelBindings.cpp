//===- KernelBindings.cpp - _sieve.Session and _sieve.Kernel --------------===//
//
// A Session is a backend (the host CPU, or one CUDA device's primary
// context, which PyTorch and CuPy share) plus the process's kernel cache; a
// Kernel is one compiled artifact bound to its session. Runs take DLPack
// arrays and the caller's stream, and release the GIL while the kernel runs
// (CPU) or is launched (GPU).
//
//===----------------------------------------------------------------------===//
#include "Bindings.h"
#include "Errors.h"
#include "Tensors.h"

#include "sieve/compiler/Session.h"
#include "sieve/runtime/ArtifactCache.h"
#include "sieve/runtime/DeviceRowTables.h"
#include "sieve/runtime/Limits.h"

#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace nb = nanobind;

namespace sieve::python {

namespace {

struct PySession {
  std::shared_ptr<compiler::Session> session;
  int ordinal = 0;
  bool gpu() const { return session->backend() == runtime::Backend::Cuda; }
  /// "cpu" or "cuda:N".
  std::string device() const { return gpu() ? fmt::format("cuda:{}", ordinal) : "cpu"; }
};

struct PyKernel {
  std::shared_ptr<PySession> session;
  std::shared_ptr<const runtime::Artifact> artifact;
  /// The mask's row tables, for a generic kernel: its mask is fixed at
  /// compile time here too, so it is uploaded once rather than per run.
  std::unique_ptr<runtime::DeviceRowTables> tables;
  runtime::CacheSource source = runtime::CacheSource::Produced;

  void run(const InputArray &q, const InputArray &k, const InputArray &v, const OutputArray &out,
           uintptr_t stream, const std::optional<InputArray> &thresholds) const {
    runtime::TensorView qv = viewOf(factsOf(q), "q", ordinal());
    runtime::TensorView kv = viewOf(factsOf(k), "k", ordinal());
    runtime::TensorView vv = viewOf(factsOf(v), "v", ordinal());
    runtime::TensorView ov = viewOf(factsOf(out), "out", ordinal());
    const float *theta = thresholdsOf(thresholds);
    runtime::CuStream s = checkedStream(stream);
    Error error;
    {
      nb::gil_scoped_release released;
      error = session->session->run(*artifact, qv, kv, vv, ov, s, tables.get(), theta);
    }
    check(std::move(error));
  }

  /// One step of a generation kernel (docs/generation.md).
  void generate(const InputArray &q, const InputArray &k, const InputArray &v,
                const OutputArray &out, int64_t qPos, int64_t seqKLive, uintptr_t stream,
                const std::optional<InputArray> &thresholds) const {
    runtime::TensorView qv = viewOf(factsOf(q), "q", ordinal());
    runtime::TensorView kv = viewOf(factsOf(k), "k", ordinal());
    runtime::TensorView vv = viewOf(factsOf(v), "v", ordinal());
    runtime::TensorView ov = viewOf(factsOf(out), "out", ordinal());
    const float *theta = thresholdsOf(thresholds);
    runtime::CuStream s = checkedStream(stream);
    Error error;
    {
      nb::gil_scoped_release released;
      error = session->session->generate(*artifact, qv, kv, vv, ov, {qPos, seqKLive}, s, theta);
    }
    check(std::move(error));
  }

  /// A ragged or paged kernel's run (docs/ragged-paged.md): ragged q and
  /// out are [total_q, Hq, D] and k, v [total_k, Hkv, D] (unless paged),
  /// with cu_seqlens_q and cu_seqlens_k int32 [B + 1]; paged k and v are a
  /// pool [pages, page_size, Hkv, D] read through page_table int32 [B,
  /// ceil(seq_k / page_size)]. The offsets and the table are host arrays
  /// for either backend.
  void runBatch(const InputArray &q, const InputArray &k, const InputArray &v,
                const OutputArray &out, const std::optional<InputArray> &cuSeqlensQ,
                const std::optional<InputArray> &cuSeqlensK,
                const std::optional<InputArray> &pageTable, uintptr_t stream,
                const std::optional<InputArray> &thresholds) const {
    const runtime::Artifact &a = *artifact;
    const int o = ordinal();
    auto tokens = [&](const auto &array, const char *name) {
      return a.ragged ? packedViewOf(factsOf(array), name, o) : viewOf(factsOf(array), name, o);
    };
    auto keys = [&](const InputArray &array, const char *name) {
      return a.pageSize ? pagedViewOf(factsOf(array), name, o) : tokens(array, name);
    };
    runtime::TensorView qv = tokens(q, "q"), kv = keys(k, "k"), vv = keys(v, "v"),
                        ov = tokens(out, "out");
    runtime::BatchLayout layout;
    auto offsets = [&](const std::optional<InputArray> &array, const char *name) {
      return array ? hostI32BufferOf(factsOf(*array), name, {a.shape.batch + 1}) : nullptr;
    };
    layout.cuSeqlensQ = offsets(cuSeqlensQ, "cu_seqlens_q");
    layout.cuSeqlensK = offsets(cuSeqlensK, "cu_seqlens_k");
    if (pageTable)
      layout.pageTable =
          hostI32BufferOf(factsOf(*pageTable), "page_table", {a.shape.batch, a.pagesPerSequence()});
    const float *theta = thresholdsOf(thresholds);
    runtime::CuStream s = checkedStream(stream);
    Error error;
    {
      nb::gil_scoped_release released;
      error = session->session->runBatch(a, qv, kv, vv, ov, layout, s, theta);
    }
    check(std::move(error));
  }

  /// Threshold mode's f32 [Hq] thresholds, which a threshold-mode kernel
  /// needs and any other refuses, in the kernel's memory.
  const float *thresholdsOf(const std::optional<InputArray> &thresholds) const {
    if (thresholds.has_value() != artifact->thresholds)
      raise(Error(ErrorCode::InvalidArgument,
                  artifact->thresholds
                      ? "thresholds is missing: this kernel was compiled with thresholds=True "
                        "(pass float32 [heads_q], one threshold per query head)"
                      : "thresholds given to a kernel compiled without thresholds=True"));
    if (!thresholds)
      return nullptr;
    return f32BufferOf(factsOf(*thresholds), "thresholds", {artifact->shape.headsQ}, ordinal());
  }

  int ordinal() const { return session->gpu() ? session->ordinal : -1; }
  runtime::CuStream checkedStream(uintptr_t stream) const {
    if (!session->gpu() && stream != 0)
      raise(Error(ErrorCode::InvalidArgument,
                  "a stream was given to a kernel of the CPU backend (pass none)"));
    return reinterpret_cast<runtime::CuStream>(stream);
  }
  std::vector<int64_t> lseShape() const {
    const runtime::ProblemShape &s = artifact->shape;
    return {s.batch, s.headsQ, s.seqQ};
  }

  /// The training forward: out and each row's log-sum-exp.
  void forward(const InputArray &q, const InputArray &k, const InputArray &v,
               const OutputArray &out, const OutputArray &lse, uintptr_t stream,
               const std::optional<InputArray> &thresholds) const {
    runtime::TensorView qv = viewOf(factsOf(q), "q", ordinal()),
                        kv = viewOf(factsOf(k), "k", ordinal()),
                        vv = viewOf(factsOf(v), "v", ordinal()),
                        ov = viewOf(factsOf(out), "out", ordinal());
    float *l = f32BufferOf(factsOf(lse), "lse", lseShape(), ordinal());
    const float *theta = thresholdsOf(thresholds);
    runtime::CuStream s = checkedStream(stream);
    Error error;
    {
      nb::gil_scoped_release released;
      error = session->session->forward(*artifact, qv, kv, vv, ov, l, s, theta);
    }
    check(std::move(error));
  }

  void backward(const InputArray &q, const InputArray &k, const InputArray &v,
                const InputArray &out, const InputArray &dout, const InputArray &lse,
                const OutputArray &dq, const OutputArray &dk, const OutputArray &dv,
                uintptr_t stream, const std::optional<InputArray> &thresholds) const {
    runtime::BackwardTensors t;
    t.q = viewOf(factsOf(q), "q", ordinal());
    t.k = viewOf(factsOf(k), "k", ordinal());
    t.v = viewOf(factsOf(v), "v", ordinal());
    t.out = viewOf(factsOf(out), "out", ordinal());
    t.dout = viewOf(factsOf(dout), "dout", ordinal());
    t.dq = viewOf(factsOf(dq), "dq", ordinal());
    t.dk = viewOf(factsOf(dk), "dk", ordinal());
    t.dv = viewOf(factsOf(dv), "dv", ordinal());
    t.lse = f32BufferOf(factsOf(lse), "lse", lseShape(), ordinal());
    t.thresholds = thresholdsOf(thresholds);
    runtime::CuStream s = checkedStream(stream);
    Error error;
    {
      nb::gil_scoped_release released;
      error = session->session->backward(*artifact, t, s);
    }
    check(std::move(error));
  }

  /// Calibration: out, and each row's probability mass per key block added
  /// into stats [Hq, QB, KB].
  void calibrate(const InputArray &q, const InputArray &k, const InputArray &v,
                 const OutputArray &out, const OutputArray &stats, uintptr_t stream) const {
    runtime::TensorView qv = viewOf(factsOf(q), "q", ordinal()),
                        kv = viewOf(factsOf(k), "k", ordinal()),
                        vv = viewOf(factsOf(v), "v", ordinal()),
                        ov = viewOf(factsOf(out), "out", ordinal());
    const runtime::Artifact &a = *artifact;
    const int64_t qBlocks = (a.shape.seqQ + a.blockQ - 1) / a.blockQ,
                  kBlocks = (a.shape.seqK + a.blockK - 1) / a.blockK;
    float *st = f32BufferOf(factsOf(stats), "stats", {a.shape.headsQ, qBlocks, kBlocks}, ordinal());
    runtime::CuStream s = checkedStream(stream);
    Error error;
    {
      nb::gil_scoped_release released;
      error = session->session->calibrate(a, qv, kv, vv, ov, st, s);
    }
    check(std::move(error));
  }
};

runtime::DType parseDType(const std::string &name) { return unwrap(runtime::parseDType(name)); }

std::shared_ptr<PySession> createSession(const std::string &backend, int ordinal) {
  compiler::BackendChoice choice = unwrap(compiler::parseBackendChoice(backend));
  if (ordinal < 0)
    raise(Error(ErrorCode::InvalidArgument,
                fmt::format("device ordinal must be non-negative, got {}", ordinal)));
  // Creating a CUDA session initializes the driver: no need to hold the GIL.
  std::optional<Expected<std::unique_ptr<compiler::Session>>> created;
  {
    nb::gil_scoped_release released;
    created.emplace(compiler::Session::create(choice, ordinal));
  }
  std::unique_ptr<compiler::Session> session = unwrap(std::move(*created));
  auto py = std::make_shared<PySession>();
  py->session = std::move(session);
  py->ordinal = ordinal;
  return py;
}

std::shared_ptr<PyKernel> compileKernel(const std::shared_ptr<PySession> &session,
                                        runtime::ProblemShape shape, const runtime::BlockMask &mask,
                                        bool causal, runtime::CausalAlign causalAlign,
                                        std::optional<double> scale,
                                        compiler::KernelOptions options, const std::string &kind,
                                        bool thresholds, bool ragged, int64_t pageSize) {
  compiler::KernelSpec spec;
  spec.thresholds = thresholds;
  spec.ragged = ragged;
  spec.pageSize = pageSize;
  if (kind == "forward_lse")
    spec.saveLse = true;
  else if (kind == "backward")
    spec.backward = true;
  else if (kind == "calibrate")
    spec.calibrate = true;
  else if (kind == "generation")
    spec.generation = true;
  else if (kind != "forward")
    raise(Error(ErrorCode::InvalidArgument,
                fmt::format("kernel kind '{}' is none of forward, forward_lse, backward, "
                            "calibrate, generation",
                            kind)));
  spec.shape = shape;
  spec.mask = mask;
  spec.causal = causal;
  spec.causalAlign = causalAlign;
  spec.scale = scale;
  spec.options = std::move(options);
  const runtime::CausalRule causalRule = spec.causalRule();
  auto kernel = std::make_shared<PyKernel>();
  kernel->session = session;
  Error error;
  {
    nb::gil_scoped_release released;
    auto artifact = session->session->compile(std::move(spec), &kernel->source);
    if (!artifact) {
      error = artifact.takeError();
    } else {
      kernel->artifact = std::move(*artifact);
      if (kernel->artifact->maskAtLaunch()) {
        auto tables = session->session->uploadMask(mask, shape.seqQ, causalRule);
        if (tables)
          kernel->tables = std::move(*tables);
        else
          error = tables.takeError();
      }
    }
  }
  check(std::move(error));
  return kernel;
}

} // namespace

void bindKernels(nb::module_ &m) {
  nb::class_<PySession>(m, "Session", "A backend (host CPU or one CUDA device) and its kernels.")
      .def(nb::new_(&createSession), nb::arg("backend") = "auto", nb::arg("device") = 0)
      .def_prop_ro("backend",
                   [](const PySession &s) { return runtime::backendName(s.session->backend()); })
      .def_prop_ro("device", &PySession::device)
      .def_prop_ro("ordinal", [](const PySession &s) { return s.ordinal; })
      .def_prop_ro("device_name", [](const PySession &s) { return s.session->deviceName(); })
      .def_prop_ro("chip", [](const PySession &s) { return s.session->target().chip; });

  m.def(
      "compile",
      [](const std::shared_ptr<PySession> &session, int64_t batch, int64_t headsQ, int64_t headsKv,
         int64_t seqQ, int64_t seqK, int64_t headDim, const std::string &dtype,
         const runtime::BlockMask &mask, bool causal, std::optional<double> scale,
         const std::string &variant, int64_t queryTile, int64_t keyTile, int64_t stages,
         const std::string &kind, const std::string &causalAlign, bool thresholds,
         const std::string &packGqa, bool ragged, int64_t pageSize) {
        runtime::ProblemShape shape{batch, headsQ, headsKv, seqQ, seqK, headDim, parseDType(dtype)};
        compiler::KernelOptions options;
        options.variant = variant;
        options.queryTile = queryTile;
        options.keyTile = keyTile;
        options.stages = stages;
        options.packGqa = packGqa;
        auto align = runtime::parseCausalAlign(causalAlign);
        if (!align)
          raise(align.takeError());
        return compileKernel(session, shape, mask, causal, *align, scale, std::move(options), kind,
                             thresholds, ragged, pageSize);
      },
      nb::arg("session"), nb::arg("batch"), nb::arg("heads_q"), nb::arg("heads_kv"),
      nb::arg("seq_q"), nb::arg("seq_k"), nb::arg("head_dim"), nb::arg("dtype"), nb::arg("mask"),
      nb::arg("causal"), nb::arg("scale").none(), nb::arg("variant") = "auto",
      nb::arg("query_tile") = 0, nb::arg("key_tile") = 0, nb::arg("stages") = 0,
      nb::arg("kind") = "forward", nb::arg("causal_align") = "top_left",
      nb::arg("thresholds") = false, nb::arg("pack_gqa") = "auto", nb::arg("ragged") = false,
      nb::arg("page_size") = 0,
      "Compiles (or finds in the kernel cache) the kernel for this problem and mask. `kind`: "
      "forward, forward_lse (also writes the log-sum-exp), backward, calibrate, or generation "
      "(a mask over seq_k positions, each run a step at q_pos: docs/generation.md). "
      "`causal_align` (with causal): top_left or bottom_right. `thresholds`: threshold mode "
      "(runs take per-head score thresholds). `pack_gqa`: on packs a key head's query heads "
      "into one tile's rows when decoding (seq_q <= 64 under GQA; docs/decode.md), auto too "
      "except a GPU generation kernel where packing does not pay (docs/generation.md), off "
      "keeps a row per query head. `ragged`: a batch of sequences of different lengths packed "
      "(cu_seqlens at each run); `page_size`: K and V read through a page table "
      "(docs/ragged-paged.md).");

  nb::class_<PyKernel>(m, "Kernel", "A compiled kernel bound to its session.")
      .def("run", &PyKernel::run, nb::arg("q").noconvert(), nb::arg("k").noconvert(),
           nb::arg("v").noconvert(), nb::arg("out").noconvert(), nb::arg("stream") = 0,
           nb::arg("thresholds").noconvert().none() = nb::none(),
           "out = attention(q, k, v); GPU launches go on `stream` (a CUstream as an integer). "
           "A threshold-mode kernel takes `thresholds` (f32 [Hq]).")
      .def("generate", &PyKernel::generate, nb::arg("q").noconvert(), nb::arg("k").noconvert(),
           nb::arg("v").noconvert(), nb::arg("out").noconvert(), nb::arg("q_pos"),
           nb::arg("seq_k_live") = 0, nb::arg("stream") = 0,
           nb::arg("thresholds").noconvert().none() = nb::none(),
           "A generation kernel's step: q (Sq queries from position q_pos) against the first "
           "seq_k_live keys of the cache k, v (0: q_pos + Sq).")
      .def("run_batch", &PyKernel::runBatch, nb::arg("q").noconvert(), nb::arg("k").noconvert(),
           nb::arg("v").noconvert(), nb::arg("out").noconvert(),
           nb::arg("cu_seqlens_q").noconvert().none(), nb::arg("cu_seqlens_k").noconvert().none(),
           nb::arg("page_table").noconvert().none(), nb::arg("stream") = 0,
           nb::arg("thresholds").noconvert().none() = nb::none(),
           "A ragged or paged kernel's run: ragged q, out [total_q, Hq, D] and k, v "
           "[total_k, Hkv, D] with cu_seqlens_q, cu_seqlens_k (int32 [B + 1]); paged k, v "
           "[pages, page_size, Hkv, D] with page_table (int32 [B, ceil(seq_k / page_size)]).")
      .def("forward", &PyKernel::forward, nb::arg("q").noconvert(), nb::arg("k").noconvert(),
           nb::arg("v").noconvert(), nb::arg("out").noconvert(), nb::arg("lse").noconvert(),
           nb::arg("stream") = 0, nb::arg("thresholds").noconvert().none() = nb::none(),
           "A forward_lse kernel: out, and lse (f32 [B, Hq, Sq]) each row's log-sum-exp.")
      .def("backward", &PyKernel::backward, nb::arg("q").noconvert(), nb::arg("k").noconvert(),
           nb::arg("v").noconvert(), nb::arg("out").noconvert(), nb::arg("dout").noconvert(),
           nb::arg("lse").noconvert(), nb::arg("dq").noconvert(), nb::arg("dk").noconvert(),
           nb::arg("dv").noconvert(), nb::arg("stream") = 0,
           nb::arg("thresholds").noconvert().none() = nb::none(),
           "A backward kernel: dq, dk, dv from the forward's q, k, v, out, lse and dout (and "
           "its thresholds, for a threshold-mode kernel).")
      .def("calibrate", &PyKernel::calibrate, nb::arg("q").noconvert(), nb::arg("k").noconvert(),
           nb::arg("v").noconvert(), nb::arg("out").noconvert(), nb::arg("stats").noconvert(),
           nb::arg("stream") = 0,
           "A calibrate kernel: out, and each row's probability mass per key block added into "
           "stats (f32 [Hq, QB, KB]).")
      .def_prop_ro("kind",
                   [](const PyKernel &k) {
                     const runtime::Artifact &a = *k.artifact;
                     return a.backward     ? "backward"
                            : a.generation ? "generation"
                            : a.savesLse   ? "forward_lse"
                            : a.calibrate  ? "calibrate"
                                           : "forward";
                   })
      .def_prop_ro("thresholds", [](const PyKernel &k) { return k.artifact->thresholds; })
      .def_prop_ro("ragged", [](const PyKernel &k) { return k.artifact->ragged; })
      .def_prop_ro("page_size", [](const PyKernel &k) { return k.artifact->pageSize; })
      .def_prop_ro("session", [](const PyKernel &k) { return k.session; })
      .def_prop_ro("variant", [](const PyKernel &k) { return k.artifact->variant; })
      .def_prop_ro("config", [](const PyKernel &k) { return k.artifact->config; })
      .def_prop_ro("warnings", [](const PyKernel &k) { return k.artifact->warnings; })
      .def_prop_ro("cache_key", [](const PyKernel &k) { return k.artifact->cacheKey; })
      .def_prop_ro("source", [](const PyKernel &k) { return runtime::cacheSourceName(k.source); })
      .def_prop_ro("needs_mask_tables", [](const PyKernel &k) { return k.tables != nullptr; })
      .def_prop_ro("scale", [](const PyKernel &k) { return k.artifact->scale; })
      .def_prop_ro("kept_tiles", [](const PyKernel &k) { return k.artifact->keptTiles; })
      .def_prop_ro("total_tiles", [](const PyKernel &k) { return k.artifact->totalTiles; });

  // What the Python package checks before calling in (python/sieve/_checks.py).
  nb::dict limits;
  limits["batch"] = runtime::kMaxBatch;
  limits["heads"] = runtime::kMaxHeads;
  limits["sequence"] = runtime::kMaxSequence;
  limits["head_dim"] = runtime::kMaxHeadDim;
  limits["mask_tiles"] = runtime::kMaxMaskTiles;
  m.attr("limits") = limits;

  m.def(
      "check_writable", [](const OutputArray &) {}, nb::arg("array").noconvert(),
      "Raises TypeError unless `array` is an array sieve can write into (not read-only).");

  m.def(
      "tensor_info",
      [](const InputArray &array) {
        nb::list shape;
        for (size_t d = 0; d < array.ndim(); ++d)
          shape.append(array.shape(d));
        return nb::make_tuple(dtypeName(array.dtype()), nb::tuple(shape),
                              deviceTypeName(array.device_type()), array.device_id());
      },
      nb::arg("array").noconvert(),
      "(dtype, shape, device type, device id) of any DLPack array, without copying it.");
}

} // namespace sieve::python
