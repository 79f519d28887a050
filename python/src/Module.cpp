//===- Module.cpp - the sieve._sieve extension module ---------------------===//
//
// Thin: the Python package (python/sieve) builds the user-facing API on
// these pieces, and everything that decides (validation, caching, compiling,
// launching) stays in the C++ compiler and runtime.
//
//===----------------------------------------------------------------------===//
#include "Bindings.h"
#include "Errors.h"

namespace nb = nanobind;

NB_MODULE(_sieve, m) {
  m.doc() = "sieve's compiler and runtime (use the `sieve` package, not this module)";
  m.attr("__version__") = SIEVE_VERSION;
  // Kernels, sessions and masks are held by process-lifetime caches (the
  // attention() memo, sieve.torch_op's mask handles, PyTorch's op registry)
  // that Python may not clear before this module is torn down; nanobind
  // would report those as leaks at every exit.
  nb::set_leak_warnings(false);
  sieve::python::registerErrorTranslator();
  sieve::python::bindMask(m);
  sieve::python::bindKernels(m);
}
