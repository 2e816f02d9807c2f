// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Activation layers: Activation (relu, sigmoid, tanh, softrelu, softsign), LeakyReLU, PReLU,
/// ELU, SELU, GELU and Swish.  Gluon 1.x: gluon.nn.Activation, LeakyReLU, PReLU, ELU, SELU,
/// GELU, Swish (python/mxnet/gluon/nn/activations.py).
#include <sstream>
#include <string>
#include <utility>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/init/initializer.hpp"
#include "gluino/nd/activations.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nn/block.hpp"

namespace gluino::detail {
/// ValueError "<who>: unknown activation 'x'; ..." unless act names one of nd::activation's.
inline void check_activation_name(const std::string& who, const std::string& act) {
  for (const char* known : {"relu", "sigmoid", "tanh", "softrelu", "softsign"})
    if (act == known) return;
  raise<ValueError>(who, ": unknown activation '", act, "'; expected relu, sigmoid, tanh, softrelu or softsign");
}
/// "Name(value)", value printed as std::ostream prints it ("LeakyReLU(0.1)").
template <class V>
std::string repr_with(const char* name, const V& value) {
  std::ostringstream s;
  s << name << '(' << value << ')';
  return s.str();
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
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicActivation<U>>(act_); });
  }
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
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicLeakyReLU<U>>(alpha_); });
  }
  double alpha() const { return alpha_; }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::leaky_relu(x, static_cast<T>(alpha_)); }
  /// "LeakyReLU(0.1)", as Gluon.
  std::string repr() const override { return detail::repr_with("LeakyReLU", alpha_); }

 private:
  double alpha_;
};

/// Exponential linear unit: x for x > 0, alpha * (e^x - 1) otherwise.  Any shape.
/// Mirrors gluon.nn.ELU(alpha=1.0) (MXNet 1.x: LeakyReLU act_type "elu"); nd::elu.
/// Printed "ELU(1)" (Gluon 1.x prints no arguments).
template <class T>
class BasicELU : public BasicBlock<T> {
 public:
  explicit BasicELU(double alpha = 1.0, std::string prefix = "")
      : BasicBlock<T>({.alias = "elu", .prefix = std::move(prefix)}), alpha_(alpha) {}
  std::string type_name() const override { return "ELU"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicELU<U>>(alpha_); });
  }
  double alpha() const { return alpha_; }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::elu(x, static_cast<T>(alpha_)); }
  std::string repr() const override { return detail::repr_with("ELU", alpha_); }

 private:
  double alpha_;
};

/// Scaled exponential linear unit: lambda * (x for x > 0, alpha * (e^x - 1) otherwise), with
/// MXNet's constants nd::selu_alpha = 1.6732632423543772 and nd::selu_lambda = 1.0507009873554805.
/// Any shape.  Mirrors gluon.nn.SELU() (MXNet 1.x: LeakyReLU act_type "selu"); nd::selu, whose
/// gradient for x < 0 is the exact one (MXNet 1.x's is not: see nd::ops::Selu).
template <class T>
class BasicSELU : public BasicBlock<T> {
 public:
  explicit BasicSELU(std::string prefix = "") : BasicBlock<T>({.alias = "selu", .prefix = std::move(prefix)}) {}
  std::string type_name() const override { return "SELU"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicSELU<U>>(); });
  }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::selu(x); }
};

/// Gaussian error linear unit, the erf form: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (not the
/// tanh approximation).  Any shape.  Mirrors gluon.nn.GELU() of MXNet 1.x (LeakyReLU act_type
/// "gelu"); nd::gelu.
template <class T>
class BasicGELU : public BasicBlock<T> {
 public:
  explicit BasicGELU(std::string prefix = "") : BasicBlock<T>({.alias = "gelu", .prefix = std::move(prefix)}) {}
  std::string type_name() const override { return "GELU"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicGELU<U>>(); });
  }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::gelu(x); }
};

