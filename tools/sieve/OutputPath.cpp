//===- OutputPath.cpp -----------------------------------------------------===//
#include "OutputPath.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sieve::tools {

Error checkWritable(const std::string &path, const char *flag) {
  auto refuse = [&](const std::string &why) {
    return Error(ErrorCode::Io, fmt::format("{} {}: {}", flag, path, why));
  };
  if (path.empty())
    return refuse("no path given");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return refuse("is a folder; give a file name");
  size_t slash = path.find_last_of('/');
  std::string folder = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string probe = fmt::format("{}/.sieve-probe.{}", folder, ::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return refuse(fmt::format("the folder {} does not exist", folder));
    return refuse(fmt::format("cannot create a file in {}: {}", folder, std::strerror(err)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return Error::success();
}

} // namespace sieve::tools
