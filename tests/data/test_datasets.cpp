// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/vision/datasets.hpp>

#include <doctest/doctest.h>

#include "support/scratch.hpp"

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/data/dataloader.hpp>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <fstream>

using namespace gluino;
namespace fs = std::filesystem;
using data::vision::FashionMNIST;

namespace {
using gluino::test::mini;
using gluino::test::scratch;
std::string tmp_dir(const std::string& name) {
  const fs::path dir = scratch / name;
  fs::create_directories(dir);
  return dir.string();
}
}  // namespace

TEST_SUITE("data/datasets") {
TEST_CASE("FashionMNIST on the mini fixture: sizes, first sample, class counts") {
  auto train = FashionMNIST(mini, {.train = true});
  FashionMNIST test(mini, {.train = false});
  CHECK(train.size() == 100);
  CHECK(test.size() == 100);
  auto [img, label] = train.get(0);
  CHECK(img.shape() == Shape{28, 28, 1});
  CHECK(label.shape() == Shape{});
  CHECK(label.item() == 9);
  CHECK(train.class_names()[9] == "Ankle boot");
  CHECK(FashionMNIST<>::class_names().size() == 10);
  float lo = 255, hi = 0;
  for (float v : img) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo == 0);
  CHECK(hi <= 255);
  CHECK(hi > 200);
  const std::vector<int> train_counts{12, 11, 9, 15, 9, 11, 10, 8, 4, 11}, test_counts{8, 13, 14, 9, 10, 9, 8, 11, 12, 6};
  std::vector<int> ctr(10), cte(10);
  for (std::size_t i = 0; i < 100; ++i) {
    ++ctr[static_cast<std::size_t>(train.get(i).label.item())];
    ++cte[static_cast<std::size_t>(test.get(i).label.item())];
  }
  CHECK(ctr == train_counts);
  CHECK(cte == test_counts);
  // Whole-array accessors agree with get().
  auto all = train.images();
  CHECK(all.shape() == Shape{100, 28, 28, 1});
  CHECK(all[0].to_vector() == img.to_vector());
  CHECK(train.labels().at(0) == 9);
  CHECK_THROWS_WITH_AS(train.get(100), doctest::Contains("FashionMNIST: index 100 out of range"), ValueError);
}
TEST_CASE("FashionMNIST in double, through a DataLoader") {
  FashionMNIST<double> train(mini);
  data::DataLoader loader(train, {.batch_size = 32});
  std::size_t n = 0;
  for (auto [x, y] : loader) {
    CHECK(x.shape() == Shape{y.shape(0), 28, 28, 1});
    n += y.shape(0);
  }
  CHECK(n == 100);
}
TEST_CASE("raw (uncompressed) files are found too; GLUINO_DATA is the default root") {
  const std::string dir = tmp_dir("raw");
  for (const char* stem : {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    data::write_idx(dir + "/" + stem, data::read_idx(mini + "/" + stem + ".gz"));
  ::setenv("GLUINO_DATA", dir.c_str(), 1);
  FashionMNIST test({.train = false});
  ::unsetenv("GLUINO_DATA");
  CHECK(test.root() == dir);
  CHECK(test.size() == 100);
  CHECK(test.get(0).label.item() == FashionMNIST(mini, {.train = false}).get(0).label.item());
}
TEST_CASE("a missing data set says how to get it") {
  const std::string dir = tmp_dir("empty");
  auto load = [&] { return FashionMNIST<float>(dir, {}); };
  CHECK_THROWS_WITH_AS(load(), doctest::Contains(("FashionMNIST: cannot find train-images-idx3-ubyte(.gz) in '" + dir + "'").c_str()),
                       ValueError);
  CHECK_THROWS_WITH_AS(load(), doctest::Contains("apt-get install dataset-fashion-mnist"), ValueError);
  CHECK_THROWS_WITH_AS(load(), doctest::Contains("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
                       ValueError);
  CHECK_THROWS_WITH_AS(data::vision::MNIST<float>(dir, {}), doctest::Contains("MNIST: cannot find"), ValueError);
}
TEST_CASE("inconsistent files are rejected") {
  const std::string dir = tmp_dir("bad");
  auto images = data::read_idx(mini + "/train-images-idx3-ubyte.gz");
  auto labels = data::read_idx(mini + "/train-labels-idx1-ubyte.gz");
  data::write_idx(dir + "/train-images-idx3-ubyte", images);
  labels.dims = {99};
  labels.data.pop_back();
  data::write_idx(dir + "/train-labels-idx1-ubyte", labels);
  CHECK_THROWS_WITH_AS(FashionMNIST<float>(dir, {}), doctest::Contains("holds 100 images but"), ValueError);
  labels.dims = {100};
  labels.data.push_back(10);
  data::write_idx(dir + "/train-labels-idx1-ubyte", labels);
  CHECK_THROWS_WITH_AS(FashionMNIST<float>(dir, {}), doctest::Contains("label 10 at index 99 is not a class 0-9"), ValueError);
  // An official-size file with other content fails verification, naming both hashes.
  data::IdxArray fake{{10000, 28, 28}, std::vector<std::uint8_t>(10000 * 28 * 28, 0)};
  data::IdxArray fake_labels{{10000}, std::vector<std::uint8_t>(10000, 0)};
  data::write_idx(dir + "/t10k-images-idx3-ubyte", fake);
  data::write_idx(dir + "/t10k-labels-idx1-ubyte", fake_labels);
  CHECK_THROWS_WITH_AS(FashionMNIST(dir, {.train = false}),
                       doctest::Contains("t10k-images-idx3-ubyte' is not the official file: SHA-256 of its decompressed "
                                         "content is "),
                       ValueError);
  CHECK_THROWS_WITH_AS(FashionMNIST(dir, {.train = false}),
                       doctest::Contains("expected 5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                       ValueError);
  CHECK(FashionMNIST(dir, {.train = false, .verify = false}).size() == 10000);
}
TEST_CASE("the installed official test split verifies (skipped when not installed)") {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root + "/t10k-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: " << root << " not installed");
    return;
  }
  FashionMNIST test(root, {.train = false});
  CHECK(test.size() == 10000);
  std::vector<int> counts(10);
  for (std::uint8_t l : test.label_bytes()) ++counts[l];
  CHECK(counts == std::vector<int>(10, 1000));
  CHECK(test.get(0).label.item() == FashionMNIST(mini, {.train = false}).get(0).label.item());
}
}
