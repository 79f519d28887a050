//===- GpuExecutor.cpp ----------------------------------------------------===//
#include "sieve/runtime/GpuExecutor.h"

#include <fmt/format.h>

#include <array>
#include <cstdio>

namespace sieve::runtime {

GpuKernel::~GpuKernel() {
  if (module_ && driver_)
    (void)driver_->unloadModule(module_); // nothing useful to do on failure at exit
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
  auto fn = driver_->getFunction(*module, artifact.entry);
  if (!fn)
    return fn.error();
  kernel->function_ = *fn;
  if (artifact.hasCombine()) {
    auto combine = driver_->getFunction(*module, artifact.combine.entry);
    if (!combine)
      return combine.error();
    kernel->combine_ = *combine;
  }
  // Opt in whenever dynamic shared memory is used: the 48 KiB default
  // counts static shared memory too, so exactly 48 KiB dynamic already fails.
  if (artifact.sharedBytes > 0) {
    if (Error e = driver_->setDynamicSharedBytes(*fn, artifact.sharedBytes)) {
      // `kernel` owns the module and unloads it as it goes.
      return e.withContext(fmt::format("kernel needs {} bytes of shared memory on {}",
                                       artifact.sharedBytes, driver_->device().name));
    }
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
      t->causal() != a.causal)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("mask tables for {} heads of {}x{} blocks of {}x{} (seq_q {}{}) do "
                             "not fit the kernel's {} heads, {}x{} blocks, seq_q {}, seq_k {}{}",
                             t->heads(), t->queryBlocks(), t->keyBlocks(), t->blockQ(), t->blockK(),
                             t->seqQ(), t->causal() ? ", causal" : "", a.shape.headsQ, a.blockQ,
                             a.blockK, a.shape.seqQ, a.shape.seqK, a.causal ? ", causal" : ""));
  // One thread block per (head, query block): the grid was sized for it.
  if (static_cast<int64_t>(a.grid[0]) % (t->heads() * t->queryBlocks()) != 0)
    return Error(ErrorCode::ShapeMismatch, "mask tables have a different number of rows than the "
                                           "kernel's grid");
  return Error::success();
}

/// One scalar of a rank-1 memref descriptor (allocated and aligned pointer,
/// offset, size, stride) of a contiguous buffer.
uint64_t rank1DescriptorField(ParamField field, uint64_t address, uint64_t length) {
  switch (field) {
  case ParamField::AllocatedPtr:
  case ParamField::AlignedPtr:
    return address;
  case ParamField::Size:
    return length;
  case ParamField::Stride:
    return 1;
  default:
    return 0;
  }
}

} // namespace

Error GpuExecutor::launch(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                          const TensorView &v, const TensorView &out, CuStream stream,
                          const DeviceRowTables *tables, const float *thresholds) const {
  const Artifact &a = kernel.artifact();
  if (a.calibrate)
    return Error(ErrorCode::InvalidArgument,
                 "a calibration kernel needs its stats buffer: run it with calibrate()");
  if (Error e = checkThresholdsGiven(a, thresholds != nullptr))
    return e;
  if (thresholds && !driver_->isDevicePointer(thresholds))
    return Error(ErrorCode::WrongDevice,
                 fmt::format("the thresholds are not device memory of {}", driver_->device().name));
  return launchChecked(kernel, q, k, v, out, stream, tables, nullptr, thresholds);
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
  return launchChecked(kernel, q, k, v, out, stream, nullptr, stats, nullptr);
}

