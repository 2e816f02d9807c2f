// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: reference values from PyTorch, in tests/data/reference/*.json (written by
/// scripts/make_*_references.py).  Each file is {"made_with", "cases": [...]}; arrays are
/// {"shape", "data"} objects.  Read by the loss tests (loss_reference.hpp), the activation
/// tests, the metric tests (metric_reference.hpp, NumPy) and the optimizer tests
/// (optimizer_references.hpp).
#include <gluino/core/ndarray.hpp>
#include <gluino/nd/creation.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace gluino::test {

/// tests/data/reference/<file>, parsed once (REQUIREs that it opens).
inline const nlohmann::json& reference_file(const std::string& file) {
  static std::map<std::string, nlohmann::json> docs;
  auto it = docs.find(file);
  if (it == docs.end()) {
    const std::string path = GLUINO_TEST_DATA_DIR "/reference/" + file;
    std::ifstream f(path);
    REQUIRE_MESSAGE(f.good(), "cannot open ", path);
    it = docs.emplace(file, nlohmann::json::parse(f)).first;
  }
  return it->second;
}

/// The cases of tests/data/reference/<file> whose `key` is `value` (REQUIREs that there are some).
inline std::vector<nlohmann::json> reference_cases(const std::string& file, const std::string& key,
                                                   const std::string& value) {
  std::vector<nlohmann::json> cases;
  for (const auto& c : reference_file(file).at("cases"))
    if (c.at(key) == value) cases.push_back(c);
  REQUIRE_MESSAGE(!cases.empty(), "no case of ", value, " in ", file);
  return cases;
}

/// A {"shape", "data"} object of the reference file as an array of T.
template <class T>
NDArray<T> reference_array(const nlohmann::json& t) {
  const auto data = t.at("data").get<std::vector<double>>();
  std::vector<T> values(data.size());
  std::transform(data.begin(), data.end(), values.begin(), [](double v) { return static_cast<T>(v); });
  return nd::array<T>(values, Shape(t.at("shape").get<std::vector<std::size_t>>()));
}

/// Checks got against the reference want element-wise: |got - want| <= atol + rtol * |want|.
template <class T>
void check_reference_close(const NDArray<T>& got, const nlohmann::json& want, const std::string& what, double rtol,
                           double atol) {
  const NDArray<double> w = reference_array<double>(want);
  INFO(what);
  REQUIRE(got.shape() == w.shape());
  double worst = 0;  // the largest |got - want| / (atol + rtol * |want|)
  std::size_t at = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double err = std::abs(double(got.data()[i]) - w.data()[i]) / (atol + rtol * std::abs(w.data()[i]));
    if (!(err <= worst)) worst = err, at = i;  // a NaN counts as the worst
  }
  std::ostringstream where;  // INFO keeps references: a local, printed with every digit
  if (w.size() > 0)  // an empty result has no element to show (and got.data() may point nowhere)
    where << "element " << at << ": " << std::setprecision(17) << double(got.data()[at]) << " vs PyTorch "
          << w.data()[at];
  const std::string where_text = where.str();
  INFO(where_text);
  CHECK(worst <= 1.0);
}

}  // namespace gluino::test
