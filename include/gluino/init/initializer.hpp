// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Initializers: the base class that dispatches on a parameter name's suffix (Gluon's
/// mx.init.Initializer), the holder that stores "any initializer" (BasicAnyInitializer), and the
/// simple built-ins Uniform (Gluon's default), Normal, Constant, Zero and One.  Xavier and
/// MSRAPrelu are in init/xavier.hpp.
///
/// A user's initializer derives from init::Initializer and overrides only what it needs:
///   struct MyInit : init::Initializer {
///     void init_weight(const std::string&, NDArray<float>& arr) override { arr.fill(1.0f); }
///   };
///   net.initialize(MyInit{});
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/random.hpp"

namespace gluino::init {

/// Base of every initializer.  operator()(name, arr) fills arr according to the suffix of name,
/// as Gluon's Initializer.__call__: "weight" -> init_weight, "bias" -> init_bias (zeros),
/// "gamma" -> init_gamma (ones), "beta" -> init_beta (zeros), "running_mean" (zeros),
/// "running_var" (ones), anything else -> init_default, which is init_weight (Gluon: a
/// parameter without its own initializer gets the global initializer's _init_weight, whatever
/// its name), so a custom layer's "scale" or "alpha" is initialized like a weight.
/// init_weight of the base class throws ValueError: a concrete initializer overrides it.
/// Initializers write into arr in place (they may also assign a new array of the same shape).
template <class T>
class BasicInitializer {
 public:
  virtual ~BasicInitializer() = default;

  /// Fills arr by the suffix of name (see the class comment).  Gluon: init(desc, arr).
  void operator()(const std::string& name, NDArray<T>& arr) {
    if (ends_with(name, "weight")) return init_weight(name, arr);
    if (ends_with(name, "bias")) return init_bias(name, arr);
    if (ends_with(name, "gamma")) return init_gamma(name, arr);
    if (ends_with(name, "beta")) return init_beta(name, arr);
    if (ends_with(name, "running_mean") || ends_with(name, "moving_mean")) return init_running_mean(name, arr);
    if (ends_with(name, "running_var") || ends_with(name, "moving_var")) return init_running_var(name, arr);
    init_default(name, arr);
  }

  /// Weights.  Gluon: _init_weight, which every concrete initializer overrides.
  virtual void init_weight(const std::string& name, NDArray<T>& arr) {
    (void)arr;
    detail::raise<ValueError>("initializer: this initializer does not define init_weight (needed for '", name,
                              "'); override init_weight");
  }
  /// Biases: zeros.  Gluon: _init_bias.
  virtual void init_bias(const std::string&, NDArray<T>& arr) { arr.fill(T(0)); }
  /// BatchNorm scale: ones.  Gluon: _init_gamma.
  virtual void init_gamma(const std::string&, NDArray<T>& arr) { arr.fill(T(1)); }
  /// BatchNorm shift: zeros.  Gluon: _init_beta.
  virtual void init_beta(const std::string&, NDArray<T>& arr) { arr.fill(T(0)); }
  /// BatchNorm running mean: zeros.
  virtual void init_running_mean(const std::string&, NDArray<T>& arr) { arr.fill(T(0)); }
  /// BatchNorm running variance: ones.
  virtual void init_running_var(const std::string&, NDArray<T>& arr) { arr.fill(T(1)); }
  /// Any other name ("scale", "alpha"): init_weight, as Gluon initializes a parameter without
  /// its own initializer through the global initializer's _init_weight.
  virtual void init_default(const std::string& name, NDArray<T>& arr) { init_weight(name, arr); }

  /// This initializer for float or double parameters, for nn::Block::cast: the built-in
  /// initializers return a copy of themselves for the other element type; the default, null,
  /// means "cannot", and a cast parameter then has no own initializer (a user's initializer
  /// overrides these to keep it).
  virtual std::shared_ptr<BasicInitializer<float>> rebind_float() const { return nullptr; }
  virtual std::shared_ptr<BasicInitializer<double>> rebind_double() const { return nullptr; }

