// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Pooling layers over NCW inputs: MaxPool1D, AvgPool1D, GlobalMaxPool1D, GlobalAvgPool1D.
/// Gluon: gluon.nn.MaxPool1D, AvgPool1D, GlobalMaxPool1D, GlobalAvgPool1D.
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/pool1d.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/conv_layer.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of MaxPool1D after pool_size and strides, in the order of gluon.nn.MaxPool1D's
/// keyword arguments (without layout: NCW only): MaxPool1D{3, 2, {.padding = 1}}.
struct MaxPool1DOptions {
  std::size_t padding = 0;  ///< padding on each side, < pool_size; padded cells never win the max
  bool ceil_mode = false;   ///< round the output size up instead of down
};

/// Options of AvgPool1D after pool_size and strides, in the order of gluon.nn.AvgPool1D's
/// keyword arguments (without layout): AvgPool1D{3, 1, {.padding = 1, .count_include_pad = false}}.
struct AvgPool1DOptions {
  std::size_t padding = 0;        ///< zeros added on each side, < pool_size
  bool ceil_mode = false;         ///< round the output size up instead of down
  bool count_include_pad = true;  ///< padding zeros count in the divisor
};

/// The shared part of the 1-D pooling layers (Gluon's _Pooling): no parameters, forward is
/// nd::pooling1d with fixed options, printed as Gluon prints them.  Named "pool0_", "pool1_",
/// ... as in Gluon.  Derived classes set the options.
template <class T>
class BasicPool1D : public BasicBlock<T> {
 public:
  NDArray<T> forward(const NDArray<T>& x) override {
    GLUINO_CHECK(ShapeError, x.ndim() == 3, this->who(), ": input must be 3-D (N, C, W), got shape ", x.shape());
    return nd::pooling1d(x, opt_);
  }

  /// As Gluon: "MaxPool1D(size=(2,), stride=(2,), padding=(0,), ceil_mode=False,
  /// global_pool=False, pool_type=max, layout=NCW)".
  std::string repr() const override {
    std::ostringstream s;
    s << type_name_ << "(size=" << detail::python_tuple1(pool_size()) << ", stride=" << detail::python_tuple1(strides())
      << ", padding=" << detail::python_tuple1(padding()) << ", ceil_mode=" << detail::python_bool(ceil_mode())
      << ", global_pool=" << detail::python_bool(opt_.global_pool)
      << ", pool_type=" << (opt_.type == nd::pool_type::max ? "max" : "avg") << ", layout=NCW)";
    return s.str();
  }
  std::string type_name() const override { return type_name_; }

  std::size_t pool_size() const { return opt_.kernel; }
  std::size_t strides() const { return opt_.stride; }
  std::size_t padding() const { return opt_.pad; }
  bool ceil_mode() const { return opt_.convention == nd::pooling_convention::full; }
  /// The options given to nd::pooling1d.
  const nd::Pool1DOptions& pool_options() const { return opt_; }

 protected:
  BasicPool1D(std::string type_name, std::size_t pool_size, std::size_t strides, std::size_t padding, bool ceil_mode,
              nd::pool_type type, bool global_pool, bool count_include_pad, std::string prefix)
      : BasicBlock<T>({.alias = "pool", .prefix = std::move(prefix)}),  // Gluon's _Pooling._alias
        type_name_(std::move(type_name)) {
    detail::check_size1(type_name_.c_str(), "pool_size", pool_size, true);
    detail::check_size1(type_name_.c_str(), "padding", padding, false);
    if (strides == 0) strides = pool_size;  // Gluon: strides=None means pool_size
    detail::check_size1(type_name_.c_str(), "strides", strides, true);
    GLUINO_CHECK(ValueError, padding < pool_size, type_name_, ": padding ", detail::python_tuple1(padding),
                 " must be smaller than pool_size ", detail::python_tuple1(pool_size));
    opt_ = {.kernel = pool_size, .stride = strides, .pad = padding, .type = type, .global_pool = global_pool,
            .convention = ceil_mode ? nd::pooling_convention::full : nd::pooling_convention::valid,
            .count_include_pad = count_include_pad};
  }

