// SPDX-License-Identifier: Apache-2.0
// The examples' option values, read strictly: the whole text must be the number, or the option
// is named in a ValueError ("--batch-size expects a whole number, got '-1'"), where std::stoul
// would take "-1" as 2^64 - 1, "12abc" as 12, and throw a bare "stoul" for "abc".
#pragma once

#include <gluino/core/error.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace example {

/// A whole number in [0, max] written in decimal digits only (no sign, no spaces).
inline std::uint64_t whole_number(const std::string& option, const std::string& text,
                                  std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  std::uint64_t v = 0;
  bool ok = !text.empty() && text.size() <= 20;
  for (char c : text) {
    if (!ok) break;
    const auto d = static_cast<unsigned>(c - '0');
    ok = d <= 9 && v <= (std::numeric_limits<std::uint64_t>::max() - d) / 10;
    v = v * 10 + d;
  }
  GLUINO_CHECK(gluino::ValueError, ok && v <= max, option, " expects a whole number from 0 to ", max, ", got '",
               text, "'");
  return v;
}
inline std::size_t size_arg(const std::string& option, const std::string& text) {
  return static_cast<std::size_t>(whole_number(option, text, std::numeric_limits<std::size_t>::max()));
}
inline int int_arg(const std::string& option, const std::string& text) {
  return static_cast<int>(whole_number(option, text, static_cast<std::uint64_t>(std::numeric_limits<int>::max())));
}
/// A finite real number (std::strtod's syntax: "0.1", "1e-3"), the whole text.
inline double real_arg(const std::string& option, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
  GLUINO_CHECK(gluino::ValueError, !text.empty() && end == text.c_str() + text.size() && errno == 0 && std::isfinite(v),
               option, " expects a finite number, got '", text, "'");
  return v;
}

/// The line a program prints for an exception: "<program>: <what>", without doubling the prefix
/// when the message already starts with it ("train_lenet: train_lenet: ...").
inline std::string error_line(const std::string& program, const std::exception& e) {
  const std::string what = e.what(), prefix = program + ": ";
  return what.rfind(prefix, 0) == 0 ? what : prefix + what;
}
/// Checks, before any work, a file the program will write (the value of `option`): a name, not a
/// directory, in a folder that exists.  ValueError naming the option otherwise, so that a typo
/// shows at the start and not after the training it was to save.
inline void output_file(const std::string& option, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  GLUINO_CHECK(gluino::ValueError, !path.empty(), option, " expects a file name, got ''");
  GLUINO_CHECK(gluino::ValueError, !fs::is_directory(path, ec), option, " '", path,
               "' is a directory; give a file name");
  const fs::path folder = fs::path(path).parent_path();
  GLUINO_CHECK(gluino::ValueError, folder.empty() || fs::is_directory(folder, ec), option, " '", path,
               "': the folder '", folder.string(), "' does not exist");
}
/// Checks that the files a program writes are distinct: {option, path} pairs; ValueError naming
/// the two options that name one file (one would overwrite the other, e.g. a checkpoint by a CSV).
inline void distinct_files(const std::vector<std::pair<std::string, std::string>>& files) {
  namespace fs = std::filesystem;
  for (std::size_t i = 0; i < files.size(); ++i)
    for (std::size_t j = i + 1; j < files.size(); ++j) {
      std::error_code ec1, ec2;
      const fs::path a = fs::weakly_canonical(files[i].second, ec1), b = fs::weakly_canonical(files[j].second, ec2);
      const bool same = !ec1 && !ec2 ? a == b : files[i].second == files[j].second;
      GLUINO_CHECK(gluino::ValueError, !same, files[i].first, " and ", files[j].first, " name the same file '",
                   files[j].second, "'; one would overwrite the other");
    }
}

}  // namespace example
