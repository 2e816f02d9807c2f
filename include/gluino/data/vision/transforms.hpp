// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Image transforms for data pipelines.  Mirrors gluon.data.vision.transforms: ToTensor,
/// Normalize, Resize, Compose.  Each applies to one image or to a whole batch (N first), runs
/// plain loops on the data (never recorded by autograd) and returns a new array.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"

namespace gluino::data::vision::transforms {

/// (H, W, C) values in [0, 255] -> (C, H, W) in [0, 1]; a batch (N, H, W, C) -> (N, C, H, W).
/// Mirrors gluon.data.vision.transforms.ToTensor (which also accepts uint8 input; here the
/// input is already T).
class ToTensor {
 public:
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    GLUINO_CHECK(ShapeError, x.ndim() == 3 || x.ndim() == 4,
                 "ToTensor: expected an image (H, W, C) or a batch (N, H, W, C), got shape ", x.shape());
    const bool batch = x.ndim() == 4;
    const std::size_t n = batch ? x.shape(0) : 1, h = x.shape(-3), w = x.shape(-2), c = x.shape(-1), hw = h * w;
    NDArray<T> y(batch ? Shape{n, c, h, w} : Shape{c, h, w});
    const T* src = x.data();
    T* dst = y.data();
    const T scale = T(1) / T(255);
    gluino::detail::parallel_for(n, [&](std::size_t i) {
      const T* s = src + i * hw * c;
      T* d = dst + i * hw * c;
      if (c == 1) {
        for (std::size_t p = 0; p < hw; ++p) d[p] = s[p] * scale;
      } else {
        for (std::size_t p = 0; p < hw; ++p)
          for (std::size_t k = 0; k < c; ++k) d[k * hw + p] = s[p * c + k] * scale;
      }
    }, hw * c);
    return y;
  }
};

/// Per channel: (x - mean[c]) / std[c], on (C, H, W) or a batch (N, C, H, W).  mean and std hold
/// one value (every channel) or one per channel.  ValueError at construction, naming the channel
/// and the value, for a mean that is NaN or infinite, or a std that is not a finite number > 0
/// with a finite inverse (0, negative, NaN, infinite, or so small that 1 / std overflows); and
/// at a call, for a mean or 1 / std that is finite as a double but not as the image's element
/// type (a mean of 1e300 on float images).  Mirrors gluon.data.vision.transforms.Normalize
/// (which checks none of these: a std of 0 gives infinities, a NaN mean NaN images).
class Normalize {
 public:
  Normalize(double mean, double std) : Normalize(std::vector<double>{mean}, std::vector<double>{std}) {}
  Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
    GLUINO_CHECK(ValueError, !mean_.empty() && mean_.size() == std_.size(),
                 "Normalize: mean and std need the same, non-zero number of values, got ", mean_.size(), " and ",
                 std_.size());
    for (std::size_t k = 0; k < mean_.size(); ++k) {
      GLUINO_CHECK(ValueError, std::isfinite(mean_[k]), "Normalize: mean ", channel(k),
                   " must be a finite number, got ", mean_[k]);
      GLUINO_CHECK(ValueError, std::isfinite(std_[k]) && std_[k] > 0 && std::isfinite(1.0 / std_[k]), "Normalize: std ",
                   channel(k), " must be a finite number > 0 (with a finite inverse), got ", std_[k]);
    }
  }
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    GLUINO_CHECK(ShapeError, x.ndim() == 3 || x.ndim() == 4,
                 "Normalize: expected (C, H, W) or a batch (N, C, H, W), got shape ", x.shape());
    const bool batch = x.ndim() == 4;
    const std::size_t n = batch ? x.shape(0) : 1, c = x.shape(-3), hw = x.shape(-2) * x.shape(-1);
    GLUINO_CHECK(ShapeError, mean_.size() == 1 || mean_.size() == c, "Normalize: ", mean_.size(),
                 " mean/std values for ", c, " channels, shape ", x.shape());
    if constexpr (std::is_floating_point_v<T>)
      for (std::size_t k = 0; k < mean_.size(); ++k) {
        GLUINO_CHECK(ValueError, std::isfinite(static_cast<T>(mean_[k])), "Normalize: mean ", channel(k), " (",
                     mean_[k], ") is not a finite ", sizeof(T) == 4 ? "float" : "double");
        GLUINO_CHECK(ValueError, std::isfinite(static_cast<T>(1.0 / std_[k])), "Normalize: 1 / std ", channel(k), " (",
                     1.0 / std_[k], ") is not a finite ", sizeof(T) == 4 ? "float" : "double");
      }
    NDArray<T> y(x.shape());
    const T* src = x.data();
    T* dst = y.data();
    gluino::detail::parallel_for(n * c, [&](std::size_t nc) {
      const std::size_t k = mean_.size() == 1 ? 0 : nc % c;
      const T m = static_cast<T>(mean_[k]), inv = static_cast<T>(1.0 / std_[k]);
      for (std::size_t p = 0; p < hw; ++p) dst[nc * hw + p] = (src[nc * hw + p] - m) * inv;
    }, hw);
    return y;
  }

 private:
  /// "of channel k", or "(every channel)" for a single value.
  std::string channel(std::size_t k) const {
    return mean_.size() == 1 ? std::string("(every channel)") : "of channel " + std::to_string(k);
  }

  std::vector<double> mean_, std_;
};

