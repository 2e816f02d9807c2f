// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Pooling layers over NCHW inputs: MaxPool2D, AvgPool2D, GlobalMaxPool2D, GlobalAvgPool2D.
/// Gluon: gluon.nn.MaxPool2D, AvgPool2D, GlobalMaxPool2D, GlobalAvgPool2D.
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/pool.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of MaxPool2D after pool_size and strides, in the order of gluon.nn.MaxPool2D's
/// keyword arguments (without layout: NCHW only): MaxPool2D{3, 2, {.padding = 1}}.
struct MaxPool2DOptions {
  Size2 padding = 0;       ///< padding on each side, < pool_size; padded cells never win the max
  bool ceil_mode = false;  ///< round the output size up instead of down
};

/// Options of AvgPool2D after pool_size and strides, in the order of gluon.nn.AvgPool2D's
/// keyword arguments (without layout): AvgPool2D{3, 1, {.padding = 1, .count_include_pad = false}}.
struct AvgPool2DOptions {
  Size2 padding = 0;              ///< zeros added on each side, < pool_size
  bool ceil_mode = false;         ///< round the output size up instead of down
  bool count_include_pad = true;  ///< padding zeros count in the divisor
};

/// The shared part of the pooling layers (Gluon's _Pooling): no parameters, forward is
/// nd::pooling with fixed options, printed as Gluon prints them.  Named "pool0_", "pool1_", ...
/// as in Gluon.  Derived classes set the options.
template <class T>
class BasicPool2D : public BasicBlock<T> {
 public:
  NDArray<T> forward(const NDArray<T>& x) override {
    GLUINO_CHECK(ShapeError, x.ndim() == 4, this->who(), ": input must be 4-D (N, C, H, W), got shape ", x.shape());
    return nd::pooling(x, opt_);
  }

  /// As Gluon: "MaxPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False,
  /// global_pool=False, pool_type=max, layout=NCHW)".
  std::string repr() const override {
    std::ostringstream s;
    s << type_name_ << "(size=" << pool_size() << ", stride=" << strides() << ", padding=" << padding()
      << ", ceil_mode=" << detail::python_bool(ceil_mode())
      << ", global_pool=" << detail::python_bool(opt_.global_pool)
      << ", pool_type=" << (opt_.type == nd::pool_type::max ? "max" : "avg") << ", layout=NCHW)";
    return s.str();
  }
  std::string type_name() const override { return type_name_; }

  Size2 pool_size() const { return {opt_.kernel[0], opt_.kernel[1]}; }
  Size2 strides() const { return {opt_.stride[0], opt_.stride[1]}; }
  Size2 padding() const { return {opt_.pad[0], opt_.pad[1]}; }
  bool ceil_mode() const { return opt_.convention == nd::pooling_convention::full; }
  /// The options given to nd::pooling.
  const nd::PoolOptions& pool_options() const { return opt_; }

 protected:
  BasicPool2D(std::string type_name, Size2 pool_size, Size2 strides, Size2 padding, bool ceil_mode,
              nd::pool_type type, bool global_pool, bool count_include_pad, std::string prefix)
      : BasicBlock<T>({.alias = "pool", .prefix = std::move(prefix)}),  // Gluon's _Pooling._alias
        type_name_(std::move(type_name)) {
    check_size2(type_name_.c_str(), "pool_size", pool_size, true);
    check_size2(type_name_.c_str(), "padding", padding, false);
    if (strides == Size2{0}) strides = pool_size;  // Gluon: strides=None means pool_size
    check_size2(type_name_.c_str(), "strides", strides, true);
    GLUINO_CHECK(ValueError, padding.h < pool_size.h && padding.w < pool_size.w, type_name_, ": padding ", padding,
                 " must be smaller than pool_size ", pool_size);
    opt_.kernel = pool_size.array();
    opt_.stride = strides.array();
    opt_.pad = padding.array();
    opt_.type = type;
    opt_.global_pool = global_pool;
    opt_.convention = ceil_mode ? nd::pooling_convention::full : nd::pooling_convention::valid;
    opt_.count_include_pad = count_include_pad;
  }

