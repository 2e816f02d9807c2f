// SPDX-License-Identifier: Apache-2.0
// The nd ops against PyTorch 1.13 (tests/data/reference/nd.json, made by
// scripts/make_nd_references.py): broadcasting arithmetic, element-wise functions, reductions,
// argmax, shape ops, dot / batch_dot / fully_connected, pick, pad, embedding, softmax,
// log_softmax, softmax_cross_entropy and 2-D pooling, forward and backward (a random head), in
// double and in float.  Where gluino follows Gluon / NumPy on purpose, the script computes
// Gluon's definition with torch (dot's transposes of N-D operands, softmax_cross_entropy per
// sample, pooling's full convention on cases where it agrees with PyTorch's ceil mode).
// Also the edge cases a hostile user tries: NaN, infinities and -0.0, indices out of range,
// zero-size shapes, empty images that only padding would fill, float indices beyond 2^24.
#include <gluino/nd.hpp>  // every op of the nd layer

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/nd/creation.hpp>
#include "support/reference.hpp"

using namespace gluino;

namespace torch_nd_ref {

using nlohmann::json;

template <class T>
NDArray<T> run_op(const std::string& op, const std::vector<NDArray<T>>& in, const json& o) {
  const auto opt_axes = [&] { return o.at("axes").get<std::vector<int>>(); };
  if (op == "add") return nd::add(in[0], in[1]);
  if (op == "subtract") return nd::subtract(in[0], in[1]);
  if (op == "multiply") return nd::multiply(in[0], in[1]);
  if (op == "divide") return nd::divide(in[0], in[1]);
  if (op == "power") return nd::power(in[0], in[1]);
  if (op == "maximum") return nd::maximum(in[0], in[1]);
  if (op == "minimum") return nd::minimum(in[0], in[1]);
  if (op == "negative") return nd::negative(in[0]);
  if (op == "exp") return nd::exp(in[0]);
  if (op == "log") return nd::log(in[0]);
  if (op == "sqrt") return nd::sqrt(in[0]);
  if (op == "square") return nd::square(in[0]);
  if (op == "abs") return nd::abs(in[0]);
  if (op == "relu") return nd::relu(in[0]);
  if (op == "sigmoid") return nd::sigmoid(in[0]);
  if (op == "tanh") return nd::tanh(in[0]);
  if (op == "softrelu") return nd::softrelu(in[0]);
  if (op == "softsign") return nd::softsign(in[0]);
  if (op == "leaky_relu") return nd::leaky_relu(in[0]);
  if (op == "clip") return nd::clip(in[0], T(-0.5), T(0.5));
  if (op == "pow_scalar") return nd::pow(in[0], T(2.5));
  if (op == "rpow_scalar") return nd::pow(T(1.7), in[0]);
  if (op == "sum") return nd::sum(in[0], opt_axes(), o.at("keepdims").get<bool>());
  if (op == "mean") return nd::mean(in[0], opt_axes(), o.at("keepdims").get<bool>());
  if (op == "max") return nd::max(in[0], opt_axes(), o.at("keepdims").get<bool>());
  if (op == "min") return nd::min(in[0], opt_axes(), o.at("keepdims").get<bool>());
  if (op == "argmax") return nd::argmax(in[0], o.at("axis").get<int>(), o.at("keepdims").get<bool>());
  if (op == "reshape") return nd::reshape(in[0], o.at("shape").get<std::vector<long long>>());
  if (op == "transpose") return nd::transpose(in[0], o.at("axes").get<std::vector<std::size_t>>());
  if (op == "expand_dims") return nd::expand_dims(in[0], o.at("axis").get<int>());
  if (op == "broadcast_to") return nd::broadcast_to(in[0], Shape(o.at("shape").get<std::vector<std::size_t>>()));
  if (op == "slice_axis0")
    return nd::slice_axis0(in[0], o.at("begin").get<std::size_t>(), o.at("end").get<std::size_t>());
  if (op == "concat") return nd::concat(in, o.at("axis").get<int>());
  if (op == "stack") return nd::stack(in, o.at("axis").get<int>());
  if (op == "dot") return nd::dot(in[0], in[1], o.at("transpose_a").get<bool>(), o.at("transpose_b").get<bool>());
  if (op == "batch_dot")
    return nd::batch_dot(in[0], in[1], o.at("transpose_a").get<bool>(), o.at("transpose_b").get<bool>());
  if (op == "fully_connected")
    return nd::fully_connected(in[0], in[1], in.size() > 2 ? in[2] : NDArray<T>{}, o.at("flatten").get<bool>());
  if (op == "pick") return nd::pick(in[0], in[1], o.at("axis").get<int>(), o.at("keepdims").get<bool>());
  if (op == "pad")
    return nd::pad(in[0], o.at("mode").get<std::string>(), o.at("pad_width").get<std::vector<std::size_t>>(),
                   o.at("constant_value").get<double>());
  if (op == "embedding") return nd::embedding(in[0], in[1]);
  if (op == "softmax") return nd::softmax(in[0], o.at("axis").get<int>());
  if (op == "log_softmax") return nd::log_softmax(in[0], o.at("axis").get<int>());
  if (op == "softmax_cross_entropy") return nd::softmax_cross_entropy(in[0], in[1]);
  if (op == "pooling") {
    const auto type = o.at("type") == "max" ? nd::pool_type::max : nd::pool_type::avg;
    if (o.contains("global")) return nd::pooling(in[0], {.type = type, .global_pool = true});
    const auto k = o.at("kernel").get<std::vector<std::size_t>>(), s = o.at("stride").get<std::vector<std::size_t>>(),
               p = o.at("pad").get<std::vector<std::size_t>>();
    return nd::pooling(in[0], {.kernel = {k[0], k[1]}, .stride = {s[0], s[1]}, .pad = {p[0], p[1]}, .type = type,
                               .convention = o.at("full").get<bool>() ? nd::pooling_convention::full
                                                                      : nd::pooling_convention::valid,
                               .count_include_pad = o.at("count_include_pad").get<bool>()});
  }
  FAIL("no such op in nd.json: ", op);
  return {};
}

/// check_reference_close, which reads element 0 for its message even of an empty array: a
/// zero-size result is compared by its shape only.
template <class T>
void check_close(const NDArray<T>& got, const json& want, const std::string& what, double tol) {
  const Shape shape(want.at("shape").get<std::vector<std::size_t>>());
  if (shape.size() > 0) return test::check_reference_close(got, want, what, tol, tol);
  INFO(what);
  CHECK(got.shape() == shape);
}

/// One case of nd.json in T: the output and the gradient of every differentiable input must
/// match PyTorch's.  Float: rtol 1e-5, atol 1e-5 (the inputs are float32 values, so only the
/// op's own rounding counts); double: 1e-10.
template <class T>
void check_case(const json& c) {
  const bool single = std::is_same_v<T, float>;
  const double tol = single ? 1e-5 : 1e-10;
  const std::string op = c.at("op");
  const std::string context = op + " " + c.at("options").dump() + (single ? " in float" : " in double") +
                              ", input shapes " + [&] {
                                std::string s;
                                for (const auto& j : c.at("inputs")) s += j.at("shape").dump() + " ";
                                return s;
                              }();
  INFO(context);
  std::vector<NDArray<T>> in;
  bool any_grad = false;
  for (const auto& j : c.at("inputs")) {
    in.push_back(test::reference_array<T>(j));
    if (!j.contains("nograd")) in.back().attach_grad(), any_grad = true;
  }
  NDArray<T> y;
  {
    autograd::record rec;
    y = run_op<T>(op, in, c.at("options"));
  }
  check_close(y, c.at("output"), "output", tol);
  if (!any_grad) return;
  y.backward(test::reference_array<T>(c.at("head")));
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& j = c.at("inputs")[i];
    if (j.contains("nograd")) continue;
    const std::string name = j.at("name");
    check_close(in[i].grad(), c.at("grad").at(name), "grad of " + name, tol);
  }
}

