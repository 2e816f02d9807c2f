// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Image augmentations for data pipelines.  Mirrors gluon.data.vision.transforms: CenterCrop,
/// RandomCrop, RandomResizedCrop, RandomFlipLeftRight, RandomFlipTopBottom, RandomBrightness,
/// RandomContrast.  Like Resize, they take images (H, W, C) with values 0..255 as T (apply them
/// before ToTensor, as in Gluon); the flips and colour changes also take batches (N, H, W, C), each
/// image drawing its own.  Random choices come from the `generator` option, else from
/// data::sample_generator(): seeded per batch inside a DataLoader, so results do not depend on
/// its num_workers.  A generator passed explicitly must not be shared by threads running at once
/// (a DataLoader's workers): leave it unset there.  Each returns a new array; Compose chains them.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

#include "gluino/core/ndarray.hpp"
#include "gluino/core/random.hpp"
#include "gluino/data/dataset.hpp"
#include "gluino/data/vision/transforms.hpp"

namespace gluino::data::vision::transforms {

namespace detail {
inline random::Generator& generator_or_sample(random::Generator* gen) { return gen ? *gen : sample_generator(); }
// Gluon's random.randint(lo, hi): uniform over lo..hi inclusive.
inline std::size_t randint_inclusive(random::Generator& gen, std::size_t lo, std::size_t hi) {
  return lo + static_cast<std::size_t>(gen.randint(hi - lo + 1));
}
template <class T>
void check_image(const NDArray<T>& x, const char* op, bool batch_ok) {
  GLUINO_CHECK(ShapeError, x.ndim() == 3 || (batch_ok && x.ndim() == 4), op, ": expected an image (H, W, C)",
               batch_ok ? " or a batch (N, H, W, C)" : "", ", got shape ", x.shape());
  GLUINO_CHECK(ShapeError, x.size() > 0, op, ": empty image, shape ", x.shape());
}
// MXNet's image.scale_down: the largest (w, h) of the aspect ratio of `want` that fits in (sw, sh).
inline std::pair<std::size_t, std::size_t> scale_down(std::size_t sw, std::size_t sh, std::size_t w, std::size_t h) {
  double fw = static_cast<double>(w), fh = static_cast<double>(h);
  if (static_cast<double>(sh) < fh) {
    fw = fw * static_cast<double>(sh) / fh;
    fh = static_cast<double>(sh);
  }
  if (static_cast<double>(sw) < fw) {
    fh = fh * static_cast<double>(sw) / fw;
    fw = static_cast<double>(sw);
  }
  return {std::max<std::size_t>(1, static_cast<std::size_t>(fw)), std::max<std::size_t>(1, static_cast<std::size_t>(fh))};
}
// MXNet's image.fixed_crop: the (w, h) region at (x0, y0) of an (H, W, C) image, resized
// (bilinear, as Resize) to (ow, oh) when that differs.
template <class T>
NDArray<T> fixed_crop(const NDArray<T>& x, std::size_t x0, std::size_t y0, std::size_t w, std::size_t h,
                      std::size_t ow, std::size_t oh) {
  const std::size_t iw = x.shape(1), c = x.shape(2);
  NDArray<T> out(Shape{h, w, c});
  for (std::size_t r = 0; r < h; ++r)
    std::copy_n(x.data() + ((y0 + r) * iw + x0) * c, w * c, out.data() + r * w * c);
  return (w == ow && h == oh) ? out : Resize(ow, oh)(out);
}
// Applies f(src image, dst image, pixels per image, channels, generator) to each image of x.
template <class T, class F>
NDArray<T> per_image(const NDArray<T>& x, random::Generator& gen, F f) {
  const std::size_t n = x.ndim() == 4 ? x.shape(0) : 1, per = x.size() / n;
  NDArray<T> y(x.shape());
  for (std::size_t i = 0; i < n; ++i) f(x.data() + i * per, y.data() + i * per, gen);
  return y;
}
}  // namespace detail

/// Options of the random flips.
struct RandomFlipOptions {
  /// Where the coin tosses come from; null = data::sample_generator().  Not in Gluon.
  random::Generator* generator = nullptr;
};

/// Mirrors each image left to right (reverses W) with probability 1/2; (H, W, C) or
/// (N, H, W, C).  Mirrors gluon.data.vision.transforms.RandomFlipLeftRight.
class RandomFlipLeftRight {
 public:
  explicit RandomFlipLeftRight(RandomFlipOptions opt = {}) : opt_(opt) {}
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    detail::check_image(x, "RandomFlipLeftRight", true);
    const std::size_t h = x.shape(-3), w = x.shape(-2), c = x.shape(-1);
    return detail::per_image(x, detail::generator_or_sample(opt_.generator),
                             [&](const T* s, T* d, random::Generator& gen) {
                               const bool flip = gen.uniform01() < 0.5;
                               for (std::size_t r = 0; r < h; ++r)
                                 for (std::size_t col = 0; col < w; ++col)
                                   std::copy_n(s + (r * w + (flip ? w - 1 - col : col)) * c, c, d + (r * w + col) * c);
                             });
  }

