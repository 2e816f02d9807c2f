// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Saving and loading named parameters as safetensors files: what ParameterDict::save / load and
/// Block::save_parameters / load_parameters share.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/io/safetensors.hpp"

namespace gluino::nn {

template <class T>
class BasicParameter;

/// Options of load_parameters / ParameterDict::load, in the order of Gluon's keyword arguments.
struct LoadOptions {
  /// Leave parameters that the file lacks as they are (otherwise ValueError).
  bool allow_missing = false;
  /// Skip names in the file that the block or dict lacks (otherwise ValueError).
  bool ignore_extra = false;
  /// ParameterDict::load only: prepended to the file's names (Gluon: restore_prefix).
  std::string restore_prefix = "";
};

}  // namespace gluino::nn

namespace gluino::detail {

template <class T>
using NamedParameters = std::vector<std::pair<std::string, std::shared_ptr<nn::BasicParameter<T>>>>;

/// Writes each parameter's data under its key.  StateError (from data()) for an uninitialized one.
template <class T>
void save_named_parameters(const std::string& path, const NamedParameters<T>& params, const char* who) {
  std::vector<std::pair<std::string, NDArray<T>>> arrays;
  for (const auto& [key, p] : params) {
    GLUINO_CHECK(StateError, p->is_initialized(), who, ": Parameter '", p->name(), "' (saved as '", key,
                 "') has not been initialized; initialize the block and run a forward pass first");
    arrays.emplace_back(key, p->data());
  }
  gluino::io::save_safetensors(path, arrays);
}

/// Reads a file and sets each parameter from the array under its key (see LoadOptions).
template <class T>
void load_named_parameters(const std::string& path, const NamedParameters<T>& params, const nn::LoadOptions& opt,
                           const char* who) {
  auto loaded = gluino::io::load_safetensors<T>(path);
  for (auto& kv : loaded) kv.first = opt.restore_prefix + kv.first;
  auto list = [](const auto& items) {
    std::string s;
    for (const auto& kv : items) s += (s.empty() ? "" : ", ") + kv.first;
    return s.empty() ? std::string("(nothing)") : s;
  };
  auto find_loaded = [&](const std::string& key) {
    return std::find_if(loaded.begin(), loaded.end(), [&](const auto& kv) { return kv.first == key; });
  };
  if (!opt.allow_missing)
    for (const auto& [key, p] : params)
      GLUINO_CHECK(ValueError, find_loaded(key) != loaded.end(), who, ": Parameter '", key, "' is missing in file '",
                   path, "', which contains: ", list(loaded), "; set allow_missing to ignore missing parameters");
  for (const auto& [key, arr] : loaded) {
    bool found = false;
    for (const auto& [k, p] : params) {
      if (k != key) continue;
      found = true;
      const Shape& want = p->shape();
      bool ok = want.ndim() == 0 || want.ndim() == arr.shape().ndim();
      for (std::size_t d = 0; ok && d < want.ndim(); ++d) ok = want[d] == 0 || want[d] == arr.shape()[d];
      GLUINO_CHECK(ShapeError, ok, who, ": cannot load Parameter '", key, "' from '", path, "': expected shape ", want,
                   ", the file has ", arr.shape());
      p->set_data(arr);
    }
    GLUINO_CHECK(ValueError, found || opt.ignore_extra, who, ": Parameter '", key, "' from file '", path,
                 "' is not present here, which has: ", list(params), "; set ignore_extra to ignore it");
  }
}

}  // namespace gluino::detail
