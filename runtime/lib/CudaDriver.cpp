//===- CudaDriver.cpp - the CUDA Driver API through dlopen ----------------===//
#include "sieve/runtime/CudaDriver.h"

#include <fmt/format.h>

#include <cstring>

#include <map>
#include <memory>
#include <mutex>

#if SIEVE_ENABLE_CUDA
#include <cuda.h>
#include <dlfcn.h>
#endif

namespace sieve::runtime {

std::string DeviceInfo::chip() const {
  // Hopper's wgmma/setmaxnreg exist only under the arch-specific target.
  return fmt::format("sm_{}{}{}", major, minor, major == 9 && minor == 0 ? "a" : "");
}

Expected<TargetInfo> DeviceInfo::target() const {
  auto t = TargetInfo::forChip(chip());
  if (!t)
    return t.error().withContext("GPU " + name);
  // What the driver reports wins over the table (a value it did not report
  // stays the table's).
  auto take = [](int64_t &field, int value) {
    if (value > 0)
      field = value;
  };
  take(t->multiprocessors, multiprocessors);
  take(t->sharedBytesPerBlock, sharedBytesPerBlock);
  take(t->registersPerBlock, registersPerBlock);
  take(t->maxThreadsPerBlock, maxThreadsPerBlock);
  for (int d = 0; d < 3; ++d)
    take(t->maxGrid[d], maxGrid[d]);
  return t;
}

#if SIEVE_ENABLE_CUDA

// cuda.h maps API names to versioned symbols (cuMemAlloc -> cuMemAlloc_v2);
// expanding the macro before stringizing looks up the symbol the header means.
#define SIEVE_STR2(x) #x
#define SIEVE_STR(x) SIEVE_STR2(x)
// clang-format off
#define SIEVE_CUDA_FUNCTIONS(X) \
  X(cuInit) \
  X(cuDeviceGetCount) \
  X(cuDeviceGet) \
  X(cuDeviceGetName) \
  X(cuDeviceGetAttribute) \
  X(cuDevicePrimaryCtxRetain) \
  X(cuCtxSetCurrent) \
  X(cuGetErrorName) \
  X(cuGetErrorString) \
  X(cuModuleLoadDataEx) \
  X(cuModuleUnload) \
  X(cuModuleGetFunction) \
  X(cuFuncSetAttribute) \
  X(cuLaunchKernel) \
  X(cuLaunchKernelEx) \
  X(cuTensorMapEncodeTiled) \
  X(cuMemAlloc) \
  X(cuMemFree) \
  X(cuMemGetInfo) \
  X(cuMemPoolCreate) \
  X(cuMemPoolSetAttribute) \
  X(cuMemAllocFromPoolAsync) \
  X(cuMemFreeAsync) \
  X(cuMemcpyHtoD) \
  X(cuMemcpyHtoDAsync) \
  X(cuMemcpyDtoH) \
  X(cuMemcpyDtoDAsync) \
  X(cuMemsetD8) \
  X(cuMemsetD8Async) \
  X(cuStreamSynchronize) \
  X(cuStreamGetId) \
  X(cuStreamCreate) \
  X(cuStreamDestroy) \
  X(cuStreamBeginCapture) \
  X(cuStreamEndCapture) \
  X(cuGraphInstantiate) \
  X(cuGraphLaunch) \
  X(cuGraphExecDestroy) \
  X(cuGraphDestroy) \
  X(cuStreamIsCapturing) \
  X(cuCtxSynchronize) \
  X(cuPointerGetAttribute) \
  X(cuEventCreate) \
  X(cuEventRecord) \
  X(cuEventSynchronize) \
  X(cuEventElapsedTime) \
  X(cuEventDestroy)
// clang-format on

struct CudaDriver::Api {
#define SIEVE_DECLARE(name) decltype(&::name) name = nullptr;
  SIEVE_CUDA_FUNCTIONS(SIEVE_DECLARE)
#undef SIEVE_DECLARE
};

namespace {

struct Loaded {
  std::unique_ptr<CudaDriver::Api> api;
  Error error;
};

/// dlopen once per process; the result (or the reason it failed) is kept.
const Loaded &loadApi() {
  static Loaded loaded = [] {
    Loaded l;
    void *lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      l.error = Error(ErrorCode::NoGpu, "no CUDA driver: cannot open libcuda.so.1 (" +
                                            std::string(::dlerror()) + ")");
      return l;
    }
    auto api = std::make_unique<CudaDriver::Api>();
#define SIEVE_RESOLVE(name)                                                                        \
  api->name = reinterpret_cast<decltype(api->name)>(::dlsym(lib, SIEVE_STR(name)));                \
  if (!api->name) {                                                                                \
    l.error = Error(ErrorCode::NoGpu, "libcuda.so.1 lacks " SIEVE_STR(name) " (driver too old)");  \
    return l;                                                                                      \
  }
    SIEVE_CUDA_FUNCTIONS(SIEVE_RESOLVE)
#undef SIEVE_RESOLVE
    CUresult rc = api->cuInit(0);
    if (rc != CUDA_SUCCESS) {
      const char *name = nullptr;
      api->cuGetErrorName(rc, &name);
      l.error = Error(ErrorCode::NoGpu, fmt::format("cuInit failed: {} (no usable GPU)",
                                                    name ? name : "unknown error"));
      return l;
    }
    l.api = std::move(api);
    return l;
  }();
  return loaded;
}

Error cuError(const CudaDriver::Api &api, CUresult rc, const char *call) {
  if (rc == CUDA_SUCCESS)
    return Error::success();
  const char *name = nullptr, *text = nullptr;
  api.cuGetErrorName(rc, &name);
  api.cuGetErrorString(rc, &text);
  ErrorCode code = rc == CUDA_ERROR_NO_DEVICE ? ErrorCode::NoGpu : ErrorCode::Cuda;
  return Error(code, fmt::format("{} failed: {} ({})", call, name ? name : "?",
                                 text ? text : "no description"));
}

#define SIEVE_CU(call_expr, name)                                                                  \
  if (Error e_ = cuError(*api_, (call_expr), name))                                                \
  return e_

} // namespace

