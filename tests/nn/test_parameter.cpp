// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/parameter.hpp>

#include <doctest/doctest.h>

#include <gluino/nn/parameter_dict.hpp>
#include <gluino/nn/parameter_io.hpp>  // save / load

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>

using namespace gluino;
using nn::Parameter;
using nn::ParameterDict;

namespace {
std::string temp_path(const char* name) { return std::string("/tmp/gluino_test_parameter_") + name + ".safetensors"; }
bool all_equal(const NDArray<float>& a, float v) {
  for (float x : a)
    if (x != v) return false;
  return true;
}
}  // namespace

TEST_SUITE("nn/parameter") {
TEST_CASE("Parameter: data() before initialize() says to call initialize()") {
  Parameter p("dense0_weight", {3, 4});
  CHECK_FALSE(p.is_initialized());
  CHECK_THROWS_WITH_AS(p.data(), doctest::Contains("call initialize()"), StateError);
  CHECK_THROWS_WITH_AS(p.data(), doctest::Contains("dense0_weight"), StateError);
}
TEST_CASE("Parameter: initialize fills data, attaches a zero gradient") {
  Parameter p("w_weight", {3, 4});
  p.initialize();
  REQUIRE(p.is_initialized());
  CHECK(p.data().shape() == Shape{3, 4});
  for (float v : p.data()) CHECK((v >= -0.07f && v < 0.07f));
  CHECK(p.grad().shape() == Shape{3, 4});
  CHECK(all_equal(p.grad(), 0.0f));
  CHECK(p.data().grad_req() == GradReq::write);
}
TEST_CASE("Parameter: deferred initialization waits for the shape") {
  Parameter p("dense0_weight", {3, 0});
  p.initialize(init::Constant{5});
  CHECK(p.is_deferred());
  CHECK_FALSE(p.is_initialized());
  CHECK_THROWS_WITH_AS(p.data(), doctest::Contains("deferred"), StateError);
  p.finish_deferred_init({3, 4});
  CHECK(p.shape() == Shape{3, 4});
  CHECK(p.is_initialized());
  CHECK_FALSE(p.is_deferred());
  CHECK(all_equal(p.data(), 5.0f));
  // Calling again with the same shape is a no-op; a different known dimension is an error.
  p.finish_deferred_init({3, 4});
  CHECK_THROWS_WITH_AS(p.finish_deferred_init({3, 5}, "dense0_"), doctest::Contains("dense0_: Parameter 'dense0_weight'"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(p.finish_deferred_init({3, 5}, "dense0_"), doctest::Contains("(3, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(p.finish_deferred_init({3, 5}, "dense0_"), doctest::Contains("(3, 5)"), ShapeError);
}
TEST_CASE("Parameter: finish_deferred_init before initialize() only records the shape") {
  Parameter p("w", {2, 0});
  p.finish_deferred_init({2, 7});
  CHECK(p.shape() == Shape{2, 7});
  CHECK_THROWS_AS(p.data(), StateError);
  CHECK_THROWS_AS(p.finish_deferred_init({3, 7}), ShapeError);
}
TEST_CASE("Parameter: no deferred init allowed -> ValueError") {
  Parameter p("w", {0, 2}, {}, {.allow_deferred_init = false});
  CHECK_THROWS_WITH_AS(p.initialize(), doctest::Contains("(0, 2)"), ValueError);
}
TEST_CASE("Parameter: its own initializer wins over the global one, through init_weight") {
  Parameter p("dense0_bias", {3}, init::Constant{2});
  p.initialize(init::Uniform{});
  CHECK(all_equal(p.data(), 2.0f));  // Gluon: the own init's _init_weight, whatever the name
}
TEST_CASE("Parameter: re-initialization needs force_reinit and keeps the storage") {
  std::vector<std::string> warnings;
  auto prev = set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  Parameter p("w_weight", {2, 2});
  p.initialize(init::Constant{1});
  CHECK(warnings.empty());
  NDArray<float> handle = p.data();
  p.initialize(init::Constant{2});  // no-op, with Gluon's warning
  CHECK(all_equal(p.data(), 1.0f));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] ==
        "Parameter 'w_weight' is already initialized, ignoring; pass {.force_reinit = true} to re-initialize");
  p.initialize(init::Constant{2}, {.force_reinit = true});
  CHECK(all_equal(p.data(), 2.0f));
  CHECK(all_equal(handle, 2.0f));  // same storage
  CHECK(warnings.size() == 1);     // force_reinit does not warn
  set_warning_handler(prev);
}
TEST_CASE("ParameterDict::initialize twice (Block::initialize) warns once per parameter; force_reinit re-draws") {
  std::vector<std::string> warnings;
  auto prev = set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  ParameterDict d("net_");
  d.get("weight", Shape{3, 2});
  d.get("bias", Shape{3}, init::Zero{});
  d.initialize(init::Uniform{1.0});
  const auto w0 = d["net_weight"]->data().to_vector();
  d.initialize(init::Uniform{1.0});
  CHECK(d["net_weight"]->data().to_vector() == w0);
  CHECK(warnings == std::vector<std::string>{
                        "Parameter 'net_weight' is already initialized, ignoring; pass {.force_reinit = true} to re-initialize",
                        "Parameter 'net_bias' is already initialized, ignoring; pass {.force_reinit = true} to re-initialize"});
  d.initialize(init::Uniform{1.0}, {.force_reinit = true});
  CHECK(d["net_weight"]->data().to_vector() != w0);  // new draws
  CHECK(warnings.size() == 2);
  set_warning_handler(prev);
}
TEST_CASE("Parameter: an initializer that assigns a new array is copied into the data") {
  struct Assigning : init::Initializer {
    void init_weight(const std::string&, NDArray<float>& arr) override { arr = nd::full<float>(arr.shape(), 3.0f); }
  };
  Parameter p("w_weight", {2, 3});
  p.initialize(Assigning{});
  CHECK(all_equal(p.data(), 3.0f));
  NDArray<float> h = p.data();
  p.initialize(Assigning{}, {.force_reinit = true});
  CHECK(h.impl() == p.data().impl());
}
TEST_CASE("Parameter: gradients, grad_req and zero_grad") {
  Parameter p("w_weight", {3});
  p.initialize(init::One{});
  {
    autograd::record rec;
    auto y = (p.data() * 2.0f).sum();
    y.backward();
  }
  CHECK(all_equal(p.grad(), 2.0f));
  p.zero_grad();
  CHECK(all_equal(p.grad(), 0.0f));
  p.set_grad_req(GradReq::add);
  for (int i = 0; i < 2; ++i) {
    autograd::record rec;
    (p.data() * 3.0f).sum().backward();
  }
  CHECK(all_equal(p.grad(), 6.0f));
  p.set_grad_req(GradReq::null);
  CHECK_THROWS_WITH_AS(p.grad(), doctest::Contains("grad_req is null"), StateError);
  p.zero_grad();  // nothing to do, no error
}
TEST_CASE("Parameter: set_grad_req to the grad_req it has keeps the gradient (accumulation loops), as Gluon") {
  // A gradient-accumulation loop that sets grad_req add at every batch (on the parameter or on
  // collect_params()) must keep what the earlier batches added; so must a handle to grad().
  Parameter p("w_weight", {3});
  p.initialize(init::One{});
  p.set_grad_req(GradReq::add);
  const NDArray<float> held = p.grad();
  for (int i = 0; i < 3; ++i) {
    p.set_grad_req(GradReq::add);
    autograd::record rec;
    (p.data() * 2.0f).sum().backward();
  }
  CHECK(all_equal(p.grad(), 6.0f));
  CHECK(held.data() == p.grad().data());
  p.set_grad_req(GradReq::write);  // another grad_req: a fresh zero gradient, as Gluon's _init_grad
  CHECK(all_equal(p.grad(), 0.0f));
}
TEST_CASE("Parameter: set_data copies values; shapes are checked") {
  Parameter p("w_weight", {2, 2});
  p.initialize(init::Zero{});
  NDArray<float> h = p.data();
  p.set_data(nd::array<float>({1, 2, 3, 4}, {2, 2}));
  CHECK(h.to_vector() == std::vector<float>{1, 2, 3, 4});
  CHECK_THROWS_WITH_AS(p.set_data(nd::zeros<float>({3})), doctest::Contains("(3,)"), ShapeError);
  Parameter q("q", {2, 0});
  q.set_data(nd::ones<float>({2, 5}));
  CHECK(q.shape() == Shape{2, 5});
  CHECK(all_equal(q.data(), 1.0f));
  CHECK(q.grad().shape() == Shape{2, 5});
  Parameter r("r", {3, 0});
  CHECK_THROWS_AS(r.set_data(nd::ones<float>({2, 5})), ShapeError);
}
TEST_CASE("Parameter: lr_mult, wd_mult and printing") {
  Parameter p("dense0_weight", {256, 0});
  CHECK(p.lr_mult() == 1.0);
  p.set_lr_mult(0.5);
  p.set_wd_mult(0.0);
  CHECK(p.lr_mult() == 0.5);
  CHECK(p.wd_mult() == 0.0);
  std::ostringstream os;
  os << p;
  CHECK(os.str() == "Parameter dense0_weight (shape=(256, 0), dtype=float32)");
  std::ostringstream od;
  od << nn::BasicParameter<double>("b", {2});
  CHECK(od.str() == "Parameter b (shape=(2,), dtype=float64)");
}

TEST_CASE("ParameterDict: get creates prefix + name, once") {
  ParameterDict d("net0_");
  auto w = d.get("weight", {4, 0});
  CHECK(w->name() == "net0_weight");
  CHECK(d.get("weight") == w);
  CHECK(d.get("weight", {0, 3}) == w);  // shapes merge
  CHECK(w->shape() == Shape{4, 3});
  CHECK_THROWS_WITH_AS(d.get("weight", {5, 3}), doctest::Contains("(4, 3)"), ShapeError);
  d.get("bias", {4});
  CHECK(d.size() == 2);
  CHECK(d.keys() == std::vector<std::string>{"net0_weight", "net0_bias"});
  CHECK(d["net0_bias"]->shape() == Shape{4});
  CHECK(d.contains("net0_weight"));
  CHECK_THROWS_WITH_AS(d["weight"], doctest::Contains("net0_weight, net0_bias"), ValueError);
}
TEST_CASE("ParameterDict: a shared dict hands out the same Parameter objects") {
  ParameterDict a("dense0_");
  auto w = a.get("weight", {2, 2});
  ParameterDict b("dense0_", a);
  CHECK(b.get("weight") == w);
  CHECK(b.contains("dense0_weight"));
  auto fresh = b.get("bias", {2});
  CHECK_FALSE(a.contains("dense0_bias"));
  CHECK(fresh->name() == "dense0_bias");
}
TEST_CASE("ParameterDict: copies alias; the default dict is 'none' until used") {
  ParameterDict none;
  CHECK_FALSE(none.defined());
  CHECK(none.size() == 0);
  CHECK(none.begin() == none.end());
  ParameterDict a("x_");
  ParameterDict alias = a;
  a.get("weight", {1});
  CHECK(alias.size() == 1);
}
TEST_CASE("ParameterDict: select matches from the start of the name, like re.match") {
  ParameterDict d("mlp0_");
  d.get("dense0_weight", {2, 2});
  d.get("dense0_bias", {2});
  d.get("dense1_weight", {2, 2});
  d.get("dense1_bias", {2});
  CHECK(d.select(".*weight").keys() == std::vector<std::string>{"mlp0_dense0_weight", "mlp0_dense1_weight"});
  CHECK(d.select("mlp0_dense1_.*").size() == 2);
  CHECK(d.select("dense0").size() == 0);  // not anchored at the start
  CHECK(d.select(".*dense0_weight|.*bias").keys() ==
        std::vector<std::string>{"mlp0_dense0_weight", "mlp0_dense0_bias", "mlp0_dense1_bias"});
  CHECK(d.select("").size() == 4);
  CHECK(d.select(".*weight").prefix() == "mlp0_");
  CHECK(d.select(".*weight")["mlp0_dense0_weight"] == d["mlp0_dense0_weight"]);
  CHECK_THROWS_WITH_AS(d.select("(unclosed"), doctest::Contains("(unclosed"), ValueError);
}
TEST_CASE("ParameterDict: update keeps one entry per name and refuses two parameters of one name") {
  ParameterDict a("a_"), b("a_"), c("");
  auto w = a.get("weight", {1});
  c.update(a);
  c.update(a);
  CHECK(c.size() == 1);
  CHECK(c["a_weight"] == w);
  b.get("weight", {1});
  CHECK_THROWS_WITH_AS(c.update(b), doctest::Contains("a_weight"), ValueError);
}
TEST_CASE("ParameterDict: initialize, force_reinit, zero_grad, set_grad_req, lr/wd mults") {
  ParameterDict d("n_");
  auto w = d.get("weight", {2, 3});
  auto b = d.get("bias", {2}, init::Zero{});
  auto g = d.get("gamma", {2});
  d.initialize(init::Constant{4});
  CHECK(all_equal(w->data(), 4.0f));
  CHECK(all_equal(b->data(), 0.0f));
  CHECK(all_equal(g->data(), 1.0f));  // Constant leaves gammas to the base class: ones
  int warnings = 0;
  auto prev = set_warning_handler([&](const std::string&) { ++warnings; });
  d.initialize(init::Constant{7});
  set_warning_handler(prev);
  CHECK(warnings == 3);  // one per parameter, as Gluon
  CHECK(all_equal(w->data(), 4.0f));
  d.initialize(init::Constant{7}, {.force_reinit = true});
  CHECK(all_equal(w->data(), 7.0f));
  w->grad().fill(3.0f);
  d.zero_grad();
  CHECK(all_equal(w->grad(), 0.0f));
  d.set_grad_req(GradReq::null);
  CHECK(w->grad_req() == GradReq::null);
  CHECK_THROWS_AS(b->grad(), StateError);
  d.set_lr_mult(2.0);
  d.set_wd_mult(0.5);
  for (const auto& [name, p] : d) {
    CHECK(p->lr_mult() == 2.0);
    CHECK(p->wd_mult() == 0.5);
  }
}
TEST_CASE("ParameterDict: printing follows Gluon") {
  ParameterDict d("mlp0_");
  d.get("dense0_weight", {256, 0});
  std::ostringstream os;
  os << d;
  CHECK(os.str() == "mlp0_ (\n  Parameter mlp0_dense0_weight (shape=(256, 0), dtype=float32)\n)");
}
TEST_CASE("ParameterDict: save / load round trip and its errors") {
  const std::string path = temp_path("dict");
  ParameterDict a("net0_");
  a.get("weight", {2, 3});
  a.get("bias", {2});
  a.initialize(init::Normal{1.0});
  a.save(path, "net0_");

  ParameterDict b("net1_");
  b.get("weight", {2, 0});
  b.get("bias", {2});
  b.load(path, {.restore_prefix = "net1_"});  // uninitialized parameters take the loaded data
  CHECK(b["net1_weight"]->data().to_vector() == a["net0_weight"]->data().to_vector());
  CHECK(b["net1_bias"]->data().to_vector() == a["net0_bias"]->data().to_vector());

  SUBCASE("missing name") {
    ParameterDict c("net1_");
    c.get("weight", {2, 3});
    c.get("bias", {2});
    c.get("extra", {1});
    CHECK_THROWS_WITH_AS(c.load(path, {.restore_prefix = "net1_"}), doctest::Contains("net1_extra"), ValueError);
    c.load(path, {.allow_missing = true, .restore_prefix = "net1_"});
  }
  SUBCASE("extra name") {
    ParameterDict c("net1_");
    c.get("weight", {2, 3});
    CHECK_THROWS_WITH_AS(c.load(path, {.restore_prefix = "net1_"}), doctest::Contains("net1_bias"), ValueError);
    c.load(path, {.ignore_extra = true, .restore_prefix = "net1_"});
    CHECK(c["net1_weight"]->data().to_vector() == a["net0_weight"]->data().to_vector());
  }
  SUBCASE("wrong shape") {
    ParameterDict c("net1_");
    c.get("weight", {3, 3});
    c.get("bias", {2});
    CHECK_THROWS_WITH_AS(c.load(path, {.restore_prefix = "net1_"}), doctest::Contains("(3, 3)"), ShapeError);
  }
  SUBCASE("two problems: both reported, nothing changed") {
    ParameterDict c("net1_");
    c.get("weight", {3, 3});  // wrong shape
    c.get("bias", {2});       // would load fine
    c.get("extra_weight", {1});  // missing in the file
    c.initialize();
    for (const auto& [n, p] : c) p->data().fill(5.0f);
    CHECK_THROWS_WITH_AS(c.load(path, {.restore_prefix = "net1_"}),
                         doctest::Contains("2 problems: Parameter 'net1_weight' expects shape (3, 3), the file has (2, 3); "
                                           "Parameter 'net1_extra_weight' is missing in the file"),
                         ValueError);
    for (const auto& [n, p] : c) CHECK(all_equal(p->data(), 5.0f));
  }
  SUBCASE("a failed save leaves the previous file whole, without a temporary") {
    std::ifstream f0(path, std::ios::binary);
    const std::string before{std::istreambuf_iterator<char>(f0), {}};
    a["net0_weight"]->data().fill(-1.0f);
    detail::fail_writes_after_bytes = 30;
    CHECK_THROWS_WITH_AS(a.save(path, "net0_"), doctest::Contains("disk full"), ValueError);
    detail::fail_writes_after_bytes.reset();
    std::ifstream f1(path, std::ios::binary);
    CHECK(std::string{std::istreambuf_iterator<char>(f1), {}} == before);
    for (const auto& e : std::filesystem::directory_iterator("/tmp"))
      CHECK(e.path().filename().string().rfind("gluino_test_parameter_dict.safetensors.tmp", 0) != 0);
  }
  SUBCASE("bad strip prefix, uninitialized save") {
    CHECK_THROWS_WITH_AS(a.save(path + ".x", "other_"), doctest::Contains("other_"), ValueError);
    ParameterDict c("u_");
    c.get("weight", {2, 0});
    CHECK_THROWS_WITH_AS(c.save(path + ".y"), doctest::Contains("u_weight"), StateError);
  }
  std::remove(path.c_str());
}
TEST_CASE("Parameter: a set_data that does not fit changes nothing, not even the unknown dimensions") {
  Parameter p("u_weight", {0, 4});
  // (3, 0) agrees with each known dimension, but filling the unknown one gives (3, 4), not (3, 0).
  CHECK_THROWS_AS(p.set_data(nd::zeros<float>({3, 0})), ShapeError);
  CHECK(p.shape() == Shape{0, 4});
  CHECK_FALSE(p.is_initialized());
  p.set_data(nd::ones<float>({2, 4}));
  CHECK(p.shape() == Shape{2, 4});
}
TEST_CASE("Parameter: initialize once the shape is complete replaces the deferred initialization") {
  Parameter p("v_weight", {3, 0});
  p.initialize(init::Constant{1});
  CHECK(p.is_deferred());
  p.set_shape({3, 2});
  p.initialize(init::Constant{2});
  CHECK(p.is_initialized());
  CHECK_FALSE(p.is_deferred());
  CHECK(all_equal(p.data(), 2.0f));
  p.finish_deferred_init({3, 2});
  CHECK(all_equal(p.data(), 2.0f));
}
TEST_CASE("Parameter: an initializer that throws at finish_deferred_init leaves the parameter waiting") {
  struct Throws : init::Initializer {
    bool armed = true;
    void init_weight(const std::string&, NDArray<float>& a) override {
      if (armed) throw ValueError("cannot initialize");
      a.fill(7.0f);
    }
  };
  auto throws = std::make_shared<Throws>();
  Parameter p("t_weight", {2, 0}, init::AnyInitializer(throws));
  p.initialize();
  CHECK_THROWS_WITH_AS(p.finish_deferred_init({2, 3}), "cannot initialize", ValueError);
  CHECK(p.is_deferred());
  CHECK(p.shape() == Shape{2, 0});
  CHECK_THROWS_WITH_AS(p.data(), doctest::Contains("deferred"), StateError);
  throws->armed = false;
  p.finish_deferred_init({2, 3});
  CHECK(all_equal(p.data(), 7.0f));
  CHECK_FALSE(p.is_deferred());
}
}
