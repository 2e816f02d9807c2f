// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/vision/augmentations.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>
#include <gluino/data/dataloader.hpp>
#include <gluino/nd/creation.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

using namespace gluino;
namespace tf = gluino::data::vision::transforms;

namespace {
// An (h, w, c) image holding 0, 1, 2, ... in memory order.
NDArray<float> ramp_image(std::size_t h, std::size_t w, std::size_t c) {
  NDArray<float> x(Shape{h, w, c});
  std::iota(x.data(), x.data() + x.size(), 0.0f);
  return x;
}
}  // namespace

TEST_SUITE("data/augmentations") {
TEST_CASE("RandomFlipLeftRight / TopBottom: the image or its mirror, both over many draws") {
  const auto x = ramp_image(2, 3, 2);  // pixel (r, col) = {2 (3r + col), 2 (3r + col) + 1}
  const std::vector<float> lr{4, 5, 2, 3, 0, 1, 10, 11, 8, 9, 6, 7}, tb{6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5};
  random::Generator gen(1);
  for (auto [flip, mirrored] : {std::pair<tf::Transform, std::vector<float>>{tf::RandomFlipLeftRight({.generator = &gen}), lr},
                                {tf::RandomFlipTopBottom({.generator = &gen}), tb}}) {
    int same = 0, flipped = 0;
    for (int i = 0; i < 200; ++i) {
      const auto y = flip(x);
      REQUIRE(y.shape() == x.shape());
      same += y.to_vector() == x.to_vector();
      flipped += y.to_vector() == mirrored;
    }
    CHECK(same + flipped == 200);
    CHECK(same > 60);
    CHECK(flipped > 60);
  }
  // A batch: each image decides alone.
  NDArray<double> batch(Shape{64, 1, 2, 1});
  for (std::size_t i = 0; i < 64; ++i) {
    batch.at(i, 0, 0, 0) = 0;
    batch.at(i, 0, 1, 0) = 1;
  }
  const auto y = tf::RandomFlipLeftRight({.generator = &gen})(batch);
  int firsts = 0;
  for (std::size_t i = 0; i < 64; ++i) firsts += y.at(i, 0, 0, 0) == 1 && y.at(i, 0, 1, 0) == 0;
  CHECK(firsts > 10);
  CHECK(firsts < 54);
  CHECK_THROWS_WITH_AS(tf::RandomFlipTopBottom()(nd::zeros<float>({4, 4})), doctest::Contains("got shape (4, 4)"),
                       ShapeError);
}
TEST_CASE("CenterCrop: the centre; a smaller image gives its largest centred region of that ratio, resized") {
  const auto x = ramp_image(4, 5, 1);
  const auto y = tf::CenterCrop(3, 2)(x);  // (width, height) as Gluon
  CHECK(y.shape() == Shape{2, 3, 1});
  CHECK(y.to_vector() == std::vector<float>{6, 7, 8, 11, 12, 13});
  CHECK(tf::CenterCrop(5, 4)(x).to_vector() == x.to_vector());
  // 2x3 image, 4x4 output: the 2x2 centre region (columns 0-1: (3 - 2) / 2 = 0) resized up.
  const auto small = ramp_image(2, 3, 1);
  const auto up = tf::CenterCrop(4)(small);
  CHECK(up.shape() == Shape{4, 4, 1});
  CHECK(up.to_vector() == tf::Resize(4)(nd::array<float>({0, 1, 3, 4}, {2, 2, 1})).to_vector());
  CHECK_THROWS_WITH_AS(tf::CenterCrop(0), doctest::Contains("size must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(tf::CenterCrop(2)(nd::zeros<float>({2, 4, 4, 1})), doctest::Contains("(2, 4, 4, 1)"), ShapeError);
}
TEST_CASE("RandomCrop with pad: a window of the zero-padded image, every offset over many draws") {
  const auto x = nd::array<float>({1, 2, 3, 4}, {2, 2, 1});
  // Padded by 1: rows {0 0 0 0}, {0 1 2 0}, {0 3 4 0}, {0 0 0 0}; 2x2 windows at 3 x 3 offsets.
  const float padded[4][4] = {{0, 0, 0, 0}, {0, 1, 2, 0}, {0, 3, 4, 0}, {0, 0, 0, 0}};
  std::set<std::pair<int, int>> offsets;
  random::Generator gen(4);
  const tf::RandomCrop crop(2, {.pad = 1, .generator = &gen});
  for (int i = 0; i < 300; ++i) {
    const auto y = crop(x);
    REQUIRE(y.shape() == Shape{2, 2, 1});
    int found = 0;
    for (int y0 = 0; y0 < 3; ++y0)
      for (int x0 = 0; x0 < 3; ++x0)
        if (y.to_vector() == std::vector<float>{padded[y0][x0], padded[y0][x0 + 1], padded[y0 + 1][x0],
                                                padded[y0 + 1][x0 + 1]}) {
          offsets.insert({y0, x0});
          ++found;
        }
    CHECK(found >= 1);
  }
  CHECK(offsets.size() == 9);
  // Padded 32x32 -> 40x40, cropped back to 32x32 (CIFAR's augmentation): size, range, seeds.
  const auto img = ramp_image(32, 32, 3);
  random::Generator g1(11), g2(11), g3(12);
  const auto a = tf::RandomCrop(32, {.pad = 4, .generator = &g1})(img);
  CHECK(a.shape() == Shape{32, 32, 3});
  CHECK(a.min().item() >= 0);
  CHECK(a.max().item() <= img.max().item());
  CHECK(a.to_vector() == tf::RandomCrop(32, {.pad = 4, .generator = &g2})(img).to_vector());
  CHECK(a.to_vector() != tf::RandomCrop(32, {.pad = 4, .generator = &g3})(img).to_vector());
  // Without pad and with the image's own size: the image itself.
  CHECK(tf::RandomCrop(32)(img).to_vector() == img.to_vector());
  // Smaller than the output: a region of that ratio, resized up.
  CHECK(tf::RandomCrop(8, 4)(ramp_image(2, 2, 1)).shape() == Shape{4, 8, 1});
}
TEST_CASE("RandomResizedCrop: output size, values in range, reproducible; scale and ratio 1 keep a square whole") {
  const auto img = ramp_image(20, 30, 3);
  random::Generator g1(5), g2(5);
  const tf::RandomResizedCrop rrc(16, {.generator = &g1}), twin(16, {.generator = &g2});
  std::set<std::vector<float>> outputs;
  for (int i = 0; i < 30; ++i) {
    const auto y = rrc(img);
    REQUIRE(y.shape() == Shape{16, 16, 3});
    CHECK(y.min().item() >= 0);
    CHECK(y.max().item() <= img.max().item());
    CHECK(y.to_vector() == twin(img).to_vector());
    outputs.insert(y.to_vector());
  }
  CHECK(outputs.size() == 30);
  const auto square = ramp_image(6, 6, 1);
  CHECK(tf::RandomResizedCrop(6, {.scale = {1, 1}, .ratio = {1, 1}})(square).to_vector() == square.to_vector());
  // 4x8 with area 1 and ratio 1: a 6x6 crop never fits, so after 10 tries the centre crop.
  const auto wide = ramp_image(4, 8, 1);
  CHECK(tf::RandomResizedCrop(3, {.scale = {1, 1}, .ratio = {1, 1}})(wide).to_vector() ==
        tf::CenterCrop(3)(wide).to_vector());
  CHECK(tf::RandomResizedCrop(5, 7)(wide).shape() == Shape{7, 5, 1});
  CHECK_THROWS_WITH_AS(tf::RandomResizedCrop(8, {.scale = {0.5, 0.2}}), doctest::Contains("scale must satisfy"),
                       ValueError);
  CHECK_THROWS_WITH_AS(tf::RandomResizedCrop(8, {.ratio = {0, 1}}), doctest::Contains("ratio must satisfy"), ValueError);
}
TEST_CASE("RandomBrightness: every pixel times one factor in [1 - b, 1 + b], clipped to [0, 255]") {
  const auto x = nd::array<double>({10, 20, 40, 100, 200, 250}, {1, 2, 3});
  random::Generator gen(2);
  const tf::RandomBrightness bright(0.5, {.generator = &gen});
  double lo = 2, hi = 0;
  for (int i = 0; i < 200; ++i) {
    const auto y = bright(x);
    const double alpha = y.at(0, 0, 0) / 10;
    CHECK(alpha >= 0.5);
    CHECK(alpha <= 1.5);
    lo = std::min(lo, alpha);
    hi = std::max(hi, alpha);
    for (std::size_t k = 0; k < 6; ++k) CHECK(y.data()[k] == doctest::Approx(std::min(255.0, x.data()[k] * alpha)));
  }
  CHECK(lo < 0.6);
  CHECK(hi > 1.4);
  CHECK(tf::RandomBrightness(0)(x).to_vector() == x.to_vector());
  CHECK_THROWS_WITH_AS(tf::RandomBrightness(-1), doctest::Contains("brightness must be >= 0"), ValueError);
}
TEST_CASE("RandomContrast: a blend with the mean grey level (MXNet's coefficients)") {
  // Two RGB pixels; grey levels 0.299 R + 0.587 G + 0.114 B: 100 and 52.15.
  const auto x = nd::array<float>({100, 100, 100, 0, 50, 200}, {1, 2, 3});
  const double mean = (100 + (0.587 * 50 + 0.114 * 200)) / 2;
  random::Generator gen(8);
  const tf::RandomContrast contrast(0.8, {.generator = &gen});
  for (int i = 0; i < 50; ++i) {
    const auto y = contrast(x);
    // alpha from pixel 0: y = alpha * 100 + (1 - alpha) * mean
    const double alpha = (y.at(0, 0, 0) - mean) / (100 - mean);
    CHECK(alpha >= 0.2 - 1e-4);
    CHECK(alpha <= 1.8 + 1e-4);
    for (std::size_t k = 0; k < 6; ++k)
      CHECK(y.data()[k] == doctest::Approx(std::clamp(alpha * x.data()[k] + (1 - alpha) * mean, 0.0, 255.0)).epsilon(1e-4));
  }
  // Grey images are their own grey level.
  const auto g = nd::array<double>({50, 100, 150, 100}, {2, 2, 1});  // mean 100
  random::Generator g1(3);
  const auto yg = tf::RandomContrast(0.5, {.generator = &g1})(g);
  const double a = (yg.at(0, 0, 0) - 100) / (50 - 100.0);
  CHECK(a != doctest::Approx(1));
  CHECK(yg.at(1, 0, 0) == doctest::Approx(a * 150 + (1 - a) * 100));
  CHECK(yg.at(0, 1, 0) == doctest::Approx(100));
  CHECK(tf::RandomContrast(0)(x).to_vector() == x.to_vector());
  CHECK_THROWS_WITH_AS(tf::RandomContrast(0.5)(nd::zeros<float>({2, 2, 2})), doctest::Contains("got shape (2, 2, 2)"),
                       ShapeError);
}
TEST_CASE("augmentations compose, and in a DataLoader draw the same whatever num_workers") {
  NDArray<float> images(Shape{12, 10, 12, 3}), labels(Shape{12});
  std::iota(images.data(), images.data() + images.size(), 0.0f);
  for (std::size_t i = 0; i < 12; ++i) labels.at(i) = float(i);
  const tf::Compose aug({tf::RandomResizedCrop(8), tf::RandomFlipLeftRight(), tf::RandomBrightness(0.2),
                         tf::RandomContrast(0.2), tf::ToTensor()});
  auto ds = data::ArrayDataset<float>(images, labels).transform_first(aug);
  auto run = [&](std::size_t workers) {
    data::DataLoader loader(ds, {.batch_size = 5, .seed = 1, .num_workers = workers});
    std::vector<float> all;
    for (auto [x, y] : loader) {
      CHECK(x.shape(1) == 3);
      CHECK(x.shape(2) == 8);
      all.insert(all.end(), x.begin(), x.end());
    }
    return all;
  };
  const auto ref = run(0);
  CHECK(ref.size() == 12 * 3 * 8 * 8);
  CHECK(run(2) == ref);
  CHECK(run(3) == ref);
}
TEST_CASE("RandomCrop: a pad whose padded size does not fit in size_t is a ValueError, not a wrapped pad") {
  // pad 2^63 + 1 on a 1 x 1 image: 1 + 2 pad wraps to 3, a crop of a 3 x 3 image as if pad were 1.
  const std::size_t pad = (std::size_t(1) << 63) + 1;
  CHECK_THROWS_WITH_AS(
      tf::RandomCrop(1, {.pad = pad})(nd::ones<float>({1, 1, 1})),
      doctest::Contains("RandomCrop: pad 9223372036854775809 is too large for an image of shape (1, 1, 1)"),
      ValueError);
}
}