Expected<CudaDriver *> CudaDriver::get(int ordinal) {
  const Loaded &loaded = loadApi();
  if (!loaded.api)
    return loaded.error;
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<CudaDriver>> drivers;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = drivers.find(ordinal);
  if (it != drivers.end())
    return it->second.get();

  const Api &api = *loaded.api;
  int count = 0;
  if (Error e = cuError(api, api.cuDeviceGetCount(&count), "cuDeviceGetCount"))
    return e;
  if (ordinal < 0 || ordinal >= count)
    return Error(ErrorCode::NoGpu,
                 fmt::format("GPU {} requested but {} GPU(s) present", ordinal, count));
  std::unique_ptr<CudaDriver> driver(new CudaDriver());
  driver->api_ = &api;
  CUdevice dev;
  if (Error e = cuError(api, api.cuDeviceGet(&dev, ordinal), "cuDeviceGet"))
    return e;
  char name[256] = {};
  if (Error e = cuError(api, api.cuDeviceGetName(name, sizeof name, dev), "cuDeviceGetName"))
    return e;
  DeviceInfo &info = driver->info_;
  info.ordinal = ordinal;
  info.name = name;
  api.cuDeviceGetAttribute(&info.major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  api.cuDeviceGetAttribute(&info.minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  api.cuDeviceGetAttribute(&info.multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  api.cuDeviceGetAttribute(&info.sharedBytesPerBlock,
                           CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev);
  api.cuDeviceGetAttribute(&info.registersPerBlock, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK,
                           dev);
  api.cuDeviceGetAttribute(&info.maxThreadsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                           dev);
  api.cuDeviceGetAttribute(&info.maxGrid[0], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, dev);
  api.cuDeviceGetAttribute(&info.maxGrid[1], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, dev);
  api.cuDeviceGetAttribute(&info.maxGrid[2], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, dev);
  CUcontext ctx;
  if (Error e = cuError(api, api.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain"))
    return e;
  driver->context_ = ctx;
  CudaDriver *raw = driver.get();
  drivers.emplace(ordinal, std::move(driver));
  return raw;
}

bool CudaDriver::available() { return static_cast<bool>(get(0)); }

Error CudaDriver::makeCurrent() const {
  SIEVE_CU(api_->cuCtxSetCurrent(static_cast<CUcontext>(context_)), "cuCtxSetCurrent");
  return Error::success();
}

Expected<CuModule> CudaDriver::loadModule(const std::string &ptx, std::string *log) const {
  if (Error e = makeCurrent())
    return e;
  // The JIT's error log says *why* PTX was refused; keep it in the message.
  char errorLog[8192] = {};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {errorLog, reinterpret_cast<void *>(sizeof errorLog)};
  CUmodule module;
  CUresult rc = api_->cuModuleLoadDataEx(&module, ptx.c_str(), 2, options, values);
  if (log)
    *log = errorLog;
  if (rc != CUDA_SUCCESS)
    return cuError(*api_, rc, "cuModuleLoadDataEx")
        .withContext(std::string("loading PTX") +
                     (errorLog[0] ? std::string(" (") + errorLog + ")" : ""));
  return static_cast<CuModule>(module);
}

Error CudaDriver::unloadModule(CuModule module) const {
  SIEVE_CU(api_->cuModuleUnload(static_cast<CUmodule>(module)), "cuModuleUnload");
  return Error::success();
}

Expected<CuFunction> CudaDriver::getFunction(CuModule module, const std::string &name) const {
  CUfunction fn;
  if (Error e = cuError(*api_,
                        api_->cuModuleGetFunction(&fn, static_cast<CUmodule>(module), name.c_str()),
                        "cuModuleGetFunction"))
    return e.withContext("kernel '" + name + "'");
  return static_cast<CuFunction>(fn);
}

Error CudaDriver::setDynamicSharedBytes(CuFunction fn, uint32_t bytes) const {
  // Kernels may only use more than 48 KiB of dynamic shared memory after
  // opting in, per function.
  SIEVE_CU(api_->cuFuncSetAttribute(static_cast<CUfunction>(fn),
                                    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                    static_cast<int>(bytes)),
           "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)");
  return Error::success();
}

Error CudaDriver::launch(CuFunction fn, const uint32_t grid[3], const uint32_t block[3],
                         uint32_t sharedBytes, CuStream stream, void **params,
                         bool afterPrevious) const {
  if (Error e = makeCurrent())
    return e;
  if (afterPrevious) {
    CUlaunchAttribute attribute{};
    attribute.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    attribute.value.programmaticStreamSerializationAllowed = 1;
    CUlaunchConfig config{};
    config.gridDimX = grid[0], config.gridDimY = grid[1], config.gridDimZ = grid[2];
    config.blockDimX = block[0], config.blockDimY = block[1], config.blockDimZ = block[2];
    config.sharedMemBytes = sharedBytes;
    config.hStream = static_cast<CUstream>(stream);
    config.attrs = &attribute;
    config.numAttrs = 1;
    SIEVE_CU(api_->cuLaunchKernelEx(&config, static_cast<CUfunction>(fn), params, nullptr),
             "cuLaunchKernelEx");
    return Error::success();
  }
  SIEVE_CU(api_->cuLaunchKernel(static_cast<CUfunction>(fn), grid[0], grid[1], grid[2], block[0],
                                block[1], block[2], sharedBytes, static_cast<CUstream>(stream),
                                params, nullptr),
           "cuLaunchKernel");
  return Error::success();
}

Expected<std::array<uint64_t, 16>>
CudaDriver::encodeTensorMap(DType dtype, const void *base, const std::array<int64_t, 4> &sizes,
                            const std::array<int64_t, 4> &strides, int64_t boxRows,
                            int64_t boxCols) const {
  if (dtype != DType::F16 && dtype != DType::BF16)
    return Error(
        ErrorCode::InvalidArgument,
        fmt::format("TMA descriptors are made for f16/bf16 tensors, not {}", dtypeName(dtype)));
  const size_t elementBytes = dtypeSize(dtype);
  // A box row is one slab of the kernel's shared-memory layout, swizzled
  // at its own width (the wgmma descriptors name the same swizzle).
  const int64_t rowBytes = boxCols * static_cast<int64_t>(elementBytes);
  if (rowBytes != 32 && rowBytes != 64 && rowBytes != 128)
    return Error(
        ErrorCode::InvalidArgument,
        fmt::format("a TMA box row of {} bytes has no swizzle (32, 64 or 128 bytes)", rowBytes));
  const CUtensorMapSwizzle swizzle = rowBytes == 128  ? CU_TENSOR_MAP_SWIZZLE_128B
                                     : rowBytes == 64 ? CU_TENSOR_MAP_SWIZZLE_64B
                                                      : CU_TENSOR_MAP_SWIZZLE_32B;
  // The tensor map lists dimensions innermost first: D, S, H, B.
  cuuint64_t dims[4] = {cuuint64_t(sizes[3]), cuuint64_t(sizes[2]), cuuint64_t(sizes[1]),
                        cuuint64_t(sizes[0])};
  cuuint64_t byteStrides[3] = {cuuint64_t(strides[2] * elementBytes),
                               cuuint64_t(strides[1] * elementBytes),
                               cuuint64_t(strides[0] * elementBytes)};
  cuuint32_t box[4] = {cuuint32_t(boxCols), cuuint32_t(boxRows), 1, 1};
  cuuint32_t elementStrides[4] = {1, 1, 1, 1};
  CUtensorMap map;
  CUresult r = api_->cuTensorMapEncodeTiled(
      &map,
      dtype == DType::BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
      const_cast<void *>(base), dims, byteStrides, box, elementStrides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (Error e = cuError(*api_, r, "cuTensorMapEncodeTiled"))
    return e.withContext(fmt::format("TMA descriptor for sizes [{}, {}, {}, {}], strides [{}, {}, "
                                     "{}, {}] (elements), box {}x{}: "
                                     "TMA needs 16-byte aligned base and strides",
                                     sizes[0], sizes[1], sizes[2], sizes[3], strides[0], strides[1],
                                     strides[2], strides[3], boxRows, boxCols));
  std::array<uint64_t, 16> out;
  static_assert(sizeof(map) == sizeof(out), "CUtensorMap is 128 bytes");
  std::memcpy(out.data(), &map, sizeof(map));
  return out;
}

Expected<CuDevicePtr> CudaDriver::alloc(size_t bytes) const {
  if (Error e = makeCurrent())
    return e;
  CUdeviceptr ptr;
  if (Error e = cuError(*api_, api_->cuMemAlloc(&ptr, bytes), "cuMemAlloc"))
    return e.withContext(fmt::format("allocating {} bytes", bytes));
  return static_cast<CuDevicePtr>(ptr);
}

Error CudaDriver::free(CuDevicePtr ptr) const {
  SIEVE_CU(api_->cuMemFree(static_cast<CUdeviceptr>(ptr)), "cuMemFree");
  return Error::success();
}

Expected<DeviceMemoryInfo> CudaDriver::memoryInfo() const {
  if (Error e = makeCurrent())
    return e;
  size_t freeBytes = 0, totalBytes = 0;
  SIEVE_CU(api_->cuMemGetInfo(&freeBytes, &totalBytes), "cuMemGetInfo");
  return DeviceMemoryInfo{freeBytes, totalBytes};
}

Expected<CuDevicePtr> CudaDriver::allocAsync(size_t bytes, CuStream stream) const {
  if (Error e = makeCurrent())
    return e;
  // sieve's own pool, never trimmed: the default pool hands its memory back
  // to the driver at every synchronization (release threshold 0), which
  // would make each launch map fresh memory. Ours keeps what launches used
  // and leaves the framework's pools alone.
  std::call_once(poolOnce_, [&] {
    CUmemPoolProps props{};
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = info_.ordinal;
    CUmemoryPool pool = nullptr;
    poolError_ = cuError(*api_, api_->cuMemPoolCreate(&pool, &props), "cuMemPoolCreate");
    if (!poolError_) {
      cuuint64_t keepAll = ~cuuint64_t(0);
      poolError_ = cuError(
          *api_, api_->cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keepAll),
          "cuMemPoolSetAttribute(RELEASE_THRESHOLD)");
      pool_ = pool;
    }
  });
  if (poolError_)
    return Error(poolError_.code(), poolError_.message());
  CUdeviceptr ptr;
  if (Error e = cuError(*api_,
                        api_->cuMemAllocFromPoolAsync(&ptr, bytes, static_cast<CUmemoryPool>(pool_),
                                                      static_cast<CUstream>(stream)),
                        "cuMemAllocFromPoolAsync"))
    return e.withContext(fmt::format("allocating {} bytes on the stream", bytes));
  return static_cast<CuDevicePtr>(ptr);
}

Error CudaDriver::freeAsync(CuDevicePtr ptr, CuStream stream) const {
  SIEVE_CU(api_->cuMemFreeAsync(static_cast<CUdeviceptr>(ptr), static_cast<CUstream>(stream)),
           "cuMemFreeAsync");
  return Error::success();
}

Expected<uint64_t> CudaDriver::streamId(CuStream stream) const {
  if (Error e = makeCurrent())
    return e;
  unsigned long long id = 0;
  SIEVE_CU(api_->cuStreamGetId(static_cast<CUstream>(stream), &id), "cuStreamGetId");
  return static_cast<uint64_t>(id);
}

Expected<CuStream> CudaDriver::createStream() const {
  if (Error e = makeCurrent())
    return e;
  CUstream stream = nullptr;
  SIEVE_CU(api_->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  return static_cast<CuStream>(stream);
}

Error CudaDriver::destroyStream(CuStream stream) const {
  SIEVE_CU(api_->cuStreamDestroy(static_cast<CUstream>(stream)), "cuStreamDestroy");
  return Error::success();
}

Expected<CuGraphExec> CudaDriver::captureGraph(CuStream stream,
                                               const std::function<Error()> &work) const {
  if (Error e = makeCurrent())
    return e;
  // Relaxed: the work may make calls a graph cannot hold outside the
  // stream (a first launch's tensor-map upload), as frameworks allow.
  SIEVE_CU(
      api_->cuStreamBeginCapture(static_cast<CUstream>(stream), CU_STREAM_CAPTURE_MODE_RELAXED),
      "cuStreamBeginCapture");
  Error worked = work();
  CUgraph graph = nullptr;
  Error ended = cuError(*api_, api_->cuStreamEndCapture(static_cast<CUstream>(stream), &graph),
                        "cuStreamEndCapture");
  if (worked || ended) {
    if (graph)
      (void)api_->cuGraphDestroy(graph);
    return worked ? std::move(worked) : std::move(ended);
  }
  CUgraphExec exec = nullptr;
  Error instantiated =
      cuError(*api_, api_->cuGraphInstantiate(&exec, graph, 0), "cuGraphInstantiate");
  (void)api_->cuGraphDestroy(graph); // the executable graph is a copy
  if (instantiated)
    return instantiated;
  return static_cast<CuGraphExec>(exec);
}

Error CudaDriver::launchGraph(CuGraphExec graph, CuStream stream) const {
  SIEVE_CU(api_->cuGraphLaunch(static_cast<CUgraphExec>(graph), static_cast<CUstream>(stream)),
           "cuGraphLaunch");
  return Error::success();
}

Error CudaDriver::destroyGraph(CuGraphExec graph) const {
  SIEVE_CU(api_->cuGraphExecDestroy(static_cast<CUgraphExec>(graph)), "cuGraphExecDestroy");
  return Error::success();
}

Expected<bool> CudaDriver::isCapturing(CuStream stream) const {
  // The legacy default stream's query needs a current context (a caller's
  // fresh thread has none yet).
  if (Error e = makeCurrent())
    return e;
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  SIEVE_CU(api_->cuStreamIsCapturing(static_cast<CUstream>(stream), &status),
           "cuStreamIsCapturing");
  return status != CU_STREAM_CAPTURE_STATUS_NONE;
}

Error CudaDriver::copyToDevice(CuDevicePtr dst, const void *src, size_t bytes) const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuMemcpyHtoD(static_cast<CUdeviceptr>(dst), src, bytes), "cuMemcpyHtoD");
  return Error::success();
}

Error CudaDriver::copyToDeviceAsync(CuDevicePtr dst, const void *src, size_t bytes,
                                    CuStream stream) const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuMemcpyHtoDAsync(static_cast<CUdeviceptr>(dst), src, bytes,
                                   static_cast<CUstream>(stream)),
           "cuMemcpyHtoDAsync");
  return Error::success();
}

Error CudaDriver::copyToHost(void *dst, CuDevicePtr src, size_t bytes) const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuMemcpyDtoH(dst, static_cast<CUdeviceptr>(src), bytes), "cuMemcpyDtoH");
  return Error::success();
}

