// SPDX-License-Identifier: Apache-2.0
#include <gluino/utils/svg_plot.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <locale>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace gluino;

namespace {
/// The text of every y-axis label (text-anchor "end"), top to bottom of each panel.
std::vector<std::string> y_labels(const std::string& svg) {
  std::vector<std::string> out;
  const std::string key = "text-anchor=\"end\">";
  for (auto p = svg.find(key); p != std::string::npos; p = svg.find(key, p + 1)) {
    const auto b = p + key.size();
    out.push_back(svg.substr(b, svg.find('<', b) - b));
  }
  return out;
}
}  // namespace

TEST_SUITE("utils/svg_plot") {
TEST_CASE("render_svg: one polyline and one point per value, names escaped") {
  std::vector<utils::Panel> panels{{"loss", {{"train <loss>", {0.9, 0.5, 0.3}}}},
                                   {"accuracy", {{"train", {0.6, 0.8, 0.9}}, {"test", {0.55, 0.75, 0.85}}}}};
  const std::string svg = utils::render_svg(panels);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto p = svg.find(what); p != std::string::npos; p = svg.find(what, p + 1)) ++n;
    return n;
  };
  CHECK(count("<polyline") == 3);
  CHECK(count("<circle") == 9);
  CHECK(svg.find("train &lt;loss&gt;") != std::string::npos);
  CHECK(svg.find("train <loss>") == std::string::npos);
}
TEST_CASE("render_svg: the largest value is drawn above the smallest") {
  const std::string svg = utils::render_svg({{"p", {{"s", {1.0, 2.0}}}}});
  // points "x1,y1 x2,y2": the second (larger) value has the smaller y coordinate
  auto p = svg.find("points=\"") + 8;
  std::istringstream in(svg.substr(p, svg.find('"', p) - p));
  double x1, y1, x2, y2;
  char comma;
  in >> x1 >> comma >> y1 >> x2 >> comma >> y2;
  CHECK(x2 > x1);
  CHECK(y2 < y1);
}
TEST_CASE("render_svg: NaN and infinite values leave gaps; no nan or inf in the document") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<utils::Series> series{{"train", {1.0, nan, 3.0, inf, 5.0, 6.0}}, {"bad", {nan, -inf}}};
  const std::string svg = utils::render_svg({{"loss", series}});
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  std::size_t circles = 0;
  for (auto p = svg.find("<circle"); p != std::string::npos; p = svg.find("<circle", p + 1)) ++circles;
  CHECK(circles == 4);  // 1, 3, 5 and 6
}
TEST_CASE("render_svg: numbers are written in the C locale whatever the global locale") {
  struct Comma : std::numpunct<char> {  // a German-style locale: 1.260,5
    char do_decimal_point() const override { return ','; }
    char do_thousands_sep() const override { return '.'; }
    std::string do_grouping() const override { return "\3"; }
  };
  const std::locale old = std::locale::global(std::locale(std::locale::classic(), new Comma));
  std::string svg;
  try {
    svg = utils::render_svg({{"a", {{"s", {1.0, 2.0}}}}, {"b", {}}, {"c", {}}});
  } catch (...) {
    std::locale::global(old);
    throw;
  }
  std::locale::global(old);
  CHECK(svg.find("width=\"1260\"") != std::string::npos);
  CHECK(svg.find("y1=\"198.75\"") != std::string::npos);  // the second y grid line: 30 + 225 * 3 / 4
}
TEST_CASE("write_svg: an unwritable path names the path") {
  CHECK_THROWS_WITH_AS(utils::write_svg("/nonexistent-dir/x.svg", {}), doctest::Contains("/nonexistent-dir/x.svg"),
                       ValueError);
}
TEST_CASE("render_svg: values near the ends of double give finite coordinates") {
  const double big = std::numeric_limits<double>::max(), tiny = std::numeric_limits<double>::denorm_min();
  for (const std::vector<double>& y : {std::vector<double>{big, -big}, std::vector<double>{-big, 0.0, big},
                                       std::vector<double>{tiny, 2 * tiny}, std::vector<double>{1e300, 1e300}}) {
    CAPTURE(y[0]);
    const std::string svg = utils::render_svg({{"loss", {{"train", y}}}});
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
    CHECK(y_labels(svg).size() == 5);
  }
}
TEST_CASE("render_svg: y labels tell the ticks apart, however narrow the range") {
  for (const std::vector<double>& y : {std::vector<double>{1000.1, 1000.2}, std::vector<double>{0.5, 0.5000001},
                                       std::vector<double>{1e-15, 2e-15}, std::vector<double>{-3e8, 3e8},
                                       std::vector<double>{123456.0, 123457.0}}) {
    CAPTURE(y[0]);
    CAPTURE(y[1]);
    const std::vector<std::string> labels = y_labels(utils::render_svg({{"loss", {{"train", y}}}}));
    REQUIRE(labels.size() == 5);
    CHECK(std::set<std::string>(labels.begin(), labels.end()).size() == 5);
    // Each label reads back close to its tick: the ticks split [lo, hi] in four.
    const double step = std::stod(labels[1]) - std::stod(labels[0]);
    CHECK(step > 0);
    for (std::size_t i = 1; i < 5; ++i)
      CHECK(std::stod(labels[i]) - std::stod(labels[i - 1]) == doctest::Approx(step).epsilon(0.02));
    CHECK(std::stod(labels[0]) <= y[0]);
    CHECK(std::stod(labels[4]) >= y[1]);
  }
}
TEST_CASE("write_svg: a write that fails (a full disk) is an error and leaves the previous file whole") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("gluino-test-svg-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "curve.svg").string();
  const std::vector<utils::Panel> one{{"loss", {{"train", {1.0, 0.5}}}}};
  utils::write_svg(path, one);
  const auto read = [&] {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  };
  const std::string before = read();
  CHECK(before == utils::render_svg(one));
  gluino::detail::fail_writes_after_bytes = 100;  // as a full disk: the stream goes bad after 100 bytes
  CHECK_THROWS_WITH_AS(utils::write_svg(path, {{"loss", {{"train", {2.0, 1.0, 0.5}}}}}),
                       doctest::Contains(("write_svg: '" + path + "': write to").c_str()), ValueError);
  gluino::detail::fail_writes_after_bytes.reset();
  CHECK(read() == before);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // no temporary left
  CHECK_THROWS_WITH_AS(utils::write_svg(dir.string(), one), doctest::Contains("is a directory"), ValueError);
  fs::remove_all(dir);
}
TEST_CASE("render_svg: control characters in names, which XML forbids, are replaced; long names kept whole") {
  const std::string bad = std::string("a\x01" "b\x1b" "[0mc") + '\0' + "d\te";
  const std::string svg = utils::render_svg({{bad, {{bad, {1.0, 2.0}}}}}, bad);
  for (char ch : svg) {
    const auto u = static_cast<unsigned char>(ch);
    CHECK((u >= 0x20 || ch == '\n' || ch == '\t'));
  }
  CHECK(svg.find("a\xEF\xBF\xBD" "b") != std::string::npos);  // U+FFFD in UTF-8
  const std::string long_name(10000, 'x');
  CHECK(utils::render_svg({{"p", {{long_name, {1.0}}}}}).find(long_name) != std::string::npos);
}
}
