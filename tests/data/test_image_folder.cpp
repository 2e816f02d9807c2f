// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/vision/image_folder.hpp>

#include <doctest/doctest.h>

#include "support/image_write.hpp"
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
using data::vision::ImageFolderDataset;

namespace {
fs::path image_dir(const std::string& name) {
  const fs::path dir = gluino::test::scratch / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
void write_png(const fs::path& p, int w, int h, int c, const std::vector<std::uint8_t>& px) {
  fs::create_directories(p.parent_path());
  REQUIRE(px.size() == static_cast<std::size_t>(w * h * c));
  test::write_image_file(p, test::encode_png(w, h, c, px));
}
void write_jpg(const fs::path& p, int w, int h, int c, const std::vector<std::uint8_t>& px) {
  fs::create_directories(p.parent_path());
  test::write_image_file(p, test::encode_jpeg(w, h, c, px, 100));
}
std::vector<std::uint8_t> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
// A w x h RGB image, pixel (r, c) = {r * 40 + c, 200 - r * 30, c * 50}.
std::vector<std::uint8_t> rgb_pattern(int w, int h) {
  std::vector<std::uint8_t> px;
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int v : {r * 40 + c, 200 - r * 30, c * 50}) px.push_back(static_cast<std::uint8_t>(v));
  return px;
}
std::vector<float> as_floats(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }
}  // namespace