Error CudaDriver::copyOnDevice(CuDevicePtr dst, CuDevicePtr src, size_t bytes,
                               CuStream stream) const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuMemcpyDtoDAsync(static_cast<CUdeviceptr>(dst), static_cast<CUdeviceptr>(src),
                                   bytes, static_cast<CUstream>(stream)),
           "cuMemcpyDtoDAsync");
  return Error::success();
}

Error CudaDriver::memset8(CuDevicePtr dst, uint8_t value, size_t bytes) const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuMemsetD8(static_cast<CUdeviceptr>(dst), value, bytes), "cuMemsetD8");
  return Error::success();
}

Error CudaDriver::memset8Async(CuDevicePtr dst, uint8_t value, size_t bytes,
                               CuStream stream) const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuMemsetD8Async(static_cast<CUdeviceptr>(dst), value, bytes,
                                 static_cast<CUstream>(stream)),
           "cuMemsetD8Async");
  return Error::success();
}

Error CudaDriver::synchronizeDevice() const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuCtxSynchronize(), "cuCtxSynchronize");
  return Error::success();
}

Error CudaDriver::synchronize(CuStream stream) const {
  if (Error e = makeCurrent())
    return e;
  SIEVE_CU(api_->cuStreamSynchronize(static_cast<CUstream>(stream)), "cuStreamSynchronize");
  return Error::success();
}

