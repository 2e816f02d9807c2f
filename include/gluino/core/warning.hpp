// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Warnings: gluino::warn(msg) for things that are allowed but probably not meant (Gluon's
/// warnings.warn), e.g. initialize() on a parameter that already has data.  gluino never prints
/// to stdout: the default handler writes "gluino: warning: <msg>" to std::cerr once per distinct
/// message (as Python's default warning filter); set_warning_handler replaces it (to log, to
/// count, to throw, or to silence with an empty function).  Thread-safe.
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace gluino {

/// Receives each warning's message (without the "gluino: warning: " prefix).
using WarningHandler = std::function<void(const std::string&)>;

namespace detail {
struct WarningState {
  std::mutex mu;
  WarningHandler handler;      // empty = silenced
  std::set<std::string> seen;  // messages the default handler has printed
};
void default_warning_handler_impl(const std::string& msg);
/// Never destroyed, so that a warning from a destructor at exit still finds it.
inline WarningState& warning_state() {
  static WarningState* s = [] {
    auto* st = new WarningState;
    st->handler = default_warning_handler_impl;
    return st;
  }();
  return *s;
}
inline void default_warning_handler_impl(const std::string& msg) {
  auto& st = warning_state();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (!st.seen.insert(msg).second) return;
  }
  std::cerr << "gluino: warning: " << msg << std::endl;
}
}  // namespace detail

/// The handler gluino starts with: "gluino: warning: <msg>" and a newline on std::cerr, each
/// distinct message once per process.
inline void default_warning_handler(const std::string& msg) { detail::default_warning_handler_impl(msg); }

/// Installs `handler` for every later warning (from any thread) and returns the previous one, so
/// that a scope can put it back.  An empty function silences warnings; default_warning_handler
/// restores the default.
inline WarningHandler set_warning_handler(WarningHandler handler) {
  auto& st = detail::warning_state();
  std::lock_guard<std::mutex> lock(st.mu);
  std::swap(st.handler, handler);
  return handler;
}

/// Reports a warning to the installed handler.  Gluon: warnings.warn(msg).
inline void warn(const std::string& msg) {
  WarningHandler h;
  {
    auto& st = detail::warning_state();
    std::lock_guard<std::mutex> lock(st.mu);
    h = st.handler;
  }
  if (h) h(msg);  // outside the lock: a handler may warn or install another handler
}

}  // namespace gluino
