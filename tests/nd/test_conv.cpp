// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/conv.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/kernels/conv2d.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>
#include "support/gradcheck.hpp"

#include <cmath>
#include <string>

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
NDArray<float> randf(const Shape& s, std::uint64_t seed) {
  random::Generator gen(seed);
  NDArray<float> x(s);
  for (float& v : x) v = static_cast<float>(gen.uniform(-1.0, 1.0));
  return x;
}

/// The message of the E that f throws ("" when it throws nothing or something else).
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (...) {
  }
  return "";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

double max_rel_diff(const float* a, const float* b, std::size_t n) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::abs(double(a[i]) - double(b[i])) / (1.0 + std::abs(double(b[i])));
    worst = std::max(worst, d);
  }
  return worst;
}

struct ConvCase {
  std::size_t N, C, H, W, O, kh, kw;
  nd::ConvOptions opt;
  bool bias;
};

// Random shapes with every option: groups, dilation, stride 2, pad 1, 1x1, non-square.
const ConvCase conv_cases[] = {
    {2, 3, 7, 9, 4, 3, 3, {}, true},
    {3, 4, 8, 8, 6, 3, 3, {.stride = {2, 2}, .pad = {1, 1}}, true},
    {2, 4, 9, 7, 4, 3, 2, {.stride = {1, 2}, .dilate = {2, 1}, .pad = {1, 0}}, false},
    {2, 6, 6, 6, 9, 3, 3, {.pad = {1, 1}, .num_group = 3}, true},
    {2, 4, 5, 6, 8, 1, 1, {}, true},                                          // pointwise, direct GEMM
    {2, 4, 5, 6, 4, 1, 1, {.stride = {2, 2}, .num_group = 2}, false},        // 1x1 strided: im2col
    {1, 2, 10, 12, 3, 5, 4, {.stride = {3, 2}, .dilate = {1, 2}, .pad = {2, 3}}, true},
    {5, 8, 16, 16, 8, 3, 3, {.pad = {1, 1}}, true},                           // large enough to split over threads
    {4, 1, 28, 28, 20, 5, 5, {}, true},                                       // LeNet's first layer, smaller batch
    {3, 4, 4, 4, 4, 4, 4, {.num_group = 4}, true},                            // depthwise, kernel = input
    {2, 4, 9, 11, 6, 3, 2, {.dilate = {2, 3}, .num_group = 2}, true},        // dilated, unpadded: im2col_dense
    {3, 1, 13, 13, 13, 3, 3, {}, true},                                       // 1 channel, direct: 8 + 4 + 1 filters, 11 wide
    {2, 1, 9, 16, 4, 2, 8, {}, false},                                        // 1 channel, direct: output row of one tile
    {2, 1, 9, 14, 4, 2, 8, {}, true},                                         // 1 channel, 7 wide: too narrow, im2col
    {2, 1, 7, 9, 10, 3, 3, {.pad = {1, 1}}, true},                            // 1 channel, padded (VGG's first layer)
    {3, 1, 12, 10, 16, 3, 5, {.pad = {2, 1}}, false},                         // 1 channel, unequal padding
    {2, 6, 9, 10, 6, 3, 3, {.stride = {2, 2}, .pad = {1, 1}, .num_group = 6}, true},  // depthwise, MobileNet's stride 2
    {2, 3, 8, 7, 6, 3, 3, {.pad = {1, 1}, .num_group = 3}, true},             // depthwise, channel multiplier 2
    {1, 4, 9, 9, 4, 3, 3, {.dilate = {2, 2}, .pad = {2, 2}, .num_group = 4}, false},  // depthwise, dilated
};

kernels::Conv2DGeometry geometry(const ConvCase& c) {
  return nd::ops::Convolution<float>::make_geometry(NDArray<float>(Shape{c.N, c.C, c.H, c.W}),
                                                    NDArray<float>(Shape{c.O, c.C / c.opt.num_group, c.kh, c.kw}),
                                                    NDArray<float>(), c.opt);
}

