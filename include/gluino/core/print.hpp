// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Printing an NDArray the way MXNet does (NumPy's str of the values, then a summary line):
///   [[1. 2.]
///    [3. 4.]]
///   <NDArray 2x2 @cpu(0)>
/// Numbers follow NumPy's defaults: the shortest digits that identify the value as a T (at most
/// 8 after the point), "1." for integers, decimal points aligned in a column; scientific notation
/// when the largest magnitude is >= 1e8, the smallest non-zero one < 1e-4, or their ratio > 1000,
/// every mantissa then with as many digits as the longest needs (the value's own digits, as NumPy:
/// "[3.6457238e+08 2.9413251e+08]", not "2.9413250e+08").  Lines wrap at 75 characters; arrays
/// over 1000 elements are summarised with "..." (3 items each side per axis).  Unlike NumPy, -0
/// prints as "0.".
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino {

namespace detail {
/// A finite number split as NumPy pads it: integer part (with sign), fraction digits, exponent.
struct NumberParts {
  std::string int_part, frac, exp;  // exp: "" (positional) or sign and digits, e.g. "-05"
};

/// The shortest digits that round-trip v as a T, at most 8 after the point (rounded beyond).
template <class T>
NumberParts split_number(T v, bool scientific) {
  if (v == T(0)) v = T(0);  // -0 prints as 0
  char buf[128];
  const auto fmt = scientific ? std::chars_format::scientific : std::chars_format::fixed;
  std::string s(buf, std::to_chars(buf, buf + sizeof buf, v, fmt).ptr);
  auto split = [](const std::string& str, NumberParts& p) {
    const auto e = str.find('e');
    const std::string mant = str.substr(0, e);
    p.exp = e == std::string::npos ? "" : str.substr(e + 1);
    const auto dot = mant.find('.');
    p.int_part = mant.substr(0, dot);
    p.frac = dot == std::string::npos ? "" : mant.substr(dot + 1);
  };
  NumberParts p;
  split(s, p);
  if (p.frac.size() > 8) {
    std::snprintf(buf, sizeof buf, scientific ? "%.8e" : "%.8f", static_cast<double>(v));
    split(buf, p);
    while (!p.frac.empty() && p.frac.back() == '0') p.frac.pop_back();
  }
  return p;
}

/// v in scientific notation with exactly `precision` fraction digits, correctly rounded from its
/// exact value: a float's 294132512 is "2.9413251e+08" at 7, not its shortest digits padded
/// with zeros ("2.9413250e+08", another number).  NumPy prints such a column so (min_digits).
template <class T>
NumberParts fixed_digits(T v, std::size_t precision) {
  if (v == T(0)) v = T(0);  // -0 prints as 0
  char buf[128];
  const std::string s(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific,
                                         static_cast<int>(precision)).ptr);
  const auto e = s.find('e'), dot = s.find('.');
  NumberParts p;
  p.exp = s.substr(e + 1);
  p.int_part = s.substr(0, std::min(dot, e));
  p.frac = dot == std::string::npos ? "" : s.substr(dot + 1, e - dot - 1);
  return p;
}

/// Formats values in one column width as NumPy's FloatingFormat does.
template <class T>
std::vector<std::string> format_cells(const std::vector<T>& vals) {
  double maxabs = 0, minabs = 0;
  bool any = false;
  for (T v : vals)
    if (std::isfinite(v) && v != T(0)) {
      const double a = std::abs(static_cast<double>(v));
      maxabs = any ? std::max(maxabs, a) : a;
      minabs = any ? std::min(minabs, a) : a;
      any = true;
    }
  const bool sci = any && (maxabs >= 1e8 || minabs < 1e-4 || maxabs / minabs > 1e3);
  std::vector<NumberParts> parts(vals.size());
  std::size_t pad_left = 0, pad_right = 0, exp_digits = 0;
  for (std::size_t i = 0; i < vals.size(); ++i) {
    if (!std::isfinite(vals[i])) continue;
    parts[i] = split_number(vals[i], sci);
    pad_right = std::max(pad_right, parts[i].frac.size());
  }
  const std::size_t precision = pad_right;  // scientific: every mantissa gets this many digits
  for (std::size_t i = 0; i < vals.size(); ++i) {
    if (!std::isfinite(vals[i])) continue;
    if (sci && parts[i].frac.size() < precision)  // the value's own further digits, as NumPy's min_digits
      parts[i] = fixed_digits(vals[i], precision);
    pad_left = std::max(pad_left, parts[i].int_part.size());
    if (sci) exp_digits = std::max(exp_digits, parts[i].exp.size() - 1);
  }
  if (sci) pad_right = precision + 2 + exp_digits;  // fraction, 'e', sign, digits
  for (T v : vals)                                  // "nan", "inf", "-inf" right-aligned in the column
    if (!std::isfinite(v)) {
      const std::size_t len = std::isnan(v) ? 3 : (v < 0 ? 4 : 3);
      if (len > pad_right + 1) pad_left = std::max(pad_left, len - pad_right - 1);
    }
  const std::size_t width = pad_left + 1 + pad_right;
  std::vector<std::string> cells;
  cells.reserve(vals.size());
  for (std::size_t i = 0; i < vals.size(); ++i) {
    std::string c;
    if (!std::isfinite(vals[i])) {
      c = std::isnan(vals[i]) ? "nan" : (vals[i] < 0 ? "-inf" : "inf");
      c = std::string(width - c.size(), ' ') + c;
    } else {
      const NumberParts& p = parts[i];
      c = std::string(pad_left - p.int_part.size(), ' ') + p.int_part + '.' + p.frac;
      if (sci) {
        c += std::string(precision - p.frac.size(), '0') + 'e' + p.exp[0];
        c += std::string(exp_digits + 1 - p.exp.size(), '0') + p.exp.substr(1);
      } else {
        c += std::string(pad_right - p.frac.size(), ' ');
      }
    }
    cells.push_back(std::move(c));
  }
  return cells;
}

/// The values NumPy shows, in order (with summarise, the 3 first and last items of long axes).
template <class T>
void collect_cells(const T* p, const Shape& s, std::size_t axis, bool summarise, std::size_t base,
                   const std::vector<std::size_t>& strides, std::vector<T>& out) {
  const std::size_t n = s[axis];
  const bool cut = summarise && n > 6;
  for (std::size_t i = 0; i < n; ++i) {
    if (cut && i == 3) i = n - 3;
    if (axis + 1 == s.ndim())
      out.push_back(p[base + i]);
    else
      collect_cells(p, s, axis + 1, summarise, base + i * strides[axis], strides, out);
  }
}

/// Lays the formatted cells out as NumPy's _formatArray: rows wrapped to `width` columns,
/// sub-arrays separated by one newline per remaining axis, "..." for skipped items.
inline std::string layout_cells(const Shape& s, std::size_t axis, const std::vector<std::string>& cells,
                                std::size_t& cell, bool summarise, const std::string& hanging, std::size_t width) {
  const std::size_t n = s[axis];
  const bool cut = summarise && n > 6;
  const std::size_t shown = cut ? 7 : n;  // with a cut: 3 items, "...", 3 items
  std::string out;
  if (axis + 1 == s.ndim()) {
    const std::size_t elem_width = width - 1;  // room for the closing ']'
    std::string line = hanging;
    for (std::size_t i = 0; i < shown; ++i) {
      const std::string& word = cut && i == 3 ? std::string("...") : cells[cell++];
      if (line.size() + word.size() > elem_width && line.size() > hanging.size()) {
        line.erase(line.find_last_not_of(' ') + 1);
        out += line + '\n';
        line = hanging;
      }
      line += word;
      if (i + 1 < shown) line += ' ';
    }
    out += line;
  } else {
    const std::string sep(s.ndim() - axis - 1, '\n');
    for (std::size_t i = 0; i < shown; ++i) {
      out += hanging;
      out += cut && i == 3 ? std::string("...")
                           : layout_cells(s, axis + 1, cells, cell, summarise, hanging + ' ', width - 1);
      if (i + 1 < shown) out += sep;
    }
  }
  return '[' + out.substr(hanging.size()) + ']';
}
}  // namespace detail

