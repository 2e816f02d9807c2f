// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Exceptions thrown by gluino, and the GLUINO_CHECK macro that raises them.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace gluino {

/// Base of every gluino exception.  Messages read "<op>: <what is wrong>: <shapes or values>".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// Incompatible shapes (broadcasting, matmul, convolution, a layer's input).
class ShapeError : public Error {
 public:
  using Error::Error;
};
/// A bad argument or hyper-parameter (negative rate, unknown activation, bad file).
class ValueError : public Error {
 public:
  using Error::Error;
};
/// Misuse of state: a Parameter read before initialize(), backward without a graph.
class StateError : public Error {
 public:
  using Error::Error;
};

namespace detail {
/// Concatenates the streamable arguments into a message and throws E with it.
template <class E, class... Args>
[[noreturn]] void raise(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw E(os.str());
}
}  // namespace detail
}  // namespace gluino

/// Throws exception type E with the concatenated message when cond is false.
#define GLUINO_CHECK(E, cond, ...) \
  do {                             \
    if (!(cond)) ::gluino::detail::raise<E>(__VA_ARGS__); \
  } while (false)
