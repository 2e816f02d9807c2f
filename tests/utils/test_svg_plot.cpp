// SPDX-License-Identifier: Apache-2.0
#include <gluino/utils/svg_plot.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <locale>
#include <sstream>

using namespace gluino;

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
}
