// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/idx.hpp>

#include <doctest/doctest.h>

#include <gluino/data/sha256.hpp>

#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <string>
#include <vector>

using namespace gluino;
namespace fs = std::filesystem;

namespace {
// This process's scratch folder, removed at exit.
const fs::path scratch = fs::temp_directory_path() / ("gluino-test-idx-" + std::to_string(::getpid()));
struct RemoveScratch {
  ~RemoveScratch() {
    std::error_code ec;
    fs::remove_all(scratch, ec);
  }
} remove_scratch;
const std::string mini = std::string(GLUINO_TEST_DATA_DIR) + "/fashion-mnist-mini/";

std::string tmp_path(const std::string& name) {
  const fs::path dir = scratch;
  fs::create_directories(dir);
  return (dir / name).string();
}
void write_bytes(const std::string& path, const std::vector<std::uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
// A raw IDX file of 2 labels: magic 0x00000801, N = 2, payload {7, 3}.
std::vector<std::uint8_t> two_labels() { return {0, 0, 8, 1, 0, 0, 0, 2, 7, 3}; }
}  // namespace

TEST_SUITE("data/idx") {
TEST_CASE("read_idx: raw labels file, byte by byte") {
  const auto p = tmp_path("labels-raw");
  write_bytes(p, two_labels());
  const auto a = data::read_idx(p, {.expected_ndim = 1});
  CHECK(a.dims == std::vector<std::size_t>{2});
  CHECK(a.data == std::vector<std::uint8_t>{7, 3});
  CHECK(a.shape() == Shape{2});
}
TEST_CASE("read_idx: the gzip fixture, with the README's decompressed SHA-256") {
  data::Sha256 h;
  const auto img = data::read_idx(mini + "train-images-idx3-ubyte.gz",
                                  {.expected_ndim = 3, .on_bytes = [&](const std::uint8_t* p, std::size_t n) { h.update(p, n); }});
  CHECK(img.dims == std::vector<std::size_t>{100, 28, 28});
  CHECK(img.size() == 78400);
  CHECK(h.hex_digest() == "60ea5feda59124b528e4ae46db7909f10c71829f40f5e1987e4d698dbf350437");
  const auto lab = data::read_idx(mini + "train-labels-idx1-ubyte.gz", {.expected_ndim = 1});
  CHECK(lab.dims == std::vector<std::size_t>{100});
  CHECK(lab.data[0] == 9);  // ankle boot
}
TEST_CASE("write_idx then read_idx round-trips, gzip and raw") {
  data::IdxArray a{{2, 3, 2}, {0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}};
  for (const char* name : {"rt.idx", "rt.idx.gz"}) {
    const auto p = tmp_path(name);
    data::write_idx(p, a);
    const auto b = data::read_idx(p);
    CHECK(b.dims == a.dims);
    CHECK(b.data == a.data);
  }
  // The raw file is exactly header + payload; the .gz one starts with the gzip magic.
  CHECK(read_bytes(tmp_path("rt.idx")).size() == 4 + 3 * 4 + 12);
  const auto gz = read_bytes(tmp_path("rt.idx.gz"));
  CHECK((gz.size() > 2 && gz[0] == 0x1f && gz[1] == 0x8b));
  CHECK_THROWS_WITH_AS(data::write_idx(tmp_path("bad.idx"), data::IdxArray{{2, 2}, {1, 2, 3}}),
                       doctest::Contains("3 bytes of data for dimensions (2, 2)"), ShapeError);
}
TEST_CASE("read_idx: errors name the file and what was expected") {
  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(data::read_idx(tmp_path("nope.gz")), doctest::Contains("nope.gz': no such file"), ValueError);
  }
  SUBCASE("directory") {
    CHECK_THROWS_WITH_AS(data::read_idx(fs::path(tmp_path("x")).parent_path().string()),
                         doctest::Contains("is a directory"), ValueError);
  }
  SUBCASE("empty file") {
    const auto p = tmp_path("empty");
    write_bytes(p, {});
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("truncated: 0 bytes, expected at least 4"), ValueError);
  }
  SUBCASE("foreign file (PNG signature)") {
    const auto p = tmp_path("picture.png");
    write_bytes(p, {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 0});
    CHECK_THROWS_WITH_AS(data::read_idx(p, {.expected_ndim = 3}),
                         doctest::Contains("not an IDX file: magic 0x89504e47, expected 0x00000803"), ValueError);
  }
  SUBCASE("labels file where images are expected") {
    const auto p = tmp_path("labels-for-images");
    write_bytes(p, two_labels());
    CHECK_THROWS_WITH_AS(data::read_idx(p, {.expected_ndim = 3}),
                         doctest::Contains("magic 0x00000801 has 1 dimensions, expected 0x00000803"), ValueError);
  }
  SUBCASE("float element type") {
    const auto p = tmp_path("floats");
    write_bytes(p, {0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0});
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("unsupported IDX element type in magic 0x00000d01"),
                         ValueError);
  }
  SUBCASE("zero or too many dimensions") {
    const auto p = tmp_path("dims");
    write_bytes(p, {0, 0, 8, 0});
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("announces 0 dimensions"), ValueError);
    write_bytes(p, {0, 0, 8, 9});
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("announces 9 dimensions, expected 1 to 6"), ValueError);
  }
  SUBCASE("truncated header") {
    const auto p = tmp_path("short-header");
    write_bytes(p, {0, 0, 8, 3, 0, 0, 0, 100, 0, 0});
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("truncated header: 10 bytes, expected 16"), ValueError);
  }
  SUBCASE("truncated payload") {
    const auto p = tmp_path("short-payload");
    auto b = two_labels();
    b.pop_back();
    write_bytes(p, b);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("truncated: 1 payload bytes, expected 2 for dimensions (2,)"),
                         ValueError);
  }
  SUBCASE("huge announced size fails as truncated, without allocating it") {
    const auto p = tmp_path("huge");
    write_bytes(p, {0, 0, 8, 3, 0, 0, 0xff, 0xff, 0, 0, 0x10, 0, 0, 0, 0, 1, 42});
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("truncated: 1 payload bytes, expected 268431360"),
                         ValueError);
    write_bytes(p, {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 42});
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("more than 2^40 bytes"), ValueError);
  }
  SUBCASE("extra trailing bytes") {
    const auto p = tmp_path("trailing");
    auto b = two_labels();
    b.push_back(0);
    b.push_back(1);
    write_bytes(p, b);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("2 extra bytes after the payload: expected exactly 10 bytes"),
                         ValueError);
  }
  SUBCASE("truncated gzip stream") {
    auto gz = read_bytes(mini + "train-images-idx3-ubyte.gz");
    gz.resize(gz.size() / 2);
    const auto p = tmp_path("cut.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("cut.gz': truncated gzip stream"), ValueError);
  }
  SUBCASE("gzip stream without its trailer") {
    auto gz = read_bytes(mini + "train-labels-idx1-ubyte.gz");
    gz.resize(gz.size() - 8);  // drop CRC32 and ISIZE
    const auto p = tmp_path("notrailer.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("notrailer.gz': truncated gzip stream"), ValueError);
  }
  SUBCASE("corrupt gzip data") {
    auto gz = read_bytes(mini + "train-images-idx3-ubyte.gz");
    for (std::size_t i = 100; i < 400; ++i) gz[i] ^= 0x5a;
    const auto p = tmp_path("corrupt.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("corrupt.gz': corrupt gzip data"), ValueError);
  }
  SUBCASE("corrupt gzip checksum") {
    auto gz = read_bytes(mini + "train-labels-idx1-ubyte.gz");
    gz[gz.size() - 6] ^= 1;  // a CRC32 byte
    const auto p = tmp_path("badcrc.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("badcrc.gz': corrupt gzip data"), ValueError);
  }
}
TEST_CASE("sha256: known digests") {
  CHECK(data::sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(data::sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  data::Sha256 h;
  h.update("a", 1);
  h.update("bc", 2);
  CHECK(h.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK_THROWS_AS(h.update("x", 1), StateError);
}
}
