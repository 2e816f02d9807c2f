// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/block.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gluino/io/safetensors.hpp>
#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nn/parameter_io.hpp>  // save_parameters / load_parameters
#include <gluino/nd/creation.hpp>
#include <gluino/init/xavier.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/basic_layers.hpp>
#include <gluino/nn/custom_block.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/sequential.hpp>

using namespace gluino;

namespace {
// The snippets, as written.
class MLP : public nn::CustomBlock<MLP> {
 public:
  explicit MLP(std::string prefix = "") : CustomBlock(std::move(prefix)) {
    auto scope = name_scope();  // Python: with self.name_scope():
    dense0 = register_child(nn::Dense{256});
    dense1 = register_child(nn::Dense{10});
  }
  NDArray<float> forward(const NDArray<float>& x) override { return (*dense1)(nd::relu((*dense0)(x))); }
  std::shared_ptr<nn::Dense> dense0, dense1;
};

class CenteredLayer : public nn::CustomBlock<CenteredLayer> {  // a layer without parameters
 public:
  NDArray<float> forward(const NDArray<float>& x) override { return x - x.mean(); }
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
struct MyInit : init::Initializer {  // a user's initializer
  void init_weight(const std::string& name, NDArray<float>& arr) override {
    nd::random::uniform<float>(5.0f, 10.0f, arr);  // Gluon's out=arr
  }
  void init_bias(const std::string& name, NDArray<float>& arr) override { arr.fill(2.0f); }
};
#pragma GCC diagnostic pop

// The tutorial's RecMLP: a Block holding a Sequential, used inside a Sequential.
class RecMLP : public nn::CustomBlock<RecMLP> {
 public:
  RecMLP() {
    net = register_child(nn::Sequential{}, "net");
    auto scope = name_scope();
    net->add(nn::Dense{256, {.activation = "relu"}});
    net->add(nn::Dense{128, {.activation = "relu"}});
    dense = register_child(nn::Dense{64}, "dense");
  }
  NDArray<float> forward(const NDArray<float>& x) override { return nd::relu((*dense)((*net)(x))); }
  std::shared_ptr<nn::Sequential> net;
  std::shared_ptr<nn::Dense> dense;
};

std::vector<std::string> shapes_of(const nn::ParameterDict& d) {
  std::vector<std::string> out;
  for (const auto& [name, p] : d) {
    std::ostringstream os;
    os << name << ' ' << p->shape();
    out.push_back(os.str());
  }
  return out;
}
}  // namespace

TEST_SUITE("nn/block") {
TEST_CASE("the issue's MLP: automatic names, deferred init, parameter order") {
  nn::reset_name_counters();
  MLP net;
  MLP net2;
  MLP net3("another_mlp_");
  CHECK(net.prefix() == "mlp0_");
  CHECK(net.name() == "mlp0");
  CHECK(net2.prefix() == "mlp1_");
  CHECK(net3.prefix() == "another_mlp_");
  CHECK(net.dense0->prefix() == "mlp0_dense0_");
  CHECK(net.dense1->prefix() == "mlp0_dense1_");
  CHECK(net3.dense1->prefix() == "another_mlp_dense1_");
  CHECK(net.type_name() == "MLP");
  CHECK(net.alias() == "mlp");

  net.initialize();  // deferred: shapes are inferred at the first forward
  CHECK_THROWS_WITH_AS(net.dense0->weight()->data(), doctest::Contains("deferred"), StateError);
  auto y = net(nd::random::uniform<float>({4, 20}));
  CHECK(y.shape() == Shape{4, 10});
  CHECK(shapes_of(net.collect_params()) ==
        std::vector<std::string>{"mlp0_dense0_weight (256, 20)", "mlp0_dense0_bias (256,)",
                                 "mlp0_dense1_weight (10, 256)", "mlp0_dense1_bias (10,)"});
  CHECK(net.collect_params(".*weight").keys() == std::vector<std::string>{"mlp0_dense0_weight", "mlp0_dense1_weight"});
  CHECK(net.collect_params().prefix() == "mlp0_");
  CHECK(net.params().size() == 0);  // own parameters only
  CHECK(net.dense0->params().keys() == std::vector<std::string>{"mlp0_dense0_weight", "mlp0_dense0_bias"});
}
TEST_CASE("blocks outside any scope count per alias; reset_name_counters starts again") {
  nn::reset_name_counters();
  nn::Dense a{3}, b{3};
  nn::Sequential s;
  nn::BasicDense<double> c{3};
  CHECK(a.prefix() == "dense0_");
  CHECK(b.prefix() == "dense1_");
  CHECK(s.prefix() == "sequential0_");
  CHECK(c.prefix() == "dense2_");
  CHECK(a.weight()->name() == "dense0_weight");
  nn::reset_name_counters();
  CHECK(nn::Dense{3}.prefix() == "dense0_");
}
TEST_CASE("the issue's CenteredLayer: no parameters, named after its class when made") {
  nn::reset_name_counters();
  CenteredLayer layer;
  auto y = layer(nd::array<float>({1, 2, 3, 4, 5}));
  CHECK(y.to_vector() == std::vector<float>{-2, -1, 0, 1, 2});
  CHECK(layer.prefix() == "centeredlayer0_");
  CHECK(layer.collect_params().size() == 0);
  nn::Sequential net;
  net.add(nn::Dense{128}, CenteredLayer{});
  net.initialize();
  auto z = net(nd::random::uniform<float>({4, 8}));
  CHECK(std::abs(z.mean().asscalar()) < 1e-5f);
  CHECK(net[1].prefix() == "centeredlayer1_");
}
TEST_CASE("the tutorial's RecMLP: a Block holding a Sequential, inside a Sequential") {
  nn::reset_name_counters();
  nn::Sequential rec_mlp;
  rec_mlp.add(RecMLP{});
  rec_mlp.add(nn::Dense{10});
  rec_mlp.initialize();
  auto y = rec_mlp(nd::random::uniform<float>({2, 20}));
  CHECK(y.shape() == Shape{2, 10});
  CHECK(rec_mlp.collect_params().keys() ==
        std::vector<std::string>{"recmlp0_dense0_weight", "recmlp0_dense0_bias", "recmlp0_dense1_weight",
                                 "recmlp0_dense1_bias", "recmlp0_dense2_weight", "recmlp0_dense2_bias",
                                 "dense0_weight", "dense0_bias"});
  CHECK(rec_mlp[0].children()[0]->prefix() == "sequential1_");  // created outside the scope, as in Gluon
  std::ostringstream os;
  os << rec_mlp;
  CHECK(os.str() ==
        "Sequential(\n"
        "  (0): RecMLP(\n"
        "    (net): Sequential(\n"
        "      (0): Dense(20 -> 256, Activation(relu))\n"
        "      (1): Dense(256 -> 128, Activation(relu))\n"
        "    )\n"
        "    (dense): Dense(128 -> 64, linear)\n"
        "  )\n"
        "  (1): Dense(64 -> 10, linear)\n"
        ")");
}
TEST_CASE("the issue's MyInit with force_reinit: weights in [5, 10), biases from their own Zero") {
  nn::reset_name_counters();
  nn::Sequential lenet;
  lenet.add(nn::Flatten{}, nn::Dense{128, {.activation = "relu"}}, nn::Dense{10});
  lenet.initialize();
  lenet(nd::random::uniform<float>({2, 1, 4, 4}));
  lenet.collect_params().initialize(MyInit{}, {.force_reinit = true});
  for (const auto& [name, p] : lenet.collect_params()) {
    for (float v : p->data()) {
      if (name.ends_with("weight"))
        CHECK((v >= 5.0f && v < 10.0f));
      else
        CHECK(v == 0.0f);  // Gluon: Dense's bias has bias_initializer='zeros', which wins
    }
  }
  // Without its own initializer, the bias goes through MyInit::init_bias.
  nn::Dense d{3, {.bias_initializer = {}, .in_units = 2}};
  d.initialize(MyInit{});
  CHECK(d.bias()->data().to_vector() == std::vector<float>{2, 2, 2});
}
TEST_CASE("the issue's shared parameters: same storage, gradients of both uses add up") {
  nn::reset_name_counters();
  nn::Sequential shared;  // shared parameters
  shared.add(nn::Dense{4, {.activation = "relu", .in_units = 4}});
  shared.add(nn::Dense{4, {.activation = "relu", .in_units = 4, .params = shared[0].params()}});
  CHECK(shared[1].prefix() == "dense1_");
  auto& d0 = dynamic_cast<nn::Dense&>(shared[0]);
  auto& d1 = dynamic_cast<nn::Dense&>(shared[1]);
  CHECK(d0.weight() == d1.weight());
  CHECK(d0.bias() == d1.bias());
  CHECK(d1.weight()->name() == "dense0_weight");
  CHECK(shared.collect_params().keys() == std::vector<std::string>{"dense0_weight", "dense0_bias"});
  shared.initialize(init::Xavier{});
  CHECK(d0.weight()->data().impl() == d1.weight()->data().impl());

  auto x = nd::random::uniform<float>({3, 4}, -1.0f, 1.0f);
  {
    autograd::record rec;
    shared(x).sum().backward();
  }
  NDArray<float> g_shared = d0.weight()->grad().copy();
  // The same computation with two independent copies of the parameters.
  nn::Dense a{4, {.activation = "relu", .in_units = 4}}, b{4, {.activation = "relu", .in_units = 4}};
  a.initialize();
  b.initialize();
  a.weight()->set_data(d0.weight()->data());
  b.weight()->set_data(d0.weight()->data());
  a.bias()->set_data(d0.bias()->data());
  b.bias()->set_data(d0.bias()->data());
  {
    autograd::record rec;
    b(a(x)).sum().backward();
  }
  auto ga = a.weight()->grad(), gb = b.weight()->grad();
  for (std::size_t i = 0; i < g_shared.size(); ++i)
    CHECK(g_shared.data()[i] == doctest::Approx(ga.data()[i] + gb.data()[i]).epsilon(1e-5));
}
TEST_CASE("sharing a whole network through collect_params()") {
  nn::reset_name_counters();
  nn::Sequential a;
  {
    auto scope = a.name_scope();
    a.add(nn::Dense{3, {.in_units = 2}});
  }
  nn::Sequential b("", a.collect_params());
  {
    auto scope = b.name_scope();
    b.add(nn::Dense{3, {.in_units = 2}});
  }
  CHECK(b.prefix() == "sequential1_");
  CHECK(b[0].prefix() == "sequential1_dense0_");
  CHECK(b.collect_params().keys() == std::vector<std::string>{"sequential0_dense0_weight", "sequential0_dense0_bias"});
  CHECK(b.collect_params()["sequential0_dense0_weight"] == a.collect_params()["sequential0_dense0_weight"]);
}
TEST_CASE("register_child: shared_ptr, names, errors; forward must be overridden") {
  nn::reset_name_counters();
  nn::Block container;
  CHECK(container.prefix() == "block0_");
  auto d = std::make_shared<nn::Dense>(2);
  auto same = container.register_child(d, "head");
  CHECK(same == d);
  CHECK(container.child_names() == std::vector<std::string>{"head"});
  CHECK_THROWS_WITH_AS(container.register_child(nn::Dense{2}, "head"), doctest::Contains("'head'"), ValueError);
  CHECK_THROWS_AS(container.register_child(std::shared_ptr<nn::Dense>()), ValueError);
  CHECK_THROWS_WITH_AS(container(nd::zeros<float>({1, 2})),
                       doctest::Contains("block0_: forward(x) with one input is not implemented"), StateError);
}
TEST_CASE("forward hooks, pre-hooks, detach and apply") {
  nn::reset_name_counters();
  nn::Sequential net;
  net.add(nn::Dense{3, {.in_units = 2}});
  net.add(nn::Dense{1, {.in_units = 3}});
  net.initialize();
  std::vector<std::string> seen;
  auto h = net[0].register_forward_hook([&](nn::Block& b, const NDArray<float>& in, const NDArray<float>& out) {
    std::ostringstream os;
    os << b.name() << ' ' << in.shape() << " -> " << out.shape();
    seen.push_back(os.str());
  });
  auto hp = net.register_forward_pre_hook([&](nn::Block& b, const NDArray<float>&) { seen.push_back("pre " + b.name()); });
  net(nd::zeros<float>({5, 2}));
  CHECK(seen == std::vector<std::string>{"pre sequential0", "dense0 (5, 2) -> (5, 3)"});
  h.detach();
  hp.detach();
  h.detach();  // twice is harmless
  net(nd::zeros<float>({5, 2}));
  CHECK(seen.size() == 2);

  std::vector<std::string> order;
  net.apply([&](nn::Block& b) { order.push_back(b.name()); });
  CHECK(order == std::vector<std::string>{"dense0", "dense1", "sequential0"});
}
TEST_CASE("train / predict behaviour comes from autograd's mode") {
  nn::Lambda probe{[](const NDArray<float>& x) { return autograd::is_training() ? x * 2.0f : x; }};
  auto x = nd::ones<float>({2});
  CHECK(probe(x).to_vector() == std::vector<float>{1, 1});
  {
    autograd::train_mode train;
    CHECK(probe(x).to_vector() == std::vector<float>{2, 2});
  }
  {
    autograd::record rec;
    CHECK(probe(x).to_vector() == std::vector<float>{2, 2});
  }
}
TEST_CASE("Dense input mismatch names the block prefix and both shapes") {
  nn::reset_name_counters();
  MLP net;
  net.initialize();
  net(nd::zeros<float>({2, 20}));
  CHECK_THROWS_WITH_AS(net(nd::zeros<float>({2, 30})), doctest::Contains("mlp0_dense0_: input of shape (2, 30)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(net(nd::zeros<float>({2, 30})), doctest::Contains("(256, 20)"), ShapeError);
}
TEST_CASE("save_parameters / load_parameters: round trip by structure, and errors") {
  nn::reset_name_counters();
  const std::string path = "/tmp/gluino_test_block_mlp.safetensors";
  MLP net;
  net.initialize();
  auto x = nd::random::uniform<float>({2, 20});
  auto y = net(x);
  CHECK(net.collect_params_with_prefix().front().first == "0.weight");
  net.save_parameters(path);

  MLP other;  // other names (mlp1_...), same structure, not initialized
  other.load_parameters(path);
  CHECK(other(x).to_vector() == y.to_vector());

  SUBCASE("missing parameter") {
    nn::Sequential bigger;
    bigger.add(MLP{}, nn::Dense{3});
    CHECK_THROWS_WITH_AS(bigger.load_parameters(path), doctest::Contains("'0.0.weight' is missing"), ValueError);
  }
  SUBCASE("extra parameter, allow_missing / ignore_extra") {
    nn::Sequential smaller;
    smaller.add(nn::Dense{256});
    CHECK_THROWS_WITH_AS(smaller.load_parameters(path), doctest::Contains("'1.weight'"), ValueError);
    smaller.load_parameters(path, {.ignore_extra = true});
    CHECK(smaller[0].params().begin()->second->shape() == Shape{256, 20});
    MLP partial;
    partial.initialize();
    partial(x);
    partial.load_parameters(path, {.allow_missing = true});
  }
  SUBCASE("wrong shape") {
    nn::Sequential wrong;
    wrong.add(nn::Dense{256, {.in_units = 21}}, nn::Dense{10});
    CHECK_THROWS_WITH_AS(wrong.load_parameters(path), doctest::Contains("(256, 21)"), ShapeError);
  }
  SUBCASE("saving an uninitialized block") {
    MLP fresh;
    CHECK_THROWS_AS(fresh.save_parameters(path + ".x"), StateError);
  }
  std::remove(path.c_str());
}
TEST_CASE("load_parameters: all or nothing; every mismatch in one message") {
  nn::reset_name_counters();
  const std::string path = "/tmp/gluino_test_block_atomic.safetensors";
  MLP net;
  net.initialize();
  auto x = nd::random::uniform<float>({2, 20});
  net(x);
  net.save_parameters(path);
  // Two problems: 1.weight has another shape ((10, 256) in the file, (7, 256) here), and 1.bias
  // is too; the first layer matches and would have been loaded before the error.
  nn::Sequential target;
  target.add(nn::Dense{256, {.in_units = 20}}, nn::Dense{7, {.in_units = 256}});
  target.initialize();
  std::vector<std::vector<float>> before;
  for (const auto& [k, p] : target.collect_params_with_prefix()) before.push_back(p->data().to_vector());
  CHECK_THROWS_WITH_AS(target.load_parameters(path),
                       doctest::Contains("2 problems: Parameter '1.weight' expects shape (7, 256), the file has (10, 256); "
                                         "Parameter '1.bias' expects shape (7,), the file has (10,)"),
                       ShapeError);
  std::size_t i = 0;
  for (const auto& [k, p] : target.collect_params_with_prefix()) CHECK(p->data().to_vector() == before[i++]);

  // A missing and an extra name and a shape: one ValueError naming all three, nothing changed.
  nn::Sequential mixed;
  mixed.add(nn::Dense{256, {.in_units = 20}}, nn::Dense{5, {.use_bias = false, .in_units = 256}}, nn::Dense{3, {.in_units = 5}});
  mixed.initialize();
  const auto w0 = mixed[0].params().begin()->second->data().to_vector();
  try {
    mixed.load_parameters(path);
    FAIL("no exception");
  } catch (const ValueError& e) {
    const std::string what = e.what();
    CHECK(what.find("load_parameters: cannot load '" + path + "' (nothing was changed): 4 problems") != std::string::npos);
    CHECK(what.find("Parameter '1.weight' expects shape (5, 256), the file has (10, 256)") != std::string::npos);
    CHECK(what.find("Parameter '2.weight' is missing in the file") != std::string::npos);
    CHECK(what.find("Parameter '2.bias' is missing in the file") != std::string::npos);
    CHECK(what.find("'1.bias' in the file is not a parameter here") != std::string::npos);
  }
  CHECK(mixed[0].params().begin()->second->data().to_vector() == w0);
  std::remove(path.c_str());
}
TEST_CASE("load_parameters: a checkpoint of another model gives a short message saying that no name matches") {
  nn::reset_name_counters();
  const std::string path = "/tmp/gluino_test_block_other_model.safetensors";
  nn::Sequential flat;  // keys 0.weight ... 7.bias
  for (int i = 0; i < 8; ++i) flat.add(nn::Dense{2, {.in_units = 2}});
  flat.initialize();
  flat.save_parameters(path);
  nn::Sequential inner, nested;  // keys 0.0.weight ... 0.7.bias: nothing in common
  for (int i = 0; i < 8; ++i) inner.add(nn::Dense{2, {.in_units = 2}});
  nested.add(std::move(inner));
  nested.initialize();
  try {
    nested.load_parameters(path);
    FAIL("no exception");
  } catch (const ValueError& e) {
    const std::string what = e.what();
    CAPTURE(what);
    CHECK(what.find("(nothing was changed): 32 problems: none of the 16 names in the file is a parameter here "
                    "(a checkpoint of another model?); Parameter '0.0.weight' is missing in the file;") !=
          std::string::npos);
    CHECK(what.find("; and 22 more. The file has: 0.weight, 0.bias,") != std::string::npos);
    CHECK(what.find(", ... (16 in all); the parameters are: 0.0.weight,") != std::string::npos);
    CHECK(what.size() < 1500);
  }
  // Told to skip missing and extra names, the load changes nothing, and says so.
  const auto before = nested.collect_params_with_prefix().front().second->data().to_vector();
  std::vector<std::string> warnings;
  auto prev = set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  nested.load_parameters(path, {.allow_missing = true, .ignore_extra = true});
  set_warning_handler(prev);
  CHECK(nested.collect_params_with_prefix().front().second->data().to_vector() == before);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "load_parameters: none of the names in '" + path + "' is a parameter here (allow_missing and "
                       "ignore_extra): nothing was loaded");
  std::remove(path.c_str());
}
TEST_CASE("load_parameters: a shared parameter given two different values by the file is an error, not the last") {
  nn::reset_name_counters();
  const std::string path = "/tmp/gluino_test_block_shared_conflict.safetensors";
  nn::Dense first{3, {.in_units = 3}};
  nn::Dense second{3, {.in_units = 3, .params = first.params()}};  // 0.weight and 1.weight: one Parameter
  nn::Sequential net;
  net.add(std::move(first), std::move(second));
  net.initialize();
  net.save_parameters(path);
  net.load_parameters(path);  // the same values under both names: fine
  auto t = io::load_safetensors<float>(path);
  t[2].second = nd::full<float>({3, 3}, 7.0f);  // 1.weight now disagrees with 0.weight
  io::save_safetensors(path, t);
  const auto before = net.collect_params_with_prefix()[0].second->data().to_vector();
  CHECK_THROWS_WITH_AS(net.load_parameters(path),
                       doctest::Contains("'0.weight' and '1.weight' are one shared parameter (dense0_weight) but the "
                                         "file holds different values for them (nothing was changed)"),
                       ValueError);
  CHECK(net.collect_params_with_prefix()[0].second->data().to_vector() == before);
  std::remove(path.c_str());
}
TEST_CASE("load_parameters: a file of ParameterDict::save (global names) or a Trainer state is named as such") {
  nn::reset_name_counters();
  const std::string path = "/tmp/gluino_test_block_dict_file.safetensors";
  MLP net;
  net.initialize();
  net(nd::zeros<float>({1, 20}));
  net.collect_params().save(path);  // mlp0_dense0_weight, ...
  CHECK_THROWS_WITH_AS(net.load_parameters(path),
                       doctest::Contains("the file's names are the parameters' global names (ParameterDict::save): "
                                         "load it with collect_params().load"),
                       ValueError);
  net.collect_params().load(path);
  // A Trainer's state file (its metadata "format"), given instead of the parameters.
  io::save_safetensors<float>(path, {{"0.mom", nd::zeros<float>({256, 20})}}, {{"format", "gluino.trainer_states"}});
  CHECK_THROWS_WITH_AS(net.load_parameters(path),
                       doctest::Contains("5 problems: the file is a Trainer's state (Trainer::save_states): load it "
                                         "with Trainer::load_states; Parameter '0.weight' is missing"),
                       ValueError);
  std::remove(path.c_str());
}
TEST_CASE("load_parameters: deferred parameters take the file's shape and values, as Gluon") {
  nn::reset_name_counters();
  const std::string path = "/tmp/gluino_test_block_deferred.safetensors";
  MLP net;
  net.initialize();
  auto x = nd::random::uniform<float>({2, 20});
  auto y = net(x);
  net.save_parameters(path);
  MLP deferred;  // initialize() called, shapes (256, 0) waiting for the first forward
  deferred.initialize();
  deferred.load_parameters(path);
  CHECK(deferred.dense0->params().begin()->second->shape() == Shape{256, 20});
  CHECK(deferred(x).to_vector() == y.to_vector());  // the loaded values, not the pending initializer's
  nn::Sequential known_wrong;  // a known dimension that disagrees is a ShapeError, nothing loaded
  known_wrong.add(nn::Dense{256, {.in_units = 0}}, nn::Dense{10, {.in_units = 128}});
  known_wrong.initialize();
  CHECK_THROWS_WITH_AS(known_wrong.load_parameters(path), doctest::Contains("'1.weight' expects shape (10, 128)"),
                       ShapeError);
  CHECK_FALSE(known_wrong[0].params().begin()->second->is_initialized());
  std::remove(path.c_str());
}
TEST_CASE("load_parameters: a double model's file into a float model says how to convert it") {
  const std::string path = "/tmp/gluino_test_block_f64.safetensors";
  nn::BasicDense<double> d64{2, {.in_units = 3}};
  d64.initialize();
  d64.save_parameters(path);
  nn::Dense d32{2, {.in_units = 3}};
  d32.initialize();
  const auto before = d32.weight()->data().to_vector();
  CHECK_THROWS_WITH_AS(d32.load_parameters(path), doctest::Contains("load it into a double model and cast<float>() it"),
                       ValueError);
  CHECK(d32.weight()->data().to_vector() == before);
  std::remove(path.c_str());
}
TEST_CASE("save_parameters: metadata, and a failed save leaves the previous file whole") {
  nn::reset_name_counters();
  const std::string path = "/tmp/gluino_test_block_atomic_save.safetensors";
  MLP net;
  net.initialize();
  net(nd::zeros<float>({1, 20}));
  net.save_parameters(path, {{"epoch", "3"}});
  CHECK(io::read_safetensors_header(path).metadata.at("epoch") == "3");
  std::ifstream f0(path, std::ios::binary);
  const std::string before{std::istreambuf_iterator<char>(f0), {}};
  net.dense0->params().begin()->second->data().fill(9.0f);
  detail::fail_writes_after_bytes = before.size() / 2;
  CHECK_THROWS_WITH_AS(net.save_parameters(path), doctest::Contains("disk full"), ValueError);
  detail::fail_writes_after_bytes.reset();
  std::ifstream f1(path, std::ios::binary);
  CHECK(std::string{std::istreambuf_iterator<char>(f1), {}} == before);
  for (const auto& e : std::filesystem::directory_iterator("/tmp"))
    CHECK(e.path().filename().string().rfind("gluino_test_block_atomic_save.safetensors.tmp", 0) != 0);
  std::remove(path.c_str());
}
TEST_CASE("summary prints output shapes and parameter counts like Gluon") {
  nn::reset_name_counters();
  MLP net;
  net.initialize();
  std::ostringstream os;
  net.summary(nd::zeros<float>({4, 20}), os);
  const std::string expected =
      "--------------------------------------------------------------------------------\n"
      "        Layer (type)                                Output Shape         Param #\n"
      "================================================================================\n"
      "               Input                                     (4, 20)               0\n"
      "             Dense-1                                    (4, 256)            5376\n"
      "             Dense-2                                     (4, 10)            2570\n"
      "               MLP-3                                     (4, 10)               0\n"
      "================================================================================\n"
      "Parameters in forward computation graph, duplicate included\n"
      "   Total params: 7946\n"
      "   Trainable params: 7946\n"
      "   Non-trainable params: 0\n"
      "Shared params in forward computation graph: 0\n"
      "Unique parameters in model: 7946\n"
      "Activation memory (the listed layers' outputs for this input): 4.3 KiB\n"
      "--------------------------------------------------------------------------------\n";
  CHECK(os.str() == expected);
  net(nd::zeros<float>({1, 20}));  // the summary's hooks are gone
}
TEST_CASE("summary counts shared parameters once in 'Unique parameters'") {
  nn::reset_name_counters();
  nn::Sequential shared;
  shared.add(nn::Dense{4, {.in_units = 4}});
  shared.add(nn::Dense{4, {.in_units = 4, .params = shared[0].params()}});
  shared.initialize();
  shared.collect_params().select(".*bias").set_grad_req(GradReq::null);
  std::ostringstream os;
  shared.summary(nd::zeros<float>({2, 4}), os);
  const std::string s = os.str();
  CHECK(s.find("Dense-2") != std::string::npos);
  CHECK(s.find("Sequential") == std::string::npos);
  CHECK(s.find("   Total params: 40\n") != std::string::npos);
  CHECK(s.find("   Trainable params: 32\n") != std::string::npos);
  CHECK(s.find("Shared params in forward computation graph: 20\n") != std::string::npos);
  CHECK(s.find("Unique parameters in model: 20\n") != std::string::npos);
}
}

namespace {
// A program that makes blocks and then reads their names in the order `order` gives (a
// permutation of 0..4); returns the names in a fixed order.  Today's design names on first
// access, so the order of reading changed the names.
std::vector<std::string> names_read_in_order(const std::vector<int>& order) {
  nn::reset_name_counters();
  nn::Dense a{4}, b{4};
  MLP mlp;
  nn::Sequential seq;
  {
    auto scope = seq.name_scope();
    seq.add(nn::Dense{2}, nn::Dense{3});
  }
  std::vector<std::string> got(5);
  for (int i : order) {
    switch (i) {
      case 0: got[0] = a.weight()->name(); break;
      case 1: got[1] = b.prefix(); break;
      case 2: got[2] = mlp.dense1->collect_params().keys().front(); break;
      case 3: got[3] = seq[1].prefix(); break;
      default: got[4] = mlp.prefix(); break;
    }
  }
  return got;
}

// A user's block whose member child is moved into register_child and then used by name.
class MovedMember : public nn::CustomBlock<MovedMember> {
 public:
  MovedMember() { register_child(std::move(head_)); }
  NDArray<float> forward(const NDArray<float>& x) override { return head_(x); }  // the bug under test
  nn::Dense head_{2};
};
// A user's block whose child is never registered.
class Unregistered : public nn::CustomBlock<Unregistered> {
 public:
  NDArray<float> forward(const NDArray<float>& x) override { return (*head_)(x); }
  std::shared_ptr<nn::Dense> head_ = std::make_shared<nn::Dense>(2);
};
void add_any(nn::Sequential& net, nn::Block&& block) { net.add(std::move(block)); }
}  // namespace

TEST_SUITE("nn/block") {
TEST_CASE("names are fixed when blocks are made or registered: reading them in any order gives the same") {
  std::vector<int> order{0, 1, 2, 3, 4};
  const auto first = names_read_in_order(order);
  CHECK(first == std::vector<std::string>{"dense0_weight", "dense1_", "mlp0_dense1_weight", "sequential0_dense1_",
                                          "mlp0_"});
  while (std::next_permutation(order.begin(), order.end())) CHECK(names_read_in_order(order) == first);
}
TEST_CASE("a block made inside a name scope is named when registered; its scope decides the prefix") {
  nn::reset_name_counters();
  nn::Sequential net;
  auto scope = net.name_scope();
  nn::Dense d{3};
  CHECK(d.prefix() == "");  // not registered yet: no name, local parameter names
  CHECK_FALSE(d.is_named());
  CHECK(d.weight()->name() == "weight");
  auto p = net.register_child(std::move(d));
  CHECK(p->prefix() == "sequential0_dense0_");
  CHECK(p->weight()->name() == "sequential0_dense0_weight");
  CHECK(net.collect_params().keys() == std::vector<std::string>{"sequential0_dense0_weight", "sequential0_dense0_bias"});
}
TEST_CASE("a container made inside a scope and registered later names its waiting children then") {
  nn::reset_name_counters();
  nn::Sequential outer;
  std::shared_ptr<nn::Sequential> inner;
  {
    auto scope = outer.name_scope();
    nn::Sequential s;  // made in outer's scope: waits for its registration
    {
      auto inner_scope = s.name_scope();
      s.add(nn::Dense{2});  // numbered in s's scope, named when s is
    }
    CHECK(s[0].prefix() == "");
    inner = outer.register_child(std::move(s));
  }
  CHECK(inner->prefix() == "sequential0_sequential0_");
  CHECK((*inner)[0].prefix() == "sequential0_sequential0_dense0_");
  CHECK(outer.collect_params().keys().front() == "sequential0_sequential0_dense0_weight");
}
TEST_CASE("ownership: a moved-from block, a sliced block and an unregistered child say what happened") {
  nn::reset_name_counters();
  SUBCASE("a member moved into register_child and then called") {
    MovedMember net;
    net.initialize();
    CHECK_THROWS_WITH_AS(net(nd::zeros<float>({1, 3})), doctest::Contains("was moved from"), StateError);
    CHECK_THROWS_WITH_AS(net.head_.collect_params(), doctest::Contains("was moved from"), StateError);
    CHECK(net.children()[0]->prefix() == "dense0_");  // the registered block works
    CHECK_THROWS_WITH_AS(net.register_child(std::move(net.head_)), doctest::Contains("was moved from"), StateError);
    CHECK(net.children().size() == 1);
  }
  SUBCASE("a block passed as a Block&& would be sliced") {
    nn::Sequential net;
    CHECK_THROWS_WITH_AS(add_any(net, MLP{}), doctest::Contains("is a MLP passed as a Block&&"), ValueError);
    CHECK(net.size() == 0);
    add_any(net, nn::Block{});  // a plain Block is not sliced
    CHECK(net.size() == 1);
  }
  SUBCASE("a child never registered") {
    Unregistered net;
    net.initialize();
    CHECK_THROWS_WITH_AS(net(nd::zeros<float>({1, 3})), doctest::Contains("which no parent registered"), StateError);
    net.head_->initialize();  // initialized by hand, it may be used unregistered
    CHECK(net(nd::zeros<float>({1, 3})).shape() == Shape{1, 2});
  }
  SUBCASE("a block cannot contain itself") {
    auto a = std::make_shared<nn::Sequential>();
    auto b = std::make_shared<nn::Sequential>();
    a->add(b);
    CHECK_THROWS_WITH_AS(b->add(a), doctest::Contains("cannot be its own descendant"), ValueError);
  }
}
TEST_CASE("custom parameters: no initializer takes the global one's init_weight; infer_shape completes deferral") {
  nn::reset_name_counters();
  // A layer y = x * scale (per feature), with scale's size known only from the input.
  class Scale : public nn::CustomBlock<Scale> {
   public:
    Scale() { scale_ = declare_param("scale", Shape{0}); }
    void infer_shape(const NDArray<float>& x) override { param_at(scale_)->set_shape({x.shape(-1)}); }
    NDArray<float> forward(const NDArray<float>& x) override { return x * param_at(scale_)->data(); }
    std::size_t scale_;
  };
  Scale s;
  s.initialize(init::Constant{3.0f});
  auto y = s(nd::ones<float>({2, 4}));  // no finish_deferred_init by hand
  CHECK(y.to_vector() == std::vector<float>(8, 3.0f));
  CHECK(s.params().at("scale0_scale")->shape() == Shape{4});

  nn::Dense d{2, {.in_units = 2}};
  auto alpha = d.params().get("alpha", Shape{2, 2});  // a name no initializer knows
  d.initialize(init::Constant{0.5f});
  CHECK(alpha->data().to_vector() == std::vector<float>(4, 0.5f));
}
}
