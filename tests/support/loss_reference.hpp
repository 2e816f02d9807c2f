// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: the losses against PyTorch.  tests/data/reference/losses.json (written by
/// scripts/make_loss_references.py with PyTorch 1.13) holds, for each case, a loss's options,
/// its inputs and sample weight, a head (the output's gradient) and the output and input
/// gradients PyTorch computed in float64 for Gluon's definition.  check_loss_reference runs
/// gluino's loss on the same inputs in float and in double and compares both.
#include <gluino/autograd/engine.hpp>
#include <gluino/loss/loss.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <type_traits>
#include <vector>

#include "support/reference.hpp"

namespace gluino::test {

/// The cases of `loss` in the reference file (REQUIREs that there are some).
inline std::vector<nlohmann::json> loss_reference_cases(const std::string& loss) {
  return reference_cases("losses.json", "loss", loss);
}

/// Runs the loss (Loss<T>(options), called on the case's inputs, then its sample weight if any)
/// in T, backward with the case's head, and compares the output and the gradient of every input
/// the reference has one for.  Tolerances: float rtol 1e-5, atol 1e-6; double 1e-9 and 1e-12.
template <template <class> class Loss, class T, class Options>
void check_loss_reference_in(const nlohmann::json& c, const Options& options) {
  const bool single = std::is_same_v<T, float>;
  const double rtol = single ? 1e-5 : 1e-9, atol = single ? 1e-6 : 1e-12;
  const std::string context = c.at("loss").get<std::string>() + " " + c.at("options").dump() +
                              (single ? " in float" : " in double");
  INFO(context);
  std::vector<NDArray<T>> x;
  for (const auto& in : c.at("inputs")) {
    x.push_back(reference_array<T>(in));
    if (c.at("grad").contains(in.at("name").get<std::string>())) x.back().attach_grad();
  }
  const NDArray<T> sw = c.contains("sample_weight") ? reference_array<T>(c.at("sample_weight")) : NDArray<T>{};
  const Loss<T> loss(options);
  NDArray<T> out;
  {
    autograd::record rec;
    if constexpr (std::is_base_of_v<loss::BasicThreeInputLoss<T>, Loss<T>>) {
      REQUIRE(x.size() == 3);
      out = loss(x[0], x[1], x[2], sw);
    } else {
      REQUIRE(x.size() == 2);
      out = loss(x[0], x[1], sw);
    }
  }
  out.backward(reference_array<T>(c.at("head")));
  check_reference_close(out, c.at("output"), "output", rtol, atol);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::string name = c.at("inputs")[i].at("name");
    if (c.at("grad").contains(name))
      check_reference_close(x[i].grad(), c.at("grad").at(name), "grad of " + name, rtol, atol);
  }
}

/// check_loss_reference_in, in float and in double, for every case of the loss `name`, with the
/// options make_options(case["options"]) returns.
template <template <class> class Loss, class MakeOptions>
void check_loss_references(const std::string& name, MakeOptions make_options) {
  for (const auto& c : loss_reference_cases(name)) {
    const auto options = make_options(c.at("options"));
    check_loss_reference_in<Loss, float>(c, options);
    check_loss_reference_in<Loss, double>(c, options);
  }
}

}  // namespace gluino::test