/// Every case of nd.json whose op is one of `ops`, in float and in double.
void check_ops(const std::vector<std::string>& ops) {
  for (const auto& op : ops)
    for (const auto& c : test::reference_cases("nd.json", "op", op)) {
      check_case<float>(c);
      check_case<double>(c);
    }
}

/// The ops of nd.json, by the test case that checks them.
const std::vector<std::string> arithmetic_ops = {"add", "subtract", "multiply", "divide", "power", "maximum",
                                                 "minimum"};
const std::vector<std::string> unary_ops = {"negative", "exp", "log", "sqrt", "square", "abs", "relu", "sigmoid",
                                            "tanh", "softrelu", "softsign", "leaky_relu", "clip", "pow_scalar",
                                            "rpow_scalar"};
const std::vector<std::string> reduce_ops = {"sum", "mean", "max", "min", "argmax"};
const std::vector<std::string> shape_ops = {"reshape", "transpose", "expand_dims", "broadcast_to",
                                            "slice_axis0", "concat", "stack"};
const std::vector<std::string> linalg_ops = {"dot", "batch_dot", "fully_connected"};
const std::vector<std::string> index_ops = {"pick", "pad", "embedding"};
const std::vector<std::string> softmax_ops = {"softmax", "log_softmax", "softmax_cross_entropy"};
const std::vector<std::string> pool_ops = {"pooling"};

}  // namespace torch_nd_ref