bool CudaDriver::isDevicePointer(const void *ptr) const {
  unsigned int type = 0;
  CUresult rc = api_->cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                            reinterpret_cast<CUdeviceptr>(ptr));
  return rc == CUDA_SUCCESS && type == CU_MEMORYTYPE_DEVICE;
}

Expected<CuEvent> CudaDriver::createEvent() const {
  if (Error e = makeCurrent())
    return e;
  CUevent event;
  if (Error e = cuError(*api_, api_->cuEventCreate(&event, CU_EVENT_DEFAULT), "cuEventCreate"))
    return e;
  return static_cast<CuEvent>(event);
}

Error CudaDriver::recordEvent(CuEvent event, CuStream stream) const {
  SIEVE_CU(api_->cuEventRecord(static_cast<CUevent>(event), static_cast<CUstream>(stream)),
           "cuEventRecord");
  return Error::success();
}

Expected<float> CudaDriver::elapsedMs(CuEvent start, CuEvent end) const {
  if (Error e =
          cuError(*api_, api_->cuEventSynchronize(static_cast<CUevent>(end)), "cuEventSynchronize"))
    return e;
  float ms = 0;
  if (Error e = cuError(
          *api_,
          api_->cuEventElapsedTime(&ms, static_cast<CUevent>(start), static_cast<CUevent>(end)),
          "cuEventElapsedTime"))
    return e;
  return ms;
}

