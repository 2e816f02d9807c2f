// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Printing an NDArray the way MXNet does:
///   [[1. 2.]
///    [3. 4.]]
///   <NDArray 2x2 @cpu(0)>
/// Numbers follow NumPy (8 significant decimals, trailing zeros dropped, "1." for integers);
/// arrays over 1000 elements are summarised with "..." (3 items each side per axis).
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "gluino/detail/ndarray_class.hpp"

namespace gluino {

namespace detail {
inline std::string format_number(double v, bool scientific) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, scientific ? "%.8e" : "%.8f", v);
  std::string s(buf);
  if (scientific) {
    auto e = s.find('e');
    std::string mant = s.substr(0, e), ex = s.substr(e);
    while (mant.size() > 2 && mant.back() == '0' && mant[mant.size() - 2] != '.') mant.pop_back();
    if (mant.size() > 2 && mant.back() == '0') mant.pop_back();
    return mant + ex;
  }
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (s == "-0.") s = "0.";
  return s;
}

template <class T>
void print_rec(std::ostream& os, const T* p, const Shape& s, std::size_t axis, const std::vector<std::string>& cells,
               std::size_t& cell, std::size_t width, bool summarise, std::size_t base_index,
               const std::vector<std::size_t>& strides) {
  const std::size_t n = s[axis];
  const bool cut = summarise && n > 6;
  os << '[';
  bool first = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (cut && i == 3) {
      if (axis + 1 == s.ndim())
        os << " ...";
      else
        os << "\n" << std::string(axis + 1, ' ') << "...";
      i = n - 3;
    }
    if (!first) {
      if (axis + 1 == s.ndim())
        os << ' ';
      else
        os << std::string(s.ndim() - axis - 1, '\n') << std::string(axis + 1, ' ');
    }
    first = false;
    if (axis + 1 == s.ndim()) {
      const std::string& c = cells[cell++];
      os << std::string(width > c.size() ? width - c.size() : 0, ' ') << c;
    } else {
      print_rec(os, p, s, axis + 1, cells, cell, width, summarise, base_index + i * strides[axis], strides);
    }
  }
  os << ']';
}

template <class T>
void collect_cells(const T* p, const Shape& s, std::size_t axis, bool summarise, std::size_t base,
                   const std::vector<std::size_t>& strides, std::vector<double>& out) {
  const std::size_t n = s[axis];
  const bool cut = summarise && n > 6;
  for (std::size_t i = 0; i < n; ++i) {
    if (cut && i == 3) i = n - 3;
    if (axis + 1 == s.ndim())
      out.push_back(static_cast<double>(p[base + i]));
    else
      collect_cells(p, s, axis + 1, summarise, base + i * strides[axis], strides, out);
  }
}
}  // namespace detail

/// Prints the values and an "<NDArray AxB @cpu(0)>" line, as MXNet's repr.
template <class T>
std::ostream& operator<<(std::ostream& os, const NDArray<T>& x) {
  if (!x.defined()) return os << "<NDArray empty>";
  const Shape& s = x.shape();
  if (s.ndim() == 0) {
    os << detail::format_number(static_cast<double>(x.data()[0]), false);
  } else {
    const bool summarise = s.size() > 1000;
    std::vector<std::size_t> strides(s.ndim());
    auto st = s.strides();
    for (std::size_t i = 0; i < s.ndim(); ++i) strides[i] = st[i];
    std::vector<double> vals;
    detail::collect_cells(x.data(), s, 0, summarise, 0, strides, vals);
    bool scientific = false;
    double maxabs = 0, minabs = 1e300;
    for (double v : vals)
      if (std::isfinite(v) && v != 0) {
        maxabs = std::max(maxabs, std::abs(v));
        minabs = std::min(minabs, std::abs(v));
      }
    if (maxabs >= 1e8 || (maxabs > 0 && minabs < 1e-4)) scientific = true;
    std::vector<std::string> cells;
    std::size_t width = 0;
    for (double v : vals) {
      cells.push_back(detail::format_number(v, scientific));
      width = std::max(width, cells.back().size());
    }
    std::size_t cell = 0;
    if (s.size() > 0) detail::print_rec(os, x.data(), s, 0, cells, cell, width, summarise, 0, strides);
    else os << "[]";
  }
  os << "\n<NDArray ";
  for (std::size_t i = 0; i < s.ndim(); ++i) os << (i ? "x" : "") << s[i];
  return os << " @cpu(0)>";
}

}  // namespace gluino
