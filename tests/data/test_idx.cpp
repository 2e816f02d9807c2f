// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/idx.hpp>

#include <doctest/doctest.h>

#include "support/scratch.hpp"

#include "support/idx_bytes.hpp"

#include <gluino/data/sha256.hpp>

#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace gluino;
namespace fs = std::filesystem;

namespace {
using gluino::test::scratch;
const std::string mini_dir = gluino::test::mini + "/";

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

// The header of an IDX file of unsigned bytes with these dimensions.
using gluino_test::gzip_bomb;
using gluino_test::idx_header;
// The peak resident memory of this process so far, in bytes.
std::size_t peak_rss() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
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
  const auto img = data::read_idx(mini_dir + "train-images-idx3-ubyte.gz",
                                  {.expected_ndim = 3, .on_bytes = [&](const std::uint8_t* p, std::size_t n) { h.update(p, n); }});
  CHECK(img.dims == std::vector<std::size_t>{100, 28, 28});
  CHECK(img.size() == 78400);
  CHECK(h.hex_digest() == "60ea5feda59124b528e4ae46db7909f10c71829f40f5e1987e4d698dbf350437");
  const auto lab = data::read_idx(mini_dir + "train-labels-idx1-ubyte.gz", {.expected_ndim = 1});
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
    const auto p = tmp_path("empty.idx");
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
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("dimensions (4294967295, 4294967295, 1) describe more than "
                                                              "the limit of 1073741824 bytes"),
                         ValueError);
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
    auto gz = read_bytes(mini_dir + "train-images-idx3-ubyte.gz");
    gz.resize(gz.size() / 2);
    const auto p = tmp_path("cut.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("cut.gz': truncated gzip stream"), ValueError);
  }
  SUBCASE("gzip stream without its trailer") {
    auto gz = read_bytes(mini_dir + "train-labels-idx1-ubyte.gz");
    gz.resize(gz.size() - 8);  // drop CRC32 and ISIZE
    const auto p = tmp_path("notrailer.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("notrailer.gz': truncated gzip stream"), ValueError);
  }
  SUBCASE("corrupt gzip data") {
    auto gz = read_bytes(mini_dir + "train-images-idx3-ubyte.gz");
    // The first deflate block (after the 10-byte gzip header, no file name) gets the reserved
    // block type 3.  (Random damage may also inflate to other bytes, reported as a wrong magic,
    // a wrong length or, at the end, a CRC mismatch.)
    REQUIRE(gz[3] == 0);  // no optional gzip header fields
    gz[10] |= 0x06;
    const auto p = tmp_path("corrupt.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("corrupt.gz': corrupt gzip data"), ValueError);
  }
  SUBCASE("corrupt gzip checksum") {
    auto gz = read_bytes(mini_dir + "train-labels-idx1-ubyte.gz");
    gz[gz.size() - 6] ^= 1;  // a CRC32 byte
    const auto p = tmp_path("badcrc.gz");
    write_bytes(p, gz);
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("badcrc.gz': corrupt gzip data"), ValueError);
  }
}
TEST_CASE("read_idx: decompression bombs stop at what the header promises") {
  SUBCASE("the bomb generator makes valid gzip files") {
    const auto p = tmp_path("zeros-3mib.gz");
    write_bytes(p, gzip_bomb(idx_header({3, 1024, 1024}), 3));
    const auto a = data::read_idx(p, {.expected_ndim = 3});
    CHECK(a.dims == std::vector<std::size_t>{3, 1024, 1024});
    CHECK(a.size() == 3u << 20);
    CHECK(std::all_of(a.data.begin(), a.data.end(), [](std::uint8_t v) { return v == 0; }));
  }
  SUBCASE("2 GiB of zeros after a 10x28x28 payload: stops at the first extra byte") {
    const auto bomb = gzip_bomb(idx_header({10, 28, 28}), 2048);  // about 2 MB
    CHECK(bomb.size() < (3u << 20));
    const auto p = tmp_path("bomb-extra.gz");
    write_bytes(p, bomb);
    std::size_t seen = 0;
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(
        data::read_idx(p, {.on_bytes = [&](const std::uint8_t*, std::size_t n) { seen += n; }}),
        doctest::Contains("bomb-extra.gz': extra bytes after the payload: expected exactly 7856 bytes for dimensions "
                          "(10, 28, 28), got more"),
        ValueError);
    CHECK(seconds_since(t0) < 0.25);  // before: 2 GiB inflated just to be counted (0.9 s)
    CHECK(seen == 16 + 7840);
    // The same from memory.
    CHECK_THROWS_WITH_AS(data::read_idx_bytes(bomb.data(), bomb.size(), {}, "bomb in memory"),
                         doctest::Contains("'bomb in memory': extra bytes after the payload"), ValueError);
  }
  SUBCASE("a 1 MB file announcing 2 GiB is refused before anything is allocated") {
    const auto p = tmp_path("bomb-2gib.gz");
    write_bytes(p, gzip_bomb(idx_header({2048, 1024, 1024}), 1024));  // 1 GiB of zeros in ~1 MB
    const std::size_t rss0 = peak_rss();
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("bomb-2gib.gz': dimensions (2048, 1024, 1024) describe "
                                                              "more than the limit of 1073741824 bytes"),
                         ValueError);
    CHECK(seconds_since(t0) < 0.25);
    CHECK(peak_rss() - rss0 < (64u << 20));
  }
  SUBCASE("under a raised limit, memory grows with the data, not with the promise") {
    const auto p = tmp_path("bomb-3gib.gz");
    write_bytes(p, gzip_bomb(idx_header({3072, 1024, 1024}), 16));  // 3 GiB announced, 16 MiB there
    const std::size_t rss0 = peak_rss();
    CHECK_THROWS_WITH_AS(data::read_idx(p, {.max_bytes = std::size_t(4) << 30}),
                         doctest::Contains("truncated: 16777216 payload bytes, expected 3221225472"), ValueError);
    CHECK(peak_rss() - rss0 < (128u << 20));
  }
  SUBCASE("a raw file's size is checked against the header before reading") {
    const auto p = tmp_path("raw-huge");
    auto b = idx_header({1024, 1024, 512});  // 512 MiB announced, 1 byte there
    b.push_back(1);
    write_bytes(p, b);
    const std::size_t rss0 = peak_rss();
    CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("truncated: 1 payload bytes, expected 536870912"),
                         ValueError);
    CHECK(peak_rss() - rss0 < (64u << 20));
  }
}
TEST_CASE("read_idx: gzip members and trailing garbage") {
  const auto labels = read_bytes(mini_dir + "train-labels-idx1-ubyte.gz");
  SUBCASE("bytes after the gzip member are refused, as gzip -t does") {
    for (const std::vector<std::uint8_t>& junk : {std::vector<std::uint8_t>{0}, {'j', 'u', 'n', 'k'}, {0x1f}}) {
      auto gz = labels;
      gz.insert(gz.end(), junk.begin(), junk.end());
      const auto p = tmp_path("garbage.gz");
      write_bytes(p, gz);
      CHECK_THROWS_WITH_AS(data::read_idx(p), doctest::Contains("garbage.gz': unexpected bytes after the end of the gzip "
                                                                "stream (trailing garbage)"),
                           ValueError);
    }
  }
  SUBCASE("a second member continues the data (gzip's concatenation)") {
    // The labels file split into two members: header + 40 labels, then 60 labels.
    const auto whole = data::read_idx(mini_dir + "train-labels-idx1-ubyte.gz");
    std::vector<std::uint8_t> raw = idx_header({100});
    raw.insert(raw.end(), whole.data.begin(), whole.data.end());
    const auto first = tmp_path("part1.gz"), second = tmp_path("part2.gz");
    gzFile f = gzopen(first.c_str(), "wb");
    gzwrite(f, raw.data(), 8 + 40);
    gzclose(f);
    f = gzopen(second.c_str(), "wb");
    gzwrite(f, raw.data() + 48, 60);
    gzclose(f);
    auto gz = read_bytes(first);
    const auto gz2 = read_bytes(second);
    gz.insert(gz.end(), gz2.begin(), gz2.end());
    const auto a = data::read_idx_bytes(gz.data(), gz.size(), {.expected_ndim = 1});
    CHECK(a.data == whole.data);
    gz.insert(gz.end(), {1, 2, 3});
    CHECK_THROWS_WITH_AS(data::read_idx_bytes(gz.data(), gz.size()), doctest::Contains("trailing garbage"), ValueError);
  }
  SUBCASE("read_idx_bytes reads raw data too, and names it in errors") {
    const auto raw = two_labels();
    CHECK(data::read_idx_bytes(raw.data(), raw.size()).data == std::vector<std::uint8_t>{7, 3});
    CHECK_THROWS_WITH_AS(data::read_idx_bytes(raw.data(), raw.size() - 1, {}, "labels.bin"),
                         doctest::Contains("'labels.bin': truncated: 1 payload bytes, expected 2"), ValueError);
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
