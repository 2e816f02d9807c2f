// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Layers without parameters that reshape or wrap a function: Flatten and Lambda.
/// Gluon: gluon.nn.Flatten, gluon.nn.Lambda.
#include <functional>
#include <string>
#include <utility>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/shape_ops.hpp"
#include "gluino/nn/block.hpp"

namespace gluino::nn {

/// (N, d1, d2, ...) -> (N, d1*d2*...), a view of the same data.  Mirrors gluon.nn.Flatten.
/// An empty batch flows through: (0, 50, 5, 5) -> (0, 1250), as in Gluon and PyTorch.
template <class T>
class BasicFlatten : public BasicBlock<T> {
 public:
  explicit BasicFlatten(std::string prefix = "") : BasicBlock<T>({.alias = "flatten", .prefix = std::move(prefix)}) {}
  std::string type_name() const override { return "Flatten"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicFlatten<U>>(); });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    const Shape& s = x.shape();
    GLUINO_CHECK(ShapeError, s.ndim() >= 1, this->who(), ": Flatten needs at least one axis, got shape ", s);
    // The explicit target shape, not (N, -1): -1 is ambiguous when N == 0.
    std::size_t rest = 1;
    for (std::size_t d = 1; d < s.ndim(); ++d) rest *= s[d];
    return nd::reshape(x, Shape{s[0], rest});
  }
  /// "Flatten", as Gluon.
  std::string repr() const override { return "Flatten"; }
};

/// Wraps a function of one array as a block.  Mirrors gluon.nn.Lambda(function).
/// Lambda{[](const NDArray<float>& x) { return x * 2.0f; }} or by the name of an nd function
/// of one argument: Lambda{"tanh"} (relu, sigmoid, tanh, softrelu, softsign, exp, log, sqrt,
/// square, abs, negative, flatten; ValueError for others).
template <class T>
class BasicLambda : public BasicBlock<T> {
 public:
  using Function = std::function<NDArray<T>(const NDArray<T>&)>;

  /// A block calling fn.  Printed as "Lambda(<lambda>)".
  explicit BasicLambda(Function fn, std::string prefix = "")
      : BasicBlock<T>({.alias = "lambda", .prefix = std::move(prefix)}), fn_(std::move(fn)), fn_name_("<lambda>") {
    GLUINO_CHECK(ValueError, static_cast<bool>(fn_), "Lambda: the function is empty");
  }
  /// A block calling the nd function of that name.  Printed as "Lambda(tanh)".
  explicit BasicLambda(const std::string& function, std::string prefix = "")
      : BasicLambda(by_name(function), std::move(prefix)) {
    fn_name_ = function;
  }
  explicit BasicLambda(const char* function, std::string prefix = "")
      : BasicLambda(std::string(function), std::move(prefix)) {}

  std::string type_name() const override { return "Lambda"; }
  /// For cast: a Lambda of an nd function's name is made again by that name; one of a C++
  /// function cannot be (ValueError).
  AnyBlockPtr rebuild(Dtype to) const override {
    GLUINO_CHECK(ValueError, fn_name_ != "<lambda>", this->who(), ": cast: a Lambda of a C++ function cannot be made "
                 "for another element type; use a Lambda of an nd function's name (Lambda(\"tanh\")) or a block "
                 "class that overrides rebuild");
    return rebuild_as(to, [&]<class U>() { return std::make_shared<BasicLambda<U>>(fn_name_); });
  }
  NDArray<T> forward(const NDArray<T>& x) override { return fn_(x); }
  std::string repr() const override { return "Lambda(" + fn_name_ + ")"; }

 private:
  static Function by_name(const std::string& f) {
    if (f == "relu" || f == "sigmoid" || f == "tanh" || f == "softrelu" || f == "softsign")
      return [f](const NDArray<T>& x) { return nd::activation(x, f); };
    if (f == "exp") return [](const NDArray<T>& x) { return nd::exp(x); };
    if (f == "log") return [](const NDArray<T>& x) { return nd::log(x); };
    if (f == "sqrt") return [](const NDArray<T>& x) { return nd::sqrt(x); };
    if (f == "square") return [](const NDArray<T>& x) { return nd::square(x); };
    if (f == "abs") return [](const NDArray<T>& x) { return nd::abs(x); };
    if (f == "negative") return [](const NDArray<T>& x) { return nd::negative(x); };
    if (f == "flatten") return [](const NDArray<T>& x) { return x.flatten(); };
    detail::raise<ValueError>("Lambda: unknown function '", f,
                              "'; pass a callable, or one of relu, sigmoid, tanh, softrelu, softsign, exp, log, "
                              "sqrt, square, abs, negative, flatten");
  }

  Function fn_;
  std::string fn_name_;
};

using Flatten = BasicFlatten<float>;
using Lambda = BasicLambda<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_BASIC_LAYERS_INSTANTIATIONS(X, T) \
  X class BasicFlatten<T>; \
  X class BasicLambda<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_BASIC_LAYERS_INSTANTIATIONS)
}  // namespace gluino::nn
