// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: the metrics against NumPy.  tests/data/reference/metrics.json (written by
/// scripts/make_metric_references.py from the metrics' definitions and MXNet 1.x's averaging)
/// holds, for each case, a metric's options, its batches, the value get() returns after each
/// update, and get() and get_global() after a reset_local() following batch reset_local_after.
/// check_metric_references runs gluino's metric on the same batches in float and in double.
#include <gluino/metric/eval_metric.hpp>
#include <gluino/nd/creation.hpp>
#include "support/reference.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

namespace gluino::test {

/// The cases of `metric` in the reference file (REQUIREs that there are some).
inline std::vector<nlohmann::json> metric_reference_cases(const std::string& metric) {
  return reference_cases("metrics.json", "metric", metric);
}

/// Runs make(case["options"]) (a BasicEvalMetric<T>) through the case's batches in T and checks
/// get() after each, then get() and get_global() around a reset_local().  Tolerance: relative
/// 1e-5 in float (inputs rounded to float), 1e-10 in double.
template <class T, class Make>
void check_metric_reference_in(const nlohmann::json& c, Make make) {
  const double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-10;
  const std::string context = c.at("metric").get<std::string>() + " " + c.at("options").dump() +
                              (std::is_same_v<T, float> ? " in float" : " in double");
  INFO(context);
  auto made = make(c.at("options"));
  metric::BasicEvalMetric<T>& m = made;
  const auto& batches = c.at("batches");
  const auto feed = [&](std::size_t i) {
    m.update(reference_array<T>(batches[i].at("labels")), reference_array<T>(batches[i].at("preds")));
  };
  const auto close = [&](double got, double want) { return std::abs(got - want) <= rtol * std::abs(want) + 1e-12; };
  for (std::size_t i = 0; i < batches.size(); ++i) {
    feed(i);
    const double want = c.at("after_each")[i];
    INFO("after batch ", i, ": ", m.get().second, " vs ", want);
    CHECK(close(m.get().second, want));
  }
  m.reset();
  const std::size_t k = c.at("reset_local_after");
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (i == k) m.reset_local();
    feed(i);
  }
  INFO("local ", m.get().second, " vs ", c.at("local").get<double>(), "; global ", m.get_global().second,
       " vs ", c.at("global").get<double>());
  CHECK(close(m.get().second, c.at("local")));
  CHECK(close(m.get_global().second, c.at("global")));
}

/// check_metric_reference_in, in float and in double, for every case of the metric `name`;
/// make(options, std::type_identity<T>{}) builds the metric in T.
template <class Make>
void check_metric_references(const std::string& name, Make make) {
  for (const auto& c : metric_reference_cases(name)) {
    check_metric_reference_in<float>(c, [&](const nlohmann::json& o) { return make(o, std::type_identity<float>{}); });
    check_metric_reference_in<double>(c, [&](const nlohmann::json& o) { return make(o, std::type_identity<double>{}); });
  }
}

}  // namespace gluino::test