/// Bilinear resize of (H, W, C) to (height, width, C), or of a batch (N, H, W, C).  Pixel
/// centres are aligned (source coordinate = (dst + 0.5) * in / out - 0.5, clamped at the
/// borders), as OpenCV's INTER_LINEAR that MXNet uses.  Values are not rounded.  Mirrors
/// gluon.data.vision.transforms.Resize(size) (keep_ratio=False, interpolation=1); apply it
/// before ToTensor, as in Gluon.
class Resize {
 public:
  /// A square output: size x size.
  explicit Resize(std::size_t size) : Resize(size, size) {}
  /// Gluon's order: (width, height).
  Resize(std::size_t width, std::size_t height) : width_(width), height_(height) {
    GLUINO_CHECK(ValueError, width > 0 && height > 0, "Resize: size must be > 0, got (", width, ", ", height, ")");
  }
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    GLUINO_CHECK(ShapeError, x.ndim() == 3 || x.ndim() == 4,
                 "Resize: expected an image (H, W, C) or a batch (N, H, W, C), got shape ", x.shape());
    const bool batch = x.ndim() == 4;
    const std::size_t n = batch ? x.shape(0) : 1, ih = x.shape(-3), iw = x.shape(-2), c = x.shape(-1);
    const std::size_t oh = height_, ow = width_;
    GLUINO_CHECK(ShapeError, ih > 0 && iw > 0, "Resize: empty image, shape ", x.shape());
    struct Tap {
      std::size_t i0, i1;
      T w1;  // weight of i1; i0 gets 1 - w1
    };
    auto taps = [](std::size_t in, std::size_t out) {
      std::vector<Tap> t(out);
      const double scale = static_cast<double>(in) / static_cast<double>(out);
      for (std::size_t o = 0; o < out; ++o) {
        const double s = std::clamp((static_cast<double>(o) + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
        const std::size_t i0 = static_cast<std::size_t>(s);
        t[o] = {i0, std::min(i0 + 1, in - 1), static_cast<T>(s - static_cast<double>(i0))};
      }
      return t;
    };
    // The output first: an output too large for the machine is Storage's error, before the taps.
    NDArray<T> y(batch ? Shape{n, oh, ow, c} : Shape{oh, ow, c});
    const std::vector<Tap> ty = taps(ih, oh), tx = taps(iw, ow);
    const T* src = x.data();
    T* dst = y.data();
    gluino::detail::parallel_for(n * oh, [&](std::size_t row) {
      const std::size_t i = row / oh, yo = row % oh;
      const T wy = ty[yo].w1;
      const T* r0 = src + (i * ih + ty[yo].i0) * iw * c;
      const T* r1 = src + (i * ih + ty[yo].i1) * iw * c;
      T* d = dst + row * ow * c;
      for (std::size_t xo = 0; xo < ow; ++xo) {
        const Tap& t = tx[xo];
        for (std::size_t k = 0; k < c; ++k) {
          const T top = r0[t.i0 * c + k] + t.w1 * (r0[t.i1 * c + k] - r0[t.i0 * c + k]);
          const T bot = r1[t.i0 * c + k] + t.w1 * (r1[t.i1 * c + k] - r1[t.i0 * c + k]);
          d[xo * c + k] = top + wy * (bot - top);
        }
      }
    }, ow * c * 4);
    return y;
  }

 private:
  std::size_t width_, height_;
};

/// Any transform usable on NDArray<float> and/or NDArray<double> (a transform class, Compose,
/// or a function); calling it with a type it does not accept is a ValueError.
class Transform {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Transform>>>
  Transform(F f) {  // NOLINT: implicit, so that Compose({ToTensor(), ...}) reads like Gluon
    constexpr bool f32 = std::is_invocable_r_v<NDArray<float>, const F&, const NDArray<float>&>;
    constexpr bool f64 = std::is_invocable_r_v<NDArray<double>, const F&, const NDArray<double>&>;
    static_assert(f32 || f64, "Transform: the function must map NDArray<float> or NDArray<double> to the same type");
    if constexpr (f32) f32_ = f;
    if constexpr (f64) f64_ = f;
  }
  NDArray<float> operator()(const NDArray<float>& x) const {
    GLUINO_CHECK(ValueError, static_cast<bool>(f32_), "Transform: this transform does not accept NDArray<float>");
    return f32_(x);
  }
  NDArray<double> operator()(const NDArray<double>& x) const {
    GLUINO_CHECK(ValueError, static_cast<bool>(f64_), "Transform: this transform does not accept NDArray<double>");
    return f64_(x);
  }

 private:
  std::function<NDArray<float>(const NDArray<float>&)> f32_;
  std::function<NDArray<double>(const NDArray<double>&)> f64_;
};

/// Applies transforms in order.  Mirrors gluon.data.vision.transforms.Compose:
/// `Compose({Resize(224), ToTensor(), Normalize(0.286, 0.353)})`.
class Compose {
 public:
  Compose(std::vector<Transform> transforms) : ts_(std::move(transforms)) {}  // NOLINT: implicit, as Gluon's list
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    NDArray<T> y = x;
    for (const Transform& t : ts_) y = t(y);
    return y;
  }
  std::size_t size() const { return ts_.size(); }

 private:
  std::vector<Transform> ts_;
};

}  // namespace gluino::data::vision::transforms
