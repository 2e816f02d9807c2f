// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: what `os << x` prints, as a string (blocks, arrays, shapes).
#include <sstream>
#include <string>

namespace gluino::test {
template <class X>
std::string repr(const X& x) {
  std::ostringstream os;
  os << x;
  return os.str();
}
}  // namespace gluino::test
