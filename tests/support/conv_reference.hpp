// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: the cases of tests/data/reference/conv.json (scripts/make_conv_references.py),
/// run in float and in double and compared with PyTorch's output and gradients.
#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>

#include <string>
#include <type_traits>
#include <vector>

#include "support/reference.hpp"

namespace gluino::test {

/// Runs every case of conv.json whose op is `op`: run(inputs, options) builds the output from the
/// case's inputs (x, weight[, bias]) in T; the output and each input's gradient (backward with
/// the case's head) must match PyTorch's.  Tolerances: float rtol 1e-5, atol 1e-5 (sums of up to
/// ~50 products); double 1e-11.
template <class Run>
void check_conv_references(const std::string& op, Run&& run) {
  const auto one = [&](auto zero, const nlohmann::json& c) {
    using T = decltype(zero);
    const bool single = std::is_same_v<T, float>;
    const double rtol = single ? 1e-5 : 1e-11, atol = single ? 1e-5 : 1e-11;
    const std::string context = op + " " + c.at("options").dump() + (single ? " in float" : " in double");
    INFO(context);
    std::vector<NDArray<T>> in;
    for (const auto& j : c.at("inputs")) {
      in.push_back(reference_array<T>(j));
      in.back().attach_grad();
    }
    NDArray<T> y;
    {
      autograd::record rec;
      y = run(in, c.at("options"));
    }
    y.backward(reference_array<T>(c.at("head")));
    check_reference_close(y, c.at("output"), "output", rtol, atol);
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::string name = c.at("inputs")[i].at("name");
      check_reference_close(in[i].grad(), c.at("grad").at(name), "grad of " + name, rtol, atol);
    }
  };
  for (const auto& c : reference_cases("conv.json", "op", op)) {
    one(0.0f, c);
    one(0.0, c);
  }
}

/// The bias of a reference case's inputs (x, weight[, bias]), or an undefined array.
template <class T>
NDArray<T> bias_of(const std::vector<NDArray<T>>& in) {
  return in.size() > 2 ? in[2] : NDArray<T>{};
}

}  // namespace gluino::test
