//===- Warning.h - where the runtime reports what it works around -*- C++ -*-===//
//
// Some failures are not errors for the caller: a damaged cache entry is
// rebuilt, an unwritable cache folder means caching in memory only. They
// are still worth a line to whoever runs the program, so they go through a
// handler the embedding application may replace (to route them into its
// own log, or to count them in a test).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_WARNING_H
#define SIEVE_RUNTIME_WARNING_H

#include <functional>
#include <string>

namespace sieve::runtime {

using WarningHandler = std::function<void(const std::string &message)>;

/// Prints "sieve: warning: <message>" on stderr.
void warnOnStderr(const std::string &message);

} // namespace sieve::runtime

#endif
