// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Saving and loading parameters as safetensors files: Block::save_parameters / load_parameters
/// and ParameterDict::save / load are declared with their classes and defined here, so that nn/
/// knows no file format (as torch::save is apart from torch::nn::Module).
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/core/warning.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/parameter_dict.hpp"
#include "gluino/io/safetensors.hpp"

namespace gluino::detail {

template <class T>
using NamedParameters = std::vector<std::pair<std::string, std::shared_ptr<nn::BasicParameter<T>>>>;

/// Writes each parameter's data under its key, with optional string metadata (atomic: see
/// io::save_safetensors).  StateError (from data()) for an uninitialized one.
template <class T>
void save_named_parameters(const std::string& path, const NamedParameters<T>& params, const char* who,
                           const std::map<std::string, std::string>& metadata = {}) {
  std::vector<std::pair<std::string, NDArray<T>>> arrays;
  for (const auto& [key, p] : params) {
    GLUINO_CHECK(StateError, p->is_initialized(), who, ": Parameter '", p->name(), "' (saved as '", key,
                 "') has not been initialized; initialize the block and run a forward pass first");
    arrays.emplace_back(key, p->data());
  }
  gluino::io::save_safetensors(path, arrays, metadata);
}

/// Reads a file and sets each parameter from the array under its key (see LoadOptions), all or
/// nothing: the whole file is first checked against the parameters (names missing from the
/// file unless allow_missing, names the parameters lack unless ignore_extra, shapes and
/// dtypes), every mismatch is reported in one exception, and only then are
/// parameters assigned.  ShapeError when every mismatch is a shape, ValueError otherwise.
/// A parameter whose shape is still partly unknown (deferred initialization) takes the file's
/// shape when its known dimensions agree and is initialized with the file's values, as Gluon's
/// load_parameters does (the pending initializer is dropped).  The message lists at most 10
/// problems and says when no name of the file is a parameter (a checkpoint of another model, or
/// one of ParameterDict::save, or a Trainer's state); with allow_missing and ignore_extra such a
/// load changes nothing and warns (gluino::warn).  A parameter shared by several blocks, saved
/// under each of their names, must have one value in the file (ValueError otherwise).
template <class T>
void load_named_parameters(const std::string& path, const NamedParameters<T>& params, const nn::LoadOptions& opt,
                           const char* who) {
  // Validate against the header first (names, dtypes, shapes), read the data only when all is well.
  const gluino::io::SafetensorsHeader header = gluino::io::read_safetensors_header(path);  // ValueError if malformed
  std::vector<std::pair<std::string, const gluino::io::SafetensorsEntry*>> entries;
  for (const auto& e : header.tensors) entries.emplace_back(opt.restore_prefix + e.name, &e);
  // Messages stay short for a checkpoint of another model: at most `shown` names and problems.
  constexpr std::size_t shown = 10;
  auto list = [](const auto& items) {
    std::string s;
    std::size_t n = 0;
    for (const auto& kv : items)
      if (n++ < shown) s += (s.empty() ? "" : ", ") + kv.first;
    if (n > shown) s += ", ... (" + std::to_string(n) + " in all)";
    return s.empty() ? std::string("(nothing)") : s;
  };
  std::map<std::string, const gluino::io::SafetensorsEntry*> by_name(entries.begin(), entries.end());
  std::vector<std::string> problems;
  bool only_shapes = true;
  auto problem = [&](bool shape, auto&&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    problems.push_back(os.str());
    only_shapes = only_shapes && shape;
  };
  std::set<std::string> known;
  // The shape each parameter will have, to catch one shared parameter loaded from two keys of
  // different shapes.
  std::map<const nn::BasicParameter<T>*, Shape> assigned;
  std::vector<std::pair<std::shared_ptr<nn::BasicParameter<T>>, std::string>> plan;  // parameter, file name
  for (const auto& [key, p] : params) {
    known.insert(key);
    auto it = by_name.find(key);
    if (it == by_name.end()) {
      if (!opt.allow_missing) problem(false, "Parameter '", key, "' is missing in the file");
      continue;
    }
    const gluino::io::SafetensorsEntry& e = *it->second;
    if (e.dtype != "F32" && !(e.dtype == "F64" && sizeof(T) == 8)) {
      problem(false, "Parameter '", key, "' is stored as ", e.dtype, ", which does not load into ",
              sizeof(T) == 4 ? "float (F32 expected)" : "double (F32 or F64 expected)",
              e.dtype == "F64" ? " (a double model's file: load it into a double model and cast<float>() it)" : "");
      continue;
    }
    if (e.shape.size() > Shape::max_dims) {
      problem(true, "Parameter '", key, "' has ", e.shape.size(), " axes in the file");
      continue;
    }
    const Shape got(e.shape);
    const Shape want = p->is_initialized() ? p->data().shape() : p->shape();
    bool ok = p->is_initialized() ? got == want : (want.ndim() == 0 || want.ndim() == got.ndim());
    for (std::size_t d = 0; ok && !p->is_initialized() && d < want.ndim(); ++d) ok = want[d] == 0 || want[d] == got[d];
    if (ok) {
      auto [a, fresh] = assigned.emplace(p.get(), got);
      ok = fresh || a->second == got;
    }
    if (!ok) {
      problem(true, "Parameter '", key, "' expects shape ", want, ", the file has ", got);
      continue;
    }
    plan.emplace_back(p, e.name);
  }
  if (!opt.ignore_extra)
    for (const auto& [key, e] : entries)
      if (!known.count(key)) problem(false, "'", key, "' in the file is not a parameter here");
  auto is_parameter = [&](const auto& e) { return known.count(e.first) > 0; };
  const bool none_match =
      !entries.empty() && !params.empty() && std::none_of(entries.begin(), entries.end(), is_parameter);
  if (!problems.empty()) {
    std::string all;
    std::set<std::string> global;
    for (const auto& kv : params) global.insert(kv.second->name());
    const bool global_names =
        std::all_of(entries.begin(), entries.end(), [&](const auto& e) { return global.count(e.first); });
    const auto format = header.metadata.find("format");
    if (format != header.metadata.end() && format->second == "gluino.trainer_states")
      all = "the file is a Trainer's state (Trainer::save_states): load it with Trainer::load_states";
    else if (none_match)
      all = "none of the " + std::to_string(entries.size()) + " names in the file is a parameter here" +
            (global_names ? "; the file's names are the parameters' global names (ParameterDict::save): load it "
                            "with collect_params().load"
                          : " (a checkpoint of another model?)");
    for (std::size_t i = 0; i < problems.size() && i < shown; ++i) all += (all.empty() ? "" : "; ") + problems[i];
    if (problems.size() > shown) all += "; and " + std::to_string(problems.size() - shown) + " more";
    std::ostringstream msg;
    msg << who << ": cannot load '" << path << "' (nothing was changed): " << problems.size()
        << (problems.size() == 1 ? " problem: " : " problems: ") << all << ". The file has: " << list(entries)
        << "; the parameters are: " << list(params);
    if (!opt.allow_missing || !opt.ignore_extra) msg << " (allow_missing / ignore_extra skip missing / extra names)";
    if (only_shapes) detail::raise<ShapeError>(msg.str());
    detail::raise<ValueError>(msg.str());
  }
  if (none_match)
    warn(std::string(who) + ": none of the names in '" + path + "' is a parameter here (allow_missing and "
         "ignore_extra): nothing was loaded");
  auto loaded = gluino::io::load_safetensors<T>(path);
  std::map<std::string, const NDArray<T>*> arrays;
  for (const auto& [name, arr] : loaded) arrays.emplace(name, &arr);
  for (const auto& [p, name] : plan) {  // the file may have changed since its header was read
    auto it = arrays.find(name);
    GLUINO_CHECK(ValueError, it != arrays.end() && it->second->shape() == assigned.at(p.get()), who, ": '", path,
                 "' changed while it was being loaded (nothing was changed)");
  }
  // A parameter shared by several blocks is saved under each of their names: the file must agree.
  std::map<const nn::BasicParameter<T>*, std::string> first_name;
  for (const auto& [p, name] : plan) {
    const auto [it, fresh] = first_name.emplace(p.get(), name);
    const NDArray<T>& a = *arrays.at(it->second);
    const NDArray<T>& b = *arrays.at(name);
    GLUINO_CHECK(ValueError, fresh || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0, who,
                 ": cannot load '", path, "': '", it->second, "' and '", name, "' are one shared parameter (",
                 p->name(), ") but the file holds different values for them (nothing was changed)");
  }
  for (const auto& [p, name] : plan) p->set_data(*arrays.at(name));
}
}  // namespace gluino::detail

