//===- Status.cpp - status codes and the per-thread last error ------------===//
#include "Handles.h"

#include <cstring>

namespace sieve::capi {
namespace {

// thread_local: concurrent callers each read their own failure.
thread_local std::string lastError;

sieve_status statusOf(ErrorCode code) {
  switch (code) {
  case ErrorCode::Ok:
    return SIEVE_OK;
  case ErrorCode::InvalidArgument:
    return SIEVE_ERROR_INVALID_ARGUMENT;
  case ErrorCode::ShapeMismatch:
    return SIEVE_ERROR_SHAPE_MISMATCH;
  case ErrorCode::DTypeMismatch:
    return SIEVE_ERROR_DTYPE_MISMATCH;
  case ErrorCode::WrongDevice:
    return SIEVE_ERROR_WRONG_DEVICE;
  case ErrorCode::MalformedMask:
    return SIEVE_ERROR_MALFORMED_MASK;
  case ErrorCode::Io:
    return SIEVE_ERROR_IO;
  case ErrorCode::NoGpu:
    return SIEVE_ERROR_NO_GPU;
  case ErrorCode::Cuda:
    return SIEVE_ERROR_CUDA;
  case ErrorCode::Compile:
    return SIEVE_ERROR_COMPILE;
  case ErrorCode::CorruptArtifact:
    return SIEVE_ERROR_CORRUPT_ARTIFACT;
  case ErrorCode::Unsupported:
    return SIEVE_ERROR_UNSUPPORTED;
  case ErrorCode::Internal:
    return SIEVE_ERROR_INTERNAL;
  }
  return SIEVE_ERROR_INTERNAL;
}

} // namespace

sieve_status fail(const Error &error) {
  lastError = error.message();
  return statusOf(error.code());
}

sieve_status fail(sieve_status status, const std::string &message) {
  lastError = message;
  return status;
}

sieve_status succeed() {
  lastError.clear();
  return SIEVE_OK;
}

Expected<runtime::DType> dtypeOf(sieve_dtype dtype, const std::string &what) {
  switch (dtype) {
  case SIEVE_DTYPE_F16:
    return runtime::DType::F16;
  case SIEVE_DTYPE_BF16:
    return runtime::DType::BF16;
  case SIEVE_DTYPE_F32:
    return runtime::DType::F32;
  }
  return Error(ErrorCode::InvalidArgument,
               what + ": unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

sieve_status copyOut(const std::string &text, char *buf, size_t size, const char *what) {
  if (!buf)
    return fail(SIEVE_ERROR_INVALID_ARGUMENT, std::string(what) + ": the buffer is null");
  if (text.size() + 1 > size)
    return fail(SIEVE_ERROR_INVALID_ARGUMENT, std::string(what) + " needs " +
                                                  std::to_string(text.size() + 1) +
                                                  " bytes, the buffer has " + std::to_string(size));
  std::memcpy(buf, text.c_str(), text.size() + 1);
  return succeed();
}

} // namespace sieve::capi

extern "C" {

int sieve_api_version(void) { return SIEVE_C_API_VERSION; }

const char *sieve_version(void) { return SIEVE_VERSION; }

const char *sieve_last_error(void) { return sieve::capi::lastError.c_str(); }

const char *sieve_status_name(sieve_status status) {
  switch (status) {
  case SIEVE_OK:
    return "SIEVE_OK";
  case SIEVE_ERROR_INVALID_ARGUMENT:
    return "SIEVE_ERROR_INVALID_ARGUMENT";
  case SIEVE_ERROR_INVALID_HANDLE:
    return "SIEVE_ERROR_INVALID_HANDLE";
  case SIEVE_ERROR_SHAPE_MISMATCH:
    return "SIEVE_ERROR_SHAPE_MISMATCH";
  case SIEVE_ERROR_DTYPE_MISMATCH:
    return "SIEVE_ERROR_DTYPE_MISMATCH";
  case SIEVE_ERROR_WRONG_DEVICE:
    return "SIEVE_ERROR_WRONG_DEVICE";
  case SIEVE_ERROR_MALFORMED_MASK:
    return "SIEVE_ERROR_MALFORMED_MASK";
  case SIEVE_ERROR_IO:
    return "SIEVE_ERROR_IO";
  case SIEVE_ERROR_NO_GPU:
    return "SIEVE_ERROR_NO_GPU";
  case SIEVE_ERROR_CUDA:
    return "SIEVE_ERROR_CUDA";
  case SIEVE_ERROR_COMPILE:
    return "SIEVE_ERROR_COMPILE";
  case SIEVE_ERROR_CORRUPT_ARTIFACT:
    return "SIEVE_ERROR_CORRUPT_ARTIFACT";
  case SIEVE_ERROR_UNSUPPORTED:
    return "SIEVE_ERROR_UNSUPPORTED";
  case SIEVE_ERROR_INTERNAL:
    return "SIEVE_ERROR_INTERNAL";
  }
  return "SIEVE_ERROR_UNKNOWN";
}

} // extern "C"
