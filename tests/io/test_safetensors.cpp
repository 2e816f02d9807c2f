// SPDX-License-Identifier: Apache-2.0
#include <gluino/io/safetensors.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include <nlohmann/json.hpp>  // the tests write headers of their own

#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace gluino;
namespace fs = std::filesystem;
using Named = std::vector<std::pair<std::string, NDArray<float>>>;
using NamedD = std::vector<std::pair<std::string, NDArray<double>>>;

namespace {
// This process's scratch folder, removed at exit.
const fs::path st_scratch = fs::temp_directory_path() / ("gluino-test-safetensors-" + std::to_string(::getpid()));
struct RemoveScratch {
  ~RemoveScratch() {
    std::error_code ec;
    fs::remove_all(st_scratch, ec);
  }
} remove_scratch;
fs::path tmp_dir() {
  const fs::path dir = st_scratch;
  fs::create_directories(dir);
  return dir;
}
std::string st_path(const std::string& name) { return (tmp_dir() / name).string(); }
std::vector<unsigned char> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
// A file with the given header text (not padded), header length field and data bytes.
std::string make_file(const std::string& name, const std::string& header, std::vector<unsigned char> data = {},
                      std::uint64_t declared = ~std::uint64_t(0)) {
  const std::string p = st_path(name);
  std::ofstream f(p, std::ios::binary);
  const std::uint64_t n = declared == ~std::uint64_t(0) ? header.size() : declared;
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>(n >> (8 * i)));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return p;
}
std::vector<unsigned char> zeros(std::size_t n) { return std::vector<unsigned char>(n, 0); }
}  // namespace

