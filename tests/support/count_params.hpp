// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: the number of parameter elements of a block (those selected by `select`).
#include <cstddef>
#include <string>

#include <gluino/nn/block.hpp>

namespace gluino::test {
inline std::size_t count_params(const nn::Block& net, const std::string& select = "") {
  std::size_t n = 0;
  for (const auto& [name, p] : net.collect_params(select)) n += p->data().size();
  return n;
}
}  // namespace gluino::test
