//===- Errors.cpp ---------------------------------------------------------===//
#include "Errors.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

namespace nb = nanobind;

namespace sieve::python {

namespace {

/// Raises sieve._errors.make(code, message); the classes live in Python so
/// they can also derive from ValueError, TypeError, ... A translator must
/// not throw, so a failure here falls back to RuntimeError.
void raiseAsPython(const Error &error) {
  try {
    nb::object made = nb::module_::import_("sieve._errors")
                          .attr("make")(errorCodeName(error.code()), error.message());
    PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(made.ptr())), made.ptr());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, error.str().c_str());
  }
}

} // namespace

void registerErrorTranslator() {
  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const Failure &failure) {
      raiseAsPython(failure.error());
    }
  });
}

} // namespace sieve::python