 protected:
  static bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
};

/// Holds any initializer (shared, type-erased), or nothing.  Converts implicitly from an
/// initializer object (copied), from a shared_ptr to one, and from a built-in initializer of
/// another element type (init::Xavier{} given to a double network becomes BasicXavier<double>).
/// Used wherever Gluon accepts an initializer: ParameterDict::initialize, Block::initialize,
/// a parameter's own initializer, Dense's weight_initializer.  Empty means "none" (Gluon's None).
template <class T>
class BasicAnyInitializer {
 public:
  BasicAnyInitializer() = default;
  BasicAnyInitializer(std::nullptr_t) {}
  BasicAnyInitializer(std::shared_ptr<BasicInitializer<T>> p) : ptr_(std::move(p)) {}
  template <class I, class D = std::remove_cvref_t<I>,
            class = std::enable_if_t<!std::is_same_v<D, BasicAnyInitializer> &&
                                     !std::is_same_v<D, std::shared_ptr<BasicInitializer<T>>> &&
                                     !std::is_same_v<D, std::nullptr_t>>>
  BasicAnyInitializer(I&& init) {  // NOLINT: implicit on purpose, like Gluon's init=...
    if constexpr (std::is_base_of_v<BasicInitializer<T>, D>) {
      ptr_ = std::make_shared<D>(std::forward<I>(init));
    } else if constexpr (std::is_convertible_v<D, std::shared_ptr<BasicInitializer<T>>>) {
      ptr_ = std::forward<I>(init);  // a shared_ptr to a derived initializer
    } else if constexpr (requires { typename D::template rebind<T>; }) {
      ptr_ = std::make_shared<typename D::template rebind<T>>(init);
    } else {
      static_assert(std::is_base_of_v<BasicInitializer<T>, D>,
                    "BasicAnyInitializer<T>: not an initializer for this element type T "
                    "(derive from init::BasicInitializer<T>)");
    }
  }

  explicit operator bool() const { return ptr_ != nullptr; }
  BasicInitializer<T>* get() const { return ptr_.get(); }
  BasicInitializer<T>& operator*() const { return *ptr_; }
  BasicInitializer<T>* operator->() const { return ptr_.get(); }

 private:
  std::shared_ptr<BasicInitializer<T>> ptr_;
};

/// init for parameters of element type U (nn::Block::cast): itself when U is T, else the
/// initializer's rebind_float() / rebind_double(); empty when init is empty or cannot rebind.
template <class U, class T>
BasicAnyInitializer<U> rebind_initializer(const BasicAnyInitializer<T>& init) {
  if constexpr (std::is_same_v<U, T>) {
    return init;
  } else {
    static_assert(std::is_same_v<U, float> || std::is_same_v<U, double>, "rebind_initializer: float or double");
    if (!init) return {};
    if constexpr (std::is_same_v<U, float>)
      return BasicAnyInitializer<U>(init->rebind_float());
    else
      return BasicAnyInitializer<U>(init->rebind_double());
  }
}

/// Weights from U[-scale, scale).  Gluon: mx.init.Uniform(scale=0.07), Gluon's default initializer.
/// Uniform, Normal, Xavier and MSRAPrelu draw from the calling thread's random::default_generator().
template <class T>
class BasicUniform : public BasicInitializer<T> {
 public:
  template <class U>
  using rebind = BasicUniform<U>;
  std::shared_ptr<BasicInitializer<float>> rebind_float() const override {
    return std::make_shared<BasicUniform<float>>(*this);
  }
  std::shared_ptr<BasicInitializer<double>> rebind_double() const override {
    return std::make_shared<BasicUniform<double>>(*this);
  }
  /// ValueError unless 0 <= scale <= the largest T (NaN and infinity would fill the weights with NaN).
  explicit BasicUniform(double scale = 0.07) : scale_(scale) {
    GLUINO_CHECK(ValueError, scale >= 0 && scale <= static_cast<double>(std::numeric_limits<T>::max()),
                 "Uniform: scale must be >= 0 and finite, got ", scale);
  }
  template <class U>
  explicit BasicUniform(const BasicUniform<U>& o) : BasicUniform(o.scale()) {}
  void init_weight(const std::string&, NDArray<T>& arr) override {
    nd::random::uniform<T>(static_cast<T>(-scale_), static_cast<T>(scale_), arr);
  }
  double scale() const { return scale_; }

