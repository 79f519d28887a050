//===- Error.cpp ----------------------------------------------------------===//
#include "sieve/Error.h"

namespace sieve {

const char *errorCodeName(ErrorCode code) {
  switch (code) {
  case ErrorCode::Ok:
    return "ok";
  case ErrorCode::InvalidArgument:
    return "invalid argument";
  case ErrorCode::ShapeMismatch:
    return "shape mismatch";
  case ErrorCode::DTypeMismatch:
    return "dtype mismatch";
  case ErrorCode::WrongDevice:
    return "wrong device";
  case ErrorCode::MalformedMask:
    return "malformed mask";
  case ErrorCode::Io:
    return "i/o error";
  case ErrorCode::NoGpu:
    return "no GPU";
  case ErrorCode::Cuda:
    return "CUDA error";
  case ErrorCode::Compile:
    return "compile error";
  case ErrorCode::CorruptArtifact:
    return "corrupt artifact";
  case ErrorCode::Unsupported:
    return "unsupported";
  case ErrorCode::Internal:
    return "internal error";
  }
  return "unknown";
}

std::string Error::str() const {
  if (!*this)
    return "ok";
  return std::string(errorCodeName(code_)) + ": " + message_;
}

} // namespace sieve
