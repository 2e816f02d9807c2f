// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: runs one case of a reference file in the format of activations.json and
/// norms.json ({"op", "options", "inputs", "head", "output", "grad"}) through a gluino op and
/// compares its output and gradients with the file's.
#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "support/reference.hpp"

namespace gluino::test {

/// Reads the case's inputs as T (attach_grad on those the case has a gradient for), runs
/// op(inputs, options) under record, backward with the case's head, and checks the output and
/// each gradient within |got - want| <= atol + rtol * |want| (float's tolerances or double's).
template <class T>
void check_op_reference(const nlohmann::json& c,
                        const std::function<NDArray<T>(const std::vector<NDArray<T>>&, const nlohmann::json&)>& op,
                        double float_tol, double double_tol = 1e-12) {
  const bool single = std::is_same_v<T, float>;
  const double tol = single ? float_tol : double_tol;
  const std::string context = c.at("op").get<std::string>() + " " + c.at("options").dump() +
                              (single ? " in float" : " in double");
  INFO(context);
  std::vector<NDArray<T>> in;
  for (const auto& j : c.at("inputs")) {
    in.push_back(reference_array<T>(j));
    if (c.at("grad").contains(j.at("name").get<std::string>())) in.back().attach_grad();
  }
  NDArray<T> y;
  {
    autograd::record rec;
    y = op(in, c.at("options"));
  }
  y.backward(reference_array<T>(c.at("head")));
  check_reference_close(y, c.at("output"), "output", tol, tol);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string name = c.at("inputs")[i].at("name");
    if (c.at("grad").contains(name)) check_reference_close(in[i].grad(), c.at("grad").at(name), "grad of " + name, tol, tol);
  }
}

}  // namespace gluino::test