TEST_SUITE("io/safetensors") {
TEST_CASE("the bytes follow the format: length, padded JSON header, little-endian data") {
  const auto p = st_path("one.safetensors");
  io::save_safetensors<float>(p, {{"a", nd::array<float>({1.0f, -2.5f})}});
  const auto b = file_bytes(p);
  const std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(json.size() == 54);
  const std::size_t n = 56;  // padded to a multiple of 8 with two spaces
  REQUIRE(b.size() == 8 + n + 8);
  CHECK(std::vector<unsigned char>(b.begin(), b.begin() + 8) == std::vector<unsigned char>{56, 0, 0, 0, 0, 0, 0, 0});
  CHECK(std::string(b.begin() + 8, b.begin() + 8 + 54) == json);
  CHECK(std::string(b.begin() + 8 + 54, b.begin() + 8 + 56) == "  ");
  // 1.0f = 0x3f800000, -2.5f = 0xc0200000, little-endian.
  CHECK(std::vector<unsigned char>(b.begin() + 64, b.end()) ==
        std::vector<unsigned char>{0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0});
}
TEST_CASE("header JSON: metadata first, tensors in order with dtype, shape and contiguous offsets") {
  const auto p = st_path("two.safetensors");
  io::save_safetensors<double>(p, {{"w", nd::zeros<double>({2, 3})}, {"b", nd::zeros<double>({3})}, {"s", nd::zeros<double>({})}},
                               {{"format", "gluino"}, {"epoch", "3"}});
  const auto bytes = file_bytes(p);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  CHECK(n % 8 == 0);
  const std::string text(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  CHECK(text.rfind("{\"__metadata__\":{\"epoch\":\"3\",\"format\":\"gluino\"},\"w\":", 0) == 0);
  auto j = nlohmann::json::parse(text);
  CHECK(j["w"]["dtype"] == "F64");
  CHECK(j["w"]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(j["w"]["data_offsets"] == nlohmann::json::array({0, 48}));
  CHECK(j["b"]["data_offsets"] == nlohmann::json::array({48, 72}));
  CHECK(j["s"]["shape"] == nlohmann::json::array());
  CHECK(j["s"]["data_offsets"] == nlohmann::json::array({72, 80}));
  CHECK(bytes.size() == 8 + n + 80);
}
TEST_CASE("round trips: float, double, scalars, empty tensors, metadata, F32 into double") {
  const auto p = st_path("rt.safetensors");
  auto w = nd::array<float>({0.1f, -1e-30f, 3e38f, 7.0f, -0.0f, 1.0f / 3.0f}, {3, 2});
  Named in{{"conv0_weight", w}, {"scalar", nd::full<float>({}, 2.5f)}, {"empty", nd::zeros<float>({0, 3})}};
  io::save_safetensors(p, in, {{"k", "v"}});
  auto out = io::load_safetensors_with_metadata<float>(p);
  REQUIRE(out.tensors.size() == 3);
  CHECK(out.metadata == std::map<std::string, std::string>{{"k", "v"}});
  CHECK(out.tensors[0].first == "conv0_weight");
  CHECK(out.tensors[0].second.shape() == Shape{3, 2});
  CHECK(out.tensors[0].second.to_vector() == w.to_vector());
  CHECK(out.tensors[1].second.shape() == Shape{});
  CHECK(out.tensors[1].second.item() == 2.5f);
  CHECK(out.tensors[2].second.shape() == Shape{0, 3});
  auto as_double = io::load_safetensors<double>(p);
  CHECK(as_double[0].second.at(0, 0) == static_cast<double>(0.1f));
  const auto pd = st_path("rtd.safetensors");
  io::save_safetensors<double>(pd, {{"x", nd::array<double>({0.1, 1e300})}});
  CHECK(io::load_safetensors<double>(pd)[0].second.to_vector() == std::vector<double>{0.1, 1e300});
  CHECK_THROWS_WITH_AS(io::load_safetensors<float>(pd),
                       doctest::Contains("tensor 'x': dtype F64 does not load into float"), ValueError);
  // Nothing at all is a valid file too.
  io::save_safetensors<float>(p, {});
  CHECK(file_bytes(p).size() == 16);  // "{}" padded to 8
  CHECK(io::load_safetensors<float>(p).empty());
}
TEST_CASE("saving replaces the file through a temporary and leaves no temporary behind") {
  const fs::path dir = tmp_dir() / "atomic";
  fs::create_directories(dir);
  const std::string p = (dir / "net.safetensors").string();
  io::save_safetensors<float>(p, {{"a", nd::zeros<float>({4})}});
  io::save_safetensors<float>(p, {{"b", nd::ones<float>({2})}});
  CHECK(io::load_safetensors<float>(p)[0].first == "b");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>((dir / "no-such-dir" / "x.safetensors").string(), {{"a", nd::zeros<float>({1})}}),
                       doctest::Contains("does not exist"), ValueError);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}
TEST_CASE("save rejects bad names and arrays") {
  const auto p = st_path("bad-save.safetensors");
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"a", nd::zeros<float>({1})}, {"a", nd::zeros<float>({1})}}),
                       doctest::Contains("duplicate tensor name 'a'"), ValueError);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"", nd::zeros<float>({1})}}), doctest::Contains("empty name"),
                       ValueError);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"__metadata__", nd::zeros<float>({1})}}),
                       doctest::Contains("reserved"), ValueError);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"u", NDArray<float>{}}}),
                       doctest::Contains("tensor 'u' is an empty (undefined) array"), ValueError);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"\xff\xfe", nd::zeros<float>({1})}}),
                       doctest::Contains("must be UTF-8"), ValueError);
  CHECK_FALSE(fs::exists(p));
}
TEST_CASE("malformed files are rejected, naming the file and the tensor") {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  auto load = [](const std::string& p) { return io::load_safetensors<float>(p); };
  SUBCASE("missing") {
    CHECK_THROWS_WITH_AS(load(st_path("absent.safetensors")), doctest::Contains("absent.safetensors': no such file"),
                         ValueError);
  }
  SUBCASE("shorter than the length field") {
    const auto p = st_path("tiny");
    std::ofstream(p) << "abc";
    CHECK_THROWS_WITH_AS(load(p), doctest::Contains("truncated: 3 bytes, shorter than the 8-byte header length field"),
                         ValueError);
  }
  SUBCASE("huge header length") {
    CHECK_THROWS_WITH_AS(load(make_file("huge", ok, zeros(8), 1ull << 40)),
                         doctest::Contains("header length 1099511627776 exceeds the limit of 100000000 bytes"), ValueError);
  }
  SUBCASE("header length beyond the file") {
    CHECK_THROWS_WITH_AS(load(make_file("long", ok, {}, 4000)),
                         doctest::Contains("header length 4000 exceeds the 54 bytes after the length field"), ValueError);
  }
  SUBCASE("truncated data") {
    CHECK_THROWS_WITH_AS(load(make_file("cut", ok, zeros(5))),
                         doctest::Contains("tensor 'a': data_offsets [0, 8] out of range: the data section has 5 bytes"),
                         ValueError);
  }
  SUBCASE("bad JSON") {
    CHECK_THROWS_WITH_AS(load(make_file("badjson", R"({"a":{"dtype":"F32",)", zeros(8))),
                         doctest::Contains("invalid JSON header"), ValueError);
    CHECK_THROWS_WITH_AS(load(make_file("array", "[1, 2]")), doctest::Contains("does not start with '{'"), ValueError);
  }
  SUBCASE("unknown and unsupported dtypes") {
    CHECK_THROWS_WITH_AS(load(make_file("dtype", R"({"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", zeros(8))),
                         doctest::Contains("tensor 'a': unknown dtype \"F17\""), ValueError);
    const auto f16 = make_file("f16", R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", zeros(4));
    CHECK(io::read_safetensors_header(f16).tensors.at(0).dtype == "F16");  // a valid file...
    CHECK_THROWS_WITH_AS(load(f16), doctest::Contains("tensor 'h': dtype F16 is not supported"), ValueError);  // ...we cannot load
  }
  SUBCASE("shape and span disagree") {
    CHECK_THROWS_WITH_AS(load(make_file("span", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", zeros(8))),
                         doctest::Contains("tensor 'a': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8"),
                         ValueError);
    CHECK_THROWS_WITH_AS(load(make_file("neg", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", zeros(8))),
                         doctest::Contains("shape entries must be non-negative integers, got -2"), ValueError);
    CHECK_THROWS_WITH_AS(load(make_file("nodtype", R"({"a":{"shape":[2],"data_offsets":[0,8]}})", zeros(8))),
                         doctest::Contains("tensor 'a': missing or non-string \"dtype\""), ValueError);
  }
  SUBCASE("offsets out of range, overlapping, with gaps, or not covering the data") {
    CHECK_THROWS_WITH_AS(load(make_file("range", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", zeros(8))),
                         doctest::Contains("tensor 'a': data_offsets [8, 16] out of range"), ValueError);
    CHECK_THROWS_WITH_AS(
        load(make_file("overlap",
                       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       zeros(12))),
        doctest::Contains("tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"), ValueError);
    CHECK_THROWS_WITH_AS(load(make_file("gap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", zeros(12))),
                         doctest::Contains("leave a gap of 4 bytes"), ValueError);
    CHECK_THROWS_WITH_AS(load(make_file("extra", ok, zeros(12))),
                         doctest::Contains("the tensors cover 8 bytes but the data section has 12"), ValueError);
    CHECK_THROWS_WITH_AS(load(make_file("meta", R"({"__metadata__":{"a":1}})")),
                         doctest::Contains("__metadata__ value of 'a' is not a string"), ValueError);
  }
}
TEST_CASE("regression: shapes whose byte size wraps around 2^64 are rejected, not loaded into a tiny block") {
  // Before the fix, count * width wrapped: [2^62] F32 looked like 0 bytes and got a 64-byte block
  // that reading overflowed (as double: a null dereference).
  struct Case {
    const char* name;
    std::string header;
    std::size_t data;
  };
  const Case cases[] = {
      {"f32-2p62", R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0},
      {"f64-2p61p1", R"({"a":{"dtype":"F64","shape":[2305843009213693953],"data_offsets":[0,8]}})", 8},
      {"f32-2p31sq", R"({"a":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}})", 0},
      {"f32-2p62p2", R"({"a":{"dtype":"F32","shape":[4611686018427387906],"data_offsets":[0,8]}})", 8},
      {"u8-2p64", R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const auto p = make_file(std::string(c.name) + ".safetensors", c.header, zeros(c.data));
    CHECK_THROWS_WITH_AS(io::read_safetensors_header(p), doctest::Contains("tensor 'a': shape ["), ValueError);
    CHECK_THROWS_WITH_AS(io::load_safetensors<float>(p), doctest::Contains("does not fit in 64 bits"), ValueError);
    CHECK_THROWS_WITH_AS(io::load_safetensors<double>(p), doctest::Contains((std::string(c.name) + ".safetensors'").c_str()),
                         ValueError);
  }
}
TEST_CASE("the fuzz corpus: crash-* inputs are rejected with ValueError, seeds load") {
  const fs::path dir = fs::path(GLUINO_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / "safetensors";
  REQUIRE(fs::is_directory(dir));
  int crashes = 0, seeds = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    const std::string name = f.path().filename().string();
    CAPTURE(name);
    if (name.rfind("crash-", 0) == 0) {
      ++crashes;
      CHECK_THROWS_AS(io::load_safetensors<float>(f.path().string()), ValueError);
      CHECK_THROWS_AS(io::load_safetensors<double>(f.path().string()), ValueError);
    } else {
      ++seeds;
      CHECK_FALSE(io::load_safetensors<double>(f.path().string()).empty());
      if (name.find("f64") == std::string::npos) CHECK_FALSE(io::load_safetensors<float>(f.path().string()).empty());
    }
  }
  CHECK(crashes >= 3);
  CHECK(seeds >= 2);
}
TEST_CASE("regression: a tensor with an empty name is rejected, as save refuses one (found by fuzzing)") {
  const auto p = make_file("unnamed", R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", zeros(4));
  CHECK_THROWS_WITH_AS(io::load_safetensors<float>(p), doctest::Contains("unnamed': a tensor has an empty name"),
                       ValueError);
}
TEST_CASE("a name given twice in the header is rejected") {
  const auto p = make_file(
      "dup", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      zeros(8));
  CHECK_THROWS_WITH_AS(io::load_safetensors<float>(p), doctest::Contains("dup': the header names 'a' twice"), ValueError);
}
TEST_CASE("a save that fails halfway leaves the previous file byte-identical and no temporary") {
  const fs::path dir = tmp_dir() / "halfway";
  fs::create_directories(dir);
  const std::string p = (dir / "ckpt.safetensors").string();
  io::save_safetensors<float>(p, {{"w", nd::full<float>({16}, 1.5f)}}, {{"epoch", "1"}});
  const auto before = file_bytes(p);
  struct ResetHook {
    ~ResetHook() { detail::fail_writes_after_bytes.reset(); }
  } reset_hook;
  for (std::size_t limit : {std::size_t(0), std::size_t(5), std::size_t(40), before.size() - 1}) {
    CAPTURE(limit);
    detail::fail_writes_after_bytes = limit;
    CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"w", nd::full<float>({16}, 7.0f)}}, {{"epoch", "2"}}),
                         doctest::Contains("failed (disk full?)"), ValueError);
    detail::fail_writes_after_bytes.reset();
    CHECK(file_bytes(p) == before);
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  }
  detail::fail_writes_after_bytes = before.size();  // exactly enough room: succeeds
  io::save_safetensors<float>(p, {{"w", nd::full<float>({16}, 7.0f)}}, {{"epoch", "2"}});
  detail::fail_writes_after_bytes.reset();
  CHECK(io::load_safetensors<float>(p)[0].second.at(3) == 7.0f);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}
TEST_CASE("an independent reader (Python, standard library only) agrees") {
  const std::string script = std::string(GLUINO_TEST_DATA_DIR) + "/../io/check_safetensors.py";
  const auto p = st_path("py.safetensors"), pd = st_path("pyd.safetensors"), e = st_path("expected.json"),
             ed = st_path("expected-d.json");
  Named in{{"dense0_weight", nd::array<float>({0.5f, -1.25f, 3.0f, 0.1f, 1e-7f, -6e20f}, {2, 3})},
           {"dense0_bias", nd::array<float>({0.25f, -0.0f})},
           {"step", nd::full<float>({}, 42.0f)}};
  io::save_safetensors(p, in, {{"format", "gluino"}});
  nlohmann::json ex{{"metadata", {{"format", "gluino"}}}, {"tensors", nlohmann::json::array()}};
  for (const auto& [name, a] : in) {
    std::vector<double> v(a.begin(), a.end());
    ex["tensors"].push_back({{"name", name}, {"dtype", "F32"}, {"shape", a.shape().vec()}, {"values", v}});
  }
  std::ofstream(e) << ex.dump();

  io::save_safetensors<double>(pd, {{"x", nd::array<double>({0.1, -1e300, 2.0 / 3.0}, {3, 1})}});
  nlohmann::json exd{{"tensors", {{{"name", "x"}, {"dtype", "F64"}, {"shape", {3, 1}}, {"values", {0.1, -1e300, 2.0 / 3.0}}}}}};
  std::ofstream(ed) << exd.dump();
  const int status = std::system(("python3 '" + script + "' '" + p + "' '" + e + "' '" + pd + "' '" + ed + "'").c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {  // the shell found no python3
    MESSAGE("skipped: python3 not found");
    return;
  }
  CHECK(status == 0);
}
TEST_CASE("save: an empty path, a directory or a missing folder is a ValueError naming the path, and no temporary") {
  const fs::path dir = tmp_dir() / "badsave";
  fs::create_directories(dir / "sub");
  const Named t{{"a", nd::zeros<float>({1})}};
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>("", t), "save_safetensors: '': the path is empty", ValueError);
  const std::string sub = (dir / "sub").string();
  for (const std::string& p : {sub, sub + "/"})
    CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, t),
                         ("save_safetensors: '" + p + "': is a directory; give a file name").c_str(), ValueError);
  const std::string missing = (dir / "no-such-dir" / "x.safetensors").string();
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(missing, t),
                       ("save_safetensors: '" + missing + "': the folder '" + (dir / "no-such-dir").string() +
                        "' does not exist").c_str(), ValueError);
  std::ofstream(dir / "file") << "x";
  const std::string through = (dir / "file" / "x.safetensors").string();
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(through, t), doctest::Contains("is not a folder"), ValueError);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 2);  // sub and file
  CHECK(fs::is_empty(dir / "sub"));
}
TEST_CASE("save: a path that is a pipe or a device is a ValueError, not replaced by a regular file") {
  // The write goes to a temporary renamed over the path: over a FIFO (or, for root, /dev/null)
  // that would put a regular file where the special one was.
  const fs::path dir = tmp_dir() / "special";
  fs::create_directories(dir);
  const fs::path fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(fifo.string(), {{"a", nd::zeros<float>({1})}}),
                       ("save_safetensors: '" + fifo.string() + "': is not a regular file (a pipe, a device or a "
                        "socket): give a file's path").c_str(),
                       ValueError);
  CHECK(fs::is_fifo(fifo));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // no temporary
  const fs::path link = dir / "to-pipe";  // through a symbolic link too
  fs::create_symlink(fifo, link);
  CHECK_THROWS_AS(io::save_safetensors<float>(link.string(), {{"a", nd::zeros<float>({1})}}), ValueError);
  CHECK(fs::is_fifo(fifo));
}
TEST_CASE("save: through a symbolic link replaces the file it points to and keeps the link and the file's mode") {
  const fs::path dir = tmp_dir() / "link";
  fs::create_directories(dir / "runs");
  const fs::path target = dir / "runs" / "epoch3.safetensors", link = dir / "latest.safetensors";
  io::save_safetensors<float>(target.string(), {{"a", nd::zeros<float>({2})}});
  fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write);  // 0600: private
  fs::create_symlink(fs::path("runs") / "epoch3.safetensors", link);
  io::save_safetensors<float>(link.string(), {{"b", nd::ones<float>({3})}});
  CHECK(fs::is_symlink(link));
  CHECK(io::load_safetensors<float>(target.string())[0].first == "b");
  CHECK((fs::status(target).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(std::distance(fs::directory_iterator(dir / "runs"), fs::directory_iterator()) == 1);
  const fs::path plain = dir / "plain.safetensors";  // a plain file keeps its mode too
  io::save_safetensors<float>(plain.string(), {{"a", nd::zeros<float>({2})}});
  fs::permissions(plain, fs::perms::owner_read | fs::perms::owner_write);
  io::save_safetensors<float>(plain.string(), {{"a", nd::ones<float>({2})}});
  CHECK((fs::status(plain).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
}
TEST_CASE("a directory or a path through a file is a ValueError saying so, not \"no such file\"") {
  const std::string dir = tmp_dir().string();
  CHECK_THROWS_WITH_AS(io::load_safetensors<float>(dir),
                       ("safetensors: '" + dir + "': is a directory, not a safetensors file").c_str(), ValueError);
  const std::string file = make_file("plain", "{}");
  CHECK_THROWS_WITH_AS(io::read_safetensors_header(file + "/x"), doctest::Contains("/plain/x': no such file"),
                       ValueError);
}
}
