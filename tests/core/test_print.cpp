// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/print.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>

using namespace gluino;

namespace {
template <class T>
std::string str(const NDArray<T>& x) {
  std::ostringstream os;
  os << x;
  return os.str();
}
}  // namespace

TEST_SUITE("core/print") {
TEST_CASE("a 2x2 matrix of integers prints as MXNet") {
  CHECK(str(nd::array<float>({1, 2, 3, 4}, {2, 2})) == "[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>");
}
TEST_CASE("1-D and 0-d") {
  CHECK(str(nd::array<float>({1, 2, 3})) == "[1. 2. 3.]\n<NDArray 3 @cpu(0)>");
  CHECK(str(nd::full<float>(Shape{}, 2.5f)) == "2.5\n<NDArray  @cpu(0)>");
  CHECK(str(nd::zeros<float>({0})) == "[]\n<NDArray 0 @cpu(0)>");
  CHECK(str(NDArray<float>{}) == "<NDArray empty>");
}
TEST_CASE("fractions: shortest digits, decimal points aligned") {
  CHECK(str(nd::array<float>({0.5f, 0.25f})) == "[0.5  0.25]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array<float>({1.5f, -2.25f, 3.0f})) == "[ 1.5  -2.25  3.  ]\n<NDArray 3 @cpu(0)>");
  CHECK(str(nd::array<float>({0.1f, 1.0f / 3.0f})) == "[0.1        0.33333334]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array<double>({1.0 / 3.0})) == "[0.33333333]\n<NDArray 1 @cpu(0)>");
  CHECK(str(nd::array<float>({-0.0f, 1.0f})) == "[0. 1.]\n<NDArray 2 @cpu(0)>");
}
TEST_CASE("scientific notation for very large, very small or widely spread values") {
  CHECK(str(nd::array<float>({1e-5f, 2.5e-5f})) == "[1.0e-05 2.5e-05]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array<float>({1.0f, 2000.0f})) == "[1.e+00 2.e+03]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array<double>({1e8, -1.0})) == "[ 1.e+08 -1.e+00]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array<double>({0.0, 1e-4})) == "[0.     0.0001]\n<NDArray 2 @cpu(0)>");  // zeros do not count
  CHECK(str(nd::array<float>({0.0f, 1e-4f})) == "[0.e+00 1.e-04]\n<NDArray 2 @cpu(0)>");   // 1e-4f < 1e-4
}
// Expected strings from NumPy 1.24's str() of the same float32 values.  A value whose shortest
// digits are fewer than the column's used to be padded with zeros ("2.9413250e+08" for 294132512,
// "-2.8000000e-03" for -0.0027999999): digits that are not the value's.
TEST_CASE("scientific notation: every mantissa shows the value's own digits, not zeros, to the column's precision") {
  CHECK(str(nd::array<float>({3.6457238e+08f, 2.9413251e+08f})) ==
        "[3.6457238e+08 2.9413251e+08]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array<float>({3.6457238e+08f, -2.8e-3f, 0.25f, 2.9413251e+08f})) ==
        "[ 3.6457238e+08 -2.7999999e-03  2.5000000e-01  2.9413251e+08]\n<NDArray 4 @cpu(0)>");
  CHECK(str(nd::array<float>({1e8f, 3.6457238e+08f})) == "[1.0000000e+08 3.6457238e+08]\n<NDArray 2 @cpu(0)>");
}
TEST_CASE("nan and inf") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(str(nd::array<float>({std::nanf(""), 1.0f, -inf})) == "[ nan   1. -inf]\n<NDArray 3 @cpu(0)>");
}
TEST_CASE("3-D: blank line between matrices") {
  CHECK(str(nd::arange<float>(0, 8).reshape({2, 2, 2})) ==
        "[[[0. 1.]\n  [2. 3.]]\n\n [[4. 5.]\n  [6. 7.]]]\n<NDArray 2x2x2 @cpu(0)>");
}
TEST_CASE("long rows wrap at 75 characters") {
  const std::string s = str(nd::arange<float>(0, 30));
  CHECK(s ==
        "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n"
        " 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]\n<NDArray 30 @cpu(0)>");
}
TEST_CASE("over 1000 elements are summarised with ...") {
  CHECK(str(nd::arange<float>(0, 1001)) == "[   0.    1.    2. ...  998.  999. 1000.]\n<NDArray 1001 @cpu(0)>");
  CHECK(str(nd::arange<float>(0, 1000)).find("...") == std::string::npos);
  const std::string m = str(nd::zeros<float>({1001, 2}));
  CHECK(m == "[[0. 0.]\n [0. 0.]\n [0. 0.]\n ...\n [0. 0.]\n [0. 0.]\n [0. 0.]]\n<NDArray 1001x2 @cpu(0)>");
  const std::string t = str(nd::zeros<float>({7, 7, 7, 3}));
  CHECK(t.find("]]\n\n  ...\n\n  [[") != std::string::npos);
}
}
