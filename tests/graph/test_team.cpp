// SPDX-License-Identifier: Apache-2.0
#include <gluino/graph/team.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gluino/autograd/mode.hpp>
#include <gluino/core/parallel.hpp>
#include <gluino/graph/graph.hpp>
#include <gluino/nd/conv.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/pool.hpp>
#include <gluino/nd/shape_ops.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;

namespace {
using TA = NDArray<double>;
using TArrays = std::vector<TA>;

/// Restores the thread count when a test case ends.
struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

/// Every kind of step the team splits, each path of the convolution (the wide direct kernel on a
/// padded single-channel image, grouped im2col + GEMM, the pointwise product), pooling split by rows
/// (max 2x2/2, max 2x2/1) and by planes (average with padding), fully_connected with and without
/// a bias, and nodes it does not split (a scalar product and exp) between two teams.
struct TeamNet {
  TA w1 = test::rand_array({6, 1, 3, 3}, 31), b1 = test::rand_array({6}, 32);
  TA w2 = test::rand_array({8, 3, 3, 3}, 33), b2 = test::rand_array({8}, 34);
  TA w3 = test::rand_array({4, 8, 1, 1}, 35), b3 = test::rand_array({4}, 36);
  TA wf1 = test::rand_array({20, 64}, 37), bf1 = test::rand_array({20}, 38);
  TA wf2 = test::rand_array({3, 20}, 39);
  TArrays operator()(const TArrays& in) const {
    TA y = nd::convolution_relu(in[0], w1, b1, {.pad = {1, 1}});
    y = nd::pooling(y, {.kernel = {2, 2}, .stride = {2, 2}});
    y = nd::convolution_relu(y, w2, b2, {.pad = {1, 1}, .num_group = 2});
    y = nd::pooling(y, {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .type = nd::pool_type::avg,
                        .count_include_pad = false});
    y = nd::exp(y * 0.1);
    y = nd::convolution(y, w3, b3);
    y = nd::pooling(y, {.kernel = {2, 2}, .stride = {1, 1}});
    y = nd::relu(nd::fully_connected(y.reshape({static_cast<long long>(in[0].shape(0)), -1}), wf1, bf1));
    return {nd::fully_connected(y, wf2)};
  }
  graph::Graph<double> trace(std::size_t batch) const {
    return graph::trace<double>([this](const TArrays& in) { return (*this)(in); },
                                {{"data", test::rand_array({batch, 1, 18, 18}, 40)}},
                                {{"w1", w1}, {"b1", b1}, {"w2", w2}, {"b2", b2}, {"w3", w3}, {"b3", b3},
                                 {"wf1", wf1}, {"bf1", bf1}, {"wf2", wf2}},
                                "team_net");
  }
};

void check_close(const TA& got, const TA& want) {
  REQUIRE(got.shape() == want.shape());
  const auto g = got.to_vector(), w = want.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(w[i]).epsilon(1e-12));
}
}  // namespace

