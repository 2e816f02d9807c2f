// SPDX-License-Identifier: Apache-2.0
// Built only with AddressSanitizer (tests/CMakeLists.txt): each mode makes one memory error on
// pooled storage, which ASan must report as use-after-poison and abort on.  CTest expects the
// report, so the test fails if the pool ever hides such an error again.
//   pool_poison_main slack   reads past a 10-float array into its block's rounding slack
//   pool_poison_main freed   reads a freed array's storage, now cached by the pool
#include <gluino/core/storage.hpp>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  volatile float sink = 0;
  if (argc == 2 && std::strcmp(argv[1], "slack") == 0) {
    gluino::Storage<float> s(10);  // 40 bytes of a 64-byte block
    sink = s.data()[12];
  } else if (argc == 2 && std::strcmp(argv[1], "freed") == 0) {
    const float* stale = nullptr;
    {
      gluino::Storage<float> s(10);
      stale = s.data();
    }
    sink = stale[0];
  } else {
    std::fprintf(stderr, "usage: pool_poison_main slack|freed\n");
    return 2;
  }
  std::printf("not reported (%g)\n", static_cast<double>(sink));
  return 0;
}
