// SPDX-License-Identifier: Apache-2.0
#pragma once
/// gluino's version, as numbers and as a string.
#include <string>

#define GLUINO_VERSION_MAJOR 0
#define GLUINO_VERSION_MINOR 1
#define GLUINO_VERSION_PATCH 0

namespace gluino {
/// "0.1.0".
inline std::string version() {
  return std::to_string(GLUINO_VERSION_MAJOR) + "." + std::to_string(GLUINO_VERSION_MINOR) + "." +
         std::to_string(GLUINO_VERSION_PATCH);
}
}  // namespace gluino
