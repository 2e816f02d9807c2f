// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A small SVG line-chart writer for learning curves: one or two panels (e.g. loss, and
/// accuracy), each with named series over a shared x axis (epochs).  No dependencies.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/detail/atomic_file.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::utils {

/// One named line: y values at x = 1, 2, ... (epochs).
struct Series {
  std::string name;
  std::vector<double> y;
};

/// One chart: a title and its lines, drawn with a y range that fits every value.
struct Panel {
  std::string title;
  std::vector<Series> series;
};

/// Renders the panels side by side as an SVG document (x axis labelled `x_label`).  NaN and
/// infinite values are left out (a gap in the line); numbers are written in the C locale
/// (whatever std::locale::global or setlocale say).  The y range fits every finite value, up to
/// the ends of double; the y labels carry as many digits (3 to 17) as it takes to put each within
/// 1% of a tick spacing of its tick, so a narrow range (1000.1 to 1000.2) still reads.
GLUINO_FUNC std::string render_svg(const std::vector<Panel>& panels, const std::string& x_label = "epoch");

/// Writes render_svg(panels) to path, atomically (detail::write_file_atomically: a temporary
/// beside it, synced and renamed over it, so a failure or a crash leaves a previous file whole);
/// ValueError naming the path when it cannot be written (a full disk included), is a directory,
/// a pipe or a device, or its folder does not exist.
GLUINO_FUNC void write_svg(const std::string& path, const std::vector<Panel>& panels,
                           const std::string& x_label = "epoch");

}  // namespace gluino::utils

// The bodies: compiled where used, or once in the precompiled library (detail/precompiled.hpp).
#if GLUINO_FUNCTION_BODIES
namespace gluino::detail {
/// s as XML text: <, > and & escaped; control characters other than tab, newline and carriage
/// return, which XML 1.0 forbids even as character references, become U+FFFD.
inline std::string svg_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') out += "\xEF\xBF\xBD";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}
/// v in %g style with prec significant digits, in the C locale whatever setlocale says
/// (std::to_chars); at most 17 digits, so the buffer always holds it.
inline std::string fmt(double v, int prec = 3) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, prec);
  return std::string(buf, r.ptr);
}
/// The labels of the y ticks (evenly spaced): the fewest significant digits (3 to 17) with which
/// every label reads back within 1% of the spacing of its tick, so labels differ and sit right.
inline std::vector<std::string> tick_labels(const std::vector<double>& ticks) {
  const double tolerance = ticks.size() > 1 ? 0.01 * (ticks.back() / 2 - ticks.front() / 2) * 2 /
                                                  static_cast<double>(ticks.size() - 1)
                                            : 0;
  std::vector<std::string> out;
  for (int prec = 3; prec <= 17; ++prec) {
    out.clear();
    bool close = true;
    for (double v : ticks) {
      out.push_back(fmt(v, prec));
      double back = 0;
      std::from_chars(out.back().data(), out.back().data() + out.back().size(), back);
      close = close && std::abs(back - v) <= tolerance;
    }
    if (close) break;
  }
  return out;
}
}  // namespace gluino::detail

