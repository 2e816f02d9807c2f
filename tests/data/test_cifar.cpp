// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/vision/cifar.hpp>

#include <doctest/doctest.h>

#include "support/scratch.hpp"

#include <gluino/nd.hpp>
#include <gluino/data/dataloader.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace gluino;
namespace fs = std::filesystem;
using data::vision::CIFAR10;
using data::vision::CIFAR100;

namespace {
// Pixel byte c * 1024 + p of record `id` (the file's CHW planes).
std::uint8_t cifar_pixel(std::size_t id, std::size_t c, std::size_t p) {
  return static_cast<std::uint8_t>((id * 7 + c * 3 + p * 5 + p / 32) % 256);
}
// Writes records ids[k] with label bytes labels[k] (one or two per record) in the official layout.
void write_cifar_file(const fs::path& path, const std::vector<std::size_t>& ids,
                      const std::vector<std::vector<std::uint8_t>>& labels) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  for (std::size_t k = 0; k < ids.size(); ++k) {
    for (std::uint8_t l : labels[k]) out.put(static_cast<char>(l));
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t p = 0; p < 1024; ++p) out.put(static_cast<char>(cifar_pixel(ids[k], c, p)));
  }
}
// Train: batches 1-5 with two records each (ids 0-9, labels id % 10); test: three (ids 100-102).
fs::path cifar10_fixture(const std::string& name, bool subfolder = true) {
  const fs::path root = gluino::test::scratch / name;
  fs::remove_all(root);
  const fs::path dir = subfolder ? root / "cifar-10-batches-bin" : root;
  for (std::size_t b = 1; b <= 5; ++b)
    write_cifar_file(dir / ("data_batch_" + std::to_string(b) + ".bin"), {2 * b - 2, 2 * b - 1},
                     {{static_cast<std::uint8_t>((2 * b - 2) % 10)}, {static_cast<std::uint8_t>((2 * b - 1) % 10)}});
  write_cifar_file(dir / "test_batch.bin", {100, 101, 102}, {{3}, {9}, {0}});
  return root;
}
}  // namespace

TEST_SUITE("data/cifar") {
TEST_CASE("CIFAR10: records of the official binary format, images HWC, labels as T") {
  const fs::path root = cifar10_fixture("cifar10");
  CIFAR10 train(root.string());
  CIFAR10<double> test(root.string(), {.train = false});
  REQUIRE(train.size() == 10);
  REQUIRE(test.size() == 3);
  for (std::size_t i : {0u, 3u, 9u}) {
    auto [x, y] = train.get(i);
    REQUIRE(x.shape() == Shape{32, 32, 3});
    CHECK(y.shape() == Shape{});
    CHECK(y.item() == float(i % 10));
    for (std::size_t r : {0u, 5u, 31u})
      for (std::size_t col : {0u, 17u, 31u})
        for (std::size_t c = 0; c < 3; ++c) CHECK(x.at(r, col, c) == cifar_pixel(i, c, r * 32 + col));
  }
  CHECK(test.get(1).label.item() == 9);
  CHECK(test.get(2).data.at(31, 31, 2) == cifar_pixel(102, 2, 1023));
  CHECK(train.label_bytes().size() == 10);
  CHECK(train.pixel_bytes().size() == 10 * 3072);
  CHECK(CIFAR10<float>::class_names()[0] == "airplane");
  CHECK(CIFAR10<float>::class_names()[9] == "truck");
  // The files directly in root work too; and through a DataLoader.
  CIFAR10 flat(cifar10_fixture("cifar10-flat", false).string(), {.train = false});
  CHECK(flat.size() == 3);
  data::DataLoader loader(train, {.batch_size = 4, .num_workers = 2});
  std::size_t n = 0;
  for (auto [x, y] : loader) {
    CHECK(x.shape(1) == 32);
    n += y.shape(0);
  }
  CHECK(n == 10);
  CHECK_THROWS_WITH_AS(train.get(10), doctest::Contains("index 10 out of range"), ValueError);
}
TEST_CASE("CIFAR10: missing files, sizes that are not whole records, labels out of range") {
  const fs::path root = cifar10_fixture("cifar10-bad");
  const fs::path dir = root / "cifar-10-batches-bin";
  fs::remove(dir / "data_batch_4.bin");
  CHECK_THROWS_WITH_AS(CIFAR10(root.string()), doctest::Contains("data_batch_4.bin"), ValueError);
  CHECK(CIFAR10(root.string(), {.train = false}).size() == 3);
  {
    std::ofstream out(dir / "test_batch.bin", std::ios::binary | std::ios::app);
    out.put('x');
  }
  CHECK_THROWS_WITH_AS(CIFAR10(root.string(), {.train = false}),
                       doctest::Contains("holds 9220 bytes, not a whole number of 3073-byte records"), ValueError);
  write_cifar_file(dir / "test_batch.bin", {0}, {{10}});
  CHECK_THROWS_WITH_AS(CIFAR10(root.string(), {.train = false}), doctest::Contains("label 10 of record 0"), ValueError);
  write_cifar_file(dir / "test_batch.bin", {}, {});
  CHECK_THROWS_WITH_AS(CIFAR10(root.string(), {.train = false}), doctest::Contains("holds 0 bytes"), ValueError);
  CHECK_THROWS_WITH_AS(CIFAR10((root / "nowhere").string()), doctest::Contains("cifar-10-binary.tar.gz"), ValueError);
}
TEST_CASE("CIFAR100: coarse labels by default, fine ones on request") {
  const fs::path root = gluino::test::scratch / "cifar100";
  fs::remove_all(root);
  write_cifar_file(root / "cifar-100-binary" / "train.bin", {0, 1}, {{3, 77}, {19, 99}});
  write_cifar_file(root / "cifar-100-binary" / "test.bin", {5}, {{0, 42}});
  CIFAR100 coarse(root.string());
  CIFAR100 fine(root.string(), {.fine_label = true});
  CHECK(coarse.size() == 2);
  CHECK(coarse.get(1).label.item() == 19);
  CHECK(fine.get(0).label.item() == 77);
  CHECK(fine.get(1).data.at(2, 3, 1) == cifar_pixel(1, 1, 2 * 32 + 3));
  CHECK(CIFAR100(root.string(), {.fine_label = true, .train = false}).get(0).label.item() == 42);
  write_cifar_file(root / "cifar-100-binary" / "test.bin", {5}, {{20, 42}});
  CHECK_THROWS_WITH_AS(CIFAR100(root.string(), {.train = false}), doctest::Contains("is not a class 0-19"), ValueError);
}
TEST_CASE("CIFAR100: a record is checked for both labels, whichever one is asked for") {
  // Found by fuzz_cifar: a file loaded or not depending on fine_label (a coarse label of 20 read
  // with fine labels, a fine label of 100 with coarse ones).
  const fs::path root = gluino::test::scratch / "cifar100-labels";
  fs::remove_all(root);
  write_cifar_file(root / "train.bin", {0, 1}, {{3, 77}, {20, 42}});
  write_cifar_file(root / "test.bin", {2}, {{3, 100}});
  CHECK_THROWS_WITH_AS(CIFAR100(root.string(), {.fine_label = true}),
                       doctest::Contains("coarse label 20 of record 1 is not a class 0-19"), ValueError);
  CHECK_THROWS_WITH_AS(CIFAR100(root.string(), {.train = false}),
                       doctest::Contains("test.bin': fine label 100 of record 0 is not a class 0-99"), ValueError);
  CHECK_THROWS_WITH_AS(CIFAR100(root.string()), doctest::Contains("coarse label 20 of record 1"), ValueError);
}
}
