//===- Bindings.h - the parts of the _sieve module --------------*- C++ -*-===//
#ifndef SIEVE_PYTHON_BINDINGS_H
#define SIEVE_PYTHON_BINDINGS_H

#include <nanobind/nanobind.h>

namespace sieve::python {

void bindMask(nanobind::module_ &m);    // _sieve.Mask
void bindKernels(nanobind::module_ &m); // _sieve.Session, _sieve.Kernel, tensor_info

} // namespace sieve::python

#endif