/// Swish: x * sigmoid(beta x) (SiLU for beta = 1).  Any shape.  Mirrors gluon.nn.Swish(beta=1.0);
/// nd::swish.  Printed "Swish(1)" (Gluon 1.x prints no arguments).
template <class T>
class BasicSwish : public BasicBlock<T> {
 public:
  explicit BasicSwish(double beta = 1.0, std::string prefix = "")
      : BasicBlock<T>({.alias = "swish", .prefix = std::move(prefix)}), beta_(beta) {}
  std::string type_name() const override { return "Swish"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicSwish<U>>(beta_); });
  }
  double beta() const { return beta_; }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::swish(x, static_cast<T>(beta_)); }
  std::string repr() const override { return detail::repr_with("Swish", beta_); }

 private:
  double beta_;
};

/// Options of PReLU, in the order of gluon.nn.PReLU's keyword arguments.
template <class T>
struct BasicPReLUOptions {
  /// alpha's own initializer (Gluon's default Constant(0.25)); {} = the one given to initialize().
  init::BasicAnyInitializer<T> alpha_initializer = init::BasicConstant<T>{0.25};
  /// Slopes to learn: 1 (one for all) or C, the size of the input's axis 1.
  std::size_t in_channels = 1;
  /// Gluon's params=: share another block's parameters (e.g. other.params()).
  BasicParameterDict<T> params = {};
};

/// Parametric ReLU: x for x > 0, alpha * x otherwise, with a learned slope alpha of shape
/// (in_channels,), one per channel along axis 1 (or one for all).  Any shape ((N, C, ...) for
/// in_channels = C > 1).  Mirrors gluon.nn.PReLU (MXNet 1.x: LeakyReLU act_type "prelu");
/// nd::prelu.  Parameter, named as in Gluon: alpha (prelu0_alpha).  ShapeError naming the block's
/// prefix and both shapes when the input's axis 1 differs from in_channels > 1; ValueError for
/// in_channels 0.  Printed "PReLU(3)" with in_channels (Gluon 1.x prints no arguments).
template <class T>
class BasicPReLU : public BasicBlock<T> {
 public:
  explicit BasicPReLU(BasicPReLUOptions<T> opt = {}, std::string prefix = "")
      : BasicBlock<T>({.alias = "prelu", .prefix = std::move(prefix), .params = std::move(opt.params)}) {
    GLUINO_CHECK(ValueError, opt.in_channels > 0, "PReLU: in_channels must be > 0");
    alpha_ = this->declare_param("alpha", Shape{opt.in_channels}, std::move(opt.alpha_initializer));
  }
  std::string type_name() const override { return "PReLU"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicPReLU<U>>(BasicPReLUOptions<U>{.in_channels = alpha()->shape()[0]});
    });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    const std::size_t c = alpha()->shape()[0];
    GLUINO_CHECK(ShapeError, c == 1 || (x.shape().ndim() >= 2 && x.shape()[1] == c), this->who(), ": input of shape ",
                 x.shape(), " does not have ", c, " channels on axis 1 for alpha '", alpha()->name(), "' of shape ",
                 alpha()->shape());
    return nd::prelu(x, alpha()->data());
  }
  std::string repr() const override { return detail::repr_with("PReLU", alpha()->shape()[0]); }
  /// Gluon: prelu.alpha.
  const std::shared_ptr<BasicParameter<T>>& alpha() const { return this->param_at(alpha_); }

 private:
  std::size_t alpha_ = BasicParameterDict<T>::npos;  // in params()
};

using Activation = BasicActivation<float>;
using LeakyReLU = BasicLeakyReLU<float>;
using ELU = BasicELU<float>;
using SELU = BasicSELU<float>;
using GELU = BasicGELU<float>;
using Swish = BasicSwish<float>;
using PReLUOptions = BasicPReLUOptions<float>;
using PReLU = BasicPReLU<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_ACTIVATIONS_INSTANTIATIONS(X, T) \
  X class BasicActivation<T>; \
  X class BasicLeakyReLU<T>; \
  X class BasicELU<T>; \
  X class BasicSELU<T>; \
  X class BasicGELU<T>; \
  X class BasicSwish<T>; \
  X class BasicPReLU<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_ACTIVATIONS_INSTANTIATIONS)
}  // namespace gluino::nn
