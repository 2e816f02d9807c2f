// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Activation layers: Activation (relu, sigmoid, tanh, softrelu, softsign) and LeakyReLU.
/// Gluon: gluon.nn.Activation, gluon.nn.LeakyReLU.
#include <sstream>
#include <string>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nn/block.hpp"

namespace gluino::detail {
/// ValueError "<who>: unknown activation 'x'; ..." unless act names one of nd::activation's.
inline void check_activation_name(const std::string& who, const std::string& act) {
  for (const char* known : {"relu", "sigmoid", "tanh", "softrelu", "softsign"})
    if (act == known) return;
  raise<ValueError>(who, ": unknown activation '", act, "'; expected relu, sigmoid, tanh, softrelu or softsign");
}
}  // namespace gluino::detail

namespace gluino::nn {

/// Applies an activation function by name: "relu", "sigmoid", "tanh", "softrelu" (log(1 + e^x))
/// or "softsign" (x / (1 + |x|)).  Any shape.  Mirrors gluon.nn.Activation(activation).
/// Its alias is the activation's name (Gluon): Activation{"relu"} is named "relu0_".
/// ValueError for an unknown name.
template <class T>
class BasicActivation : public BasicBlock<T> {
 public:
  explicit BasicActivation(std::string activation, std::string prefix = "")
      : BasicBlock<T>({.alias = activation, .prefix = std::move(prefix)}), act_(std::move(activation)) {
    detail::check_activation_name("Activation", act_);
  }
  std::string type_name() const override { return "Activation"; }
  // Its alias is the activation's name ("relu0_"), as Gluon's Activation._alias.
  /// The activation's name.
  const std::string& activation() const { return act_; }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::activation(x, act_); }
  /// "Activation(relu)", as Gluon.
  std::string repr() const override { return "Activation(" + act_ + ")"; }

 private:
  std::string act_;
};

/// Leaky ReLU: x for x > 0, alpha * x otherwise.  Any shape.  Mirrors gluon.nn.LeakyReLU(alpha).
/// ValueError for alpha < 0 (as Gluon).
template <class T>
class BasicLeakyReLU : public BasicBlock<T> {
 public:
  explicit BasicLeakyReLU(double alpha, std::string prefix = "")
      : BasicBlock<T>({.alias = "leakyrelu", .prefix = std::move(prefix)}), alpha_(alpha) {
    GLUINO_CHECK(ValueError, alpha >= 0, "LeakyReLU: the slope alpha must be >= 0, got ", alpha);
  }
  std::string type_name() const override { return "LeakyReLU"; }
  double alpha() const { return alpha_; }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::leaky_relu(x, static_cast<T>(alpha_)); }
  /// "LeakyReLU(0.1)", as Gluon.
  std::string repr() const override {
    std::ostringstream s;
    s << "LeakyReLU(" << alpha_ << ')';
    return s.str();
  }

 private:
  double alpha_;
};

using Activation = BasicActivation<float>;
using LeakyReLU = BasicLeakyReLU<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_ACTIVATIONS_INSTANTIATIONS(X, T) \
  X class BasicActivation<T>; \
  X class BasicLeakyReLU<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_ACTIVATIONS_INSTANTIATIONS)
}  // namespace gluino::nn