 private:
  RandomFlipOptions opt_;
};

/// Mirrors each image top to bottom (reverses H) with probability 1/2; (H, W, C) or
/// (N, H, W, C).  Mirrors gluon.data.vision.transforms.RandomFlipTopBottom.
class RandomFlipTopBottom {
 public:
  explicit RandomFlipTopBottom(RandomFlipOptions opt = {}) : opt_(opt) {}
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    detail::check_image(x, "RandomFlipTopBottom", true);
    const std::size_t h = x.shape(-3), row = x.shape(-2) * x.shape(-1);
    return detail::per_image(x, detail::generator_or_sample(opt_.generator),
                             [&](const T* s, T* d, random::Generator& gen) {
                               const bool flip = gen.uniform01() < 0.5;
                               for (std::size_t r = 0; r < h; ++r) std::copy_n(s + (flip ? h - 1 - r : r) * row, row, d + r * row);
                             });
  }

 private:
  RandomFlipOptions opt_;
};

/// Crops the centre (width, height) of an (H, W, C) image.  An image smaller than that gives
/// the largest centred region of the output's aspect ratio, resized (bilinear) to the output
/// size, as MXNet's image.center_crop.  Mirrors gluon.data.vision.transforms.CenterCrop(size).
class CenterCrop {
 public:
  explicit CenterCrop(std::size_t size) : CenterCrop(size, size) {}
  /// Gluon's order: (width, height).
  CenterCrop(std::size_t width, std::size_t height) : width_(width), height_(height) {
    GLUINO_CHECK(ValueError, width > 0 && height > 0, "CenterCrop: size must be > 0, got (", width, ", ", height, ")");
  }
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    detail::check_image(x, "CenterCrop", false);
    const std::size_t h = x.shape(0), w = x.shape(1);
    const auto [cw, ch] = detail::scale_down(w, h, width_, height_);
    return detail::fixed_crop(x, (w - cw) / 2, (h - ch) / 2, cw, ch, width_, height_);
  }

 private:
  std::size_t width_, height_;
};

/// Options of RandomCrop.
struct RandomCropOptions {
  /// Zeros added on every side before cropping (CIFAR's usual 4).  Gluon: pad (an int).  A pad
  /// whose padded side does not fit in size_t is a ValueError (not a wrapped, smaller pad).
  std::size_t pad = 0;
  /// Where the offsets come from; null = data::sample_generator().  Not in Gluon.
  random::Generator* generator = nullptr;
};