TEST_SUITE("data/image_folder") {
TEST_CASE("ImageFolderDataset: sorted class folders, sorted files, other extensions and stray files skipped") {
  const fs::path root = image_dir("folder-classes");
  write_png(root / "dog" / "b.png", 3, 2, 3, rgb_pattern(3, 2));
  write_png(root / "dog" / "A.PNG", 3, 2, 3, rgb_pattern(3, 2));
  write_jpg(root / "cat" / "x.jpg", 8, 8, 3, std::vector<std::uint8_t>(8 * 8 * 3, 120));
  write_jpg(root / "cat" / "y.jpeg", 8, 8, 1, std::vector<std::uint8_t>(8 * 8, 60));
  write_bytes(root / "cat" / "notes.txt", {'h', 'i'});
  fs::create_directories(root / "cat" / "nested");
  write_png(root / "cat" / "nested" / "deep.png", 1, 1, 1, {7});
  fs::create_directories(root / "empty");
  write_bytes(root / "README.md", {'x'});
  std::vector<std::string> warnings;
  auto prev = set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  ImageFolderDataset ds(root.string());
  set_warning_handler(prev);
  CHECK(ds.synsets() == std::vector<std::string>{"cat", "dog", "empty"});
  REQUIRE(ds.size() == 4);
  CHECK(fs::path(ds.items()[0].first).filename() == "x.jpg");
  CHECK(fs::path(ds.items()[1].first).filename() == "y.jpeg");
  CHECK(fs::path(ds.items()[2].first).filename() == "A.PNG");  // byte order: upper case first
  CHECK(fs::path(ds.items()[3].first).filename() == "b.png");
  CHECK(ds.items()[1].second == 0);
  CHECK(ds.items()[2].second == 1);
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0].find("README.md") != std::string::npos);
  CHECK(warnings[1].find("nested") != std::string::npos);
  CHECK(warnings[2].find("notes.txt") != std::string::npos);

  auto [png, label] = ds.get(3);
  CHECK(png.shape() == Shape{2, 3, 3});
  CHECK(png.to_vector() == as_floats(rgb_pattern(3, 2)));  // PNG is lossless
  CHECK(label.shape() == Shape{});
  CHECK(label.item() == 1);
  auto [jpg, jl] = ds.get(0);
  CHECK(jpg.shape() == Shape{8, 8, 3});
  CHECK(jpg.min().item() >= 117);
  CHECK(jpg.max().item() <= 123);
  CHECK(jl.item() == 0);
  auto grey_jpg = ds.get(1).data;  // a grey JPEG read in colour: three equal channels
  CHECK(grey_jpg.shape() == Shape{8, 8, 3});
  CHECK(grey_jpg.at(3, 4, 0) == grey_jpg.at(3, 4, 2));
  CHECK(std::abs(grey_jpg.at(3, 4, 1) - 60) <= 3);
}
TEST_CASE("ImageFolderDataset flag 0: grey images (H, W, 1), colour turned grey with OpenCV's weights") {
  const fs::path root = image_dir("folder-grey");
  // (255, 0, 0) -> 76, (0, 255, 0) -> 150, (0, 0, 255) -> 29, (10, 20, 30) -> 18.
  write_png(root / "c" / "rgb.png", 4, 1, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30});
  write_png(root / "c" / "rgba.png", 2, 1, 4, {255, 0, 0, 0, 10, 20, 30, 255});
  write_png(root / "c" / "zgrey.png", 2, 2, 1, {0, 50, 100, 255});
  ImageFolderDataset<double> grey(root.string(), {.flag = 0});
  REQUIRE(grey.size() == 3);
  CHECK(grey.get(0).data.shape() == Shape{1, 4, 1});
  CHECK(grey.get(0).data.to_vector() == std::vector<double>{76, 150, 29, 18});
  CHECK(grey.get(1).data.to_vector() == std::vector<double>{76, 18});
  CHECK(grey.get(2).data.to_vector() == std::vector<double>{0, 50, 100, 255});
  ImageFolderDataset<double> colour(root.string());
  CHECK(colour.get(1).data.to_vector() == std::vector<double>{255, 0, 0, 10, 20, 30});  // alpha dropped
  CHECK(colour.get(2).data.shape() == Shape{2, 2, 3});
  CHECK(colour.get(2).data.at(1, 0, 1) == 100);
  // imread and imdecode directly.
  CHECK(data::vision::imread<float>((root / "c" / "rgb.png").string(), {.flag = 0}).to_vector() ==
        std::vector<float>{76, 150, 29, 18});
  CHECK(data::vision::imdecode<float>(bytes_of(root / "c" / "rgb.png")).shape() == Shape{1, 4, 3});
}
TEST_CASE("ImageFolderDataset: bad, truncated and foreign files give a ValueError naming the file") {
  const fs::path root = image_dir("folder-bad");
  write_png(root / "k" / "good.png", 16, 16, 3, rgb_pattern(16, 16));
  write_jpg(root / "k" / "good.jpg", 16, 16, 3, rgb_pattern(16, 16));
  const auto png = bytes_of(root / "k" / "good.png"), jpg = bytes_of(root / "k" / "good.jpg");
  write_bytes(root / "k" / "png_half.png", {png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2)});
  write_bytes(root / "k" / "png_no_iend.png", {png.begin(), png.end() - 12});
  write_bytes(root / "k" / "png_header_only.png", {png.begin(), png.begin() + 8});
  write_bytes(root / "k" / "jpg_half.jpg", {jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() / 2)});
  write_bytes(root / "k" / "jpg_no_eoi.jpg", {jpg.begin(), jpg.end() - 2});
  write_bytes(root / "k" / "jpg_soi_only.jpg", {jpg.begin(), jpg.begin() + 3});
  auto corrupt = png;
  for (std::size_t i = 40; i < corrupt.size() - 20; ++i) corrupt[i] = static_cast<std::uint8_t>(corrupt[i] ^ 0x5a);
  write_bytes(root / "k" / "png_corrupt.png", corrupt);
  write_bytes(root / "k" / "text.png", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  write_bytes(root / "k" / "zempty.jpg", {});
  fs::create_directories(root / "k" / "zfolder.png");  // a folder with an image's name
  ImageFolderDataset ds(root.string());
  REQUIRE(ds.size() == 12);
  for (std::size_t i = 0; i < ds.size(); ++i) {
    const std::string path = ds.items()[i].first;
    const std::string file = fs::path(path).filename().string();
    CAPTURE(file);
    if (file.rfind("good", 0) == 0) {
      CHECK(ds.get(i).data.shape() == Shape{16, 16, 3});
    } else if (file == "png_no_iend.png") {
      CHECK_THROWS_WITH_AS(ds.get(i), doctest::Contains((path + "' is a truncated PNG (no IEND chunk)").c_str()),
                           ValueError);
    } else if (file == "text.png") {
      CHECK_THROWS_WITH_AS(ds.get(i), doctest::Contains("is neither a PNG nor a JPEG"), ValueError);
    } else {
      CHECK_THROWS_WITH_AS(ds.get(i), doctest::Contains(path.c_str()), ValueError);
    }
  }
  // A Huffman table of more than 256 codes (found by tests/fuzz/fuzz_imdecode when the decoder was
  // stb_image 2.27, which wrote past its tables): libjpeg refuses it.
  auto dht = jpg;
  std::size_t at = 2;
  while (at + 4 < dht.size() && !(dht[at] == 0xff && dht[at + 1] == 0xc4)) ++at;
  REQUIRE(at + 21 < dht.size());
  for (std::size_t k = 0; k < 16; ++k) dht[at + 5 + k] = 0xff;  // after marker, length, class/id
  CHECK_THROWS_WITH_AS(data::vision::imdecode<float>(dht, {}, "dht.jpg"),
                       doctest::Contains("cannot decode 'dht.jpg': corrupt JPEG (libjpeg: Bogus Huffman table definition)"), ValueError);
  // The errors reach a DataLoader's loop too, from its workers.
  data::DataLoader loader(ds, {.batch_size = 1, .num_workers = 2});
  auto run = [&] {
    for (auto [x, y] : loader) (void)x;
  };
  CHECK_THROWS_AS(run(), ValueError);
  CHECK_THROWS_WITH_AS(ImageFolderDataset((root / "nope").string()), doctest::Contains("is not a folder"), ValueError);
  CHECK_THROWS_WITH_AS(ImageFolderDataset(root.string(), {.flag = 2}), doctest::Contains("flag must be"), ValueError);
  CHECK_THROWS_WITH_AS(data::vision::imdecode<float>(png, {.flag = 3}), doctest::Contains("flag must be"), ValueError);
}
TEST_CASE("ImageFolderDataset in a DataLoader with workers: the serial loader's batches") {
  const fs::path root = image_dir("folder-loader");
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 5; ++i) {
      auto px = rgb_pattern(4, 3);
      for (auto& v : px) v = static_cast<std::uint8_t>(v + 10 * i + k);
      write_png(root / ("class" + std::to_string(k)) / ("im" + std::to_string(i) + ".png"), 4, 3, 3, px);
    }
  ImageFolderDataset ds(root.string());
  REQUIRE(ds.size() == 15);
  auto batches = [&](std::size_t workers) {
    data::DataLoader loader(ds, {.batch_size = 4, .shuffle = true, .seed = 3, .num_workers = workers});
    std::vector<float> all;
    for (auto [x, y] : loader) {
      CHECK(x.shape(1) == 3);
      all.insert(all.end(), x.begin(), x.end());
      all.insert(all.end(), y.begin(), y.end());
    }
    return all;
  };
  const auto ref = batches(0);
  CHECK(ref.size() == 15 * 36 + 15);
  CHECK(batches(3) == ref);
}
}
