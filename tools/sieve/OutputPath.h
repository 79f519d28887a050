//===- OutputPath.h - refuse an unwritable output before the work -*- C++ -*-===//
//
// `sieve calibrate` runs a model for minutes before it writes; a typo in -o
// must end the run at once, not after the work is done. Outputs are written
// as a temporary file beside them, then renamed, so what must be writable
// is the folder.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TOOLS_OUTPUTPATH_H
#define SIEVE_TOOLS_OUTPUTPATH_H

#include "sieve/Error.h"

#include <string>

namespace sieve::tools {

/// ErrorCode::Io naming `path` and why, when a file cannot be written
/// there: `path` is a folder, or its folder is missing or read-only. Probes
/// by creating (and removing) a file in that folder, since permission bits
/// do not tell (root ignores them, a read-only mount does not show in them).
Error checkWritable(const std::string &path, const char *flag);

} // namespace sieve::tools

#endif
