//===- GpuExecutor.cpp ----------------------------------------------------===//
#include "sieve/runtime/GpuExecutor.h"

#include <fmt/format.h>

#include <array>
#include <cstdio>

namespace sieve::runtime {

GpuKernel::~GpuKernel() {
  if (!driver_)
    return;
  // Nothing useful to do on failure at exit.
  for (auto [stream, workspace] : workspaces_)
    (void)driver_->free(workspace);
  if (module_)
    (void)driver_->unloadModule(module_);
}

Error checkChipRuns(const std::string &chip, const DeviceInfo &device) {
  int major = 0, minor = 0;
  char suffix = 0;
  if (std::sscanf(chip.c_str(), "sm_%1d%1d%c", &major, &minor, &suffix) < 2)
    return Error(ErrorCode::CorruptArtifact, "artifact names an unknown chip '" + chip + "'");
  bool archSpecific = suffix == 'a';
  bool runs = archSpecific ? (device.major == major && device.minor == minor)
                           : (device.major * 10 + device.minor >= major * 10 + minor);
  if (!runs)
    return Error(ErrorCode::Unsupported,
                 fmt::format("kernel compiled for {} cannot run on {} ({}); compile for {}", chip,
                             device.name, device.chip(), device.chip()));
  return Error::success();
}

Expected<std::unique_ptr<GpuExecutor>> GpuExecutor::create(int ordinal) {
  auto driver = CudaDriver::get(ordinal);
  if (!driver)
    return driver.error();
  std::unique_ptr<GpuExecutor> executor(new GpuExecutor());
  executor->driver_ = *driver;
  return executor;
}

Expected<std::shared_ptr<GpuKernel>> GpuExecutor::load(const Artifact &artifact) {
  if (artifact.backend != Backend::Cuda)
    return Error(ErrorCode::InvalidArgument, "artifact was compiled for the CPU backend");
  if (Error e = checkChipRuns(artifact.chip, driver_->device()))
    return e;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = modules_.find(artifact.cacheKey);
  if (it != modules_.end())
    return it->second;
  auto module = driver_->loadModule(artifact.code);
  if (!module)
    return module.error();
  auto kernel = std::make_shared<GpuKernel>();
  kernel->driver_ = driver_;
  kernel->module_ = *module;
  for (const KernelLaunch &l : artifact.launches) {
    auto fn = driver_->getFunction(*module, l.entry);
    if (!fn)
      return fn.error(); // `kernel` owns the module and unloads it as it goes
    // Opt in whenever dynamic shared memory is used: the 48 KiB default
    // counts static shared memory too, so exactly 48 KiB dynamic already fails.
    if (l.sharedBytes > 0)
      if (Error e = driver_->setDynamicSharedBytes(*fn, l.sharedBytes))
        return e.withContext(fmt::format("kernel '{}' needs {} bytes of shared memory on {}",
                                         l.entry, l.sharedBytes, driver_->device().name));
    kernel->functions_.push_back(*fn);
  }
  kernel->artifact_ = artifact;
  kernel->tensorMaps_ = std::make_unique<TensorMapCache>(*driver_);
  kernel->artifact_.code.clear(); // the module holds it now
  modules_.emplace(artifact.cacheKey, kernel);
  return kernel;
}

size_t GpuExecutor::cachedModules() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return modules_.size();
}

namespace {

/// ", causal" (and the diagonal's offset when it is shifted), or "".
std::string describeCausal(CausalRule rule) {
  if (!rule.enabled)
    return "";
  return rule.offset == 0 ? ", causal"
                          : fmt::format(", causal with keys up to query {:+}", rule.offset);
}

/// Whether `t` was made for the problem `a` was compiled for.
Error checkTables(const Artifact &a, const DeviceRowTables *t) {
  if (!a.maskAtLaunch()) {
    if (t)
      return Error(ErrorCode::InvalidArgument,
                   "this kernel was specialized for its mask at compile time; it takes no "
                   "run-time mask tables");
    return Error::success();
  }
  if (!t)
    return Error(ErrorCode::InvalidArgument, "the generic kernel reads its mask at launch: pass "
                                             "the mask's row tables (DeviceRowTables)");
  if (t->heads() != a.shape.headsQ || t->blockQ() != a.blockQ || t->blockK() != a.blockK ||
      t->queryBlocks() * t->blockQ() < a.shape.seqQ ||
      t->keyBlocks() * t->blockK() < a.shape.seqK || t->seqQ() != a.shape.seqQ ||
      t->causal() != a.causalRule())
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("mask tables for {} heads of {}x{} blocks of {}x{} (seq_q {}{}) do "
                             "not fit the kernel's {} heads, {}x{} blocks, seq_q {}, seq_k {}{}",
                             t->heads(), t->queryBlocks(), t->keyBlocks(), t->blockQ(), t->blockK(),
                             t->seqQ(), describeCausal(t->causal()), a.shape.headsQ, a.blockQ,
                             a.blockK, a.shape.seqQ, a.shape.seqK, describeCausal(a.causalRule())));
  // One thread block per (head, query block): the grid was sized for it.
  if (static_cast<int64_t>(a.mainLaunch().grid[0]) % (t->heads() * t->queryBlocks()) != 0)
    return Error(ErrorCode::ShapeMismatch, "mask tables have a different number of rows than the "
                                           "kernel's grid");
  return Error::success();
}

} // namespace

