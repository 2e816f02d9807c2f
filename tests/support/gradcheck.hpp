// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: gradient checks against central finite differences, in double.
#include <gluino/autograd/engine.hpp>
#include <gluino/core/random.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

namespace gluino::test {

using Fn = std::function<NDArray<double>(const std::vector<NDArray<double>>&)>;

/// Checks autograd's gradients of f at `inputs` against central differences of
/// L = sum(f(inputs) * w), w a fixed random weighting of the outputs (so every output element
/// matters differently).  Inputs listed in `skip` get no gradient check (e.g. integer labels).
/// Reports the first mismatching element of each input through doctest and returns false.
inline bool gradcheck(const Fn& f, std::vector<NDArray<double>> inputs, double eps = 1e-6, double rtol = 1e-4,
                      double atol = 1e-6, std::vector<std::size_t> skip = {}) {
  auto skipped = [&](std::size_t i) { return std::find(skip.begin(), skip.end(), i) != skip.end(); };
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!skipped(i)) inputs[i].attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = f(inputs);
  }
  random::Generator gen(1234);
  NDArray<double> w(y.shape());
  for (double& v : w) v = gen.uniform(0.5, 1.5);
  y.backward(w);
  auto loss = [&]() {
    autograd::pause p(true);  // same train/predict mode as the recorded pass
    NDArray<double> out = f(inputs);
    double s = 0;
    for (std::size_t k = 0; k < out.size(); ++k) s += out.data()[k] * w.data()[k];
    return s;
  };
  bool ok = true;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (skipped(i)) continue;
    NDArray<double>& x = inputs[i];
    const NDArray<double> g = x.grad().copy();
    for (std::size_t k = 0; k < x.size(); ++k) {
      const double orig = x.data()[k];
      x.data()[k] = orig + eps;
      const double lp = loss();
      x.data()[k] = orig - eps;
      const double lm = loss();
      x.data()[k] = orig;
      const double num = (lp - lm) / (2 * eps);
      const double ana = g.data()[k];
      if (std::abs(num - ana) > atol + rtol * std::max(std::abs(num), std::abs(ana))) {
        MESSAGE("gradcheck: input ", i, " element ", k, ": autograd ", ana, " vs numeric ", num);
        ok = false;
        break;
      }
    }
  }
  return ok;
}

/// A double array of `shape` with U[lo, hi) entries from a fixed seed.
inline NDArray<double> rand_array(const Shape& shape, std::uint64_t seed = 7, double lo = -1.0, double hi = 1.0) {
  random::Generator gen(seed);
  NDArray<double> x(shape);
  for (double& v : x) v = gen.uniform(lo, hi);
  return x;
}

/// A double array of `shape` with values in [-1, -0.2] and [0.2, 1), alternating in sign: away from
/// 0, for ops with a kink there (relu, abs, leaky_relu, elu, prelu: none within gradcheck's eps).
inline NDArray<double> away_from_zero(const Shape& s, std::uint64_t seed = 7) {
  auto x = rand_array(s, seed, 0.2, 1.0);
  for (std::size_t i = 0; i < x.size(); i += 2) x.data()[i] = -x.data()[i];
  return x;
}
}  // namespace gluino::test
