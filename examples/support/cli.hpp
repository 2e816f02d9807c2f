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
#include <limits>
#include <string>

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

}  // namespace example