Error GpuExecutor::launch(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                          const TensorView &v, const TensorView &out, CuStream stream,
                          const DeviceRowTables *tables, const float *thresholds) const {
  const Artifact &a = kernel.artifact();
  if (a.generation)
    return Error(ErrorCode::InvalidArgument,
                 "a generation kernel runs one step at a time: run it with generate() and the "
                 "step's q_pos");
  if (a.calibrate)
    return Error(ErrorCode::InvalidArgument,
                 "a calibration kernel needs its stats buffer: run it with calibrate()");
  if (Error e = checkThresholds(a, thresholds))
    return e;
  return launchChecked(kernel, q, k, v, out, stream, tables, nullptr, thresholds, nullptr);
}

Error GpuExecutor::runBatch(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                            const TensorView &v, const TensorView &out, const BatchLayout &layout,
                            CuStream stream, const float *thresholds) const {
  const Artifact &a = kernel.artifact();
  if (!a.ragged && !a.pageSize)
    return Error(ErrorCode::InvalidArgument,
                 "runBatch() needs an artifact compiled with KernelSpec::ragged or a pageSize");
  if (Error e = checkThresholds(a, thresholds))
    return e;
  Expected<BatchLaunch> batch = checkBatchLayout(a, layout, q, k, v, out, DeviceKind::Cuda);
  if (!batch)
    return batch.takeError();
  if (Error e = checkDeviceTensors(a, {{"query", &q}, {"key", &k}, {"value", &v}, {"out", &out}}))
    return e;
  // The offsets and the page table travel in one buffer of this call's
  // own, ordered on its stream like split-KV's workspace, filled by one
  // copy from the host.
  std::vector<int32_t> staged = std::move(batch->sequences);
  const size_t sequenceBytes = staged.size() * sizeof(int32_t);
  if (batch->pages)
    staged.insert(staged.end(), batch->pages, batch->pages + a.shape.batch * a.pagesPerSequence());
  const size_t pageBytes = staged.size() * sizeof(int32_t) - sequenceBytes;
  auto allocated = driver_->allocAsync(sequenceBytes + pageBytes, stream);
  if (!allocated)
    return allocated.error().withContext("the batch's offsets and page table");
  Buffers buffers(q, k, v, out);
  buffers.thresholds = thresholds;
  buffers.sequences = sequenceBytes ? *allocated : 0;
  buffers.pages = pageBytes ? *allocated + sequenceBytes : 0;
  Error launched =
      driver_->copyToDeviceAsync(*allocated, staged.data(), sequenceBytes + pageBytes, stream);
  if (!launched)
    launched = runLaunches(kernel, buffers, stream);
  Error freed = driver_->freeAsync(*allocated, stream);
  if (launched)
    return launched;
  return freed;
}

Error GpuExecutor::generate(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                            const TensorView &v, const TensorView &out, const GenerationStep &step,
                            CuStream stream, const float *thresholds) const {
  Expected<std::array<int32_t, 2>> positions = generationPositions(kernel.artifact(), step);
  if (!positions)
    return positions.takeError();
  if (Error e = checkThresholds(kernel.artifact(), thresholds))
    return e;
  return launchChecked(kernel, q, k, v, out, stream, nullptr, nullptr, thresholds, nullptr,
                       positions->data());
}

Error GpuExecutor::checkThresholds(const Artifact &a, const float *thresholds) const {
  if (Error e = checkThresholdsGiven(a, thresholds != nullptr))
    return e;
  if (thresholds && !driver_->isDevicePointer(thresholds))
    return Error(ErrorCode::WrongDevice,
                 fmt::format("the thresholds are not device memory of {}", driver_->device().name));
  return Error::success();
}