 private:
  std::string type_name_;
  nd::Pool1DOptions opt_;
};

/// Max pooling: each output is the maximum of a pool_size window.  Mirrors gluon.nn.MaxPool1D.
/// x: (N, C, W) -> (N, C, Wo), Wo = floor((W + 2 padding - pool_size) / strides) + 1 (ceil with
/// ceil_mode, MXNet's rule: a last window that starts in the right padding is kept, where
/// PyTorch drops it).  strides = 0 (the default) means pool_size, as Gluon's None.  ValueError
/// naming the argument for a zero or negative pool_size or strides, a negative padding, a size
/// above 2^40, or padding >= pool_size.
template <class T>
class BasicMaxPool1D : public BasicPool1D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicMaxPool1D<U>>(this->pool_size(), this->strides(),
                                             MaxPool1DOptions{.padding = this->padding(), .ceil_mode = this->ceil_mode()});
    });
  }
  explicit BasicMaxPool1D(std::size_t pool_size = 2, std::size_t strides = 0, MaxPool1DOptions opt = {},
                          std::string prefix = "")
      : BasicPool1D<T>("MaxPool1D", pool_size, strides, opt.padding, opt.ceil_mode, nd::pool_type::max, false, true,
                       std::move(prefix)) {}
};

/// Average pooling: each output is the mean of a pool_size window.  Mirrors gluon.nn.AvgPool1D.
/// Shapes as MaxPool1D.  With count_include_pad (the default) padding zeros count in the divisor;
/// without, only the real elements of the window do.
template <class T>
class BasicAvgPool1D : public BasicPool1D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicAvgPool1D<U>>(
          this->pool_size(), this->strides(),
          AvgPool1DOptions{.padding = this->padding(), .ceil_mode = this->ceil_mode(),
                           .count_include_pad = this->pool_options().count_include_pad});
    });
  }
  explicit BasicAvgPool1D(std::size_t pool_size = 2, std::size_t strides = 0, AvgPool1DOptions opt = {},
                          std::string prefix = "")
      : BasicPool1D<T>("AvgPool1D", pool_size, strides, opt.padding, opt.ceil_mode, nd::pool_type::avg, false,
                       opt.count_include_pad, std::move(prefix)) {}
};

/// Maximum over each channel: (N, C, W) -> (N, C, 1).  Mirrors gluon.nn.GlobalMaxPool1D (printed
/// as Gluon does, with its nominal size (1,) and ceil_mode=True).
template <class T>
class BasicGlobalMaxPool1D : public BasicPool1D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicGlobalMaxPool1D<U>>();
    });
  }
  explicit BasicGlobalMaxPool1D(std::string prefix = "")
      : BasicPool1D<T>("GlobalMaxPool1D", 1, 1, 0, true, nd::pool_type::max, true, true, std::move(prefix)) {}
};

/// Mean over each channel: (N, C, W) -> (N, C, 1).  Mirrors gluon.nn.GlobalAvgPool1D.
template <class T>
class BasicGlobalAvgPool1D : public BasicPool1D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicGlobalAvgPool1D<U>>();
    });
  }
  explicit BasicGlobalAvgPool1D(std::string prefix = "")
      : BasicPool1D<T>("GlobalAvgPool1D", 1, 1, 0, true, nd::pool_type::avg, true, true, std::move(prefix)) {}
};

using MaxPool1D = BasicMaxPool1D<float>;
using AvgPool1D = BasicAvgPool1D<float>;
using GlobalMaxPool1D = BasicGlobalMaxPool1D<float>;
using GlobalAvgPool1D = BasicGlobalAvgPool1D<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_POOLING1D_INSTANTIATIONS(X, T) \
  X class BasicPool1D<T>; \
  X class BasicMaxPool1D<T>; \
  X class BasicAvgPool1D<T>; \
  X class BasicGlobalMaxPool1D<T>; \
  X class BasicGlobalAvgPool1D<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_POOLING1D_INSTANTIATIONS)
}  // namespace gluino::nn