 private:
  std::string type_name_;
  nd::PoolOptions opt_;
};

/// Max pooling: each output is the maximum of a pool_size window.  Mirrors gluon.nn.MaxPool2D.
/// x: (N, C, H, W) -> (N, C, Ho, Wo), Ho = floor((H + 2 padding - pool_size) / strides) + 1
/// (ceil with ceil_mode).  strides = 0 (the default) means pool_size, as Gluon's None:
/// MaxPool2D{2} and MaxPool2D{2, 2} are the same; MaxPool2D{3, 2} is Gluon's
/// MaxPool2D(pool_size=3, strides=2).  ValueError naming the argument for a zero or negative
/// pool_size or strides, a negative padding, a size above 2^40 (a negative int converted to
/// size_t), or padding >= pool_size.
template <class T>
class BasicMaxPool2D : public BasicPool2D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicMaxPool2D<U>>(this->pool_size(), this->strides(),
                                             MaxPool2DOptions{.padding = this->padding(), .ceil_mode = this->ceil_mode()});
    });
  }
  explicit BasicMaxPool2D(Size2 pool_size = 2, Size2 strides = 0, MaxPool2DOptions opt = {}, std::string prefix = "")
      : BasicPool2D<T>("MaxPool2D", pool_size, strides, opt.padding, opt.ceil_mode, nd::pool_type::max, false, true,
                       std::move(prefix)) {}
};

/// Average pooling: each output is the mean of a pool_size window.  Mirrors gluon.nn.AvgPool2D.
/// Shapes as MaxPool2D.  With count_include_pad (the default) padding zeros count in the divisor;
/// without, only the real elements of the window do.
template <class T>
class BasicAvgPool2D : public BasicPool2D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicAvgPool2D<U>>(
          this->pool_size(), this->strides(),
          AvgPool2DOptions{.padding = this->padding(), .ceil_mode = this->ceil_mode(),
                           .count_include_pad = this->pool_options().count_include_pad});
    });
  }
  explicit BasicAvgPool2D(Size2 pool_size = 2, Size2 strides = 0, AvgPool2DOptions opt = {}, std::string prefix = "")
      : BasicPool2D<T>("AvgPool2D", pool_size, strides, opt.padding, opt.ceil_mode, nd::pool_type::avg, false,
                       opt.count_include_pad, std::move(prefix)) {}
};

/// Maximum over each (H, W) plane: (N, C, H, W) -> (N, C, 1, 1).  Mirrors gluon.nn.GlobalMaxPool2D
/// (printed as Gluon does, with its nominal size (1, 1) and ceil_mode=True).
template <class T>
class BasicGlobalMaxPool2D : public BasicPool2D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicGlobalMaxPool2D<U>>();
    });
  }
  explicit BasicGlobalMaxPool2D(std::string prefix = "")
      : BasicPool2D<T>("GlobalMaxPool2D", 1, 1, 0, true, nd::pool_type::max, true, true, std::move(prefix)) {}
};

/// Mean over each (H, W) plane: (N, C, H, W) -> (N, C, 1, 1).  Mirrors gluon.nn.GlobalAvgPool2D.
template <class T>
class BasicGlobalAvgPool2D : public BasicPool2D<T> {
 public:
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicGlobalAvgPool2D<U>>();
    });
  }
  explicit BasicGlobalAvgPool2D(std::string prefix = "")
      : BasicPool2D<T>("GlobalAvgPool2D", 1, 1, 0, true, nd::pool_type::avg, true, true, std::move(prefix)) {}
};

using MaxPool2D = BasicMaxPool2D<float>;
using AvgPool2D = BasicAvgPool2D<float>;
using GlobalMaxPool2D = BasicGlobalMaxPool2D<float>;
using GlobalAvgPool2D = BasicGlobalAvgPool2D<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_POOLING_INSTANTIATIONS(X, T) \
  X class BasicPool2D<T>; \
  X class BasicMaxPool2D<T>; \
  X class BasicAvgPool2D<T>; \
  X class BasicGlobalMaxPool2D<T>; \
  X class BasicGlobalAvgPool2D<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_POOLING_INSTANTIATIONS)
}  // namespace gluino::nn