test::Fn conv_fn(nd::ConvOptions opt, bool bias) {
  return [opt, bias](const V& x) { return nd::convolution(x[0], x[1], bias ? x[2] : NDArray<double>(), opt); };
}
V conv_inputs(const ConvCase& c) {
  V in{rand_array({c.N, c.C, c.H, c.W}, 1), rand_array({c.O, c.C / c.opt.num_group, c.kh, c.kw}, 2)};
  if (c.bias) in.push_back(rand_array({c.O}, 3));
  return in;
}
}  // namespace

TEST_SUITE("nd/conv") {
TEST_CASE("convolution: output shape (N, O, Ho, Wo)") {
  auto y = nd::convolution(nd::zeros<float>({2, 3, 7, 9}), nd::zeros<float>({4, 3, 3, 2}), {},
                           {.stride = {2, 1}, .pad = {1, 0}});
  CHECK(y.shape() == Shape{2, 4, 4, 8});
  auto z = nd::convolution(nd::zeros<float>({1, 1, 224, 224}), nd::zeros<float>({96, 1, 11, 11}), {},
                           {.stride = {4, 4}});
  CHECK(z.shape() == Shape{1, 96, 54, 54});
  auto d = nd::convolution(nd::zeros<float>({1, 2, 10, 10}), nd::zeros<float>({2, 2, 3, 3}), {}, {.dilate = {2, 3}});
  CHECK(d.shape() == Shape{1, 2, 6, 4});
  CHECK(nd::conv_output_size({224, 224}, {11, 11}, {.stride = {4, 4}}) == std::array<std::size_t, 2>{54, 54});
}

TEST_CASE("convolution: small cases computed by hand") {
  auto x = nd::arange<float>(1, 10).reshape({1, 1, 3, 3});
  SUBCASE("2x2 ones with bias") {
    auto y = nd::convolution(x, nd::ones<float>({1, 1, 2, 2}), nd::array<float>({10}));
    CHECK(y.to_vector() == std::vector<float>{22, 26, 34, 38});
  }
  SUBCASE("stride 2, pad 1") {
    // y[oh, ow] = x[2oh-1, 2ow-1] - x[2oh, 2ow], zero outside x.
    auto y = nd::convolution(x, nd::array<float>({1, 0, 0, -1}, {1, 1, 2, 2}), {}, {.stride = {2, 2}, .pad = {1, 1}});
    CHECK(y.to_vector() == std::vector<float>{-1, -3, -7, -4});
  }
  SUBCASE("dilation 2") {
    auto x5 = nd::arange<float>(25).reshape({1, 1, 5, 5});
    auto y = nd::convolution(x5, nd::ones<float>({1, 1, 2, 2}), {}, {.dilate = {2, 2}});
    CHECK(y.shape() == Shape{1, 1, 3, 3});
    CHECK(y.at(0, 0, 0, 0) == 0 + 2 + 10 + 12);
    CHECK(y.at(0, 0, 2, 1) == 11 + 13 + 21 + 23);
  }
  SUBCASE("groups keep channels apart") {
    auto y = nd::convolution(nd::array<float>({1, 2}, {1, 2, 1, 1}), nd::array<float>({3, 4}, {2, 1, 1, 1}), {},
                             {.num_group = 2});
    CHECK(y.to_vector() == std::vector<float>{3, 8});
  }
}

TEST_CASE("convolution: fast path matches the naive reference on random shapes") {
  for (const ConvCase& c : conv_cases) {
    const std::string shape = std::to_string(c.N) + "x" + std::to_string(c.C) + "x" + std::to_string(c.H) + "x" +
                              std::to_string(c.W) + " -> " + std::to_string(c.O) + ", kernel " + std::to_string(c.kh) +
                              "x" + std::to_string(c.kw);
    CAPTURE(shape);
    const auto g = geometry(c);
    auto x = randf({c.N, c.C, c.H, c.W}, 11), w = randf({c.O, g.Cg(), c.kh, c.kw}, 12);
    auto b = randf({c.O}, 13);
    const float* pb = c.bias ? b.data() : nullptr;
    auto y = nd::convolution(x, w, c.bias ? b : NDArray<float>(), c.opt);
    NDArray<float> ref(y.shape());
    kernels::conv2d_forward_naive(g, x.data(), w.data(), pb, ref.data());
    CHECK(max_rel_diff(y.data(), ref.data(), y.size()) < 1e-5);

    auto dy = randf(y.shape(), 14);
    NDArray<float> dx(x.shape()), dw(w.shape()), db(Shape{c.O}), rx(x.shape()), rw(w.shape()), rb(Shape{c.O});
    kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    kernels::conv2d_backward_naive(g, x.data(), w.data(), dy.data(), rx.data(), rw.data(), rb.data());
    CHECK(max_rel_diff(dx.data(), rx.data(), dx.size()) < 1e-5);
    CHECK(max_rel_diff(dw.data(), rw.data(), dw.size()) < 1e-4);
    CHECK(max_rel_diff(db.data(), rb.data(), db.size()) < 1e-4);
    // Only some gradients requested.
    dw.fill(-7);
    kernels::conv2d_backward<float>(g, x.data(), nullptr, dy.data(), nullptr, dw.data(), nullptr);
    CHECK(max_rel_diff(dw.data(), rw.data(), dw.size()) < 1e-4);
    dx.fill(-7);
    kernels::conv2d_backward<float>(g, nullptr, w.data(), dy.data(), dx.data(), nullptr, nullptr);
    CHECK(max_rel_diff(dx.data(), rx.data(), dx.size()) < 1e-5);
  }
}

TEST_CASE("convolution: gradients match central differences (double)") {
  SUBCASE("plain, with bias") { CHECK(gradcheck(conv_fn({}, true), conv_inputs({2, 2, 5, 4, 3, 3, 2, {}, true}))); }
  SUBCASE("no bias") { CHECK(gradcheck(conv_fn({}, false), conv_inputs({1, 2, 4, 4, 2, 2, 2, {}, false}))); }
  SUBCASE("stride 2, pad 1") {
    nd::ConvOptions o{.stride = {2, 2}, .pad = {1, 1}};
    CHECK(gradcheck(conv_fn(o, true), conv_inputs({2, 2, 5, 6, 3, 3, 3, o, true})));
  }
  SUBCASE("dilation") {
    nd::ConvOptions o{.dilate = {2, 1}, .pad = {1, 1}};
    CHECK(gradcheck(conv_fn(o, true), conv_inputs({1, 2, 6, 5, 2, 2, 3, o, true})));
  }
  SUBCASE("groups") {
    nd::ConvOptions o{.num_group = 2};
    CHECK(gradcheck(conv_fn(o, true), conv_inputs({2, 4, 4, 4, 6, 2, 2, o, true})));
  }
  SUBCASE("one input channel (direct kernel)") {
    CHECK(gradcheck(conv_fn({}, true), conv_inputs({2, 1, 6, 11, 9, 3, 3, {}, true})));
    nd::ConvOptions o{.pad = {1, 2}};
    CHECK(gradcheck(conv_fn(o, true), conv_inputs({2, 1, 5, 8, 9, 3, 3, o, true})));
  }
  SUBCASE("depthwise (kernels/conv2d_depthwise.hpp), strides 1 and 2, channel multiplier 2") {
    nd::ConvOptions o{.pad = {1, 1}, .num_group = 3};
    CHECK(gradcheck(conv_fn(o, true), conv_inputs({2, 3, 5, 6, 3, 3, 3, o, true})));
    nd::ConvOptions s2{.stride = {2, 2}, .pad = {1, 1}, .num_group = 2};
    CHECK(gradcheck(conv_fn(s2, true), conv_inputs({1, 2, 7, 6, 4, 3, 3, s2, true})));
    nd::ConvOptions d2{.dilate = {2, 1}, .pad = {2, 0}, .num_group = 2};
    CHECK(gradcheck(conv_fn(d2, false), conv_inputs({2, 2, 6, 5, 2, 3, 2, d2, false})));
  }
  SUBCASE("pointwise 1x1") { CHECK(gradcheck(conv_fn({}, true), conv_inputs({2, 3, 3, 2, 2, 1, 1, {}, true}))); }
  SUBCASE("1x1, stride 2, non-square") {
    nd::ConvOptions o{.stride = {2, 1}};
    CHECK(gradcheck(conv_fn(o, false), conv_inputs({1, 2, 5, 3, 2, 1, 1, o, false})));
  }
}

TEST_CASE("convolution: stride, dilation, padding and groups at once: gradients match central differences (double)") {
  // Unequal options per axis; the strides leave the last padded row and columns unread.
  const nd::ConvOptions mixed{.stride = {2, 3}, .dilate = {2, 1}, .pad = {2, 1}, .num_group = 2};
  SUBCASE("two groups of two channels, 3x2 kernel") {
    CHECK(gradcheck(conv_fn(mixed, true), conv_inputs({2, 4, 7, 8, 6, 3, 2, mixed, true})));
  }
  SUBCASE("the same, fused relu") {
    CHECK(gradcheck([mixed](const V& x) { return nd::convolution_relu(x[0], x[1], x[2], mixed); },
                    conv_inputs({2, 4, 7, 8, 6, 3, 2, mixed, true})));
  }
  SUBCASE("depthwise, channel multiplier 2, stride and dilation on different axes") {
    const nd::ConvOptions o{.stride = {2, 1}, .dilate = {1, 2}, .pad = {1, 2}, .num_group = 2};
    CHECK(gradcheck(conv_fn(o, true), conv_inputs({2, 2, 6, 7, 4, 3, 3, o, true})));
  }
  SUBCASE("1x1 kernel with padding, stride and groups (not the pointwise path)") {
    const nd::ConvOptions o{.stride = {2, 2}, .pad = {1, 1}, .num_group = 2};
    CHECK(gradcheck(conv_fn(o, false), conv_inputs({1, 4, 5, 5, 4, 1, 1, o, false})));
  }
}

TEST_CASE("convolution: random combinations of every option: gradients match central differences (double)") {
  random::Generator gen(99);
  const auto in = [&](std::size_t lo, std::size_t hi) { return lo + gen.randint(hi - lo + 1); };  // in [lo, hi]
  for (int t = 0; t < 60; ++t) {
    const std::size_t groups = in(1, 3), kh = in(1, 3), kw = in(1, 3);
    const nd::ConvOptions o{.stride = {in(1, 3), in(1, 3)}, .dilate = {in(1, 2), in(1, 2)}, .pad = {in(0, 2), in(0, 2)},
                            .num_group = groups};
    const ConvCase c{in(1, 2), groups * in(1, 2), in(1, 6) + (kh - 1) * o.dilate[0], in(1, 6) + (kw - 1) * o.dilate[1],
                     groups * in(1, 2), kh, kw, o, in(0, 1) == 1};
    const bool relu = in(0, 1) == 1;
    CAPTURE(t);
    CHECK(gradcheck(
        [&](const V& x) {
          const NDArray<double> b = c.bias ? x[2] : NDArray<double>();
          return relu ? nd::convolution_relu(x[0], x[1], b, o) : nd::convolution(x[0], x[1], b, o);
        },
        conv_inputs(c)));
  }
}

TEST_CASE("convolution: gradients through the fast kernels match central differences (double)") {
  // The cases above are too small for the direct kernels' tiles: these reach them end to end.
  SUBCASE("wide direct kernel (10x10, pad 1): forward, input and weight gradients") {
    const ConvCase c{2, 2, 10, 10, 3, 3, 3, {.pad = {1, 1}}, true};
    const auto g = geometry(c);
    CHECK((kernels::direct_wide_applies<double>(g) && kernels::direct_wide_input_grad_applies<double>(g) &&
           kernels::direct_wide_weight_grad_applies<double>(g)));
    CHECK(gradcheck(conv_fn(c.opt, true), conv_inputs(c)));
    CHECK(gradcheck([o = c.opt](const V& x) { return nd::convolution_relu(x[0], x[1], x[2], o); }, conv_inputs(c)));
  }
  SUBCASE("small-channel direct kernels: forward, weight gradient (17 outputs a row: wasteful for the wide one)") {
    const ConvCase c{2, 2, 3, 19, 3, 3, 3, {}, true};
    CHECK(kernels::direct_small_applies(geometry(c)));
    CHECK(!kernels::direct_wide_applies<double>(geometry(c)));
    CHECK(gradcheck(conv_fn(c.opt, true), conv_inputs(c)));
  }
}

TEST_CASE("convolution_relu: the values and gradients of relu(convolution)") {
  for (const ConvCase& c : conv_cases) {
    CAPTURE(c.N);
    CAPTURE(c.C);
    CAPTURE(c.kh);
    V fused_in = conv_inputs(c), plain_in = conv_inputs(c);
    for (auto& a : fused_in) a.attach_grad();
    for (auto& a : plain_in) a.attach_grad();
    const NDArray<double> b_fused = c.bias ? fused_in[2] : NDArray<double>(), b_plain = c.bias ? plain_in[2] : NDArray<double>();
    NDArray<double> yf, yp;
    {
      autograd::record rec;
      yf = nd::convolution_relu(fused_in[0], fused_in[1], b_fused, c.opt);
      yp = nd::relu(nd::convolution(plain_in[0], plain_in[1], b_plain, c.opt));
      const auto head = rand_array(yf.shape(), 5);
      // weight the outputs so that every gradient entry differs
      nd::sum(yf * head).backward();
      nd::sum(yp * head).backward();
    }
    REQUIRE(yf.shape() == yp.shape());
    bool zeros = false, same = true;
    for (std::size_t i = 0; i < yf.size(); ++i) {
      zeros = zeros || yf.data()[i] == 0.0;
      same = same && std::abs(yf.data()[i] - yp.data()[i]) < 1e-12;
    }
    CHECK(same);
    CHECK(zeros);  // the ReLU did cut something
    for (std::size_t k = 0; k < fused_in.size(); ++k) {
      CAPTURE(k);
      double worst = 0;
      for (std::size_t i = 0; i < fused_in[k].size(); ++i)
        worst = std::max(worst, std::abs(fused_in[k].grad().data()[i] - plain_in[k].grad().data()[i]));
      CHECK(worst < 1e-10);
    }
  }
  SUBCASE("gradients match central differences (double)") {
    nd::ConvOptions o{.pad = {1, 1}};
    CHECK(gradcheck([o](const V& x) { return nd::convolution_relu(x[0], x[1], x[2], o); },
                    conv_inputs({2, 2, 5, 4, 3, 3, 2, o, true})));
  }
}

TEST_CASE("convolution: backward skips the input gradient when x needs none") {
  auto x = rand_array({2, 2, 5, 5}, 1), w = rand_array({3, 2, 3, 3}, 2), b = rand_array({3}, 3);
  w.attach_grad();
  b.attach_grad();
  {
    autograd::record rec;
    auto y = nd::convolution(x, w, b, {.pad = {1, 1}});
    y.backward();
  }
  const auto g = nd::ops::Convolution<double>::make_geometry(x, w, b, {.pad = {1, 1}});
  NDArray<double> dy(Shape{2, 3, 5, 5}), rw(w.shape()), rb(b.shape());
  dy.fill(1);
  kernels::conv2d_backward_naive(g, x.data(), w.data(), dy.data(), static_cast<double*>(nullptr), rw.data(), rb.data());
  for (std::size_t i = 0; i < rw.size(); ++i) CHECK(w.grad().data()[i] == doctest::Approx(rw.data()[i]));
  CHECK(b.grad().to_vector() == std::vector<double>{50, 50, 50});
}

TEST_CASE("convolution: errors name the op and the shapes") {
  auto x = nd::zeros<float>({1, 3, 8, 8});
  SUBCASE("channel mismatch names both shapes") {
    CHECK_THROWS_WITH_AS(nd::convolution(x, nd::zeros<float>({4, 2, 3, 3})), doctest::Contains("(1, 3, 8, 8)"),
                         ShapeError);
    const auto msg = error_of<ShapeError>([&] { nd::convolution(x, nd::zeros<float>({4, 2, 3, 3})); });
    CHECK(has(msg, "convolution: "));
    CHECK(has(msg, "(4, 2, 3, 3)"));
  }
  SUBCASE("input not 4-D") {
    CHECK_THROWS_WITH_AS(nd::convolution(nd::zeros<float>({3, 8, 8}), nd::zeros<float>({4, 3, 3, 3})),
                         doctest::Contains("convolution: input must be 4-D (N, C, H, W), got (3, 8, 8)"), ShapeError);
  }
  SUBCASE("weight not 4-D") {
    CHECK_THROWS_WITH_AS(nd::convolution(x, nd::zeros<float>({4, 27})), doctest::Contains("(4, 27)"), ShapeError);
  }
  SUBCASE("filters not divisible by groups") {
    const auto msg = error_of<ShapeError>(
        [] { nd::convolution(nd::zeros<float>({1, 4, 8, 8}), nd::zeros<float>({3, 2, 3, 3}), {}, {.num_group = 2}); });
    CHECK(has(msg, "num_group = 2"));
    CHECK(has(msg, "(1, 4, 8, 8)"));
    CHECK(has(msg, "(3, 2, 3, 3)"));
  }
  SUBCASE("channels not divisible by groups") {
    CHECK_THROWS_AS(nd::convolution(x, nd::zeros<float>({4, 1, 3, 3}), {}, {.num_group = 2}), ShapeError);
  }
  SUBCASE("bias shape") {
    const auto msg = error_of<ShapeError>([&] { nd::convolution(x, nd::zeros<float>({4, 3, 3, 3}), nd::zeros<float>({5})); });
    CHECK(has(msg, "bias must have shape (4,)"));
    CHECK(has(msg, "(5,)"));
    CHECK_THROWS_AS(nd::convolution(x, nd::zeros<float>({4, 3, 3, 3}), nd::zeros<float>({4, 1})), ShapeError);
  }
  SUBCASE("kernel larger than the padded input") {
    const auto msg =
        error_of<ShapeError>([] { nd::convolution(nd::zeros<float>({1, 3, 4, 4}), nd::zeros<float>({2, 3, 5, 5})); });
    CHECK(has(msg, "larger than the padded input"));
    CHECK(has(msg, "(1, 3, 4, 4)"));
    CHECK(has(msg, "(2, 3, 5, 5)"));
    CHECK_NOTHROW(nd::convolution(nd::zeros<float>({1, 3, 4, 4}), nd::zeros<float>({2, 3, 5, 5}), {}, {.pad = {1, 1}}));
    CHECK_THROWS_AS(nd::convolution(nd::zeros<float>({1, 3, 4, 4}), nd::zeros<float>({2, 3, 3, 3}), {}, {.dilate = {2, 2}}),
                    ShapeError);
  }
  SUBCASE("zero stride, dilation or groups") {
    auto w = nd::zeros<float>({4, 3, 3, 3});
    CHECK_THROWS_WITH_AS(nd::convolution(x, w, {}, {.stride = {0, 1}}), doctest::Contains("stride must be > 0"), ValueError);
    CHECK_THROWS_WITH_AS(nd::convolution(x, w, {}, {.dilate = {1, 0}}), doctest::Contains("dilate must be > 0"), ValueError);
    CHECK_THROWS_AS(nd::convolution(x, w, {}, {.num_group = 0}), ValueError);
  }
}

TEST_CASE("convolution: sizes that would wrap, negative ones converted to size_t, and empty channels are errors") {
  auto x = nd::zeros<float>({1, 3, 8, 8});
  auto w = nd::zeros<float>({4, 3, 3, 3});
  const std::size_t minus_one = static_cast<std::size_t>(-1), minus_two = static_cast<std::size_t>(-2);
  SUBCASE("a negative pad (before: H + 2 pad wrapped and the input was silently cropped)") {
    const auto msg = error_of<ValueError>([&] { nd::convolution(x, w, {}, {.pad = {minus_one, 0}}); });
    CHECK(has(msg, "convolution: pad ("));
    CHECK(has(msg, "too large"));
    CHECK(has(msg, "(1, 3, 8, 8)"));
    CHECK(has(msg, "(4, 3, 3, 3)"));
    CHECK_THROWS_AS(nd::convolution(x, w, {}, {.pad = {0, minus_two}}), ValueError);
  }
  SUBCASE("a huge dilation (before: dilate (k - 1) + 1 wrapped to a small span)") {
    // 2^63 * 2 + 1 wraps to 1: the kernel looked like a single tap
    const std::size_t half = std::size_t(1) << 63;
    const auto msg = error_of<ValueError>([&] { nd::convolution(x, w, {}, {.dilate = {half, 1}}); });
    CHECK(has(msg, "convolution: dilate 9223372036854775808 times kernel size 3 overflows"));
    CHECK(has(msg, "(1, 3, 8, 8)"));
    CHECK_THROWS_AS(nd::convolution(x, w, {}, {.dilate = {1, minus_one}}), ValueError);
    CHECK_THROWS_AS(nd::conv_output_size({8, 8}, {3, 3}, {.dilate = {half, 1}}), ValueError);
  }
  SUBCASE("a negative stride (before: one output pixel, silently)") {
    CHECK_THROWS_WITH_AS(nd::convolution(x, w, {}, {.stride = {minus_one, 1}}),
                         doctest::Contains("convolution: stride ("), ValueError);
  }
  SUBCASE("conv_output_size checks its arguments too") {
    CHECK_THROWS_AS(nd::conv_output_size({8, 8}, {0, 3}), ValueError);
    CHECK_THROWS_AS(nd::conv_output_size({8, 8}, {3, 3}, {.stride = {0, 1}}), ValueError);
    CHECK_THROWS_AS(nd::conv_output_size({8, 8}, {3, 3}, {.pad = {minus_one, 0}}), ValueError);
    CHECK(nd::conv_output_size({8, 8}, {3, 3}, {.pad = {1, 1}}) == std::array<std::size_t, 2>{8, 8});
  }
  SUBCASE("an input with no channels, a weight with no filters") {
    CHECK_THROWS_WITH_AS(nd::convolution(nd::zeros<float>({1, 0, 8, 8}), nd::zeros<float>({4, 0, 3, 3})),
                         doctest::Contains("convolution: input has 0 channels: input (1, 0, 8, 8)"), ShapeError);
    CHECK_THROWS_WITH_AS(nd::convolution(x, nd::zeros<float>({0, 3, 3, 3})),
                         doctest::Contains("convolution: weight has 0 filters: input (1, 3, 8, 8) vs weight (0, 3, 3, 3)"),
                         ShapeError);
  }
  SUBCASE("an empty batch is fine (an empty image is not: tests/nd/test_torch_reference.cpp)") {
    CHECK(nd::convolution(nd::zeros<float>({0, 3, 8, 8}), w).shape() == Shape{0, 4, 6, 6});
  }
  SUBCASE("zero num_group names the shapes") {
    CHECK_THROWS_WITH_AS(nd::convolution(x, w, {}, {.num_group = 0}),
                         doctest::Contains("num_group must be > 0, got 0: input (1, 3, 8, 8)"), ValueError);
  }
}

TEST_CASE("convolution: an image whose column matrix spans several workspace tiles matches the naive reference") {
  // 64 channels at 184x184: a column matrix of 576 x 33124 floats (76 MB) in tiles of
  // conv_panel_bytes; forward, backward and the fused ReLU against the definition.  (The
  // image, 8.7 MB, is too large for the wide direct kernel, which would take it otherwise.)
  const ConvCase c{1, 64, 184, 184, 3, 3, 3, {}, true};
  const auto g = geometry(c);
  REQUIRE(!kernels::direct_wide_applies<float>(g));
  REQUIRE(kernels::conv2d_forward_workspace<float>(g).tile_rows < g.Ho);
  auto x = randf({c.N, c.C, c.H, c.W}, 21), w = randf({c.O, c.C, c.kh, c.kw}, 22), b = randf({c.O}, 23);
  auto y = nd::convolution(x, w, b);
  NDArray<float> ref(y.shape());
  kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), ref.data());
  CHECK(max_rel_diff(y.data(), ref.data(), y.size()) < 1e-4);  // sums of 576 float products
  auto yr = nd::convolution_relu(x, w, b);
  for (std::size_t i = 0; i < yr.size(); ++i) REQUIRE(yr.data()[i] == std::max(y.data()[i], 0.0f));

  auto dy = randf(y.shape(), 24);
  NDArray<float> dx(x.shape()), dw(w.shape()), db(Shape{c.O}), rx(x.shape()), rw(w.shape()), rb(Shape{c.O});
  kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  kernels::conv2d_backward_naive(g, x.data(), w.data(), dy.data(), rx.data(), rw.data(), rb.data());
  CHECK(max_rel_diff(dx.data(), rx.data(), dx.size()) < 1e-4);
  CHECK(max_rel_diff(dw.data(), rw.data(), dw.size()) < 1e-3);
  CHECK(max_rel_diff(db.data(), rb.data(), db.size()) < 1e-3);
}
}
