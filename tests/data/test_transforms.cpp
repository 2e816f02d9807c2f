// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/vision/transforms.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/data/dataloader.hpp>
#include <gluino/nd/creation.hpp>

#include <limits>

using namespace gluino;
namespace T = gluino::data::vision::transforms;

TEST_SUITE("data/transforms") {
TEST_CASE("ToTensor: HWC [0,255] -> CHW [0,1], for an image and a batch") {
  // (H, W, C) = (1, 2, 3): pixel (0,0) = {0, 51, 255}, pixel (0,1) = {102, 153, 204}.
  auto x = nd::array<float>({0, 51, 255, 102, 153, 204}, {1, 2, 3});
  auto y = T::ToTensor()(x);
  CHECK(y.shape() == Shape{3, 1, 2});
  const std::vector<float> want{0, 0.4f, 0.2f, 0.6f, 1, 0.8f};
  for (std::size_t i = 0; i < 6; ++i) CHECK(y.data()[i] == doctest::Approx(want[i]));
  auto b = T::ToTensor()(nd::full<double>({2, 4, 5, 1}, 255.0));
  CHECK(b.shape() == Shape{2, 1, 4, 5});
  CHECK(b.min().item() == 1.0);
  CHECK_THROWS_WITH_AS(T::ToTensor()(nd::zeros<float>({28, 28})), doctest::Contains("got shape (28, 28)"), ShapeError);
}
TEST_CASE("Normalize: per channel or one value for all") {
  auto x = nd::array<double>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});  // (C, H, W)
  auto y = T::Normalize({1.0, 5.0}, {2.0, 0.5})(x);
  CHECK(y.to_vector() == std::vector<double>{0, 0.5, 1, 1.5, 0, 2, 4, 6});
  auto b = T::Normalize(0.5, 0.25)(nd::full<float>({3, 1, 2, 2}, 1.0f));  // (N, C, H, W)
  CHECK(b.shape() == Shape{3, 1, 2, 2});
  CHECK(b.max().item() == 2.0f);
  CHECK(b.min().item() == 2.0f);
  CHECK_THROWS_WITH_AS(T::Normalize({0.1, 0.2}, {1.0, 1.0})(nd::zeros<float>({3, 4, 4})),
                       doctest::Contains("2 mean/std values for 3 channels"), ShapeError);
  CHECK_THROWS_WITH_AS(T::Normalize(0.0, 0.0), doctest::Contains("std (every channel) must be a finite number > 0"), ValueError);
  CHECK_THROWS_AS(T::Normalize({0.1, 0.2}, {1.0}), ValueError);
}
TEST_CASE("Normalize: a mean or std that is not a finite number, or a std <= 0, is a ValueError naming the channel") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (const double bad : {nan, inf, -inf}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(T::Normalize({0.1, bad, 0.3}, {1.0, 1.0, 1.0}),
                         doctest::Contains("Normalize: mean of channel 1 must be a finite number, got "), ValueError);
    CHECK_THROWS_WITH_AS(T::Normalize(bad, 1.0), doctest::Contains("Normalize: mean (every channel) must be a finite number, got "),
                         ValueError);
  }
  CHECK_THROWS_WITH_AS(T::Normalize({0.1, nan}, {1.0, 1.0}), "Normalize: mean of channel 1 must be a finite number, got nan",
                       ValueError);
  for (const double bad : {0.0, -0.0, -0.5, nan, inf, -inf, 1e-320 /* 1 / std is infinite */}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(T::Normalize({0.1, 0.2}, {1.0, bad}),
                         doctest::Contains("Normalize: std of channel 1 must be a finite number > 0"), ValueError);
    CHECK_THROWS_WITH_AS(T::Normalize(0.0, bad), doctest::Contains("Normalize: std (every channel) must be a finite number > 0"),
                         ValueError);
  }
  CHECK_THROWS_WITH_AS(T::Normalize({0.1, 0.2, 0.3}, {1.0, 1.0, -2.0}),
                       "Normalize: std of channel 2 must be a finite number > 0 (with a finite inverse), got -2", ValueError);
  // Values that are finite as doubles but not as the image's element type: refused at the call.
  CHECK_THROWS_WITH_AS(T::Normalize({0.0, 1e300}, {1.0, 1.0})(nd::zeros<float>({2, 1, 1})),
                       "Normalize: mean of channel 1 (1e+300) is not a finite float", ValueError);
  CHECK_THROWS_WITH_AS(T::Normalize(0.0, 1e-300)(nd::zeros<float>({1, 1, 1})),
                       doctest::Contains("Normalize: 1 / std (every channel) (1e+300) is not a finite float"), ValueError);
  CHECK(T::Normalize({0.0, 1e300}, {1.0, 1.0})(nd::zeros<double>({2, 1, 1})).at(1, 0, 0) == -1e300);
}
TEST_CASE("Resize: bilinear with aligned pixel centres") {
  SUBCASE("2x upsampling of a 1x2 ramp") {
    auto x = nd::array<float>({0, 10}, {1, 2, 1});
    auto y = T::Resize(4, 1)(x);  // (width, height) = (4, 1)
    CHECK(y.shape() == Shape{1, 4, 1});
    // Source x = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1.
    CHECK(y.to_vector() == std::vector<float>{0, 2.5f, 7.5f, 10});
  }
  SUBCASE("same size is the identity; downsampling by 2 averages pairs") {
    auto x = nd::arange<double>(16).reshape({4, 4, 1});
    CHECK(T::Resize(4)(x).to_vector() == x.to_vector());
    auto y = T::Resize(2)(x);
    CHECK(y.to_vector() == std::vector<double>{2.5, 4.5, 10.5, 12.5});
  }
  SUBCASE("a batch (N, 28, 28, 1) to 224x224 keeps each image's constant value and channels") {
    auto x = nd::zeros<float>({2, 28, 28, 2});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float((i / 2) / 784 * 100 + i % 2);
    auto y = T::Resize(224)(x);
    CHECK(y.shape() == Shape{2, 224, 224, 2});
    CHECK(y.at(0, 100, 7, 0) == 0);
    CHECK(y.at(0, 3, 200, 1) == 1);
    CHECK(y.at(1, 223, 223, 0) == 100);
  }
  CHECK_THROWS_AS(T::Resize(0), ValueError);
  CHECK_THROWS_WITH_AS(T::Resize(4)(nd::zeros<float>({4})), doctest::Contains("got shape (4,)"), ShapeError);
}
TEST_CASE("Compose: in order, on samples (float or double) and batches, and inside transform_first") {
  T::Compose tf({T::Resize(2), T::ToTensor(), T::Normalize(0.5, 0.5)});
  CHECK(tf.size() == 3);
  auto x = nd::full<float>({4, 4, 1}, 255.0f);
  auto y = tf(x);
  CHECK(y.shape() == Shape{1, 2, 2});
  CHECK(y.min().item() == doctest::Approx(1.0));
  CHECK(tf(nd::full<double>({3, 4, 4, 1}, 0.0)).shape() == Shape{3, 1, 2, 2});

  data::ArrayDataset<float> ds(nd::full<float>({5, 4, 4, 1}, 51.0f), nd::zeros<float>({5}));
  data::DataLoader loader(ds.transform_first(tf), {.batch_size = 5});
  for (auto [d, l] : loader) {
    CHECK(d.shape() == Shape{5, 1, 2, 2});
    CHECK(d.max().item() == doctest::Approx((0.2 - 0.5) / 0.5));
  }
  T::Transform only_float = [](const NDArray<float>& a) { return a; };
  CHECK_THROWS_WITH_AS(only_float(nd::zeros<double>({1})), doctest::Contains("does not accept NDArray<double>"),
                       ValueError);
}
TEST_CASE("Resize: an output too large for the machine is a gluino error before anything is allocated") {
  // 2^40 x 1 pixels: the interpolation table alone would be 24 TB (std::bad_alloc, or the OOM killer).
  CHECK_THROWS_AS(T::Resize(std::size_t(1) << 40, 1)(nd::ones<float>({1, 1, 1})), gluino::Error);
  CHECK_THROWS_AS(T::Resize(1, std::size_t(1) << 40)(nd::ones<float>({1, 1, 1})), gluino::Error);
}
}