/// Crops a (width, height) region at a uniformly random offset of an (H, W, C) image, after
/// padding it with `pad` zeros on each side.  An image smaller than the output gives a random
/// region of the output's aspect ratio, resized (bilinear) up, as MXNet's image.random_crop.
/// Mirrors gluon.data.vision.transforms.RandomCrop(size, pad=...).
class RandomCrop {
 public:
  explicit RandomCrop(std::size_t size, RandomCropOptions opt = {}) : RandomCrop(size, size, opt) {}
  /// Gluon's order: (width, height).
  RandomCrop(std::size_t width, std::size_t height, RandomCropOptions opt = {})
      : width_(width), height_(height), opt_(opt) {
    GLUINO_CHECK(ValueError, width > 0 && height > 0, "RandomCrop: size must be > 0, got (", width, ", ", height, ")");
  }
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    detail::check_image(x, "RandomCrop", false);
    const std::size_t side = std::max(x.shape(0), x.shape(1));
    GLUINO_CHECK(ValueError, opt_.pad <= (std::numeric_limits<std::size_t>::max() - side) / 2, "RandomCrop: pad ",
                 opt_.pad, " is too large for an image of shape ", x.shape());
    const NDArray<T> src = opt_.pad > 0 ? padded(x) : x;
    const std::size_t h = src.shape(0), w = src.shape(1);
    const auto [cw, ch] = detail::scale_down(w, h, width_, height_);
    random::Generator& gen = detail::generator_or_sample(opt_.generator);
    const std::size_t x0 = detail::randint_inclusive(gen, 0, w - cw);
    const std::size_t y0 = detail::randint_inclusive(gen, 0, h - ch);
    return detail::fixed_crop(src, x0, y0, cw, ch, width_, height_);
  }

 private:
  template <class T>
  NDArray<T> padded(const NDArray<T>& x) const {
    const std::size_t p = opt_.pad, h = x.shape(0), w = x.shape(1), c = x.shape(2), pw = w + 2 * p;
    NDArray<T> y(Shape{h + 2 * p, pw, c});
    std::fill(y.data(), y.data() + y.size(), T(0));
    for (std::size_t r = 0; r < h; ++r) std::copy_n(x.data() + r * w * c, w * c, y.data() + ((r + p) * pw + p) * c);
    return y;
  }
  std::size_t width_, height_;
  RandomCropOptions opt_;
};

/// Options of RandomResizedCrop, in the order of Gluon's keyword arguments.
struct RandomResizedCropOptions {
  /// The crop's area as a fraction of the image's, drawn uniformly from [scale.first, scale.second].
  std::pair<double, double> scale{0.08, 1.0};
  /// The crop's width / height, drawn log-uniformly from [ratio.first, ratio.second].
  std::pair<double, double> ratio{3.0 / 4.0, 4.0 / 3.0};
  /// Where the draws come from; null = data::sample_generator().  Not in Gluon.
  random::Generator* generator = nullptr;
};

/// Crops a region of random area and aspect ratio at a random place of an (H, W, C) image and
/// resizes it (bilinear) to (width, height).  Up to 10 tries for a region that fits; then the
/// centre crop, as MXNet's image.random_size_crop (area and offset drawn uniformly, the ratio
/// log-uniformly, sides rounded).  Mirrors gluon.data.vision.transforms.RandomResizedCrop(size,
/// scale=(0.08, 1.0), ratio=(3/4, 4/3)).
class RandomResizedCrop {
 public:
  explicit RandomResizedCrop(std::size_t size, RandomResizedCropOptions opt = {})
      : RandomResizedCrop(size, size, opt) {}
  /// Gluon's order: (width, height).
  RandomResizedCrop(std::size_t width, std::size_t height, RandomResizedCropOptions opt = {})
      : width_(width), height_(height), opt_(opt) {
    GLUINO_CHECK(ValueError, width > 0 && height > 0, "RandomResizedCrop: size must be > 0, got (", width, ", ",
                 height, ")");
    GLUINO_CHECK(ValueError, 0 < opt.scale.first && opt.scale.first <= opt.scale.second && opt.scale.second <= 1,
                 "RandomResizedCrop: scale must satisfy 0 < min <= max <= 1, got (", opt.scale.first, ", ",
                 opt.scale.second, ")");
    GLUINO_CHECK(ValueError, 0 < opt.ratio.first && opt.ratio.first <= opt.ratio.second,
                 "RandomResizedCrop: ratio must satisfy 0 < min <= max, got (", opt.ratio.first, ", ", opt.ratio.second,
                 ")");
  }
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    detail::check_image(x, "RandomResizedCrop", false);
    const std::size_t h = x.shape(0), w = x.shape(1);
    random::Generator& gen = detail::generator_or_sample(opt_.generator);
    const double area = static_cast<double>(h * w);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = gen.uniform(opt_.scale.first, opt_.scale.second) * area;
      const double ratio = std::exp(gen.uniform(std::log(opt_.ratio.first), std::log(opt_.ratio.second)));
      const double cw = std::round(std::sqrt(target * ratio)), ch = std::round(std::sqrt(target / ratio));
      if (cw >= 1 && ch >= 1 && cw <= static_cast<double>(w) && ch <= static_cast<double>(h)) {
        const auto iw = static_cast<std::size_t>(cw), ih = static_cast<std::size_t>(ch);
        const std::size_t x0 = detail::randint_inclusive(gen, 0, w - iw);
        const std::size_t y0 = detail::randint_inclusive(gen, 0, h - ih);
        return detail::fixed_crop(x, x0, y0, iw, ih, width_, height_);
      }
    }
    return CenterCrop(width_, height_)(x);
  }

 private:
  std::size_t width_, height_;
  RandomResizedCropOptions opt_;
};