Error CudaDriver::destroyEvent(CuEvent event) const {
  SIEVE_CU(api_->cuEventDestroy(static_cast<CUevent>(event)), "cuEventDestroy");
  return Error::success();
}

#else // !SIEVE_ENABLE_CUDA

struct CudaDriver::Api {};
namespace {
Error disabled() { return Error(ErrorCode::NoGpu, "sieve was built without CUDA support"); }
} // namespace
Expected<CudaDriver *> CudaDriver::get(int) { return disabled(); }
bool CudaDriver::available() { return false; }
Error CudaDriver::makeCurrent() const { return disabled(); }
Expected<CuModule> CudaDriver::loadModule(const std::string &, std::string *) const {
  return disabled();
}
Error CudaDriver::unloadModule(CuModule) const { return disabled(); }
Expected<CuFunction> CudaDriver::getFunction(CuModule, const std::string &) const {
  return disabled();
}
Error CudaDriver::setDynamicSharedBytes(CuFunction, uint32_t) const { return disabled(); }
Error CudaDriver::launch(CuFunction, const uint32_t[3], const uint32_t[3], uint32_t, CuStream,
                         void **, bool) const {
  return disabled();
}
Expected<std::array<uint64_t, 16>> CudaDriver::encodeTensorMap(DType, const void *,
                                                               const std::array<int64_t, 4> &,
                                                               const std::array<int64_t, 4> &,
                                                               int64_t, int64_t) const {
  return disabled();
}
Expected<CuDevicePtr> CudaDriver::alloc(size_t) const { return disabled(); }
Error CudaDriver::free(CuDevicePtr) const { return disabled(); }
Expected<DeviceMemoryInfo> CudaDriver::memoryInfo() const { return disabled(); }
Expected<CuDevicePtr> CudaDriver::allocAsync(size_t, CuStream) const { return disabled(); }
Error CudaDriver::freeAsync(CuDevicePtr, CuStream) const { return disabled(); }
Expected<uint64_t> CudaDriver::streamId(CuStream) const { return disabled(); }
Expected<bool> CudaDriver::isCapturing(CuStream) const { return disabled(); }
Expected<CuStream> CudaDriver::createStream() const { return disabled(); }
Error CudaDriver::destroyStream(CuStream) const { return disabled(); }
Expected<CuGraphExec> CudaDriver::captureGraph(CuStream, const std::function<Error()> &) const {
  return disabled();
}
Error CudaDriver::launchGraph(CuGraphExec, CuStream) const { return disabled(); }
Error CudaDriver::destroyGraph(CuGraphExec) const { return disabled(); }
Error CudaDriver::copyToDevice(CuDevicePtr, const void *, size_t) const { return disabled(); }
Error CudaDriver::copyToDeviceAsync(CuDevicePtr, const void *, size_t, CuStream) const {
  return disabled();
}
Error CudaDriver::copyToHost(void *, CuDevicePtr, size_t) const { return disabled(); }
Error CudaDriver::copyOnDevice(CuDevicePtr, CuDevicePtr, size_t, CuStream) const {
  return disabled();
}
Error CudaDriver::memset8(CuDevicePtr, uint8_t, size_t) const { return disabled(); }
Error CudaDriver::memset8Async(CuDevicePtr, uint8_t, size_t, CuStream) const { return disabled(); }
Error CudaDriver::synchronize(CuStream) const { return disabled(); }
Error CudaDriver::synchronizeDevice() const { return disabled(); }
bool CudaDriver::isDevicePointer(const void *) const { return false; }
Expected<CuEvent> CudaDriver::createEvent() const { return disabled(); }
Error CudaDriver::recordEvent(CuEvent, CuStream) const { return disabled(); }
Expected<float> CudaDriver::elapsedMs(CuEvent, CuEvent) const { return disabled(); }
Error CudaDriver::destroyEvent(CuEvent) const { return disabled(); }

#endif

} // namespace sieve::runtime
