// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/warning.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace gluino;

namespace {
/// Captures std::cerr for the lifetime of the object.
struct CaptureCerr {
  std::ostringstream out;
  std::streambuf* old = std::cerr.rdbuf(out.rdbuf());
  ~CaptureCerr() { std::cerr.rdbuf(old); }
};
}  // namespace

TEST_SUITE("core/warning") {
TEST_CASE("set_warning_handler installs a handler and returns the previous one") {
  std::vector<std::string> got;
  WarningHandler prev = set_warning_handler([&](const std::string& m) { got.push_back(m); });
  warn("first");
  warn("first");
  warn("second");
  CHECK(got == std::vector<std::string>{"first", "first", "second"});
  WarningHandler mine = set_warning_handler(prev);
  REQUIRE(mine);
  mine("direct");
  CHECK(got.back() == "direct");
}
TEST_CASE("the default handler writes 'gluino: warning: ...' to std::cerr, once per distinct message") {
  auto prev = set_warning_handler(default_warning_handler);
  CaptureCerr cap;
  warn("test_warning: a message seen once");
  warn("test_warning: a message seen once");
  warn("test_warning: another");
  CHECK(cap.out.str() == "gluino: warning: test_warning: a message seen once\ngluino: warning: test_warning: another\n");
  set_warning_handler(prev);
}
TEST_CASE("an empty handler silences warnings") {
  auto prev = set_warning_handler(nullptr);
  CaptureCerr cap;
  warn("test_warning: silenced");
  CHECK(cap.out.str().empty());
  set_warning_handler(prev);
}
TEST_CASE("warnings from several threads reach the handler") {
  std::atomic<int> n{0};
  auto prev = set_warning_handler([&](const std::string&) { ++n; });
  std::thread a([] { for (int i = 0; i < 100; ++i) warn("a"); });
  std::thread b([] { for (int i = 0; i < 100; ++i) warn("b"); });
  a.join();
  b.join();
  CHECK(n == 200);
  set_warning_handler(prev);
}
}