namespace gluino::utils {

GLUINO_FUNC std::string render_svg(const std::vector<Panel>& panels, const std::string& x_label) {
  const double pw = 420, ph = 300, ml = 55, mr = 15, mt = 30, mb = 45;
  const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
  std::ostringstream os;
  os.imbue(std::locale::classic());  // "1260.5", whatever the global locale
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << pw * double(panels.size()) << "\" height=\"" << ph
     << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const Panel& panel = panels[p];
    const double ox = pw * double(p), w = pw - ml - mr, h = ph - mt - mb;
    double lo = INFINITY, hi = -INFINITY;
    std::size_t n = 0;
    for (const auto& s : panel.series) {
      n = std::max(n, s.y.size());
      for (double v : s.y)
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (!(lo <= hi)) lo = 0, hi = 1;
    // The layout works on v / scale, in [-1, 1]: hi - lo of values near the ends of double would
    // overflow (1e308 - -1e308) or lose every digit (denormals).
    const double scale = std::max(std::abs(lo), std::abs(hi)) > 0 ? std::max(std::abs(lo), std::abs(hi)) : 1;
    double ulo = lo / scale, uhi = hi / scale;
    if (uhi - ulo < 1e-9) {  // a flat line: widen by 0.5, or by a millionth of the value when that is lost
      const double widen = std::max(std::min(0.5 / scale, 1e300), 1e-6);
      ulo -= widen, uhi += widen;
    }
    const double pad = 0.05 * (uhi - ulo);
    ulo -= pad, uhi += pad;
    auto X = [&](double i) { return ox + ml + (n > 1 ? (i - 1) / double(n - 1) : 0.5) * w; };
    auto Y = [&](double v) { return mt + (uhi - v / scale) / (uhi - ulo) * h; };
    auto value_at = [&](double u) {  // u * scale, kept finite at the ends of double
      const double v = u * scale, big = std::numeric_limits<double>::max();
      return std::isfinite(v) ? v : (v > 0 ? big : -big);
    };
    std::vector<double> ticks;
    for (int t = 0; t <= 4; ++t) ticks.push_back(value_at(ulo + (uhi - ulo) * t / 4.0));
    const std::vector<std::string> labels = detail::tick_labels(ticks);
    os << "<text x=\"" << ox + ml + w / 2 << "\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">"
       << detail::svg_escape(panel.title) << "</text>\n";
    os << "<rect x=\"" << ox + ml << "\" y=\"" << mt << "\" width=\"" << w << "\" height=\"" << h
       << "\" fill=\"none\" stroke=\"#444\"/>\n";
    for (std::size_t t = 0; t <= 4; ++t) {  // y grid and labels
      const double y = mt + (4.0 - double(t)) / 4.0 * h;
      os << "<line x1=\"" << ox + ml << "\" x2=\"" << ox + ml + w << "\" y1=\"" << y << "\" y2=\"" << y
         << "\" stroke=\"#ddd\"/><text x=\"" << ox + ml - 5 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
         << labels[t] << "</text>\n";
    }
    for (std::size_t i = 1; i <= n; ++i)  // x ticks
      if (n <= 20 || i % ((n + 9) / 10) == 0 || i == 1)
        os << "<text x=\"" << X(double(i)) << "\" y=\"" << mt + h + 16 << "\" text-anchor=\"middle\">" << i
           << "</text>\n";
    os << "<text x=\"" << ox + ml + w / 2 << "\" y=\"" << ph - 8 << "\" text-anchor=\"middle\">"
       << detail::svg_escape(x_label) << "</text>\n";
    for (std::size_t s = 0; s < panel.series.size(); ++s) {
      const auto& ser = panel.series[s];
      const char* c = colors[s % 5];
      // One polyline per run of finite values: NaN or infinity leaves a gap.
      for (std::size_t i = 0; i < ser.y.size();) {
        if (!std::isfinite(ser.y[i])) {
          ++i;
          continue;
        }
        os << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"2\" points=\"";
        for (; i < ser.y.size() && std::isfinite(ser.y[i]); ++i) os << X(double(i + 1)) << ',' << Y(ser.y[i]) << ' ';
        os << "\"/>\n";
      }
      for (std::size_t i = 0; i < ser.y.size(); ++i)
        if (std::isfinite(ser.y[i]))
          os << "<circle cx=\"" << X(double(i + 1)) << "\" cy=\"" << Y(ser.y[i]) << "\" r=\"3\" fill=\"" << c
             << "\"/>\n";
      const double ly = mt + 14 + 16 * double(s);
      os << "<line x1=\"" << ox + ml + 10 << "\" x2=\"" << ox + ml + 30 << "\" y1=\"" << ly << "\" y2=\"" << ly
         << "\" stroke=\"" << c << "\" stroke-width=\"2\"/><text x=\"" << ox + ml + 35 << "\" y=\"" << ly + 4 << "\">"
         << detail::svg_escape(ser.name) << "</text>\n";
    }
  }
  os << "</svg>\n";
  return os.str();
}

GLUINO_FUNC void write_svg(const std::string& path, const std::vector<Panel>& panels, const std::string& x_label) {
  const std::string svg = render_svg(panels, x_label);  // before the file is touched
  detail::write_file_atomically(path, "write_svg: '" + path + "': ", [&](std::ostream& out) { out << svg; });
}

}  // namespace gluino::utils
#endif  // GLUINO_FUNCTION_BODIES
