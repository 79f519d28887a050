//===- Error.h - errors at sieve's C++ API ----------------------*- C++ -*-===//
//
// sieve's public entry points report failure as a value: a code a caller can
// branch on and a message that names the problem. The runtime stays free of
// LLVM, so this is our own small Error/Expected pair, not llvm::Expected.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_ERROR_H
#define SIEVE_ERROR_H

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sieve {

enum class ErrorCode {
  Ok = 0,
  InvalidArgument, // a value out of range, a null pointer
  ShapeMismatch,   // tensors, mask and spec disagree
  DTypeMismatch,
  WrongDevice,     // host memory where device memory was needed, or the reverse
  MalformedMask,   // a mask file or mask table that cannot be read
  Io,              // file system
  NoGpu,           // no driver or no device, and the GPU was asked for
  Cuda,            // any other CUDA Driver API failure
  Compile,         // the MLIR pipeline failed
  CorruptArtifact, // an artifact or cache entry that does not parse or check
  Unsupported,     // valid input sieve cannot run (yet)
  Internal,        // a bug in sieve: please report it
};

const char *errorCodeName(ErrorCode code);

class [[nodiscard]] Error {
public:
  Error() = default; // success
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != ErrorCode::Ok);
  }
  static Error success() { return Error(); }

  /// True on failure, so `if (Error e = f()) return e;` reads naturally.
  explicit operator bool() const { return code_ != ErrorCode::Ok; }
  ErrorCode code() const { return code_; }
  const std::string &message() const { return message_; }
  /// "<code name>: <message>"
  std::string str() const;

  /// Prefixes context ("loading mask.npy: ...").
  Error withContext(const std::string &context) const {
    return *this ? Error(code_, context + ": " + message_) : *this;
  }

private:
  ErrorCode code_ = ErrorCode::Ok;
  std::string message_;
};

template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : storage_(std::move(value)) {}
  Expected(Error error) : storage_(std::move(error)) {
    assert(std::get<Error>(storage_) && "Expected built from a success Error");
  }

  explicit operator bool() const { return std::holds_alternative<T>(storage_); }
  T &operator*() { return std::get<T>(storage_); }
  const T &operator*() const { return std::get<T>(storage_); }
  T *operator->() { return &std::get<T>(storage_); }
  const T *operator->() const { return &std::get<T>(storage_); }
  const Error &error() const { return std::get<Error>(storage_); }
  Error takeError() const { return *this ? Error() : std::get<Error>(storage_); }

private:
  std::variant<T, Error> storage_;
};

} // namespace sieve

#endif
