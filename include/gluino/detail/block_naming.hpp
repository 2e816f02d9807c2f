// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Not API.  The plain data behind blocks' names (docs/blocks.md): the state of a name scope,
/// the scope open on this thread, Gluon's per-alias counters, and class-name helpers.
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#endif

#include "gluino/nn/parameter.hpp"

namespace gluino::detail {

/// What a block's name_scope() gives the blocks made inside it (Gluon's _BlockScope): the
/// owner's prefixes once it is named, the dict its children look shared parameters up in, and
/// the per-alias counters that number those children when they are registered.  Held by the
/// owner and, until they are named, by the blocks made in the scope (so it survives moves).
template <class T>
struct NameScopeState {
  bool named = false;         // the owner has its final prefix
  std::string prefix;         // the owner's prefix ("mlp0_")
  std::string params_prefix;  // the owner's parameter prefix (differs when it shares: params=)
  nn::BasicParameterDict<T> shared;
  std::map<std::string, std::size_t> counters;
};

/// The scope of the innermost live name_scope() guard on this thread (null: top level).
template <class T>
std::shared_ptr<NameScopeState<T>>& current_name_scope() {
  thread_local std::shared_ptr<NameScopeState<T>> scope;
  return scope;
}
/// Per-alias counters of blocks made outside any name scope (Gluon's NameManager), per thread.
inline std::map<std::string, std::size_t>& global_name_counters() {
  thread_local std::map<std::string, std::size_t> counters;
  return counters;
}

/// The class name of a type without namespaces, enclosing functions or template arguments,
/// and without a leading "Basic" before an upper-case letter: gluino::nn::BasicDense<float>
/// -> "Dense", (anonymous namespace)::MLP -> "MLP".
inline std::string short_class_name(const std::type_info& ti) {
  std::string s = ti.name();
#if __has_include(<cxxabi.h>)
  int status = 0;
  char* dem = abi::__cxa_demangle(ti.name(), nullptr, nullptr, &status);
  if (status == 0 && dem) s = dem;
  std::free(dem);
#endif
  for (const char* kw : {"class ", "struct "})  // MSVC's spelling
    if (s.rfind(kw, 0) == 0) s.erase(0, std::string(kw).size());
  int depth = 0;
  std::size_t start = 0, stop = s.size();
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<' || c == '(' || c == '[') {
      if (depth == 0 && c == '<' && stop == s.size()) stop = i;
      ++depth;
    } else if (c == '>' || c == ')' || c == ']') {
      --depth;
    } else if (depth == 0 && c == ':' && i + 1 < s.size() && s[i + 1] == ':') {
      start = i + 2;
      stop = s.size();
    }
  }
  std::string name = s.substr(start, stop > start ? stop - start : 0);
  if (name.size() > 5 && name.rfind("Basic", 0) == 0 && std::isupper(static_cast<unsigned char>(name[5])))
    name.erase(0, 5);
  return name;
}
/// Gluon's _alias(): the class name lower-cased ("RecMLP" -> "recmlp").
inline std::string alias_of(const std::type_info& ti) {
  std::string a = short_class_name(ti);
  for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return a;
}

/// Indents every line but the first by n spaces (Gluon's _indent, for nested listings).
inline std::string indent_lines(const std::string& s, std::size_t n) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out.append(n, ' ');
  }
  return out;
}

}  // namespace gluino::detail