/// Options of RandomBrightness and RandomContrast.
struct RandomColorOptions {
  /// Where the factors come from; null = data::sample_generator().  Not in Gluon.
  random::Generator* generator = nullptr;
};

/// Scales each image by alpha = 1 + uniform(-brightness, brightness), clipped to [0, 255] (MXNet
/// saturates its uint8 images; values are not rounded); (H, W, C) or (N, H, W, C).  Mirrors
/// gluon.data.vision.transforms.RandomBrightness(brightness).
class RandomBrightness {
 public:
  explicit RandomBrightness(double brightness, RandomColorOptions opt = {}) : b_(brightness), opt_(opt) {
    GLUINO_CHECK(ValueError, brightness >= 0 && std::isfinite(brightness),
                 "RandomBrightness: brightness must be >= 0, got ", brightness);
  }
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    detail::check_image(x, "RandomBrightness", true);
    const std::size_t per = x.size() / (x.ndim() == 4 ? x.shape(0) : 1);
    return detail::per_image(x, detail::generator_or_sample(opt_.generator),
                             [&](const T* s, T* d, random::Generator& gen) {
                               const auto alpha = static_cast<T>(1.0 + gen.uniform(-b_, b_));
                               for (std::size_t k = 0; k < per; ++k) d[k] = std::clamp(s[k] * alpha, T(0), T(255));
                             });
  }

 private:
  double b_;
  RandomColorOptions opt_;
};

/// Blends each image with its mean grey level: alpha * x + (1 - alpha) * grey, alpha = 1 +
/// uniform(-contrast, contrast), grey the mean over the image of 0.299 R + 0.587 G + 0.114 B
/// (MXNet's coefficients; a one-channel image is its own grey), clipped to [0, 255] as MXNet's
/// uint8 images (not rounded).  (H, W, 3 or 1) or (N, H, W, 3 or 1).  Mirrors
/// gluon.data.vision.transforms.RandomContrast(contrast).
class RandomContrast {
 public:
  explicit RandomContrast(double contrast, RandomColorOptions opt = {}) : c_(contrast), opt_(opt) {
    GLUINO_CHECK(ValueError, contrast >= 0 && std::isfinite(contrast), "RandomContrast: contrast must be >= 0, got ",
                 contrast);
  }
  template <class T>
  NDArray<T> operator()(const NDArray<T>& x) const {
    detail::check_image(x, "RandomContrast", true);
    const std::size_t c = x.shape(-1), per = x.size() / (x.ndim() == 4 ? x.shape(0) : 1), pixels = per / c;
    GLUINO_CHECK(ShapeError, c == 3 || c == 1, "RandomContrast: expected 3 (RGB) or 1 (grey) channels, got shape ",
                 x.shape());
    return detail::per_image(x, detail::generator_or_sample(opt_.generator),
                             [&](const T* s, T* d, random::Generator& gen) {
                               const double alpha = 1.0 + gen.uniform(-c_, c_);
                               double sum = 0;
                               for (std::size_t p = 0; p < pixels; ++p)
                                 sum += c == 1 ? static_cast<double>(s[p])
                                               : 0.299 * static_cast<double>(s[3 * p]) +
                                                     0.587 * static_cast<double>(s[3 * p + 1]) +
                                                     0.114 * static_cast<double>(s[3 * p + 2]);
                               const auto beta = static_cast<T>((1.0 - alpha) * sum / static_cast<double>(pixels));
                               const auto a = static_cast<T>(alpha);
                               for (std::size_t k = 0; k < per; ++k) d[k] = std::clamp(s[k] * a + beta, T(0), T(255));
                             });
  }

 private:
  double c_;
  RandomColorOptions opt_;
};

}  // namespace gluino::data::vision::transforms