Error GpuExecutor::forward(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                           const TensorView &v, const TensorView &out, float *lse, CuStream stream,
                           const float *thresholds) const {
  if (!kernel.artifact().savesLse)
    return Error(ErrorCode::InvalidArgument,
                 "forward() needs an artifact compiled with KernelSpec::saveLse");
  if (!lse)
    return Error(ErrorCode::InvalidArgument, "forward: the lse buffer is null");
  if (!driver_->isDevicePointer(lse))
    return Error(ErrorCode::WrongDevice, fmt::format("forward: the lse buffer is not device "
                                                     "memory of {}",
                                                     driver_->device().name));
  if (Error e = checkThresholds(kernel.artifact(), thresholds))
    return e;
  return launchChecked(kernel, q, k, v, out, stream, nullptr, nullptr, thresholds, lse);
}

Error GpuExecutor::checkDeviceTensors(
    const Artifact &a,
    std::initializer_list<std::pair<const char *, const TensorView *>> tensors) const {
  for (auto [name, t] : tensors)
    if (Error e = checkTensorLayout(*t, name, a.unitInnerStride, a.alignBytes))
      return e;
  for (auto [name, t] : tensors)
    if (!driver_->isDevicePointer(t->data))
      return Error(ErrorCode::WrongDevice,
                   fmt::format("tensor '{}' is marked as GPU memory but its pointer is not "
                               "device memory of {}",
                               name, driver_->device().name));
  return Error::success();
}

Error GpuExecutor::backward(const GpuKernel &kernel, const BackwardTensors &t,
                            CuStream stream) const {
  const Artifact &a = kernel.artifact();
  if (!a.backward)
    return Error(ErrorCode::InvalidArgument,
                 "backward() needs an artifact compiled with KernelSpec::backward");
  if (Error e = checkBackwardTensors(a.shape, t, DeviceKind::Cuda))
    return e;
  if (Error e = checkDeviceTensors(a, {{"query", &t.q},
                                       {"key", &t.k},
                                       {"value", &t.v},
                                       {"out", &t.out},
                                       {"dout", &t.dout},
                                       {"dq", &t.dq},
                                       {"dk", &t.dk},
                                       {"dv", &t.dv}}))
    return e;
  if (!driver_->isDevicePointer(t.lse))
    return Error(ErrorCode::WrongDevice, fmt::format("backward: the lse buffer is not device "
                                                     "memory of {}",
                                                     driver_->device().name));
  if (Error e = checkThresholds(a, t.thresholds))
    return e;
  Buffers buffers(t.q, t.k, t.v, t.out);
  buffers.views[ParamSlot::kDout] = &t.dout;
  buffers.views[ParamSlot::kDq] = &t.dq;
  buffers.views[ParamSlot::kDk] = &t.dk;
  buffers.views[ParamSlot::kDv] = &t.dv;
  buffers.lse = t.lse;
  buffers.thresholds = t.thresholds;
  return runLaunches(kernel, buffers, stream);
}

Error GpuExecutor::calibrate(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                             const TensorView &v, const TensorView &out, float *stats,
                             CuStream stream) const {
  if (!kernel.artifact().calibrate)
    return Error(ErrorCode::InvalidArgument,
                 "calibrate needs an artifact compiled with KernelSpec::calibrate");
  if (!stats)
    return Error(ErrorCode::InvalidArgument, "calibrate: the stats buffer is null");
  if (!driver_->isDevicePointer(stats))
    return Error(ErrorCode::WrongDevice,
                 fmt::format("calibrate: the stats buffer is not device memory of {}",
                             driver_->device().name));
  return launchChecked(kernel, q, k, v, out, stream, nullptr, stats, nullptr, nullptr);
}

Error GpuExecutor::launchChecked(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                                 const TensorView &v, const TensorView &out, CuStream stream,
                                 const DeviceRowTables *tables, float *stats,
                                 const float *thresholds, float *lse,
                                 const int32_t *positions) const {
  const Artifact &a = kernel.artifact();
  if (a.backward)
    return Error(ErrorCode::InvalidArgument,
                 "a backward kernel computes gradients: run it with backward()");
  if (a.savesLse && !lse)
    return Error(ErrorCode::InvalidArgument,
                 "this forward saves its log-sum-exp: run it with forward() and an lse buffer");
  if (a.ragged || a.pageSize)
    return Error(ErrorCode::InvalidArgument,
                 "a ragged or paged kernel reads its batch's layout at launch: run it with "
                 "runBatch() and the cu_seqlens / page table");
  if (Error e = checkTables(a, tables))
    return e;
  // A generation step's K and V hold the cache so far (checkGenerationTensors).
  if (Error e = positions ? checkGenerationTensors(a, {positions[0], positions[1]}, q, k, v, out,
                                                   DeviceKind::Cuda)
                          : checkAttentionTensors(a.shape, q, k, v, out, DeviceKind::Cuda))
    return e;
  if (Error e = checkDeviceTensors(a, {{"query", &q}, {"key", &k}, {"value", &v}, {"out", &out}}))
    return e;
  Buffers buffers(q, k, v, out);
  buffers.tables = tables;
  buffers.stats = stats;
  buffers.thresholds = thresholds;
  buffers.lse = lse;
  buffers.positions = positions;

  return runLaunches(kernel, buffers, stream);
}

