// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Dense: the fully connected layer.  Gluon: gluon.nn.Dense.
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/linalg.hpp"
#include "gluino/nn/activations.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of Dense, in the order of gluon.nn.Dense's keyword arguments, so that designated
/// initializers read like a Gluon call: Dense{128, {.activation = "relu"}}.
template <class T>
struct BasicDenseOptions {
  /// "" = linear; otherwise relu, sigmoid, tanh, softrelu or softsign.
  std::string activation = "";
  bool use_bias = true;
  /// Use (N, d1, d2, ...) inputs as (N, d1*d2*...); otherwise the last axis holds the features
  /// and the others are kept: (..., in_units) -> (..., units).
  bool flatten = true;
  /// The weight's and the bias's own initializers (the bias's: Gluon's default 'zeros');
  /// {} = the one given to initialize().
  init::BasicAnyInitializer<T> weight_initializer = {}, bias_initializer = init::BasicZero<T>{};
  /// Input features; 0 = inferred at the first forward.
  std::size_t in_units = 0;
  /// Gluon's params=: share another block's parameters (e.g. other.params()).
  BasicParameterDict<T> params = {};
};

/// Fully connected: y = act(flatten(x) W^T + b).  Mirrors gluon.nn.Dense.
/// x: (N, ...) -> (N, units) (flatten), or (..., in_units) -> (..., units).
/// Parameters: weight (units, in_units), bias (units,).
/// ShapeError naming the block's prefix, the input shape and the weight's shape when the input's
/// features differ from in_units.  ValueError when the weight or bias could not be allocated
/// (more than PTRDIFF_MAX bytes): at construction, or for a deferred in_units at the first
/// forward, before anything is allocated.
template <class T>
class BasicDense : public BasicBlock<T> {
 public:
  explicit BasicDense(std::size_t units, BasicDenseOptions<T> opt = {}, std::string prefix = "")
      : BasicBlock<T>({.alias = "dense", .prefix = std::move(prefix), .params = std::move(opt.params)}), units_(units), act_(std::move(opt.activation)),
        flatten_(opt.flatten) {
    GLUINO_CHECK(ValueError, units > 0, "Dense: units must be > 0");
    GLUINO_CHECK(ValueError, units <= Storage<T>::max_size(), "Dense: units = ", units, " is too large (at most ",
                 Storage<T>::max_size(), " for ", sizeof(T), "-byte elements)");
    if (opt.in_units > 0)
      GLUINO_CHECK(ValueError, weight_fits(units, opt.in_units), "Dense: a weight of shape ", Shape{units, opt.in_units},
                   " is too large to allocate (more than ", Storage<T>::max_size(), " elements)");
    if (!act_.empty()) detail::check_activation_name("Dense", act_);
    weight_ = this->declare_param("weight", Shape{units, opt.in_units}, std::move(opt.weight_initializer));
    if (opt.use_bias) bias_ = this->declare_param("bias", Shape{units}, std::move(opt.bias_initializer));
  }
  std::string type_name() const override { return "Dense"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicDense<U>>(
          units_, BasicDenseOptions<U>{.activation = act_, .use_bias = bias() != nullptr, .flatten = flatten_,
                                       .in_units = in_units()});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const Shape& s = x.shape();
    GLUINO_CHECK(ShapeError, s.ndim() >= 1, this->who(), ": input must have at least one axis, got shape ", s);
    std::size_t in = s[s.ndim() - 1];
    if (flatten_) {
      in = 1;
      for (std::size_t d = 1; d < s.ndim(); ++d) in *= s[d];
    }
    const std::size_t known = weight()->shape()[1];
    GLUINO_CHECK(ShapeError, known == 0 || known == in, this->who(), ": input of shape ", s, " has ", in,
                 flatten_ ? " features (flattened)" : " features", " but weight '", weight()->name(), "' has shape ",
                 weight()->shape(), " (in_units ", known, ")");
    GLUINO_CHECK(ValueError, weight_fits(units_, in), this->who(), ": input of shape ", s,
                 " needs a weight of shape ", Shape{units_, in}, ", too large to allocate (more than ",
                 Storage<T>::max_size(), " elements)");
    weight()->finish_deferred_init(Shape{units_, in}, this->who());
    NDArray<T> y = nd::fully_connected(x, weight()->data(), bias() ? bias()->data() : NDArray<T>{}, flatten_);
    return act_.empty() ? y : nd::activation(y, act_);
  }

  /// "Dense(None -> 256, Activation(relu))" before the input size is known, then
  /// "Dense(20 -> 256, Activation(relu))"; "linear" without activation.  As Gluon.
  std::string repr() const override {
    std::ostringstream s;
    s << "Dense(" << detail::python_size(weight()->shape()[1]) << " -> " << units_ << ", " << (act_.empty() ? std::string("linear") : "Activation(" + act_ + ")") << ')';
    return s.str();
  }

  std::size_t units() const { return units_; }
  /// The input features (0 while unknown).
  std::size_t in_units() const { return weight()->shape()[1]; }
  const std::string& activation() const { return act_; }
  /// Gluon: dense.weight.
  const std::shared_ptr<BasicParameter<T>>& weight() const { return this->param_at(weight_); }
  /// Gluon: dense.bias; null when use_bias is false.
  const std::shared_ptr<BasicParameter<T>>& bias() const { return this->param_at(bias_); }

 private:
  static bool weight_fits(std::size_t units, std::size_t in) {
    std::size_t n;
    return !gluino::detail::mul_overflows(units, in, &n) && n <= Storage<T>::max_size();
  }
  std::size_t units_;
  std::string act_;
  bool flatten_;
  std::size_t weight_ = BasicParameterDict<T>::npos, bias_ = BasicParameterDict<T>::npos;  // in params()
};

using DenseOptions = BasicDenseOptions<float>;
using Dense = BasicDense<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_DENSE_INSTANTIATIONS(X, T) \
  X class BasicDense<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_DENSE_INSTANTIATIONS)
}  // namespace gluino::nn
