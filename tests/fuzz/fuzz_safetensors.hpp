// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The body of fuzz_safetensors_float and fuzz_safetensors_double: load the input as a
/// safetensors file of T and read every element of every tensor.
#include <gluino/io/safetensors.hpp>

#include "fuzz_common.hpp"

namespace gluino_fuzz {

template <class T>
int fuzz_safetensors(const std::uint8_t* data, std::size_t size) {
  static RemoveInputAtExit cleanup{".safetensors"};
  const std::string& path = write_input(data, size, ".safetensors");
  try {
    auto contents = gluino::io::load_safetensors_with_metadata<T>(path);
    volatile T sink = 0;
    T sum = 0;
    for (const auto& [name, a] : contents.tensors) {
      if (name.empty()) std::abort();  // the reader never returns an unnamed tensor
      for (const T v : a) sum += v;    // every element: ASan sees any read past the data
    }
    for (const auto& [k, v] : contents.metadata) sum += static_cast<T>(k.size() + v.size());
    sink = sum;
    (void)sink;
  } catch (const gluino::Error&) {
    // ValueError / ShapeError: a malformed file, reported as documented.
  }
  return 0;
}

}  // namespace gluino_fuzz
