// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Shared by the libFuzzer targets: the input as a file, for readers that take a path.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gluino_fuzz {

/// A file holding the current input, rewritten on every call: in $GLUINO_FUZZ_TMPDIR, else in
/// /dev/shm (tmpfs: no disk writes), else in /tmp.  One per process (libFuzzer's -jobs/-workers
/// run several processes).
inline const std::string& input_file(const std::string& suffix) {
  static const std::string path = [&] {
    std::string dir = "/tmp";
    if (const char* d = std::getenv("GLUINO_FUZZ_TMPDIR"); d && *d) dir = d;
    else if (::access("/dev/shm", W_OK) == 0) dir = "/dev/shm";
    return dir + "/gluino-fuzz-" + std::to_string(::getpid()) + suffix;
  }();
  return path;
}

/// Writes the input to input_file(suffix) and returns its path; aborts if it cannot (a broken
/// harness must not pass as a clean run).
inline const std::string& write_input(const std::uint8_t* data, std::size_t size, const std::string& suffix) {
  const std::string& path = input_file(suffix);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

/// Removes the input file at exit.  Keeps its own copy of the path: input_file's static string is
/// created after a static RemoveInputAtExit and so destroyed before it (the file was left behind).
struct RemoveInputAtExit {
  std::string path;
  explicit RemoveInputAtExit(const std::string& suffix) : path(input_file(suffix)) {}
  ~RemoveInputAtExit() { std::remove(path.c_str()); }
};

}  // namespace gluino_fuzz