TEST_SUITE("nd/torch_reference") {

TEST_CASE("broadcasting arithmetic matches PyTorch: 0-d, (1,), zero-size axes, both sides stretched") {
  torch_nd_ref::check_ops(torch_nd_ref::arithmetic_ops);
}
TEST_CASE("element-wise functions match PyTorch") {
  torch_nd_ref::check_ops(torch_nd_ref::unary_ops);
}
TEST_CASE("reductions match PyTorch: negative axes, several axes, keepdims, zero-size inputs; argmax") {
  torch_nd_ref::check_ops(torch_nd_ref::reduce_ops);
}
TEST_CASE("shape ops match PyTorch: reshape with -1 and 0 sizes, transpose, expand_dims, broadcast_to, slices") {
  torch_nd_ref::check_ops(torch_nd_ref::shape_ops);
}
TEST_CASE("dot (MXNet's transposes of N-D operands), batch_dot and fully_connected match PyTorch") {
  torch_nd_ref::check_ops(torch_nd_ref::linalg_ops);
}
TEST_CASE("pick, pad, embedding match PyTorch (gather, F.pad, F.embedding)") {
  torch_nd_ref::check_ops(torch_nd_ref::index_ops);
}
TEST_CASE("softmax, log_softmax and softmax_cross_entropy match PyTorch, logits up to +-1000") {
  torch_nd_ref::check_ops(torch_nd_ref::softmax_ops);
}
TEST_CASE("every op of nd.json is checked by one of the cases here") {
  std::vector<std::string> ops;
  namespace ref = torch_nd_ref;
  for (const auto* family : {&ref::arithmetic_ops, &ref::unary_ops, &ref::reduce_ops, &ref::shape_ops,
                             &ref::linalg_ops, &ref::index_ops, &ref::softmax_ops, &ref::pool_ops})
    ops.insert(ops.end(), family->begin(), family->end());
  for (const auto& c : test::reference_file("nd.json").at("cases")) {
    const std::string op = c.at("op");
    INFO(op);
    CHECK(std::find(ops.begin(), ops.end(), op) != ops.end());
  }
}

TEST_CASE("ties: gluino gives the whole gradient to each tied maximum, as MXNet; PyTorch splits it") {
  // The reference cases hold no ties.  MXNet's max / maximum backward (and gluino's) send dy to
  // every element equal to the result, and maximum's to a when a >= b; PyTorch 1.13's amax
  // shares dy among the ties (0.5 each here) and maximum gives each side half on a tie.
  auto x = nd::array<double>({1, 3, 3});
  auto a = nd::array<double>({1, 2}), b = nd::array<double>({1, 3});
  x.attach_grad(), a.attach_grad(), b.attach_grad();
  {
    autograd::record rec;
    auto m = nd::max(x);
    m.backward();
    auto y = nd::maximum(a, b);
    y.backward(y.ones_like());
  }
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 1});
  CHECK(a.grad().to_vector() == std::vector<double>{1, 0});
  CHECK(b.grad().to_vector() == std::vector<double>{0, 1});
}

