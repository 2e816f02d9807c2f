// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: this process's scratch folder (under the system's temporary folder), removed
/// when the process exits; and the committed 100+100 image Fashion-MNIST fixture.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace gluino::test {
inline const std::filesystem::path scratch =
    std::filesystem::temp_directory_path() / ("gluino-test-" + std::to_string(::getpid()));
struct RemoveScratch {
  ~RemoveScratch() {
    std::error_code ec;
    std::filesystem::remove_all(scratch, ec);
  }
};
inline RemoveScratch remove_scratch;
/// The fixture folder (no trailing slash).
inline const std::string mini = std::string(GLUINO_TEST_DATA_DIR) + "/fashion-mnist-mini";
}  // namespace gluino::test
