// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Writing a file so that a failure at any point leaves the previous file whole: a temporary
/// beside it, flushed, checked, synced and renamed over it.  Used by the safetensors writer
/// (parameters, trainer states), ONNX export and the SVG plot.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <fcntl.h>
#include <unistd.h>

#include "gluino/core/error.hpp"

namespace gluino::detail {

/// Test hook, not API: when set, the next files written by write_file_atomically in this thread
/// fail once this many bytes are written, as a full disk would (the stream goes bad).
inline thread_local std::optional<std::size_t> fail_writes_after_bytes;

/// A stream buffer that forwards to a file and fails after `limit` bytes (fail_writes_after_bytes).
class LimitedFileBuf : public std::filebuf {
 public:
  std::optional<std::size_t> limit;

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (limit) {
      const auto room = static_cast<std::streamsize>(*limit - std::min(*limit, written_));
      const std::streamsize put = std::filebuf::xsputn(s, std::min(n, room));
      written_ += static_cast<std::size_t>(put);
      return put;  // short: the stream sets badbit
    }
    return std::filebuf::xsputn(s, n);
  }
  int_type overflow(int_type c) override {  // a single character, or eof: flush the buffer
    if (limit && written_ >= *limit && !traits_type::eq_int_type(c, traits_type::eof())) return traits_type::eof();
    return std::filebuf::overflow(c);
  }

 private:
  std::size_t written_ = 0;
};

/// Writes a file so that a failure at any point leaves an existing file at `path` whole: `write`
/// fills a temporary file in the same folder ("<path>.tmp<pid>-<n>"), which is flushed, checked,
/// synced to disk (fsync) and then renamed over `path` (an atomic replacement on POSIX); on any
/// failure the temporary is removed and ValueError (starting with `where`) or write's own
/// exception propagates.  A symbolic link at `path` stays: the file it points to is replaced (as
/// writing through the link would); a replaced file keeps its permissions.  ValueError before
/// anything is written for an empty path, a directory, a folder that does not exist, or a path
/// that is a pipe, a device or a socket (the rename would replace it by a regular file).
template <class Write>
void write_file_atomically(const std::string& path, const std::string& where, Write&& write) {
  namespace fs = std::filesystem;
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  GLUINO_CHECK(ValueError, !path.empty(), where, "the path is empty");
  GLUINO_CHECK(ValueError, !fs::is_directory(path, ec), where, "is a directory; give a file name");
  std::string target = path;
  if (fs::is_symlink(path, ec)) {
    target = fs::weakly_canonical(path, ec).string();
    GLUINO_CHECK(ValueError, !ec && !target.empty(), where, "cannot resolve the symbolic link: ", ec.message());
  }
  const fs::path folder = fs::path(target).parent_path().empty() ? fs::path(".") : fs::path(target).parent_path();
  GLUINO_CHECK(ValueError, fs::exists(folder, ec), where, "the folder '", folder.string(), "' does not exist");
  GLUINO_CHECK(ValueError, fs::is_directory(folder, ec), where, "'", folder.string(), "' is not a folder");
  // Renamed over a pipe or a device (root's /dev/null) the temporary would replace it.
  const fs::file_status existing = fs::status(target, ec);
  GLUINO_CHECK(ValueError, !fs::exists(existing) || fs::is_regular_file(existing), where,
               "is not a regular file (a pipe, a device or a socket): give a file's path");
  const std::string tmp = target + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  try {
    {
      LimitedFileBuf buf;
      buf.limit = fail_writes_after_bytes;
      errno = 0;
      GLUINO_CHECK(ValueError, buf.open(tmp, std::ios::out | std::ios::binary | std::ios::trunc) != nullptr, where,
                   "cannot create '", tmp, "': ", errno ? std::strerror(errno) : "unknown error");
      std::ostream out(&buf);
      write(static_cast<std::ostream&>(out));
      out.flush();
      const bool closed = buf.close() != nullptr;
      GLUINO_CHECK(ValueError, out.good() && closed, where, "write to '", tmp, "' failed (disk full?)");
    }
    const fs::file_status old = fs::status(target, ec);
    if (!ec && fs::is_regular_file(old)) fs::permissions(tmp, old.permissions() & fs::perms::all, ec);
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    const bool synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    GLUINO_CHECK(ValueError, synced, where, "cannot sync '", tmp, "' to disk");
    fs::rename(tmp, target, ec);
    GLUINO_CHECK(ValueError, !ec, where, "cannot rename '", tmp, "' to '", target, "': ", ec.message());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  // Make the rename itself durable (best effort: some file systems refuse to sync a folder).
  const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}
}  // namespace gluino::detail
