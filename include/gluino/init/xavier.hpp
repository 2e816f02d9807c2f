// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Fan-scaled initializers: Xavier (Glorot) and MSRAPrelu (He).  Gluon: mx.init.Xavier,
/// mx.init.MSRAPrelu.
#include <cmath>
#include <limits>
#include <string>

#include "gluino/detail/precompiled.hpp"
#include "gluino/init/initializer.hpp"

namespace gluino::init {

/// Xavier/Glorot initialization.  Gluon: mx.init.Xavier(rnd_type="uniform", factor_type="avg",
/// magnitude=3).  For a weight of shape (out, in, k1, k2, ...): fan_in = in * k1 * k2 * ...,
/// fan_out = out * k1 * k2 * ...; factor = (fan_in + fan_out) / 2 ("avg"), fan_in ("in") or
/// fan_out ("out"); scale = sqrt(magnitude / factor); weights from U[-scale, scale) ("uniform")
/// or N(0, scale^2) ("gaussian").  ValueError for an unknown rnd_type or factor_type, and for a
/// weight with fewer than 2 axes.  An empty weight (an axis of 0) is left as it is (MXNet
/// divides by its factor of 0).
template <class T>
class BasicXavier : public BasicInitializer<T> {
 public:
  template <class U>
  using rebind = BasicXavier<U>;
  std::shared_ptr<BasicInitializer<float>> rebind_float() const override {
    return std::make_shared<BasicXavier<float>>(*this);
  }
  std::shared_ptr<BasicInitializer<double>> rebind_double() const override {
    return std::make_shared<BasicXavier<double>>(*this);
  }
  explicit BasicXavier(std::string rnd_type = "uniform", std::string factor_type = "avg", double magnitude = 3)
      : rnd_type_(std::move(rnd_type)), factor_type_(std::move(factor_type)), magnitude_(magnitude) {
    GLUINO_CHECK(ValueError, rnd_type_ == "uniform" || rnd_type_ == "gaussian", "Xavier: unknown rnd_type '",
                 rnd_type_, "'; expected uniform or gaussian");
    GLUINO_CHECK(ValueError, factor_type_ == "avg" || factor_type_ == "in" || factor_type_ == "out",
                 "Xavier: unknown factor_type '", factor_type_, "'; expected avg, in or out");
    GLUINO_CHECK(ValueError, magnitude_ >= 0 && std::isfinite(magnitude_),
                 "Xavier: magnitude must be >= 0 and finite, got ", magnitude_);
  }
  template <class U>
  explicit BasicXavier(const BasicXavier<U>& o) : BasicXavier(o.rnd_type(), o.factor_type(), o.magnitude()) {}

  void init_weight(const std::string& name, NDArray<T>& arr) override {
    const Shape& s = arr.shape();
    GLUINO_CHECK(ValueError, s.ndim() >= 2, "Xavier: cannot initialize '", name, "' of shape ", s,
                 ": it needs at least 2 axes");
    if (arr.size() == 0) return;  // nothing to draw; its fan (a factor of 0) would give an infinite scale
    const double scale = std::sqrt(magnitude_ / factor(s));
    GLUINO_CHECK(ValueError, scale <= static_cast<double>(std::numeric_limits<T>::max()), "Xavier: the scale ", scale,
                 " for '", name, "' of shape ", s, " exceeds the element type's range (magnitude ", magnitude_, ")");
    if (rnd_type_ == "uniform")
      nd::random::uniform<T>(static_cast<T>(-scale), static_cast<T>(scale), arr);
    else
      nd::random::normal<T>(T(0), static_cast<T>(scale), arr);
  }

  /// The factor of the formula above for a weight of shape s (at least 2 axes).
  double factor(const Shape& s) const {
    double hw = 1;
    for (std::size_t d = 2; d < s.ndim(); ++d) hw *= static_cast<double>(s[d]);
    const double fan_in = static_cast<double>(s[1]) * hw, fan_out = static_cast<double>(s[0]) * hw;
    if (factor_type_ == "in") return fan_in;
    if (factor_type_ == "out") return fan_out;
    return (fan_in + fan_out) / 2;
  }
  const std::string& rnd_type() const { return rnd_type_; }
  const std::string& factor_type() const { return factor_type_; }
  double magnitude() const { return magnitude_; }

 private:
  std::string rnd_type_, factor_type_;
  double magnitude_;
};

/// He/MSRA initialization for (P)ReLU networks: Xavier("gaussian", factor_type,
/// 2 / (1 + slope^2)).  Gluon: mx.init.MSRAPrelu(factor_type="avg", slope=0.25).
template <class T>
class BasicMSRAPrelu : public BasicXavier<T> {
 public:
  template <class U>
  using rebind = BasicMSRAPrelu<U>;
  std::shared_ptr<BasicInitializer<float>> rebind_float() const override {
    return std::make_shared<BasicMSRAPrelu<float>>(*this);
  }
  std::shared_ptr<BasicInitializer<double>> rebind_double() const override {
    return std::make_shared<BasicMSRAPrelu<double>>(*this);
  }
  /// ValueError for a slope that is NaN or infinite, or an unknown factor_type.
  explicit BasicMSRAPrelu(std::string factor_type = "avg", double slope = 0.25)
      : BasicXavier<T>("gaussian", std::move(factor_type), magnitude_of(slope)), slope_(slope) {}
  template <class U>
  explicit BasicMSRAPrelu(const BasicMSRAPrelu<U>& o) : BasicMSRAPrelu(o.factor_type(), o.slope()) {}
  double slope() const { return slope_; }

 private:
  static double magnitude_of(double slope) {
    GLUINO_CHECK(ValueError, std::isfinite(slope), "MSRAPrelu: slope must be a finite number, got ", slope);
    return 2.0 / (1.0 + slope * slope);
  }
  double slope_;
};

using Xavier = BasicXavier<float>;
using MSRAPrelu = BasicMSRAPrelu<float>;

}  // namespace gluino::init

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_INIT_XAVIER_INSTANTIATIONS(X, T) \
  X class BasicXavier<T>; \
  X class BasicMSRAPrelu<T>;
namespace gluino::init {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_INIT_XAVIER_INSTANTIATIONS)
}  // namespace gluino::init