Error GpuExecutor::runLaunches(const GpuKernel &kernel, Buffers &buffers, CuStream stream) const {
  const Artifact &a = kernel.artifact();
  if (kernel.functions().size() != a.launches.size())
    return Error(ErrorCode::Internal, "the kernel's functions were not all loaded");
  if (a.workspaceBytes > 0)
    if (Error e = workspaceFor(kernel, buffers, stream)) {
      if (buffers.ownsWorkspace)
        (void)driver_->freeAsync(buffers.workspace, stream);
      return e.withContext(a.backward ? "backward scratch" : "split-KV workspace");
    }
  Error launched = Error::success();
  for (size_t i = 0; i < a.launches.size() && !launched; ++i)
    launched = launchOne(kernel, kernel.functions()[i], a.launches[i], buffers, stream);
  if (buffers.ownsWorkspace) {
    Error freed = driver_->freeAsync(buffers.workspace, stream);
    if (!launched)
      return freed;
  }
  return launched;
}

Error GpuExecutor::workspaceFor(const GpuKernel &kernel, Buffers &buffers, CuStream stream) const {
  const uint64_t bytes = kernel.artifact().workspaceBytes;
  buffers.workspaceBytes = bytes;
  // The capture state first: a capturing stream refuses cuStreamGetId.
  Expected<bool> capturing = driver_->isCapturing(stream);
  if (!capturing)
    return capturing.error();
  // A new workspace starts zeroed: split-KV's arrival counters must begin
  // at 0 (each launch leaves them there), in stream order before the
  // kernel whatever the stream's flags.
  if (*capturing) {
    auto allocated = driver_->allocAsync(bytes, stream);
    if (!allocated)
      return allocated.error();
    buffers.workspace = *allocated;
    buffers.ownsWorkspace = true;
    return driver_->memset8Async(*allocated, 0, bytes, stream);
  }
  Expected<uint64_t> id = driver_->streamId(stream);
  if (!id)
    return id.error();
  std::lock_guard<std::mutex> lock(kernel.workspaceMutex_);
  auto kept = kernel.workspaces_.find(*id);
  if (kept == kernel.workspaces_.end()) {
    auto allocated = driver_->alloc(bytes);
    if (!allocated)
      return allocated.error();
    if (Error e = driver_->memset8Async(*allocated, 0, bytes, stream)) {
      (void)driver_->free(*allocated);
      return e;
    }
    kept = kernel.workspaces_.emplace(*id, *allocated).first;
  }
  buffers.workspace = kept->second;
  return Error::success();
}