TEST_SUITE("graph/team") {
TEST_CASE("a batch smaller than the thread count runs as a team: the imperative values") {
  const ThreadsGuard guard;
  const TeamNet net;
  auto g = net.trace(1);
  autograd::predict_mode predict;
  for (int threads : {2, 3}) {
    CAPTURE(threads);
    set_num_threads(threads);
    const std::size_t before = g.team_runs();
    const TA x = test::rand_array({1, 1, 18, 18}, 41 + threads);
    check_close(g.run({x})[0], net({x})[0]);
    check_close(g.run({x})[0], net({x})[0]);  // a second run, in the planned arena
#if defined(_OPENMP)
    CHECK(g.team_runs() == before + 2);
#else
    CHECK(g.team_runs() == before);  // one thread: never a team
#endif
  }
}

TEST_CASE("the team keeps a convolution's packed filters across runs, packs again after the weight's values change") {
  const ThreadsGuard guard;
  set_num_threads(2);
  TeamNet net;
  auto g = net.trace(1);
  autograd::predict_mode predict;
  const TA x = test::rand_array({1, 1, 18, 18}, 60);
  check_close(g.run({x})[0], net({x})[0]);
  check_close(g.run({x})[0], net({x})[0]);
#if defined(_OPENMP)
  CHECK(g.team_packings() == 1);  // the first convolution's (the wide kernel's), once
#endif
  net.w1.data()[4] += 0.5;  // an in-place change, as an optimizer's step makes
  net.w1.bump_version();
  check_close(g.run({x})[0], net({x})[0]);
#if defined(_OPENMP)
  CHECK(g.team_packings() == 2);
#endif
  net.w1.data()[0] -= 0.25;  // a write through data() alone, no version change: packed again too
  check_close(g.run({x})[0], net({x})[0]);
  const TA same = net.w1.copy();
  std::copy(same.data(), same.data() + same.size(), net.w1.data());  // the same values again
  net.w1.bump_version();
  check_close(g.run({x})[0], net({x})[0]);
#if defined(_OPENMP)
  CHECK(g.team_packings() == 3);  // the write's, not the unchanged values'
#endif
  net.w1 = test::rand_array({6, 1, 3, 3}, 61);  // another array: the graph keeps the one it traced
  check_close(g.run({x})[0], g.run({x})[0]);
}

TEST_CASE("a weight computed in the run is packed on every run, not kept") {
  const ThreadsGuard guard;
  set_num_threads(2);
  TA w = test::rand_array({5, 2, 3, 3}, 62);
  const auto f = [&](const TArrays& in) { return TArrays{nd::convolution(in[0], w * 2.0, TA())}; };
  auto g = graph::trace<double>(f, {{"data", test::rand_array({1, 2, 16, 16}, 63)}}, {{"w", w}}, "computed");
  autograd::predict_mode predict;
  const TA x = test::rand_array({1, 2, 16, 16}, 64);  // 14x14 outputs: the wide kernel
  for (int run = 0; run < 3; ++run) {
    CAPTURE(run);
    check_close(g.run({x})[0], f({x})[0]);
    w.data()[run] += 1.0;  // the product w * 2 changes; its array may come back in the same block
    w.bump_version();
  }
#if defined(_OPENMP)
  CHECK(g.team_runs() == 3);
  CHECK(g.team_packings() == 0);  // none kept
#endif
}

TEST_CASE("a convolution and the pooling of its output in one step: rows left out, ceil mode, 2 to 4 threads") {
  const ThreadsGuard guard;
  const TA w1 = test::rand_array({4, 2, 3, 3}, 70), b1 = test::rand_array({4}, 71);
  const TA w2 = test::rand_array({3, 4, 2, 2}, 72);
  // 11x11 -> 9x9 (pooled 2x2/2: 4 rows, the ninth left out; fused on 2 and 4 threads) -> 4x4 ->
  // 3x3 (pooled 2x2/2 in ceil mode: 2 rows, the last window clipped; fused on 2 threads), and
  // the first convolution's output also a graph output.
  const auto f = [&](const TArrays& in) {
    TA y = nd::convolution_relu(in[0], w1, b1);
    TA p = nd::pooling(y, {.kernel = {2, 2}, .stride = {2, 2}});
    TA z = nd::convolution(p, w2, TA());
    TA q = nd::pooling(z, {.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::avg,
                           .convention = nd::pooling_convention::full});
    return TArrays{q, y};
  };
  auto g = graph::trace<double>(f, {{"data", test::rand_array({1, 2, 11, 11}, 73)}},
                                {{"w1", w1}, {"b1", b1}, {"w2", w2}}, "fused");
  autograd::predict_mode predict;
  for (int threads : {2, 3, 4}) {
    CAPTURE(threads);
    set_num_threads(threads);
    const TA x = test::rand_array({1, 2, 11, 11}, 74 + threads);
    const TArrays got = g.run({x}), want = f({x});
    check_close(got[0], want[0]);
    check_close(got[1], want[1]);
  }
}

TEST_CASE("a convolution of small planes splits its channels, and the pooling after it its planes so") {
  const ThreadsGuard guard;
  const TA w1 = test::rand_array({13, 3, 3, 3}, 80), b1 = test::rand_array({13}, 81);
  const TA w2 = test::rand_array({16, 13, 3, 3}, 82), b2 = test::rand_array({16}, 83);
  const TA w3 = test::rand_array({8, 16, 3, 3}, 87);
  // 22x22 -> 22x22, 13 channels in 3 blocks of 5 (the last of 3) -> max 2x2/2, relu moved past
  // it -> 11x11 -> 16 channels in 3 blocks of 6 (the last of 4) -> average 3x3/1 with padding,
  // both poolings in their convolution's step; the first convolution's output is also read by
  // a graph output, and a third convolution (8 channels, no pooling after it) ends the team.
  const auto f = [&](const TArrays& in) {
    TA y = nd::convolution_relu(in[0], w1, b1, {.pad = {1, 1}});
    TA p = nd::pooling(y, {.kernel = {2, 2}, .stride = {2, 2}});
    TA z = nd::convolution(p, w2, b2, {.pad = {1, 1}});
    TA q = nd::pooling(z, {.kernel = {3, 3}, .stride = {1, 1}, .pad = {1, 1}, .type = nd::pool_type::avg,
                           .count_include_pad = false});
    return TArrays{nd::convolution(q, w3, TA(), {.pad = {1, 1}}), y};
  };
  // Both convolutions split channels on 2 and 3 threads, rows on 4 (fewer blocks than threads).
  kernels::Conv2DGeometry c1, c2;
  c1.N = c2.N = 1, c1.C = 3, c1.H = c1.W = 22, c1.O = 13, c2.C = 13, c2.H = c2.W = 11, c2.O = 16;
  c1.kh = c1.kw = c2.kh = c2.kw = 3, c1.ph = c1.pw = c2.ph = c2.pw = 1;
  c1.infer_output(), c2.infer_output();
  for (int threads : {2, 3}) {
    CHECK(kernels::wide_channel_block<double>(c1, threads) == 5);
    CHECK(kernels::wide_channel_block<double>(c2, threads) == 6);
  }
  CHECK(kernels::wide_channel_block<double>(c1, 4) == 0);
  autograd::predict_mode predict;
  for (int threads : {2, 3, 4}) {
    for (std::size_t batch : {std::size_t(1), std::size_t(2)}) {
      if (batch >= static_cast<std::size_t>(threads)) continue;  // no team
      CAPTURE(threads);
      CAPTURE(batch);
      set_num_threads(threads);
      auto h = graph::trace<double>(f, {{"data", test::rand_array({batch, 3, 22, 22}, 84)}},
                                    {{"w1", w1}, {"b1", b1}, {"w2", w2}, {"b2", b2}, {"w3", w3}}, "channels");
      const std::size_t before = h.team_runs();
      const TA x = test::rand_array({batch, 3, 22, 22}, 86 + threads);
      for (int run = 0; run < 2; ++run) {
        const TArrays got = h.run({x}), want = f({x});
        check_close(got[0], want[0]);
        check_close(got[1], want[1]);
      }
#if defined(_OPENMP)
      CHECK(h.team_runs() == before + 2);
#endif
    }
  }
}

TEST_CASE("no team: one thread, a batch as large as the team, recording, or team_schedule off") {
  const ThreadsGuard guard;
  const TeamNet net;
  autograd::predict_mode predict;
  set_num_threads(1);
  auto g1 = net.trace(1);
  const TA x1 = test::rand_array({1, 1, 18, 18}, 50);
  check_close(g1.run({x1})[0], net({x1})[0]);
  CHECK(g1.team_runs() == 0);

  set_num_threads(2);
  auto g2 = net.trace(2);
  const TA x2 = test::rand_array({2, 1, 18, 18}, 51);
  check_close(g2.run({x2})[0], net({x2})[0]);
  CHECK(g2.team_runs() == 0);

  g1.team_schedule = false;
  check_close(g1.run({x1})[0], net({x1})[0]);
  CHECK(g1.team_runs() == 0);
  g1.team_schedule = true;
  {
    autograd::record rec;
    check_close(g1.run({x1})[0], net({x1})[0]);
  }
  CHECK(g1.team_runs() == 0);
}

TEST_CASE("TeamStep::prepare takes the ops it splits and refuses the others") {
  const TeamNet net;
  auto g = net.trace(1);
  std::vector<std::string> taken, refused;
  for (const auto& n : g.nodes) {
    std::vector<TA> args;
    for (int v : n.inputs) {
      if (v < 0) {  // an absent input (no bias)
        args.emplace_back();
        continue;
      }
      const auto& val = g.values[static_cast<std::size_t>(v)];
      args.push_back(val.array.defined() ? val.array : TA(val.shape));
    }
    graph::TeamStep<double> s;
    (s.prepare(*n.op, args) ? taken : refused).push_back(n.op->name());
  }
  CHECK(taken == std::vector<std::string>{"convolution", "pooling", "convolution", "pooling", "convolution", "pooling",
                                          "reshape", "fully_connected", "relu", "fully_connected"});
  CHECK(refused == std::vector<std::string>{"multiply", "exp"});
}
TEST_CASE("TeamStep::absorb_relu takes a relu of its own fully_connected output only") {
  const TeamNet net;
  auto g = net.trace(1);
  // Each node prepared on arrays of its own: the relu after the first fully_connected reads
  // the product's array (absorbed), the same relu on another array does not.
  std::vector<TA> slot;
  for (const auto& val : g.values) slot.push_back(val.array.defined() ? val.array : TA(val.shape));
  std::vector<graph::TeamStep<double>> steps;
  std::vector<std::string> absorbed;
  for (const auto& n : g.nodes) {
    std::vector<TA> args;
    for (int v : n.inputs) {
      if (v < 0) {
        args.emplace_back();
        continue;
      }
      args.push_back(slot[static_cast<std::size_t>(v)]);
    }
    if (!steps.empty() && std::string(n.op->name()) == "relu")  // another array than the product's
      CHECK_FALSE(steps.back().absorb_relu(*n.op, {TA(args[0].shape())}));
    if (!steps.empty() && steps.back().absorb_relu(*n.op, args)) {
      absorbed.push_back(n.op->name());
      slot[static_cast<std::size_t>(n.output)] = steps.back().output();
      continue;
    }
    graph::TeamStep<double> s;
    if (!s.prepare(*n.op, args)) continue;  // its output keeps an array of its own
    slot[static_cast<std::size_t>(n.output)] = s.output();
    steps.push_back(std::move(s));
  }
  CHECK(absorbed == std::vector<std::string>{"relu"});
}
TEST_CASE("a relu of a product that another node also reads runs as its own step: the imperative values") {
  const ThreadsGuard guard;
  set_num_threads(2);
  const TA w = test::rand_array({24, 30}, 80), b = test::rand_array({24}, 81);
  // relu(y) and y both reach the output, and y is a graph output of its own: y must stay the
  // product's values (no relu applied to its array).
  const auto f = [&](const TArrays& in) {
    TA y = nd::fully_connected(in[0], w, b);
    return TArrays{nd::relu(y) * 2.0 + y, y, nd::relu(nd::fully_connected(in[0], w, b))};
  };
  auto g = graph::trace<double>(f, {{"data", test::rand_array({1, 30}, 82)}}, {{"w", w}, {"b", b}}, "shared");
  autograd::predict_mode predict;
  const TA x = test::rand_array({1, 30}, 83);
  const TArrays got = g.run({x}), want = f({x});
  REQUIRE(got.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) check_close(got[i], want[i]);
  bool negative = false;  // the product has negative values: a relu on its array would show
  for (double v : got[1].to_vector()) negative = negative || v < 0;
  CHECK(negative);
}
}
