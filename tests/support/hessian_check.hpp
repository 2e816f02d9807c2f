// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: second derivatives from autograd::grad's create_graph checked against central
/// differences of the first derivative, in double (gradcheck.hpp does the first derivatives).
#include <gluino/autograd/grad.hpp>
#include <gluino/core/random.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "support/gradcheck.hpp"

namespace gluino::test {

/// With L = sum(f(inputs) * w) (w a fixed random weighting of the outputs) and g = dL/dinputs:
///  - g from grad(..., create_graph) equals g from grad without it;
///  - for a fixed random direction v over all inputs, the Hessian-vector product
///    H v = grad(sum_i sum(g_i * v_i), inputs) (g recorded by create_graph) equals the central
///    difference (g(x + eps v) - g(x - eps v)) / (2 eps) of the ordinary first derivative.
/// Reports the first mismatching element through doctest and returns false.
inline bool hessian_check(const Fn& f, std::vector<NDArray<double>> inputs, double eps = 1e-5, double rtol = 1e-5,
                          double atol = 1e-7) {
  for (auto& x : inputs) x.attach_grad();
  random::Generator gen(4321);
  NDArray<double> w;
  {
    autograd::pause p;
    w = NDArray<double>(f(inputs).shape());
  }
  for (double& v : w) v = gen.uniform(0.5, 1.5);
  std::vector<NDArray<double>> dir;
  for (const auto& x : inputs) {
    NDArray<double> v(x.shape());
    for (double& e : v) e = gen.uniform(-1.0, 1.0);
    dir.push_back(v);
  }
  auto first = [&](bool create) {
    autograd::record rec;
    return autograd::grad(nd::sum(f(inputs) * w), inputs, {.create_graph = create});
  };
  auto report = [](const std::string& what, std::size_t i, std::size_t k, double got, double want) {
    MESSAGE("hessian_check: ", what, ": input ", i, " element ", k, ": ", got, " vs ", want);
    return false;
  };
  auto close = [&](double a, double b) { return std::abs(a - b) <= atol + rtol * std::max(std::abs(a), std::abs(b)); };

  std::vector<NDArray<double>> hv;
  const std::vector<NDArray<double>> plain = first(false);
  {
    std::vector<NDArray<double>> g = first(true);
    for (std::size_t i = 0; i < g.size(); ++i)
      for (std::size_t k = 0; k < g[i].size(); ++k)
        if (!close(g[i].data()[k], plain[i].data()[k]))
          return report("create_graph's gradient", i, k, g[i].data()[k], plain[i].data()[k]);
    autograd::record rec;
    NDArray<double> s = nd::sum(g[0] * dir[0]);
    for (std::size_t i = 1; i < g.size(); ++i) s = s + nd::sum(g[i] * dir[i]);
    hv = autograd::grad(s, inputs);
  }
  auto shifted = [&](double t) {
    std::vector<NDArray<double>> saved;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      saved.push_back(inputs[i].copy());
      for (std::size_t k = 0; k < inputs[i].size(); ++k) inputs[i].data()[k] += t * dir[i].data()[k];
    }
    std::vector<NDArray<double>> g = first(false);
    for (std::size_t i = 0; i < inputs.size(); ++i)
      std::copy(saved[i].begin(), saved[i].end(), inputs[i].begin());
    return g;
  };
  const auto gp = shifted(eps), gm = shifted(-eps);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    for (std::size_t k = 0; k < inputs[i].size(); ++k) {
      const double num = (gp[i].data()[k] - gm[i].data()[k]) / (2 * eps);
      if (!close(hv[i].data()[k], num)) return report("H v", i, k, hv[i].data()[k], num);
    }
  return true;
}

}  // namespace gluino::test