/// Prints the values and an "<NDArray AxB @cpu(0)>" line, as MXNet's repr (without its
/// leading newline).  An empty handle prints "<NDArray empty>".
template <class T>
std::ostream& operator<<(std::ostream& os, const NDArray<T>& x) {
  if (!x.defined()) return os << "<NDArray empty>";
  const Shape& s = x.shape();
  if (s.ndim() == 0) {
    os << detail::format_cells(std::vector<T>{x.data()[0]})[0];
  } else if (s.size() == 0) {
    os << "[]";
  } else {
    const bool summarise = s.size() > 1000;
    std::vector<std::size_t> strides(s.ndim());
    const auto st = s.strides();
    for (std::size_t i = 0; i < s.ndim(); ++i) strides[i] = st[i];
    std::vector<T> vals;
    detail::collect_cells(x.data(), s, 0, summarise, 0, strides, vals);
    const std::vector<std::string> cells = detail::format_cells(vals);
    std::size_t cell = 0;
    os << detail::layout_cells(s, 0, cells, cell, summarise, " ", 75);
  }
  os << "\n<NDArray ";
  for (std::size_t i = 0; i < s.ndim(); ++i) os << (i ? "x" : "") << s[i];
  return os << " @cpu(0)>";
}

}  // namespace gluino

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_CORE_PRINT_INSTANTIATIONS(X, T) \
  X std::ostream& operator<< <T>(std::ostream&, const NDArray<T>&);
namespace gluino {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_CORE_PRINT_INSTANTIATIONS)
}  // namespace gluino