TEST_CASE("softmax and log_softmax of infinite logits: a -inf position is masked out, +inf gives NaN, as PyTorch") {
  // PyTorch 1.13, float64, head 1: softmax([-inf, 0]) = [0, 1], grad [0, 0];
  // log_softmax([-inf, 0]) = [-inf, 0], grad [1, -1]; softmax([inf, 0]) = [nan, nan].
  const double inf = std::numeric_limits<double>::infinity();
  auto x = nd::array<double>({-inf, 0}), z = nd::array<double>({-inf, 0});
  x.attach_grad(), z.attach_grad();
  NDArray<double> p, lp;
  {
    autograd::record rec;
    p = nd::softmax(x);
    lp = nd::log_softmax(z);
  }
  p.backward(p.ones_like());
  lp.backward(lp.ones_like());
  CHECK(p.to_vector() == std::vector<double>{0, 1});
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0});
  CHECK(lp.to_vector() == std::vector<double>{-inf, 0});
  CHECK(z.grad().to_vector() == std::vector<double>{1, -1});
  for (double v : nd::softmax(nd::array<double>({inf, 0})).to_vector()) CHECK(std::isnan(v));
}

TEST_CASE("indices: NaN and +-inf are refused by name, -0.0 is index 0 (pick, embedding, softmax_cross_entropy)") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const auto x = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  for (float bad : {nan, inf, -inf}) {
    CHECK_THROWS_WITH_AS(nd::pick(x, nd::array<float>({0, bad})), doctest::Contains("pick: index"), ValueError);
    CHECK_THROWS_WITH_AS(nd::embedding(nd::array<float>({bad}), x), doctest::Contains("embedding: index"), ValueError);
    CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(x, nd::array<float>({bad, 0})),
                         doctest::Contains("softmax_cross_entropy: label"), ValueError);
  }
  CHECK(nd::pick(x, nd::array<float>({-0.f, 2})).to_vector() == std::vector<float>{1, 6});
  CHECK(nd::embedding(nd::array<float>({-0.f}), x).to_vector() == std::vector<float>{1, 2, 3});
}