namespace gluino::detail {
/// ParameterDict::save / load (see nn/parameter_dict.hpp).
template <class T>
struct dict_io<nn::BasicParameterDict<T>> {
  using D = nn::BasicParameterDict<T>;
  static void save(const D& dict, const std::string& path, const std::string& strip_prefix) {
    NamedParameters<T> named;
    for (const auto& [n, p] : dict) {
      GLUINO_CHECK(ValueError, n.rfind(strip_prefix, 0) == 0, "ParameterDict.save: cannot strip the prefix '",
                   strip_prefix, "' from the parameter name '", n, "'");
      named.emplace_back(n.substr(strip_prefix.size()), p);
    }
    save_named_parameters<T>(path, named, "ParameterDict.save");
  }
  static void load(D& dict, const std::string& path, const nn::LoadOptions& opt) {
    load_named_parameters<T>(path, NamedParameters<T>(dict.begin(), dict.end()), opt, "ParameterDict.load");
  }
};
/// Block::save_parameters / load_parameters (see nn/block.hpp): structural names.
template <class T>
struct block_io<nn::BasicBlock<T>> {
  using B = nn::BasicBlock<T>;
  static void save(const B& block, const std::string& path, const std::map<std::string, std::string>& metadata) {
    save_named_parameters<T>(path, block.collect_params_with_prefix(), "save_parameters", metadata);
  }
  static void load(B& block, const std::string& path, const nn::LoadOptions& opt) {
    load_named_parameters<T>(path, block.collect_params_with_prefix(), opt, "load_parameters");
  }
};
}  // namespace gluino::detail

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_PARAMETER_IO_INSTANTIATIONS(X, T) \
  X void save_named_parameters<T>(const std::string&, const NamedParameters<T>&, const char*, const std::map<std::string, std::string>&); \
  X void load_named_parameters<T>(const std::string&, const NamedParameters<T>&, const nn::LoadOptions&, const char*);
namespace gluino::detail {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_PARAMETER_IO_INSTANTIATIONS)
}  // namespace gluino::detail