Error GpuExecutor::launchChecked(const GpuKernel &kernel, const TensorView &q, const TensorView &k,
                                 const TensorView &v, const TensorView &out, CuStream stream,
                                 const DeviceRowTables *tables, float *stats,
                                 const float *thresholds) const {
  const Artifact &a = kernel.artifact();
  if (Error e = checkTables(a, tables))
    return e;
  if (Error e = checkAttentionTensors(a.shape, q, k, v, out, DeviceKind::Cuda))
    return e;
  const std::array<const TensorView *, 4> tensors{&q, &k, &v, &out};
  static const char *names[] = {"query", "key", "value", "out"};
  for (int t = 0; t < 4; ++t)
    if (Error e = checkTensorLayout(*tensors[t], names[t], a.unitInnerStride, a.alignBytes))
      return e;
  for (int t = 0; t < 4; ++t)
    if (!driver_->isDevicePointer(tensors[t]->data))
      return Error(ErrorCode::WrongDevice,
                   fmt::format("tensor '{}' is marked as GPU memory but its pointer is not "
                               "device memory of {}",
                               names[t], driver_->device().name));

  // Split-KV parts leave partial results in a workspace of this launch's
  // own, ordered on its stream: allocated before, freed after the combine.
  CuDevicePtr workspace = 0;
  if (a.hasCombine()) {
    auto allocated = driver_->allocAsync(a.combine.workspaceBytes, stream);
    if (!allocated)
      return allocated.error().withContext("split-KV workspace");
    workspace = *allocated;
  }
  Error launched = launchWith(kernel, kernel.function(), a.params, a.grid, a.block, a.sharedBytes,
                              tensors, tables, workspace, stats, thresholds, stream);
  if (!launched && a.hasCombine())
    launched =
        launchWith(kernel, kernel.combineFunction(), a.combine.params, a.combine.grid,
                   a.combine.block, 0, tensors, tables, workspace, stats, thresholds, stream);
  if (workspace) {
    Error freed = driver_->freeAsync(workspace, stream);
    if (!launched)
      return freed;
  }
  return launched;
}

Error GpuExecutor::launchWith(const GpuKernel &kernel, CuFunction fn,
                              const std::vector<ParamSlot> &params,
                              const std::array<uint32_t, 3> &grid,
                              const std::array<uint32_t, 3> &block, uint32_t sharedBytes,
                              const std::array<const TensorView *, 4> &tensors,
                              const DeviceRowTables *tables, CuDevicePtr workspace, float *stats,
                              const float *thresholds, CuStream stream) const {
  static const char *names[] = {"query", "key", "value", "out"};
  // One 8-byte value per kernel parameter, in the artifact's order.
  std::vector<uint64_t> values(params.size());
  std::vector<void *> pointers(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamSlot &slot = params[i];
    pointers[i] = &values[i];
    if (slot.tensor == ParamSlot::kStats) {
      // Contiguous [Hq, QB, KB], as the compiler declared it.
      const Artifact &a = kernel.artifact();
      const uint64_t sizes[3] = {uint64_t(a.shape.headsQ),
                                 uint64_t((a.shape.seqQ + a.blockQ - 1) / a.blockQ),
                                 uint64_t((a.shape.seqK + a.blockK - 1) / a.blockK)};
      switch (slot.field) {
      case ParamField::AllocatedPtr:
      case ParamField::AlignedPtr:
        values[i] = reinterpret_cast<uint64_t>(stats);
        break;
      case ParamField::Size:
        values[i] = sizes[slot.dim];
        break;
      case ParamField::Stride:
        values[i] = slot.dim == 0 ? sizes[1] * sizes[2] : slot.dim == 1 ? sizes[2] : 1;
        break;
      default:
        values[i] = 0;
      }
      continue;
    }
    if (slot.tensor == ParamSlot::kThresholds) {
      values[i] = rank1DescriptorField(slot.field, reinterpret_cast<uint64_t>(thresholds),
                                       uint64_t(kernel.artifact().shape.headsQ));
      continue;
    }
    // The workspace and the row tables are rank-1 buffers: pointers, offset
    // 0, one size, stride 1.
    if (slot.tensor >= ParamSlot::kFirstTable) {
      const bool isWorkspace = slot.tensor == ParamSlot::kWorkspace;
      const int table = slot.tensor - ParamSlot::kFirstTable;
      const uint64_t address =
          isWorkspace ? static_cast<uint64_t>(workspace) : uint64_t(tables->address(table));
      const uint64_t length = isWorkspace ? kernel.artifact().combine.workspaceBytes / sizeof(float)
                                          : uint64_t(tables->length(table));
      values[i] = rank1DescriptorField(slot.field, address, length);
      continue;
    }
    const TensorView &t = *tensors[slot.tensor];
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
        return address.error().withContext(fmt::format("tensor '{}'", names[slot.tensor]));
      values[i] = static_cast<uint64_t>(*address);
      break;
    }
    }
  }
  return driver_->launch(fn, grid.data(), block.data(), sharedBytes, stream, pointers.data());
}

} // namespace sieve::runtime