TEST_CASE("convolution and pooling refuse an empty image that only padding would fill, as PyTorch does") {
  // PyTorch 1.13: "Only zero batch or zero channel inputs are supported" (conv1d/2d/3d,
  // conv_transpose2d), "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size"
  // (max_pool / avg_pool).  gluino gave an output of padding only, e.g. (1, 3, 2, 6).
  SUBCASE("convolution1d, convolution, convolution3d") {
    CHECK_THROWS_WITH_AS(nd::convolution1d(nd::zeros<float>({1, 2, 0}), nd::zeros<float>({3, 2, 3}), {}, {.pad = 2}),
                         doctest::Contains("convolution1d: empty input (1, 2, 0)"), ShapeError);
    CHECK_THROWS_WITH_AS(nd::convolution(nd::zeros<float>({1, 2, 0, 4}), nd::zeros<float>({3, 2, 3, 3}), {},
                                         {.pad = {2, 2}}),
                         doctest::Contains("convolution: empty input (1, 2, 0, 4)"), ShapeError);
    CHECK_THROWS_WITH_AS(nd::convolution(nd::zeros<double>({1, 2, 4, 0}), nd::zeros<double>({3, 2, 1, 1}), {},
                                         {.pad = {0, 1}}),
                         doctest::Contains("convolution: empty input (1, 2, 4, 0)"), ShapeError);
    CHECK_THROWS_WITH_AS(nd::convolution3d(nd::zeros<float>({1, 2, 0, 4, 4}), nd::zeros<float>({3, 2, 3, 3, 3}), {},
                                           {.pad = {2, 2, 2}}),
                         doctest::Contains("convolution3d: empty input (1, 2, 0, 4, 4)"), ShapeError);
  }
  SUBCASE("pooling and pooling1d, max and avg") {
    for (auto type : {nd::pool_type::max, nd::pool_type::avg}) {
      CHECK_THROWS_WITH_AS(nd::pooling(nd::zeros<float>({1, 2, 0, 4}), {.pad = {1, 1}, .type = type}),
                           doctest::Contains("pooling: empty input (1, 2, 0, 4)"), ShapeError);
      CHECK_THROWS_WITH_AS(nd::pooling(nd::zeros<float>({1, 2, 3, 0}), {.pad = {1, 1}, .type = type}),
                           doctest::Contains("pooling: empty input (1, 2, 3, 0)"), ShapeError);
      CHECK_THROWS_WITH_AS(nd::pooling1d(nd::zeros<float>({1, 2, 0}), {.pad = 1, .type = type}),
                           doctest::Contains("pooling1d: empty input (1, 2, 0)"), ShapeError);
    }
  }
  SUBCASE("deconvolution already refused it") {
    CHECK_THROWS_WITH_AS(nd::deconvolution(nd::zeros<float>({1, 2, 0, 4}), nd::zeros<float>({2, 3, 3, 3})),
                         doctest::Contains("deconvolution: empty input (1, 2, 0, 4)"), ShapeError);
  }
  SUBCASE("an empty batch is fine, as in PyTorch") {
    CHECK(nd::convolution1d(nd::zeros<float>({0, 2, 5}), nd::zeros<float>({3, 2, 3}), {}, {.pad = 1}).shape() ==
          Shape{0, 3, 5});
    CHECK(nd::convolution(nd::zeros<float>({0, 2, 4, 4}), nd::zeros<float>({3, 2, 3, 3})).shape() == Shape{0, 3, 2, 2});
    CHECK(nd::convolution3d(nd::zeros<float>({0, 2, 3, 3, 3}), nd::zeros<float>({3, 2, 3, 3, 3})).shape() ==
          Shape{0, 3, 1, 1, 1});
    CHECK(nd::pooling(nd::zeros<float>({0, 2, 4, 4}), {}).shape() == Shape{0, 2, 3, 3});
    CHECK(nd::pooling1d(nd::zeros<float>({0, 2, 4}), {}).shape() == Shape{0, 2, 3});
  }
}

TEST_CASE("float indices: a table longer than 2^24 rows is refused (a float names its rows exactly only up to 2^24)") {
  // 16777217.f is 16777216: with 2^24 + 4 rows, index "16777217" silently read row 16777216.
  // The tables have 0 columns, so that no memory is spent.
  const std::size_t rows = (std::size_t(1) << 24) + 4;
  SUBCASE("embedding") {
    CHECK_THROWS_WITH_AS(nd::embedding(nd::array<float>({16777217.f}), nd::zeros<float>({rows, 0})),
                         doctest::Contains("embedding: weight of shape (16777220, 0) has more rows than float indices"
                                           " name exactly (2^24 = 16777216)"),
                         ValueError);
    CHECK(nd::embedding(nd::array<double>({16777217.0}), nd::zeros<double>({rows, 0})).shape() == Shape{1, 0});
    CHECK(nd::embedding(nd::array<float>({16777215.f}), nd::zeros<float>({std::size_t(1) << 24, 0})).shape() ==
          Shape{1, 0});
  }
  SUBCASE("pick, softmax_cross_entropy") {
    CHECK_THROWS_WITH_AS(nd::pick(nd::zeros<float>({0, rows}), nd::zeros<float>({0})),
                         doctest::Contains("pick: axis -1 of shape (0, 16777220) is longer than float indices name "
                                           "exactly (2^24 = 16777216)"),
                         ValueError);
    CHECK(nd::pick(nd::zeros<double>({0, rows}), nd::zeros<double>({0})).shape() == Shape{0});
    CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(nd::zeros<float>({0, rows}), nd::zeros<float>({0})),
                         doctest::Contains("softmax_cross_entropy: 16777220 classes, more than float labels name "
                                           "exactly (2^24 = 16777216)"),
                         ValueError);
  }
}
TEST_CASE("2-D pooling matches PyTorch: max and avg, stride, pad, full convention, count_include_pad, global") {
  torch_nd_ref::check_ops(torch_nd_ref::pool_ops);
}
}