 private:
  double scale_;
};

/// Weights from N(0, sigma^2).  Gluon: mx.init.Normal(sigma=0.01).
template <class T>
class BasicNormal : public BasicInitializer<T> {
 public:
  template <class U>
  using rebind = BasicNormal<U>;
  std::shared_ptr<BasicInitializer<float>> rebind_float() const override {
    return std::make_shared<BasicNormal<float>>(*this);
  }
  std::shared_ptr<BasicInitializer<double>> rebind_double() const override {
    return std::make_shared<BasicNormal<double>>(*this);
  }
  /// ValueError unless 0 <= sigma <= the largest T.
  explicit BasicNormal(double sigma = 0.01) : sigma_(sigma) {
    GLUINO_CHECK(ValueError, sigma >= 0 && sigma <= static_cast<double>(std::numeric_limits<T>::max()),
                 "Normal: sigma must be >= 0 and finite, got ", sigma);
  }
  template <class U>
  explicit BasicNormal(const BasicNormal<U>& o) : BasicNormal(o.sigma()) {}
  void init_weight(const std::string&, NDArray<T>& arr) override {
    nd::random::normal<T>(T(0), static_cast<T>(sigma_), arr);
  }
  double sigma() const { return sigma_; }

 private:
  double sigma_;
};

/// Weights set to a constant.  Gluon: mx.init.Constant(value).  Like Gluon, only init_weight is
/// overridden: as a global initializer, biases still get zeros and gammas ones; as a
/// parameter's own initializer (bias_initializer = init::Constant{3}) it fills that parameter.
template <class T>
class BasicConstant : public BasicInitializer<T> {
 public:
  template <class U>
  using rebind = BasicConstant<U>;
  std::shared_ptr<BasicInitializer<float>> rebind_float() const override {
    return std::make_shared<BasicConstant<float>>(*this);
  }
  std::shared_ptr<BasicInitializer<double>> rebind_double() const override {
    return std::make_shared<BasicConstant<double>>(*this);
  }
  /// ValueError unless |value| <= the largest T (NaN and infinity would fill the weights with them).
  explicit BasicConstant(double value) : value_(value) {
    GLUINO_CHECK(ValueError, std::abs(value) <= static_cast<double>(std::numeric_limits<T>::max()),
                 "Constant: value must be a finite number, got ", value);
  }
  template <class U>
  explicit BasicConstant(const BasicConstant<U>& o) : BasicConstant(o.value()) {}
  void init_weight(const std::string&, NDArray<T>& arr) override { arr.fill(static_cast<T>(value_)); }
  double value() const { return value_; }

 private:
  double value_;
};

/// Weights set to 0.  Gluon: mx.init.Zero() ('zeros'); Dense's default bias initializer.
template <class T>
class BasicZero : public BasicInitializer<T> {
 public:
  template <class U>
  using rebind = BasicZero<U>;
  std::shared_ptr<BasicInitializer<float>> rebind_float() const override {
    return std::make_shared<BasicZero<float>>(*this);
  }
  std::shared_ptr<BasicInitializer<double>> rebind_double() const override {
    return std::make_shared<BasicZero<double>>(*this);
  }
  BasicZero() = default;
  template <class U>
  explicit BasicZero(const BasicZero<U>&) {}
  void init_weight(const std::string&, NDArray<T>& arr) override { arr.fill(T(0)); }
};

/// Weights set to 1.  Gluon: mx.init.One() ('ones').
template <class T>
class BasicOne : public BasicInitializer<T> {
 public:
  template <class U>
  using rebind = BasicOne<U>;
  std::shared_ptr<BasicInitializer<float>> rebind_float() const override {
    return std::make_shared<BasicOne<float>>(*this);
  }
  std::shared_ptr<BasicInitializer<double>> rebind_double() const override {
    return std::make_shared<BasicOne<double>>(*this);
  }
  BasicOne() = default;
  template <class U>
  explicit BasicOne(const BasicOne<U>&) {}
  void init_weight(const std::string&, NDArray<T>& arr) override { arr.fill(T(1)); }
};

/// The float spellings, with Gluon's names: init::Initializer, init::Uniform, ...
using Initializer = BasicInitializer<float>;
using AnyInitializer = BasicAnyInitializer<float>;
using Uniform = BasicUniform<float>;
using Normal = BasicNormal<float>;
using Constant = BasicConstant<float>;
using Zero = BasicZero<float>;
using One = BasicOne<float>;

}  // namespace gluino::init

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_INIT_INITIALIZER_INSTANTIATIONS(X, T) \
  X class BasicInitializer<T>; \
  X class BasicAnyInitializer<T>; \
  X class BasicUniform<T>; \
  X class BasicNormal<T>; \
  X class BasicConstant<T>; \
  X class BasicZero<T>; \
  X class BasicOne<T>;
namespace gluino::init {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_INIT_INITIALIZER_INSTANTIATIONS)
}  // namespace gluino::init
