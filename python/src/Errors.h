//===- Errors.h - sieve::Error as Python exceptions -------------*- C++ -*-===//
//
// Binding code fails by throwing Failure; a translator raises the matching
// class of sieve._errors (ShapeMismatchError is a sieve.Error and a
// ValueError, ...) carrying the C++ code name and message unchanged, so
// Python callers can catch either the sieve class or the builtin one.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PYTHON_ERRORS_H
#define SIEVE_PYTHON_ERRORS_H

#include "sieve/Error.h"

#include <stdexcept>
#include <utility>

namespace sieve::python {

class Failure : public std::runtime_error {
public:
  explicit Failure(Error error) : std::runtime_error(error.str()), error_(std::move(error)) {}
  const Error &error() const { return error_; }

private:
  Error error_;
};

[[noreturn]] inline void raise(Error error) { throw Failure(std::move(error)); }
inline void check(Error error) {
  if (error)
    raise(std::move(error));
}
template <typename T> T unwrap(Expected<T> value) {
  if (!value)
    raise(value.takeError());
  return std::move(*value);
}

/// Installs the Failure -> sieve._errors translator (once, at import).
void registerErrorTranslator();

} // namespace sieve::python

#endif