Error GpuExecutor::launchOne(const GpuKernel &kernel, CuFunction fn, const KernelLaunch &launch,
                             const Buffers &buffers, CuStream stream) const {
  const std::vector<ParamSlot> &params = launch.params;
  const Artifact &a = kernel.artifact();
  // Contiguous rank-3 buffers: the stats [Hq, QB, KB] and the lse [B, Hq, Sq].
  const uint64_t statsSizes[3] = {uint64_t(a.shape.headsQ),
                                  uint64_t((a.shape.seqQ + a.blockQ - 1) / a.blockQ),
                                  uint64_t((a.shape.seqK + a.blockK - 1) / a.blockK)};
  const uint64_t lseSizes[3] = {uint64_t(a.shape.batch), uint64_t(a.shape.headsQ),
                                uint64_t(a.shape.seqQ)};
  // One 8-byte value per kernel parameter, in the artifact's order: on the
  // stack, so that a launch (a generation step above all) allocates
  // nothing; the heap only for a kernel of more parameters than any of
  // today's (the backward's nine tensors take 99).
  constexpr size_t kStackParams = 160;
  std::array<uint64_t, kStackParams> stackValues;
  std::array<void *, kStackParams> stackPointers;
  std::vector<uint64_t> heapValues;
  std::vector<void *> heapPointers;
  uint64_t *values = stackValues.data();
  void **pointers = stackPointers.data();
  if (params.size() > kStackParams) {
    heapValues.resize(params.size());
    heapPointers.resize(params.size());
    values = heapValues.data();
    pointers = heapPointers.data();
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamSlot &slot = params[i];
    pointers[i] = &values[i];
    if (slot.field == ParamField::Value) {
      // A generation step's number, by value (an i32 parameter reads the
      // low 4 bytes: little-endian).
      if (!buffers.positions)
        return Error(ErrorCode::Internal, "kernel takes a generation step the launch did not "
                                          "bring");
      values[i] = static_cast<uint64_t>(static_cast<uint32_t>(buffers.positions[slot.dim]));
      continue;
    }
    if (slot.tensor == ParamSlot::kStats) {
      values[i] = contiguousDescriptorField(slot.field, reinterpret_cast<uint64_t>(buffers.stats),
                                            statsSizes, 3, slot.dim);
      continue;
    }
    if (slot.tensor == ParamSlot::kLse) {
      if (!buffers.lse)
        return Error(ErrorCode::Internal, "kernel takes an lse buffer the launch did not bring");
      values[i] = contiguousDescriptorField(slot.field, reinterpret_cast<uint64_t>(buffers.lse),
                                            lseSizes, 3, slot.dim);
      continue;
    }
    if (slot.tensor == ParamSlot::kSequences || slot.tensor == ParamSlot::kPages) {
      // Rank-2 i32: the offsets [2, B + 1], the page table [B, pages].
      const bool offsets = slot.tensor == ParamSlot::kSequences;
      const CuDevicePtr address = offsets ? buffers.sequences : buffers.pages;
      if (!address)
        return Error(ErrorCode::Internal,
                     fmt::format("kernel takes {} the launch did not bring",
                                 offsets ? "a batch's offsets" : "a page table"));
      const uint64_t sizes[2] = {offsets ? 2 : uint64_t(a.shape.batch),
                                 offsets ? uint64_t(a.shape.batch + 1)
                                         : uint64_t(a.pagesPerSequence())};
      values[i] = contiguousDescriptorField(slot.field, address, sizes, 2, slot.dim);
      continue;
    }
    if (slot.tensor == ParamSlot::kThresholds) {
      const uint64_t heads = uint64_t(a.shape.headsQ);
      values[i] = contiguousDescriptorField(
          slot.field, reinterpret_cast<uint64_t>(buffers.thresholds), &heads, 1, slot.dim);
      continue;
    }
    // The workspace and the row tables are rank-1 buffers: pointers, offset
    // 0, one size, stride 1.
    if (slot.tensor >= ParamSlot::kFirstTable && slot.tensor <= ParamSlot::kWorkspace) {
      const bool isWorkspace = slot.tensor == ParamSlot::kWorkspace;
      const int table = slot.tensor - ParamSlot::kFirstTable;
      const uint64_t address = isWorkspace ? static_cast<uint64_t>(buffers.workspace)
                                           : uint64_t(buffers.tables->address(table));
      const uint64_t length = isWorkspace ? buffers.workspaceBytes / sizeof(float)
                                          : uint64_t(buffers.tables->length(table));
      values[i] = contiguousDescriptorField(slot.field, address, &length, 1, slot.dim);
      continue;
    }
    const TensorView *view = slot.tensor < 16 ? buffers.views[slot.tensor] : nullptr;
    if (!view)
      return Error(ErrorCode::Internal,
                   fmt::format("kernel takes tensor slot {}, which this launch does not bring",
                               slot.tensor));
    const TensorView &t = *view;
    switch (slot.field) {
    case ParamField::AllocatedPtr:
    case ParamField::AlignedPtr:
      values[i] = reinterpret_cast<uint64_t>(t.data);
      break;
    case ParamField::Offset:
      values[i] = 0;
      break;
    case ParamField::Size:
      values[i] = static_cast<uint64_t>(t.sizes[slot.dim]);
      break;
    case ParamField::Stride:
      values[i] = static_cast<uint64_t>(t.strides[slot.dim]);
      break;
    case ParamField::TensorMap: {
      auto address = kernel.tensorMaps_->get(t, slot.boxRows, slot.boxCols);
      if (!address)
        return address.error().withContext(fmt::format("tensor '{}'", tensorSlotName(slot.tensor)));
      values[i] = static_cast<uint64_t>(*address);
      break;
    }
    case ParamField::Value: // handled above
      break;
    }
  }
  return driver_->launch(fn, launch.grid.data(), launch.block.data(), launch.sharedBytes, stream,
                         pointers, launch.waitsOnPrevious);
}

} // namespace sieve::runtime
