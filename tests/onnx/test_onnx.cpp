// SPDX-License-Identifier: Apache-2.0
// ONNX export and import (gluino/onnx/export.hpp, symbol_block.hpp), built with gluino::onnx.
// The export cases also write each model and a random batch with gluino's outputs into
// GLUINO_ONNX_OUT, which the onnx/ort_* tests then run in ONNX Runtime (tools/onnx).
#include <gluino/onnx/export.hpp>
#include <gluino/onnx/symbol_block.hpp>

#include <doctest/doctest.h>
#include <onnx/checker.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <gluino/gluino.hpp>

using namespace gluino;

namespace {
using Net = std::shared_ptr<nn::BasicBlock<float>>;

std::filesystem::path out_dir() {
  const char* d = std::getenv("GLUINO_ONNX_OUT");
  std::filesystem::path p = d ? d : "onnx_out";
  std::filesystem::create_directories(p);
  return p;
}
NDArray<float> random_batch(const Shape& s, std::uint64_t seed) {
  random::Generator g(seed);
  NDArray<float> x(s);
  for (float& v : x) v = static_cast<float>(g.uniform(-1.0, 1.0));
  return x;
}
nlohmann::json tensor_json(const std::string& name, const NDArray<float>& a) {
  return {{"name", name}, {"shape", std::vector<std::size_t>(a.shape().begin(), a.shape().end())},
          {"data", a.to_vector()}};
}
float max_abs_diff(const NDArray<float>& a, const NDArray<float>& b) {
  REQUIRE(a.shape() == b.shape());
  float m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
  return m;
}

std::vector<std::string> op_types(const ::onnx::ModelProto& m) {
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  return ops;
}
bool has_op(const ::onnx::ModelProto& m, const std::string& op) {
  const auto ops = op_types(m);
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

// Exports net, checks the model with ONNX's checker, writes <name>.onnx and <name>_io.json
// (a batch of 3 and gluino's predict-mode outputs), and checks that the model imported back
// gives the same outputs at batch 3 and at batch 2 (the batch axis is symbolic).  make_input
// gives the batches (random_batch: uniform in [-1, 1]).  Returns the model.
::onnx::ModelProto export_and_check(const std::string& name, nn::BasicBlock<float>& net, const Shape& sample,
                                    const OnnxExportOptions& opt = {},
                                    const std::function<NDArray<float>(const Shape&, std::uint64_t)>& make_input =
                                        random_batch) {
  Shape in = sample;
  in[0] = 3;
  const auto path = out_dir() / (name + ".onnx");
  const ::onnx::ModelProto m = export_onnx(net, path.string(), in, opt);
  CHECK_NOTHROW(::onnx::checker::check_model(m));
  CHECK_NOTHROW(::onnx::checker::check_model(path.string()));
  CHECK(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param() == "batch");
  const auto x = make_input(in, 11);
  const auto y = net(x);
  nlohmann::json io = {{"inputs", {tensor_json("data", x)}}, {"outputs", {tensor_json("output", y)}}};
  std::ofstream(out_dir() / (name + "_io.json")) << io.dump();
  auto back = nn::SymbolBlock::imports(path.string());
  CHECK(max_abs_diff((*back)(x), y) <= 1e-5f);
  Shape in2 = sample;
  in2[0] = 2;
  const auto x2 = make_input(in2, 12);
  CHECK(max_abs_diff((*back)(x2), net(x2)) <= 1e-5f);
  return m;
}
// A branch on a value: runs imperatively, cannot be traced.
class ValueBranch : public nn::HybridCustomBlock<ValueBranch> {
 public:
  NDArray<float> forward(const NDArray<float>& x) { return nd::sum(x).asscalar() > 0.0f ? x * 2.0f : x * 3.0f; }
};
// An output written element by element: not made by ops.
class Handwritten : public nn::HybridCustomBlock<Handwritten> {
 public:
  NDArray<float> forward(const NDArray<float>& x) {
    NDArray<float> y(x.shape());
    for (float& v : y) v = 1;
    return y;
  }
};
}  // namespace

TEST_SUITE("onnx/export") {
TEST_CASE("LeNet") {
  auto net = model_zoo::lenet();
  net->initialize(init::Xavier{});
  export_and_check("lenet", *net, {1, 1, 28, 28});
  auto m = export_onnx(*net, (out_dir() / "lenet.onnx").string(), {1, 1, 28, 28});
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  CHECK(ops == std::vector<std::string>{"Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm",
                                        "Relu", "Gemm"});
  CHECK(m.graph().initializer(0).name().rfind("lenet", 0) == 0);  // Gluon's parameter names
}
TEST_CASE("the tutorial's MLP") {
  nn::Sequential net;
  net.add(nn::Dense{256, {.activation = "relu"}}, nn::Dense{10});
  net.initialize();
  export_and_check("mlp", net, {1, 20});
}
TEST_CASE("batch norm, dropout, avg pooling with ceil and padding, softmax") {
  nn::HybridSequential net;
  net.add(nn::Conv2D{8, 3, {.padding = 1}}, nn::BatchNorm{}, nn::Activation{"relu"},
          nn::AvgPool2D{3, 2, {.padding = 1, .ceil_mode = true, .count_include_pad = false}}, nn::Dropout{0.5},
          nn::Conv2D{4, 3, {.dilation = 2, .groups = 2}}, nn::MaxPool2D{2, 2, {.ceil_mode = true}}, nn::Flatten{},
          nn::Dense{10}, nn::Lambda{[](const NDArray<float>& x) { return nd::softmax(x, 1); }});
  net.initialize(init::Xavier{});
  {  // running statistics away from (0, 1)
    autograd::train_mode tm;
    for (int i = 0; i < 3; ++i) (void)net(random_batch({4, 3, 13, 13}, std::uint64_t(i)));
  }
  export_and_check("bn_dropout", net, {1, 3, 13, 13});
}
TEST_CASE("AlexNet (96x96 input)") {
  auto net = model_zoo::alexnet();
  net->initialize(init::Xavier{});
  export_and_check("alexnet", *net, {1, 1, 96, 96});
}
TEST_CASE("VGG-11 (32x32 input, the tutorial's narrow variant)") {
  auto net = model_zoo::vgg11({.dense_units = 256, .channel_divisor = 4});
  net->initialize(init::Xavier{});
  export_and_check("vgg11", *net, {1, 1, 32, 32});
}
TEST_CASE("activations: PReLU (per channel and one slope), ELU, SELU, GELU (as Erf), Swish, erf") {
  nn::HybridSequential net;
  net.add(nn::Conv2D{6, 3, {.padding = 1}}, nn::PReLU{{.alpha_initializer = init::Uniform{0.5f}, .in_channels = 6}},
          nn::ELU{0.7}, nn::Conv2D{4, 3}, nn::SELU{}, nn::Flatten{}, nn::Dense{16}, nn::GELU{}, nn::Swish{},
          nn::Dense{12}, nn::PReLU{}, nn::Swish{1.5},
          nn::Lambda{[](const NDArray<float>& x) { return nd::erf(x); }});
  net.initialize(init::Xavier{});
  export_and_check("activations", net, {1, 3, 7, 7});
  auto m = export_onnx(net, (out_dir() / "activations.onnx").string(), {1, 3, 7, 7});
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  for (const char* t : {"PRelu", "Elu", "Selu", "Erf", "Sigmoid"})
    CHECK(std::count(ops.begin(), ops.end(), std::string(t)) >= 1);
}
TEST_CASE("import: SELU with other constants is refused, naming the node") {
  auto net = nn::Sequential{};
  net.add(nn::SELU{});
  const auto path = out_dir() / "selu_other.onnx";
  ::onnx::ModelProto m = export_onnx(net, path.string(), {2, 3});
  for (auto& n : *m.mutable_graph()->mutable_node())
    for (auto& a : *n.mutable_attribute())
      if (a.name() == "alpha") a.set_f(1.5f);
  {
    std::ofstream f(path, std::ios::binary);
    m.SerializeToOstream(&f);
  }
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::imports(path.string()), doctest::Contains("only SELU's standard alpha and gamma"),
                       ValueError);
}
TEST_CASE("import: what the newer ops' importers refuse, naming the node") {
  auto check_contains = [](const std::string& what, const std::string& part) {
    INFO(what);
    CHECK(what.find(part) != std::string::npos);
  };
  // Exports net, lets edit change the model, and returns the message of importing it and
  // running it on zeros ("imported" when both work).
  auto refused = [](nn::BasicBlock<float>& net, const Shape& in, const std::function<void(::onnx::GraphProto&)>& edit) {
    ::onnx::ModelProto m = to_onnx(nn::trace_block<float>(
        net, [&](const std::vector<NDArray<float>>& x) { return std::vector<NDArray<float>>{net(x[0])}; },
        {{"data", nd::zeros<float>(in)}}));
    edit(*m.mutable_graph());
    try {
      (void)(*nn::SymbolBlock::from_model(m, "edited.onnx"))(nd::zeros<float>(in));
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
    return std::string("imported");
  };
  auto node_of = [](::onnx::GraphProto& g, const std::string& op) -> ::onnx::NodeProto& {
    for (auto& n : *g.mutable_node())
      if (n.op_type() == op) return n;
    FAIL_CHECK("no ", op, " node");
    return *g.mutable_node(0);
  };
  nn::ReflectionPad2D pad{1};
  check_contains(refused(pad, {1, 1, 3, 3}, [&](auto& g) { node_of(g, "Pad").mutable_attribute(0)->set_s("wrap"); }),
               "(op Pad, opset 13): attribute 'mode' = 'wrap' is not supported");
  check_contains(refused(pad, {1, 1, 3, 3},
                       [&](auto& g) {
                         for (auto& t : *g.mutable_initializer())
                           if (t.data_type() == ::onnx::TensorProto_DataType_INT64) t.set_int64_data(3, -1);
                       }),
               "negative pads (cropping) are not supported");
  nn::HybridSequential emb;
  emb.add(nn::Embedding{4, 2});
  emb.initialize();
  check_contains(refused(emb, {1, 3}, [&](auto& g) { node_of(g, "Gather").mutable_attribute(0)->set_i(1); }),
               "only Gather along axis 0 (an embedding lookup) is supported");
  check_contains(refused(emb, {1, 3},
                       [&](auto& g) {  // the int64 indices also read by a Relu
                         auto& r = *g.add_node();
                         r.set_op_type("Relu");
                         r.set_name("act");
                         r.add_input(node_of(g, "Cast").output(0));
                         r.add_output("other");
                       }),
               "a Cast to an integer type is supported only as Gather's indices (read by node 'act', op Relu)");
  check_contains(refused(emb, {1, 3},
                         [&](auto& g) { node_of(g, "Cast").mutable_attribute(0)->set_i(::onnx::TensorProto_DataType_UINT8); }),
               "only a Cast to int64, int32 (Gather's indices) or to the block's element type");
  nn::Conv2DTranspose up{2, 3};
  up.initialize();
  check_contains(refused(up, {1, 1, 4, 4},
                       [&](auto& g) {
                         for (auto& a : *node_of(g, "ConvTranspose").mutable_attribute())
                           if (a.name() == "pads") a.set_ints(2, 1);
                       }),
               "(op ConvTranspose, opset 13): only the same padding at both ends of an axis is supported");
  check_contains(refused(up, {1, 1, 4, 4},
                       [&](auto& g) {
                         auto& a = *node_of(g, "ConvTranspose").add_attribute();
                         a.set_name("output_shape");
                         a.set_type(::onnx::AttributeProto_AttributeType_INTS);
                         a.add_ints(6);
                         a.add_ints(6);
                       }),
               "(op ConvTranspose, opset 13): attribute 'output_shape' is not supported");
  nn::LayerNorm ln;
  ln.initialize();
  CHECK(refused(ln, {2, 4}, [](auto&) {}) == "imported");
}
TEST_CASE("an op without an ONNX form is refused, naming it; no file is left") {
  auto fn = [](const NDArray<float>& x) { return nd::pick(x, nd::zeros<float>({x.shape(0)})); };
  nn::Lambda net{fn};
  const auto path = out_dir() / "refused.onnx";
  std::filesystem::remove(path);
  CHECK_THROWS_WITH_AS(export_onnx(net, path.string(), {2, 5}),
                       doctest::Contains("node 0 ('pick', output (2,)): this op has no ONNX export"), ValueError);
  CHECK_FALSE(std::filesystem::exists(path));
}
TEST_CASE("a forward that reads values: export's own StateError (not hybridize's advice); no file is left") {
  // Export traces the forward as hybridize does, so reading a value is refused the same way, but
  // "call the block without hybridize()" would not help there: the model needs ops only.
  ValueBranch net;
  const auto path = out_dir() / "reads_values.onnx";
  std::filesystem::remove(path);
  for (const bool hybridized : {false, true}) {
    CAPTURE(hybridized);
    net.hybridize(hybridized);
    try {
      (void)export_onnx(net, path.string(), {2, 5});
      FAIL("no exception");
    } catch (const StateError& e) {
      const std::string m = e.what();
      CHECK(m.find(net.name() + ": onnx export: its forward reads array values (asscalar)") != std::string::npos);
      CHECK(m.find("export needs a forward computed with ops only") != std::string::npos);
      CHECK(m.find("hybridize") == std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(path));
  }
  // Called directly (imperatively), the block runs as written.
  net.hybridize(false);
  CHECK(net(nd::ones<float>({2, 5})).to_vector() == std::vector<float>(10, 2.0f));
  // An output written element by element: export's name too.
  Handwritten hand;
  const std::string said = hand.name() + ": onnx export: output 0 (shape (2, 5)) was not computed by ops";
  CHECK_THROWS_WITH_AS(export_onnx(hand, path.string(), {2, 5}), doctest::Contains(said.c_str()), StateError);
  CHECK_FALSE(std::filesystem::exists(path));
}
TEST_CASE("Conv1D and 1-D pooling: Conv and the pools with 1-D kernels, for any batch size") {
  nn::HybridSequential net;
  net.add(nn::Conv1D{6, 3, {.padding = 1, .activation = "relu"}}, nn::MaxPool1D{2},
          nn::Conv1D{4, 3, {.strides = 2, .dilation = 2, .groups = 2}},
          nn::AvgPool1D{3, 1, {.padding = 1, .ceil_mode = true, .count_include_pad = false}},
          nn::Conv1D{4, 1, {.use_bias = false}}, nn::GlobalMaxPool1D{});
  net.initialize(init::Xavier{});
  const auto m = export_and_check("conv1d", net, {1, 2, 17});
  CHECK(op_types(m) ==
        std::vector<std::string>{"Conv", "Relu", "MaxPool", "Conv", "AveragePool", "Conv", "GlobalMaxPool"});
  for (const auto& n : m.graph().node())
    for (const auto& a : n.attribute())
      if (a.name() == "kernel_shape") CHECK(a.ints_size() == 1);
  nn::HybridSequential avg;  // a global average pool, and a 1-D max pool as the last op (the graph's output)
  avg.add(nn::Conv1D{3, 2}, nn::GlobalAvgPool1D{}, nn::Flatten{}, nn::Dense{6},
          nn::Lambda{[](const NDArray<float>& x) { return nd::reshape(x, Shape{x.shape(0), 2, 3}); }}, nn::MaxPool1D{2, 1});
  avg.initialize(init::Xavier{});
  const auto m2 = export_and_check("pool1d", avg, {1, 2, 9});
  CHECK(has_op(m2, "GlobalAveragePool"));
  CHECK(op_types(m2).back() == "MaxPool");
}
TEST_CASE("Conv2DTranspose: ConvTranspose with groups, strides, padding, output_padding, dilation") {
  nn::HybridSequential net;
  net.add(nn::Conv2DTranspose{4, 3, {.strides = 2, .padding = 1, .output_padding = 1, .activation = "relu"}},
          nn::Conv2DTranspose{6, {2, 3}, {.strides = {1, 2}, .padding = {0, 1}, .output_padding = {0, 1},
                                          .dilation = {2, 1}, .groups = 2}},
          nn::Conv2DTranspose{2, 1, {.use_bias = false}});
  net.initialize(init::Xavier{});
  const auto m = export_and_check("deconv", net, {1, 3, 5, 4});
  CHECK(op_types(m) == std::vector<std::string>{"ConvTranspose", "Relu", "ConvTranspose", "ConvTranspose"});
}
TEST_CASE("Conv3D: Conv with a 3-D kernel") {
  nn::HybridSequential net;
  net.add(nn::Conv3D{4, 3, {.strides = {1, 2, 2}, .padding = 1, .activation = "relu"}},
          nn::Conv3D{4, {1, 2, 2}, {.dilation = {1, 2, 1}, .groups = 2}}, nn::Flatten{}, nn::Dense{5});
  net.initialize(init::Xavier{});
  const auto m = export_and_check("conv3d", net, {1, 2, 3, 6, 5});
  CHECK(op_types(m) == std::vector<std::string>{"Conv", "Relu", "Conv", "Flatten", "Gemm"});
}
TEST_CASE("LayerNorm: LayerNormalization from opset 17, ReduceMean, Sub, Mul, Sqrt, Div before") {
  nn::HybridSequential net;
  net.add(nn::Dense{12}, nn::LayerNorm{{.epsilon = 1e-3, .beta_initializer = init::Uniform{0.5f},
                                        .gamma_initializer = init::Uniform{2.0f}}},
          nn::Lambda{[](const NDArray<float>& x) { return nd::reshape(x, Shape{x.shape(0), 3, 2, 2}); }},
          nn::LayerNorm{{.axis = 1, .beta_initializer = init::Uniform{0.5f}, .gamma_initializer = init::Uniform{2.0f}}});
  net.initialize(init::Xavier{});
  const auto m17 = export_and_check("layer_norm17", net, {1, 7}, {.opset = 17});
  CHECK(has_op(m17, "LayerNormalization"));  // the last axis
  CHECK(has_op(m17, "ReduceMean"));          // axis 1 of four: composed at any opset
  const auto m13 = export_and_check("layer_norm13", net, {1, 7});
  CHECK_FALSE(has_op(m13, "LayerNormalization"));
  for (const char* op : {"ReduceMean", "Sub", "Mul", "Sqrt", "Div", "Add"}) CHECK(has_op(m13, op));
}
TEST_CASE("InstanceNorm and GroupNorm (MXNet 1.x: gamma and beta per group): InstanceNormalization") {
  nn::HybridSequential net;
  const auto u = init::Uniform{1.0f};
  net.add(nn::Conv2D{6, 3}, nn::InstanceNorm{{.epsilon = 1e-3, .beta_initializer = u, .gamma_initializer = u}},
          nn::GroupNorm{{.num_groups = 3, .epsilon = 1e-4, .beta_initializer = u, .gamma_initializer = u}},
          nn::InstanceNorm{{.axis = 2, .beta_initializer = u, .gamma_initializer = u}},
          nn::GroupNorm{{.num_groups = 2, .beta_initializer = u, .gamma_initializer = u}}, nn::Flatten{},
          nn::GroupNorm{{.num_groups = 4, .beta_initializer = u, .gamma_initializer = u}});  // (N, C): two axes
  net.initialize(init::Xavier{});
  const auto m = export_and_check("norms", net, {1, 2, 6, 6});
  const auto ops = op_types(m);
  CHECK(std::count(ops.begin(), ops.end(), std::string("InstanceNormalization")) == 5);
  CHECK(has_op(m, "Transpose"));  // the instance norm over axis 2
}
TEST_CASE("Embedding: Cast to int64 and Gather") {
  nn::HybridSequential net;
  net.add(nn::Embedding{10, 4}, nn::Flatten{}, nn::Dense{3});
  net.initialize(init::Xavier{});
  auto indices = [](const Shape& s, std::uint64_t seed) {
    random::Generator g(seed);
    NDArray<float> x(s);
    for (float& v : x) v = static_cast<float>(std::min(9.0, std::floor(g.uniform(0.0, 10.0))));
    return x;
  };
  const auto m = export_and_check("embedding", net, {1, 5}, {}, indices);
  CHECK(op_types(m) == std::vector<std::string>{"Cast", "Gather", "Flatten", "Gemm"});
}
TEST_CASE("pad (ReflectionPad2D; edge and constant modes): Pad with its mode") {
  nn::HybridSequential net;
  net.add(nn::ReflectionPad2D{2}, nn::Conv2D{3, 3},
          nn::Lambda{[](const NDArray<float>& x) { return nd::pad(x, "edge", {0, 0, 0, 0, 1, 2, 3, 0}); }},
          nn::Lambda{[](const NDArray<float>& x) { return nd::pad(x, "constant", {0, 0, 1, 0, 0, 1, 2, 2}, 0.5); }});
  net.initialize(init::Xavier{});
  const auto m = export_and_check("pad", net, {1, 2, 4, 5});
  std::vector<std::string> modes;
  for (const auto& n : m.graph().node())
    for (const auto& a : n.attribute())
      if (a.name() == "mode") modes.push_back(a.s());
  CHECK(modes == std::vector<std::string>{"reflect", "edge", "constant"});
}
TEST_CASE("HybridConcatenate and Identity: Concat, and Identity for an output no op makes") {
  nn::HybridSequential net;
  nn::HybridConcatenate branches{1};
  branches.add(nn::Identity{}, nn::Conv2D{2, 3, {.padding = 1}}, nn::MaxPool2D{1, 1});
  net.add(nn::Conv2D{3, 1}, std::move(branches), nn::Identity{});
  net.initialize(init::Xavier{});
  const auto m = export_and_check("concat_identity", net, {1, 2, 5, 5});
  CHECK(has_op(m, "Concat"));
  nn::Identity id;
  const auto m2 = export_and_check("identity", id, {1, 4});
  CHECK(op_types(m2) == std::vector<std::string>{"Identity"});
  CHECK(m2.graph().output(0).name() == "output");
}
TEST_CASE("a training graph's pooling with the convolution's ReLU (graph::fuse_relu_pool): MaxPool, then Relu") {
  nn::HybridSequential net;
  net.add(nn::Conv2D{3, 3, {.activation = "relu"}}, nn::MaxPool2D{2, 2}, nn::Conv2D{4, 3, {.activation = "relu"}},
          nn::GlobalMaxPool2D{});
  net.initialize(init::Xavier{});
  const auto x = random_batch({2, 1, 9, 9}, 5);
  const auto y = net(x);
  graph::Graph<float> g = nn::trace_block<float>(
      net, [&](const std::vector<NDArray<float>>& in) { return std::vector<NDArray<float>>{net(in[0])}; },
      {{"data", x}});
  REQUIRE(graph::fuse_relu_pool(g) == 2);
  const ::onnx::ModelProto m = to_onnx(g);
  CHECK_NOTHROW(::onnx::checker::check_model(m));
  CHECK(op_types(m) == std::vector<std::string>{"Conv", "MaxPool", "Relu", "Conv", "GlobalMaxPool", "Relu"});
  const auto path = out_dir() / "fused_relu_pool.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    REQUIRE(m.SerializeToOstream(&f));
  }
  auto back = nn::SymbolBlock::imports(path.string());
  CHECK(max_abs_diff((*back)(x), y) <= 1e-6f);
}
TEST_CASE("a convolution and its max pooling as one node (graph::fuse_conv_max_pool): Conv, Relu, MaxPool") {
  nn::HybridSequential net;
  net.add(nn::Conv2D{3, 3, {.activation = "relu"}}, nn::MaxPool2D{2, 2}, nn::Conv2D{4, 3, {.padding = 1}},
          nn::MaxPool2D{3, 2, {.padding = 1}}, nn::Flatten{}, nn::Dense{5});
  net.initialize(init::Xavier{});
  const auto x = random_batch({2, 1, 12, 12}, 6);
  const auto y = net(x);
  graph::Graph<float> g = nn::trace_block<float>(
      net, [&](const std::vector<NDArray<float>>& in) { return std::vector<NDArray<float>>{net(in[0])}; },
      {{"data", x}});
  REQUIRE(graph::fuse_conv_max_pool(g) == 2);
  const ::onnx::ModelProto m = to_onnx(g);
  CHECK_NOTHROW(::onnx::checker::check_model(m));
  CHECK(op_types(m) == std::vector<std::string>{"Conv", "Relu", "MaxPool", "Conv", "MaxPool", "Flatten", "Gemm"});
  const auto path = out_dir() / "fused_conv_max_pool.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    REQUIRE(m.SerializeToOstream(&f));
  }
  auto back = nn::SymbolBlock::imports(path.string());
  CHECK(max_abs_diff((*back)(x), y) <= 1e-6f);
}
TEST_CASE("a small generator: Conv2DTranspose, GroupNorm, ReflectionPad2D, LayerNorm, at opsets 13 and 17") {
  nn::HybridSequential net;
  const auto u = init::Uniform{1.0f};
  net.add(nn::Conv2DTranspose{6, 4, {.strides = 2, .padding = 1}},
          nn::GroupNorm{{.num_groups = 3, .beta_initializer = u, .gamma_initializer = u}}, nn::Activation{"relu"},
          nn::ReflectionPad2D{1}, nn::Conv2D{4, 3}, nn::LayerNorm{{.beta_initializer = u, .gamma_initializer = u}},
          nn::Activation{"tanh"});
  net.initialize(init::Xavier{});
  const auto m13 = export_and_check("generator13", net, {1, 3, 4, 4});
  const auto m17 = export_and_check("generator17", net, {1, 3, 4, 4}, {.opset = 17});
  for (const char* op : {"ConvTranspose", "InstanceNormalization", "Pad"}) {
    CHECK(has_op(m13, op));
    CHECK(has_op(m17, op));
  }
  CHECK(has_op(m17, "LayerNormalization"));
  CHECK_FALSE(has_op(m13, "LayerNormalization"));
}
}

namespace {
// The first input and output of an IO.json fixture of tests/data/onnx.
std::pair<NDArray<float>, NDArray<float>> fixture_io(const std::string& file) {
  std::ifstream f(std::string(GLUINO_TEST_DATA_DIR "/onnx/") + file);
  const auto io = nlohmann::json::parse(f);
  auto array_of = [](const nlohmann::json& t) {
    NDArray<float> a(Shape(t.at("shape").get<std::vector<std::size_t>>()));
    const auto v = t.at("data").get<std::vector<float>>();
    REQUIRE(v.size() == a.size());
    std::copy(v.begin(), v.end(), a.data());
    return a;
  };
  return {array_of(io.at("inputs")[0]), array_of(io.at("outputs")[0])};
}
// The rows `pick` of a (first-axis) batch, in that order: a batch of a fixture's samples in
// another order and number, whose outputs are the fixture's outputs picked alike.
NDArray<float> rows(const NDArray<float>& a, const std::vector<std::size_t>& pick) {
  Shape s = a.shape();
  s[0] = pick.size();
  NDArray<float> out(s);
  const std::size_t n = a.size() / a.shape(0);
  for (std::size_t k = 0; k < pick.size(); ++k)
    std::copy(a.data() + pick[k] * n, a.data() + (pick[k] + 1) * n, out.data() + k * n);
  return out;
}
}  // namespace

TEST_SUITE("onnx/symbol_block") {
TEST_CASE("a LeNet exported by PyTorch gives PyTorch's logits") {
  const std::string dir = GLUINO_TEST_DATA_DIR "/onnx/";
  auto net = nn::SymbolBlock::imports(dir + "torch_lenet.onnx");
  CHECK(net->op_types() == std::vector<std::string>{"Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten",
                                                    "Gemm", "Relu", "Gemm"});
  CHECK(net->collect_params().size() == 8);
  const auto [x, want] = fixture_io("torch_lenet_io.json");
  CHECK(max_abs_diff((*net)(x), want) <= 1e-4f);
  net->hybridize();
  (void)(*net)(x);
  CHECK(max_abs_diff((*net)(x), want) <= 1e-4f);
}
TEST_CASE("a SymbolBlock casts to double (Block::cast): PyTorch's LeNet in float64 gives PyTorch's logits") {
  auto net = nn::SymbolBlock::imports(GLUINO_TEST_DATA_DIR "/onnx/torch_lenet.onnx");
  const auto [x, want] = fixture_io("torch_lenet_io.json");
  auto net64 = std::dynamic_pointer_cast<nn::BasicSymbolBlock<double>>(net->cast<double>());
  REQUIRE(net64 != nullptr);
  CHECK(net64->op_types() == net->op_types());
  CHECK(net64->collect_params().keys() == net->collect_params().keys());
  CHECK(max_abs_diff((*net64)(x.astype<double>()).astype<float>(), want) <= 1e-4f);
  // Fine-tuning the copy leaves the float block's weights alone.
  net64->collect_params_with_prefix()[0].second->data().fill(0.0);
  CHECK(max_abs_diff((*net)(x), want) <= 1e-4f);
}
TEST_CASE("PyTorch's ConvTranspose2d, InstanceNorm2d, GroupNorm, ReflectionPad2d, Conv1d/3d, MaxPool1d, LayerNorm") {
  const auto [x, want] = fixture_io("torch_layers_io.json");
  for (int opset : {13, 17}) {
    INFO("opset ", opset);
    auto net = nn::SymbolBlock::imports(GLUINO_TEST_DATA_DIR "/onnx/torch_layers" + std::to_string(opset) + ".onnx");
    const auto ops = net->op_types();
    for (const char* op : {"ConvTranspose", "InstanceNormalization", "Pad", "Conv", "MaxPool"})
      CHECK(std::count(ops.begin(), ops.end(), std::string(op)) >= 1);
    // GroupNorm: Reshape, InstanceNormalization, then a Reshape back to the input's runtime Shape
    CHECK(std::count(ops.begin(), ops.end(), std::string("InstanceNormalization")) == 2);
    CHECK(std::count(ops.begin(), ops.end(), std::string("Shape")) == 1);
    // LayerNorm: LayerNormalization at 17, PyTorch's ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add at 13
    CHECK((std::count(ops.begin(), ops.end(), std::string("LayerNormalization")) == 1) == (opset == 17));
    CHECK((std::count(ops.begin(), ops.end(), std::string("Pow")) == 1) == (opset == 13));
    CHECK(max_abs_diff((*net)(x), want) <= 1e-4f);
    net->hybridize();
    (void)(*net)(x);
    CHECK(max_abs_diff((*net)(x), want) <= 1e-4f);
  }
}
TEST_CASE("PyTorch's x.view(x.size(0), -1) (Shape, Gather, Unsqueeze, Concat, Reshape) at any batch, hybridized too") {
  // torch.onnx.export writes the view as int64 ops on the runtime shape, whose values follow the batch.  Each
  // sample's logits do not depend on the others (eval mode), so a batch of the fixture's inputs picked in another
  // order and number has PyTorch's logits picked alike: batches of 1, 5 and 3 checked against PyTorch's numbers.
  const auto [x, want] = fixture_io("torch_view_io.json");
  const std::vector<std::vector<std::size_t>> batches = {{0, 1, 2}, {1}, {2, 0, 1, 1, 2}, {0, 1, 2}, {2}};
  for (int opset : {13, 17}) {
    INFO("opset ", opset);
    auto net = nn::SymbolBlock::imports(GLUINO_TEST_DATA_DIR "/onnx/torch_view" + std::to_string(opset) + ".onnx");
    const auto ops = net->op_types();
    for (const char* op : {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"})
      CHECK(std::count(ops.begin(), ops.end(), std::string(op)) == 1);
    CHECK(net->collect_params().size() == 8);  // the int64 Constants are not parameters
    CHECK(max_abs_diff((*net)(x), want) <= 1e-4f);
    for (bool hybrid : {false, true}) {  // hybridized: one graph per input shape, each with its shape's values
      INFO("hybridized ", hybrid);
      if (hybrid) net->hybridize();
      for (const auto& pick : batches) {
        INFO("batch ", pick.size());
        CHECK(max_abs_diff((*net)(rows(x, pick)), rows(want, pick)) <= 1e-4f);
      }
    }
    // Block::cast rebuilds the graph (the kinds and int64 constants with it).
    auto net64 = std::dynamic_pointer_cast<nn::BasicSymbolBlock<double>>(net->cast<double>());
    REQUIRE(net64 != nullptr);
    CHECK(max_abs_diff((*net64)(rows(x, {1, 2}).astype<double>()).astype<float>(), rows(want, {1, 2})) <= 1e-4f);
    // Fine-tuning through the view: every parameter gets a gradient.
    {
      autograd::record rec;
      auto y = (*net)(rows(x, {0, 1}));
      (y * y).sum().backward();
    }
    for (const auto& [name, p] : net->collect_params()) {
      const std::string& param = name;  // INFO captures it in a lambda: clang 14 cannot capture a binding
      INFO(param);
      const auto g = p->grad().to_vector();
      CHECK(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; }));
    }
  }
}
TEST_CASE("fine-tuning: initializers are parameters with the gradients of the original network") {
  auto lenet = model_zoo::lenet();
  lenet->initialize(init::Xavier{});
  const auto path = (out_dir() / "lenet_tune.onnx").string();
  export_onnx(*lenet, path, {1, 1, 28, 28});
  auto net = nn::SymbolBlock::imports(path);
  const auto x = random_batch({4, 1, 28, 28}, 3);
  // Each parameter's gradient, keyed by its name without the block's prefix (the symbol block's
  // parameters are the initializers, named after the exported parameters).
  auto grads = [&](nn::BasicBlock<float>& b, const std::string& strip) {
    for (const auto& [n, p] : b.collect_params()) p->zero_grad();
    {
      autograd::record rec;
      auto y = b(x);
      (y * y).sum().backward();
    }
    std::map<std::string, std::vector<float>> g;
    for (const auto& [n, p] : b.collect_params()) g[n.substr(strip.size())] = p->grad().to_vector();
    return g;
  };
  const auto want = grads(*lenet, ""), got = grads(*net, net->prefix());
  REQUIRE(want.size() == 8);
  REQUIRE(got.size() == 8);
  for (const auto& [name, w] : want) {
    const std::string& param = name;  // INFO captures it in a lambda: clang 14 cannot capture a binding
    INFO(param);
    REQUIRE(got.count(name));
    const auto& g = got.at(name);
    REQUIRE(w.size() == g.size());
    for (std::size_t k = 0; k < w.size(); ++k) CHECK(g[k] == doctest::Approx(w[k]).epsilon(1e-4));
  }
  Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.1}});
  float before = 0, after = 0;
  {
    autograd::record rec;
    auto y = (*net)(x);
    auto l = (y * y).mean();
    before = l.asscalar();
    l.backward();
  }
  trainer.step(1);
  after = ((*net)(x) * (*net)(x)).mean().asscalar();
  CHECK(after < before);
}
TEST_CASE("errors name the file, the node, the op and the opset; nothing half-made") {
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::imports("/nonexistent/model.onnx"),
                       doctest::Contains("'/nonexistent/model.onnx': cannot open"), ValueError);
  const auto junk = out_dir() / "junk.onnx";
  std::ofstream(junk) << "this is not a protobuf message \xff\xff\xff";
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::imports(junk.string()), doctest::Contains("not an ONNX model"), ValueError);
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto& g = *m.mutable_graph();
  auto& in = *g.add_input();
  in.set_name("x");
  in.mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto_DataType_FLOAT);
  in.mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(3);
  g.add_output()->set_name("y");
  auto& n = *g.add_node();
  n.set_op_type("Gelu");
  n.set_name("act");
  n.add_input("x");
  n.add_output("y");
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(m, "mem.onnx"),
                       doctest::Contains("'mem.onnx': node 'act' (op Gelu, opset 13): this op is not supported"),
                       ValueError);
  // Found by fuzz_onnx_import: a Reshape without its shape input threw std::out_of_range.
  n.set_op_type("Reshape");
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(m, "mem.onnx"),
                       doctest::Contains("node 'act' (op Reshape, opset 13): 1 inputs given, 2 to 2 expected"),
                       ValueError);
  n.set_op_type("Conv");
  n.add_input("w");
  auto& pad = *n.add_attribute();
  pad.set_name("auto_pad");
  pad.set_type(::onnx::AttributeProto_AttributeType_STRING);
  pad.set_s("SAME");  // not one of ONNX's values (NOTSET, VALID, SAME_UPPER, SAME_LOWER)
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(m, "mem.onnx"),
                       doctest::Contains("node 'act' (op Conv, opset 13): attribute 'auto_pad' = 'SAME' is not"),
                       ValueError);
  // A tensor whose dimensions promise more than it holds: refused before anything is allocated.
  n.set_op_type("Relu");
  n.mutable_attribute()->Clear();
  auto& big = *g.add_initializer();
  big.set_name("w");
  big.set_data_type(::onnx::TensorProto_DataType_FLOAT);
  big.add_dims(1000000);
  big.add_dims(1000000);
  big.set_raw_data(std::string(16, '\0'));
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(m, "mem.onnx"),
                       doctest::Contains("initializer 'w' of shape (1000000, 1000000) holds 16 bytes of data "
                                         "(4000000000000 expected)"),
                       ValueError);
  m.mutable_opset_import(0)->set_version(9);
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(m, "mem.onnx"), doctest::Contains("opset 9 is not supported"),
                       ValueError);
}
}

namespace {
// A model of one float input and one output written node by node with ONNX's classes, as other
// tools write them; expected outputs in the tests below come from plain loops, not from gluino.
struct ModelBuilder {
  ::onnx::ModelProto m;
  explicit ModelBuilder(int opset = 13) {
    m.set_ir_version(8);
    m.add_opset_import()->set_version(opset);
  }
  ::onnx::GraphProto& g() { return *m.mutable_graph(); }
  void input(const std::string& name, const std::vector<std::int64_t>& dims) {
    auto& t = *g().add_input();
    t.set_name(name);
    t.mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto_DataType_FLOAT);
    for (auto d : dims) t.mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void output(const std::string& name) { g().add_output()->set_name(name); }
  ::onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
    auto& n = *g().add_node();
    n.set_op_type(op);
    n.set_name(out + "_node");
    for (const auto& s : in) n.add_input(s);
    n.add_output(out);
    return n;
  }
  static void attr(::onnx::NodeProto& n, const char* key, std::int64_t v) {
    auto& a = *n.add_attribute();
    a.set_name(key);
    a.set_type(::onnx::AttributeProto_AttributeType_INT);
    a.set_i(v);
  }
  static void attr(::onnx::NodeProto& n, const char* key, const std::vector<std::int64_t>& v) {
    auto& a = *n.add_attribute();
    a.set_name(key);
    a.set_type(::onnx::AttributeProto_AttributeType_INTS);
    for (auto x : v) a.add_ints(x);
  }
  ::onnx::TensorProto& int64_initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                                         const std::vector<std::int64_t>& v) {
    auto& t = *g().add_initializer();
    t.set_name(name);
    t.set_data_type(::onnx::TensorProto_DataType_INT64);
    for (auto d : dims) t.add_dims(d);
    for (auto x : v) t.add_int64_data(x);
    return t;
  }
  static void attr_s(::onnx::NodeProto& n, const char* key, const std::string& v) {
    auto& a = *n.add_attribute();
    a.set_name(key);
    a.set_type(::onnx::AttributeProto_AttributeType_STRING);
    a.set_s(v);
  }
  void float_initializer(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
    auto& t = *g().add_initializer();
    t.set_name(name);
    t.set_data_type(::onnx::TensorProto_DataType_FLOAT);
    for (auto d : dims) t.add_dims(d);
    for (auto x : v) t.add_float_data(x);
  }
  void bool_initializer(const std::string& name, bool v) {  // a scalar, as PyTorch writes training_mode
    auto& t = *g().add_initializer();
    t.set_name(name);
    t.set_data_type(::onnx::TensorProto_DataType_BOOL);
    t.add_int32_data(v ? 1 : 0);
  }
  // Writes the model and x with gluino's output y into GLUINO_ONNX_OUT as <name>.onnx and
  // <name>_io.json, for ONNX Runtime (tools/onnx/ort_compare.mjs).
  void save(const std::string& name, const NDArray<float>& x, const NDArray<float>& y) const {
    std::ofstream f(out_dir() / (name + ".onnx"), std::ios::binary);
    m.SerializeToOstream(&f);
    nlohmann::json io = {{"inputs", {tensor_json(m.graph().input(0).name(), x)}},
                         {"outputs", {tensor_json(m.graph().output(0).name(), y)}}};
    std::ofstream(out_dir() / (name + "_io.json")) << io.dump();
  }
};
std::string shape_str_of(const NDArray<float>& a) {
  std::ostringstream os;
  os << a.shape();
  return os.str();
}
NDArray<float> iota_batch(const Shape& s) {
  NDArray<float> x(s);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>((i * 7) % 11) - 5.0f;
  return x;
}
// ONNX's pooling along one axis with ceil_mode (as ONNX Runtime and PyTorch): the output count
// rounded up, less a last window that would start in the right padding.
std::size_t onnx_pool_count(std::size_t n, std::size_t k, std::size_t s, std::size_t p) {
  std::size_t out = (n + 2 * p - k + s - 1) / s + 1;
  if ((out - 1) * s >= n + p) --out;
  return out;
}
// One (H, W) plane pooled as ONNX defines it: max, or average dividing by the window clipped to
// the padded input (count_include_pad) or to the input.
std::vector<float> onnx_pool_plane(const float* x, std::size_t H, std::size_t W, std::size_t k, std::size_t s,
                                   std::size_t p, bool is_max, bool include_pad) {
  const std::size_t Ho = onnx_pool_count(H, k, s, p), Wo = onnx_pool_count(W, k, s, p);
  std::vector<float> y;
  for (std::size_t oh = 0; oh < Ho; ++oh)
    for (std::size_t ow = 0; ow < Wo; ++ow) {
      const long h0 = long(oh * s) - long(p), w0 = long(ow * s) - long(p);
      const long h1 = std::min(h0 + long(k), long(H + p)), w1 = std::min(w0 + long(k), long(W + p));
      float m = -1e30f, sum = 0;
      long count = 0;
      for (long h = std::max(h0, 0L); h < std::min(h1, long(H)); ++h)
        for (long w = std::max(w0, 0L); w < std::min(w1, long(W)); ++w) {
          const float v = x[std::size_t(h) * W + std::size_t(w)];
          m = std::max(m, v), sum += v, ++count;
        }
      y.push_back(is_max ? m : sum / float(include_pad ? (h1 - h0) * (w1 - w0) : count));
    }
  return y;
}
// ONNX's sliding window over one (H, W) plane with pads p = (top, bottom, left, right), no ceil_mode:
// op 'M' the max and 'A' the average of the window's input elements (include_pad: divided by the
// whole window), 'C' the sum of x times kern (k x k, dilation d) with zeros outside the input.
std::vector<float> window_plane(const float* x, std::size_t H, std::size_t W, std::size_t k, std::size_t s,
                                std::size_t d, const std::array<std::size_t, 4>& p, char op, bool include_pad = false,
                                const float* kern = nullptr) {
  const std::size_t span = (k - 1) * d + 1;
  const std::size_t Ho = (H + p[0] + p[1] - span) / s + 1, Wo = (W + p[2] + p[3] - span) / s + 1;
  std::vector<float> y;
  for (std::size_t oh = 0; oh < Ho; ++oh)
    for (std::size_t ow = 0; ow < Wo; ++ow) {
      float m = -1e30f, sum = 0;
      std::size_t count = 0;
      for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < k; ++j) {
          const long h = long(oh * s + i * d) - long(p[0]), w = long(ow * s + j * d) - long(p[2]);
          if (h < 0 || h >= long(H) || w < 0 || w >= long(W)) continue;
          const float v = x[std::size_t(h) * W + std::size_t(w)];
          m = std::max(m, v), sum += kern ? kern[i * k + j] * v : v, ++count;
        }
      y.push_back(op == 'M' ? m : op == 'C' ? sum : sum / float(include_pad ? k * k : count));
    }
  return y;
}
}  // namespace

TEST_SUITE("onnx/symbol_block") {
TEST_CASE("import: pooling with ceil_mode drops a last window that starts in the right padding (ONNX, PyTorch)") {
  // (5, 6) input, kernel 2, stride 2, pad 1: rounding up gives 4 x 4 windows; the fourth row's
  // starts at padded row 6, in the bottom padding, and ONNX Runtime and PyTorch give 3 x 4.
  for (const char* op : {"MaxPool", "AveragePool"})
    for (int include_pad : {0, 1}) {
      INFO(std::string(op), " count_include_pad ", include_pad);
      ModelBuilder b;
      b.input("x", {1, 2, 5, 6});
      auto& n = b.node(op, {"x"}, "y");
      ModelBuilder::attr(n, "kernel_shape", {2, 2});
      ModelBuilder::attr(n, "strides", {2, 2});
      ModelBuilder::attr(n, "pads", {1, 1, 1, 1});
      ModelBuilder::attr(n, "ceil_mode", 1);
      if (op == std::string("AveragePool")) ModelBuilder::attr(n, "count_include_pad", include_pad);
      b.output("y");
      const auto x = iota_batch({1, 2, 5, 6});
      auto y = (*nn::SymbolBlock::from_model(b.m))(x);
      REQUIRE(y.shape() == Shape{1, 2, 3, 4});
      for (std::size_t c = 0; c < 2; ++c) {
        const auto want = onnx_pool_plane(x.data() + c * 30, 5, 6, 2, 2, 1, op == std::string("MaxPool"), include_pad);
        for (std::size_t i = 0; i < want.size(); ++i) CHECK(y.data()[c * 12 + i] == doctest::Approx(want[i]));
      }
    }
  ModelBuilder b;  // 1-D: (5,) -> 3 windows, not 4
  b.input("x", {1, 1, 5});
  auto& n = b.node("MaxPool", {"x"}, "y");
  ModelBuilder::attr(n, "kernel_shape", std::vector<std::int64_t>{2});
  ModelBuilder::attr(n, "strides", std::vector<std::int64_t>{2});
  ModelBuilder::attr(n, "pads", {1, 1});
  ModelBuilder::attr(n, "ceil_mode", 1);
  b.output("y");
  const auto x = iota_batch({1, 1, 5});
  auto y = (*nn::SymbolBlock::from_model(b.m))(x);
  REQUIRE(y.shape() == Shape{1, 1, 3});
  CHECK(y.data()[0] == x.data()[0]);
  CHECK(y.data()[1] == std::max(x.data()[1], x.data()[2]));
  CHECK(y.data()[2] == std::max(x.data()[3], x.data()[4]));
}
TEST_CASE("import: Gather keeps the shape of its indices (a scalar drops the axis), negative indices count back") {
  auto gather = [](const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& idx) {
    ModelBuilder b;
    b.input("x", {3, 4});
    b.int64_initializer("i", dims, idx);
    b.node("Gather", {"x", "i"}, "y");
    b.output("y");
    return (*nn::SymbolBlock::from_model(b.m))(iota_batch({3, 4}));
  };
  const auto x = iota_batch({3, 4});
  auto row = [&](std::int64_t r) { return std::vector<float>(x.data() + r * 4, x.data() + r * 4 + 4); };
  const auto scalar = gather({}, {1});  // x[1]: PyTorch's export of x[1]
  CHECK(scalar.shape() == Shape{4});
  CHECK(scalar.to_vector() == row(1));
  const auto square = gather({2, 2}, {0, 2, 1, 1});
  CHECK(square.shape() == Shape{2, 2, 4});
  std::vector<float> want;
  for (std::int64_t r : {0, 2, 1, 1})
    for (float v : row(r)) want.push_back(v);
  CHECK(square.to_vector() == want);
  const auto back = gather({2}, {-1, -3});  // ONNX: indices in [-3, 2]
  CHECK(back.shape() == Shape{2, 4});
  want = row(2);
  for (float v : row(0)) want.push_back(v);
  CHECK(back.to_vector() == want);
  CHECK_THROWS_AS(gather({1}, {-4}), ValueError);
}
TEST_CASE("import: a value defined twice, int64 tensors not of their shape and out-of-range axes are refused") {
  auto message = [](ModelBuilder& b) {
    try {
      (void)(*nn::SymbolBlock::from_model(b.m, "bad.onnx"))(iota_batch({2, 3}));
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
    return std::string("imported");
  };
  auto contains = [](const std::string& what, const std::string& part) {
    INFO(what);
    CHECK(what.find(part) != std::string::npos);
  };
  {  // two nodes write y (ONNX Runtime: "Duplicate definition of name (y)")
    ModelBuilder b;
    b.input("x", {2, 3});
    b.node("Relu", {"x"}, "y");
    b.node("Neg", {"x"}, "y").set_name("second");
    b.output("y");
    contains(message(b), "'bad.onnx': node 'second' (op Neg, opset 13): its output 'y' is already defined");
  }
  {  // a node writes the graph input
    ModelBuilder b;
    b.input("x", {2, 3});
    b.node("Neg", {"x"}, "x").set_name("neg");
    b.node("Relu", {"x"}, "y");
    b.output("y");
    contains(message(b), "node 'neg' (op Neg, opset 13): its output 'x' is already defined");
  }
  {  // Reshape's shape of dims (3,) holding 2 values
    ModelBuilder b;
    b.input("x", {2, 3});
    b.int64_initializer("s", {3}, {3, 2});
    b.node("Reshape", {"x", "s"}, "y");
    b.output("y");
    contains(message(b), "tensor 's' of shape (3) holds 2 values");
  }
  for (const char* op : {"Concat", "Softmax", "LogSoftmax"}) {  // 2^32 + 1 is not axis 1
    ModelBuilder b;
    b.input("x", {2, 3});
    auto& n = b.node(op, {"x"}, "y");
    ModelBuilder::attr(n, "axis", (std::int64_t(1) << 32) + 1);
    b.output("y");
    contains(message(b), std::string("(op ") + op + ", opset 13): axis 4294967297 is out of range");
  }
  {
    ModelBuilder b;
    b.input("x", {2, 3});
    auto& n = b.node("ReduceMax", {"x"}, "y");
    ModelBuilder::attr(n, "axes", std::vector<std::int64_t>{std::int64_t(1) << 32});
    b.output("y");
    contains(message(b), "(op ReduceMax, opset 13): axis 4294967296 is out of range");
  }
  {  // axes given as one int, not ONNX's list of ints: not ignored (which reduced every axis)
    ModelBuilder b;
    b.input("x", {2, 3});
    ModelBuilder::attr(b.node("ReduceMax", {"x"}, "y"), "axes", std::int64_t(0));
    b.output("y");
    contains(message(b), "(op ReduceMax, opset 13): attribute 'axes' is of type INT, ONNX's is INTS");
  }
}
TEST_CASE("import: auto_pad VALID, SAME_UPPER and SAME_LOWER on Conv, MaxPool and AveragePool (ONNX's padding)") {
  // Input (1, 2, 5, 6).  SAME: out = ceil(in / s), total pad = (out - 1) s + (k - 1) d + 1 - in, the odd one
  // at the end (UPPER) or at the beginning (LOWER).  The pads (top, bottom, left, right), worked out by hand:
  struct Case {
    const char* auto_pad;
    std::size_t k, s, d;
    std::array<std::size_t, 4> pads;
  };
  const std::vector<Case> cases = {{"VALID", 3, 2, 1, {0, 0, 0, 0}},      {"SAME_UPPER", 3, 2, 1, {1, 1, 0, 1}},
                                   {"SAME_LOWER", 3, 2, 1, {1, 1, 1, 0}}, {"SAME_UPPER", 2, 1, 1, {0, 1, 0, 1}},
                                   {"SAME_LOWER", 2, 1, 1, {1, 0, 1, 0}}, {"SAME_UPPER", 3, 2, 2, {2, 2, 1, 2}},
                                   {"SAME_LOWER", 3, 2, 2, {2, 2, 2, 1}}};
  const auto x = iota_batch({1, 2, 5, 6});
  std::vector<float> w(18);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i % 5) - 2.0f + 0.25f * float(i);
  for (const char* op : {"MaxPool", "AveragePool", "AveragePool+pad", "Conv"})
    for (const Case& c : cases) {
      const std::string o = op;
      const bool conv = o == "Conv", avg = o.rfind("AveragePool", 0) == 0, include = o == "AveragePool+pad";
      if (c.d != 1 && !conv) continue;  // dilated pooling is not supported
      INFO(o, " ", std::string(c.auto_pad), " k ", c.k, " s ", c.s, " d ", c.d);
      ModelBuilder b;
      b.input("x", {1, 2, 5, 6});
      const auto kk = std::int64_t(c.k);
      if (conv) b.float_initializer("w", {1, 2, kk, kk}, std::vector<float>(w.begin(), w.begin() + 2 * kk * kk));
      auto& n = b.node(conv ? "Conv" : avg ? "AveragePool" : "MaxPool",
                       conv ? std::vector<std::string>{"x", "w"} : std::vector<std::string>{"x"}, "y");
      ModelBuilder::attr_s(n, "auto_pad", c.auto_pad);
      ModelBuilder::attr(n, "kernel_shape", {std::int64_t(c.k), std::int64_t(c.k)});
      ModelBuilder::attr(n, "strides", {std::int64_t(c.s), std::int64_t(c.s)});
      if (conv) ModelBuilder::attr(n, "dilations", {std::int64_t(c.d), std::int64_t(c.d)});
      if (avg) ModelBuilder::attr(n, "count_include_pad", std::int64_t(include));
      b.output("y");
      const auto y = (*nn::SymbolBlock::from_model(b.m))(x);
      std::vector<float> want;
      if (conv) {
        want = window_plane(x.data(), 5, 6, c.k, c.s, c.d, c.pads, 'C', false, w.data());
        const auto second = window_plane(x.data() + 30, 5, 6, c.k, c.s, c.d, c.pads, 'C', false, w.data() + kk * kk);
        for (std::size_t i = 0; i < want.size(); ++i) want[i] += second[i];
      } else {
        for (std::size_t ch = 0; ch < 2; ++ch)
          for (float v : window_plane(x.data() + ch * 30, 5, 6, c.k, c.s, 1, c.pads, avg ? 'A' : 'M', include))
            want.push_back(v);
      }
      const std::size_t span = (c.k - 1) * c.d + 1;
      REQUIRE(y.shape() == Shape{1, conv ? 1u : 2u, (5 + c.pads[0] + c.pads[1] - span) / c.s + 1,
                                 (6 + c.pads[2] + c.pads[3] - span) / c.s + 1});
      for (std::size_t i = 0; i < want.size(); ++i) CHECK(y.data()[i] == doctest::Approx(want[i]));
      if (c.d == 1)  // ONNX Runtime refuses a dilated Conv with SAME ("Dilation not supported")
        b.save("auto_pad_" + std::string(conv ? "conv" : !avg ? "max" : include ? "avg_pad" : "avg") + "_" +
                   c.auto_pad + "_k" + std::to_string(c.k) + "s" + std::to_string(c.s),
               x, y);
    }
  // Explicit pads that differ at the two ends of an axis take the same path (tf2onnx writes them).
  for (const char* op : {"MaxPool", "AveragePool", "Conv"}) {
    INFO(std::string(op));
    const bool conv = op == std::string("Conv");
    ModelBuilder b;
    b.input("x", {1, 2, 5, 6});
    if (conv) b.float_initializer("w", {1, 2, 3, 3}, w);
    auto& n = b.node(op, conv ? std::vector<std::string>{"x", "w"} : std::vector<std::string>{"x"}, "y");
    ModelBuilder::attr(n, "kernel_shape", {3, 3});
    ModelBuilder::attr(n, "pads", {0, 1, 2, 0});  // top 0, left 1, bottom 2, right 0
    b.output("y");
    const auto y = (*nn::SymbolBlock::from_model(b.m))(x);
    REQUIRE(y.shape() == Shape{1, conv ? 1u : 2u, 5, 5});
    std::vector<float> want;
    for (std::size_t ch = 0; ch < 2; ++ch) {
      const auto plane = window_plane(x.data() + ch * 30, 5, 6, 3, 1, 1, {0, 2, 1, 0}, conv ? 'C' : op[0],
                                      false, conv ? w.data() + ch * 9 : nullptr);
      if (!conv || ch == 0)
        want.insert(want.end(), plane.begin(), plane.end());
      else
        for (std::size_t i = 0; i < plane.size(); ++i) want[i] += plane[i];
    }
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(y.data()[i] == doctest::Approx(want[i]));
    b.save(std::string("asym_pads_") + (conv ? "conv" : op[0] == 'M' ? "max" : "avg"), x, y);
    auto hybrid = nn::SymbolBlock::from_model(b.m);  // the padding first and the ones mask trace too
    hybrid->hybridize();
    CHECK(max_abs_diff((*hybrid)(x), y) == 0.0f);
    CHECK(max_abs_diff((*hybrid)(x), y) == 0.0f);
  }
}
TEST_CASE("import: auto_pad with pads is refused; ConvTranspose's SAME padding when symmetric") {
  auto message = [](ModelBuilder& b, const Shape& in) {
    try {
      (void)(*nn::SymbolBlock::from_model(b.m, "bad.onnx"))(iota_batch(in));
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
    return std::string("imported");
  };
  for (const char* op : {"Conv", "MaxPool", "AveragePool"}) {
    ModelBuilder b;
    b.input("x", {1, 1, 4, 4});
    b.float_initializer("w", {1, 1, 2, 2}, {1, 2, 3, 4});
    auto& n = b.node(op, op == std::string("Conv") ? std::vector<std::string>{"x", "w"} : std::vector<std::string>{"x"},
                     "y");
    ModelBuilder::attr(n, "kernel_shape", {2, 2});
    ModelBuilder::attr(n, "pads", {0, 0, 0, 0});
    ModelBuilder::attr_s(n, "auto_pad", "SAME_UPPER");
    b.output("y");
    const std::string what = message(b, {1, 1, 4, 4});
    INFO(what);
    CHECK(what.find(std::string("node 'y_node' (op ") + op + ", opset 13): auto_pad 'SAME_UPPER' together with "
                    "explicit pads is invalid ONNX") != std::string::npos);
  }
  {  // pooling with ceil_mode and pads that differ at the ends of an axis
    ModelBuilder b;
    b.input("x", {1, 1, 4, 4});
    auto& n = b.node("MaxPool", {"x"}, "y");
    ModelBuilder::attr(n, "kernel_shape", {2, 2});
    ModelBuilder::attr(n, "pads", {0, 0, 1, 0});
    ModelBuilder::attr(n, "ceil_mode", 1);
    b.output("y");
    const std::string what = message(b, {1, 1, 4, 4});
    INFO(what);
    CHECK(what.find("(op MaxPool, opset 13): ceil_mode with different padding at the two ends of an axis is not "
                    "supported") != std::string::npos);
  }
  // ConvTranspose: SAME gives out = in * stride, total pad = (k - 1) d + 1 + output_padding - stride; gluino's
  // symmetric padding runs it when that is even (as explicit pads), and refuses an odd total naming the node.
  auto deconv = [](const char* auto_pad, const std::vector<std::int64_t>& pads, std::int64_t k, std::int64_t s) {
    ModelBuilder b;
    b.input("x", {1, 2, 3, 3});
    std::vector<float> w(std::size_t(2 * k * k));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) - 3.0f;
    b.float_initializer("w", {2, 1, k, k}, w);
    auto& n = b.node("ConvTranspose", {"x", "w"}, "y");
    if (auto_pad) ModelBuilder::attr_s(n, "auto_pad", auto_pad);
    if (!pads.empty()) ModelBuilder::attr(n, "pads", pads);
    ModelBuilder::attr(n, "strides", {s, s});
    b.output("y");
    return b;
  };
  const auto x = iota_batch({1, 2, 3, 3});
  for (const char* same : {"SAME_UPPER", "SAME_LOWER"}) {
    auto b = deconv(same, {}, 3, 1), ref = deconv(nullptr, {1, 1, 1, 1}, 3, 1);
    const auto y = (*nn::SymbolBlock::from_model(b.m))(x);
    CHECK(y.shape() == Shape{1, 1, 3, 3});
    CHECK(y.to_vector() == (*nn::SymbolBlock::from_model(ref.m))(x).to_vector());
    b.save(std::string("deconv_") + same, x, y);  // deconv_SAME_UPPER, deconv_SAME_LOWER
  }
  auto valid = deconv("VALID", {}, 3, 2), ref = deconv(nullptr, {}, 3, 2);
  const auto yv = (*nn::SymbolBlock::from_model(valid.m))(x);
  CHECK(yv.shape() == Shape{1, 1, 7, 7});
  CHECK(yv.to_vector() == (*nn::SymbolBlock::from_model(ref.m))(x).to_vector());
  auto odd = deconv("SAME_UPPER", {}, 3, 2);  // total 3 + 0 - 2 = 1
  const std::string what = message(odd, {1, 2, 3, 3});
  INFO(what);
  CHECK(what.find("(op ConvTranspose, opset 13): auto_pad 'SAME_UPPER' gives a total padding of 1 along axis 2, "
                  "which gluino's symmetric padding cannot split") != std::string::npos);
}
TEST_CASE("import: Dropout's ratio and training_mode inputs, and Pad's constant_value, are constants read at import") {
  auto dropout = [](float ratio, bool training) {
    ModelBuilder b;
    b.input("x", {2, 3});
    b.float_initializer("ratio", {}, {ratio});
    b.bool_initializer("training", training);
    b.node("Dropout", {"x", "ratio", "training"}, "y");
    b.output("y");
    return b;
  };
  const auto x = iota_batch({2, 3});
  for (float ratio : {0.0f, 0.5f, 0.9f}) {  // predict mode: the identity whatever the ratio
    auto b = dropout(ratio, false);
    auto net = nn::SymbolBlock::from_model(b.m);
    CHECK(net->collect_params().size() == 0);
    CHECK((*net)(x).to_vector() == x.to_vector());
  }
  {  // the ratio only, and a training_mode given as an empty name
    ModelBuilder b;
    b.input("x", {2, 3});
    b.float_initializer("ratio", {}, {0.3f});
    b.node("Dropout", {"x", "ratio", ""}, "y");
    b.output("y");
    auto net = nn::SymbolBlock::from_model(b.m);
    CHECK(net->collect_params().size() == 0);
    CHECK((*net)(x).to_vector() == x.to_vector());
  }
  auto message = [&](ModelBuilder b) {
    try {
      (void)(*nn::SymbolBlock::from_model(b.m, "bad.onnx"))(x);
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
    return std::string("imported");
  };
  // ONNX: with training_mode true Dropout drops (ONNX Runtime does, at inference too): refused, not ignored.
  std::string what = message(dropout(0.5f, true));
  INFO(what);
  CHECK(what.find("node 'y_node' (op Dropout, opset 13): training_mode = true (dropout at inference) is not "
                  "supported") != std::string::npos);
  what = message(dropout(1.0f, false));
  CHECK(what.find("(op Dropout, opset 13): ratio 1 is out of [0, 1)") != std::string::npos);
  {  // a ratio computed from the input cannot be read at import
    ModelBuilder b;
    b.input("x", {2, 3});
    b.node("ReduceMean", {"x"}, "r");
    b.node("Dropout", {"x", "r"}, "y");
    b.output("y");
    what = message(b);
    CHECK(what.find("(op Dropout, opset 13): ratio must be a constant scalar") != std::string::npos);
  }
  {  // Pad's constant_value: a constant, not a parameter
    ModelBuilder b;
    b.input("x", {2, 3});
    b.int64_initializer("pads", {4}, {0, 1, 0, 0});
    b.float_initializer("value", {}, {2.5f});
    b.node("Pad", {"x", "pads", "value"}, "y");
    b.output("y");
    auto net = nn::SymbolBlock::from_model(b.m);
    CHECK(net->collect_params().size() == 0);
    const auto y = (*net)(x);
    REQUIRE(y.shape() == Shape{2, 4});
    CHECK(y.to_vector() == std::vector<float>{2.5f, x.data()[0], x.data()[1], x.data()[2],
                                              2.5f, x.data()[3], x.data()[4], x.data()[5]});
    b.save("pad_constant_value", x, y);
  }
}
TEST_CASE("import: outputs after the first that nothing reads, or given as \"\", are accepted; read ones refused") {
  // Caffe2 and tf2onnx name Dropout's mask, MaxPool's Indices, BatchNormalization's statistics without reading them.
  const auto x = iota_batch({1, 1, 4, 4});
  for (const char* second : {"mask", ""}) {
    INFO(std::string(second));
    ModelBuilder b;
    b.input("x", {1, 1, 4, 4});
    auto& d = b.node("Dropout", {"x"}, "d");
    d.add_output(second);
    auto& p = b.node("MaxPool", {"d"}, "y");
    ModelBuilder::attr(p, "kernel_shape", {2, 2});
    p.add_output(std::string(second).empty() ? "" : "indices");
    b.output("y");
    const auto y = (*nn::SymbolBlock::from_model(b.m))(x);
    REQUIRE(y.shape() == Shape{1, 1, 3, 3});
    CHECK(y.data()[0] == std::max({x.data()[0], x.data()[1], x.data()[4], x.data()[5]}));
  }
  ModelBuilder b;
  b.input("x", {1, 1, 4, 4});
  auto& p = b.node("MaxPool", {"x"}, "p");
  ModelBuilder::attr(p, "kernel_shape", {2, 2});
  p.add_output("indices");
  b.node("Relu", {"indices"}, "y");
  b.output("y");
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(b.m, "bad.onnx"),
                       doctest::Contains("node 'p_node' (op MaxPool, opset 13): only the first output is supported "
                                         "(output 'indices' is read)"),
                       ValueError);
}
TEST_CASE("import: Gather's axis may count from the back (-rank is axis 0)") {
  ModelBuilder b;
  b.input("x", {3, 4});
  b.int64_initializer("i", {2}, {2, 0});
  ModelBuilder::attr(b.node("Gather", {"x", "i"}, "y"), "axis", std::int64_t(-2));
  b.output("y");
  const auto x = iota_batch({3, 4});
  const auto y = (*nn::SymbolBlock::from_model(b.m))(x);
  REQUIRE(y.shape() == Shape{2, 4});
  std::vector<float> want(x.data() + 8, x.data() + 12);
  want.insert(want.end(), x.data(), x.data() + 4);
  CHECK(y.to_vector() == want);
  ModelBuilder::attr(*b.g().mutable_node(0), "axis", std::int64_t(-1));
  b.g().mutable_node(0)->mutable_attribute()->DeleteSubrange(0, 1);
  CHECK_THROWS_WITH_AS((*nn::SymbolBlock::from_model(b.m))(x), doctest::Contains("only Gather along axis 0"),
                       ValueError);
}
TEST_CASE("import: axes as an attribute or an input as the opset says (not ignored)") {
  auto message = [](int opset, const char* op, bool as_input) {
    ModelBuilder b(opset);
    b.input("x", {2, 1, 3});
    std::vector<std::string> in = {"x"};
    if (as_input) b.int64_initializer("axes", {1}, {1}), in.push_back("axes");
    auto& n = b.node(op, in, "y");
    if (!as_input) ModelBuilder::attr(n, "axes", std::vector<std::int64_t>{1});
    b.output("y");
    try {
      return "imported " + shape_str_of((*nn::SymbolBlock::from_model(b.m, "bad.onnx"))(iota_batch({2, 1, 3})));
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
  };
  // The forms ONNX defines: Squeeze, Unsqueeze and ReduceSum take axes as an input from opset 13, the other
  // reductions as an attribute up to opset 17.
  CHECK(message(11, "Squeeze", false) == "imported (2, 3)");
  CHECK(message(13, "Squeeze", true) == "imported (2, 3)");
  CHECK(message(11, "Unsqueeze", false) == "imported (2, 1, 1, 3)");
  CHECK(message(13, "ReduceSum", true) == "imported (2, 1, 3)");
  CHECK(message(11, "ReduceSum", false) == "imported (2, 1, 3)");
  CHECK(message(13, "ReduceMean", false) == "imported (2, 1, 3)");
  // The others: ONNX Runtime refuses them; gluino ignored the axes (Squeeze dropped every axis of size 1).
  for (const char* op : {"Squeeze", "Unsqueeze", "ReduceSum"}) {
    INFO(std::string(op));
    CHECK(message(13, op, false).find(std::string("(op ") + op + ", opset 13): from opset 13 axes is an input, not an "
                                      "attribute") != std::string::npos);
    CHECK(message(12, op, true).find(std::string("(op ") + op + ", opset 12): before opset 13 axes is an attribute, "
                                     "not an input") != std::string::npos);
  }
  CHECK(message(13, "ReduceMax", true).find("(op ReduceMax, opset 13): before opset 18 axes is an attribute, not an "
                                            "input") != std::string::npos);
}
TEST_CASE("import: Softmax and LogSoftmax before opset 13 normalize the input coerced to 2-D at axis (default 1)") {
  // PyTorch writes softmax(dim=-1) at opset 11 and 12 as Softmax(axis = rank - 1): there the same as opset 13's.
  const auto x = iota_batch({2, 3, 4});
  for (const char* op : {"Softmax", "LogSoftmax"})
    for (std::int64_t axis : {std::int64_t(-1), std::int64_t(1), std::int64_t(0), std::int64_t(99)})
      for (int opset : {11, 12}) {
        INFO(std::string(op), " axis ", axis, " opset ", opset);
        ModelBuilder b(opset);
        b.input("x", {2, 3, 4});
        auto& n = b.node(op, {"x"}, "y");
        if (axis != 1) ModelBuilder::attr(n, "axis", axis);  // 1: ONNX's default before opset 13
        b.output("y");
        if (axis == 99) {
          CHECK_THROWS_WITH_AS((*nn::SymbolBlock::from_model(b.m))(x), doctest::Contains("axis 99 is out of range"),
                               ValueError);
          continue;
        }
        const auto y = (*nn::SymbolBlock::from_model(b.m))(x);
        REQUIRE(y.shape() == x.shape());
        // rows of the (outer, inner) view: inner = the product of the axes from axis on
        const std::size_t inner = axis == -1 ? 4 : axis == 1 ? 12 : 24;
        for (std::size_t r = 0; r < 24 / inner; ++r) {
          double sum = 0, top = -1e30;
          for (std::size_t i = 0; i < inner; ++i) top = std::max(top, double(x.data()[r * inner + i]));
          for (std::size_t i = 0; i < inner; ++i) sum += std::exp(double(x.data()[r * inner + i]) - top);
          for (std::size_t i = 0; i < inner; ++i) {
            const double z = double(x.data()[r * inner + i]) - top;
            const double want = op == std::string("Softmax") ? std::exp(z) / sum : z - std::log(sum);
            CHECK(y.data()[r * inner + i] == doctest::Approx(want).epsilon(1e-5));
          }
        }
        if (opset == 11 && op == std::string("Softmax"))
          b.save("softmax11_axis" + std::to_string(axis < 0 ? 2 : axis), x, y);
      }
}
}

namespace {
// A Constant node giving out, its value an int64 tensor of dims (none: a scalar).
void int_constant(ModelBuilder& b, const std::string& out, const std::vector<std::int64_t>& dims,
                  const std::vector<std::int64_t>& v) {
  auto& a = *b.node("Constant", {}, out).add_attribute();
  a.set_name("value");
  a.set_type(::onnx::AttributeProto_AttributeType_TENSOR);
  auto& t = *a.mutable_t();
  t.set_data_type(::onnx::TensorProto_DataType_INT64);
  for (auto d : dims) t.add_dims(d);
  for (auto x : v) t.add_int64_data(x);
}
// The input's first axis made symbolic ("batch"), as PyTorch's dynamic batch.
void symbolic_batch(ModelBuilder& b) {
  auto& shape = *b.g().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape.mutable_dim(0)->set_dim_param("batch");
}
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
}  // namespace

TEST_SUITE("onnx/symbol_block") {
TEST_CASE("import: int64 tensors computed on each call: Shape, Gather, Slice, (Un)squeeze, Concat, Reshape, Cast") {
  // Each model: int64 ops on the shape of x (2, 3, 4, 5) and on constants; its output is the result cast to float.
  // The expected values are ONNX's, worked out by hand.
  const auto x = iota_batch({2, 3, 4, 5});
  using Dims = std::vector<std::size_t>;
  using Values = std::vector<float>;
  auto result = [&](int opset, const std::function<std::string(ModelBuilder&)>& build) {
    ModelBuilder b(opset);
    b.input("x", {2, 3, 4, 5});
    const std::string r = build(b);
    ModelBuilder::attr(b.node("Cast", {r}, "y"), "to", std::int64_t(::onnx::TensorProto_DataType_FLOAT));
    b.output("y");
    const auto y = (*nn::SymbolBlock::from_model(b.m))(x);
    return std::pair<Dims, Values>{Dims(y.shape().begin(), y.shape().end()), y.to_vector()};
  };
  using R = std::pair<Dims, Values>;
  auto shape = [](std::int64_t start, std::int64_t end) {  // Shape(x) with start and end (opset 15)
    return [=](ModelBuilder& b) {
      auto& n = b.node("Shape", {"x"}, "s");
      if (start != 0) ModelBuilder::attr(n, "start", start);
      if (end != 99) ModelBuilder::attr(n, "end", end);
      return std::string("s");
    };
  };
  CHECK(result(13, shape(0, 99)) == R{{4}, {2, 3, 4, 5}});
  CHECK(result(15, shape(1, -1)) == R{{2}, {3, 4}});
  CHECK(result(15, shape(-10, 100)) == R{{4}, {2, 3, 4, 5}});  // clamped to the rank
  CHECK(result(15, shape(3, 1)) == R{{0}, {}});

  // Slice of [2, 3, 4, 5] (starts, ends, axes, steps; INT64_MAX and INT64_MIN as PyTorch writes open ends).
  auto slice = [](std::vector<std::int64_t> starts, std::vector<std::int64_t> ends, std::vector<std::int64_t> axes,
                  std::vector<std::int64_t> steps) {
    return [=](ModelBuilder& b) {
      b.node("Shape", {"x"}, "s");
      const auto k = std::int64_t(starts.size());
      int_constant(b, "starts", {k}, starts);
      int_constant(b, "ends", {k}, ends);
      std::vector<std::string> in = {"s", "starts", "ends"};
      if (!axes.empty()) int_constant(b, "axes", {k}, axes);
      if (!axes.empty() || !steps.empty()) in.push_back(axes.empty() ? "" : "axes");  // "": ONNX's omitted input
      if (!steps.empty()) int_constant(b, "steps", {k}, steps), in.push_back("steps");
      b.node("Slice", in, "r");
      return std::string("r");
    };
  };
  CHECK(result(13, slice({1}, {int64_max}, {}, {})) == R{{3}, {3, 4, 5}});
  CHECK(result(13, slice({-1}, {int64_min}, {0}, {-1})) == R{{4}, {5, 4, 3, 2}});
  CHECK(result(13, slice({-3}, {-1}, {}, {})) == R{{2}, {3, 4}});
  CHECK(result(13, slice({0}, {4}, {-1}, {2})) == R{{2}, {2, 4}});
  CHECK(result(13, slice({10}, {20}, {}, {})) == R{{0}, {}});
  CHECK(result(13, slice({-1}, {int64_min}, {}, {int64_min})) == R{{1}, {5}});  // a step of -2^63: one value
  CHECK(result(13, [](ModelBuilder& b) {  // a 2-D one, backwards along axis 1
          int_constant(b, "c", {2, 3}, {1, 2, 3, 4, 5, 6});
          int_constant(b, "starts", {1}, {2});
          int_constant(b, "ends", {1}, {0});
          int_constant(b, "axes", {1}, {1});
          int_constant(b, "steps", {1}, {-1});
          b.node("Slice", {"c", "starts", "ends", "axes", "steps"}, "r");
          return std::string("r");
        }) == R{{2, 2}, {3, 2, 6, 5}});

  // Gather: a scalar index drops the axis; negative indices count from the back; any axis of an int64 tensor.
  auto gather = [](std::vector<std::int64_t> idx_dims, std::vector<std::int64_t> idx, std::int64_t axis, bool c) {
    return [=](ModelBuilder& b) {
      if (c)
        int_constant(b, "s", {2, 3}, {1, 2, 3, 4, 5, 6});
      else
        b.node("Shape", {"x"}, "s");
      int_constant(b, "i", idx_dims, idx);
      auto& n = b.node("Gather", {"s", "i"}, "r");
      if (axis != 0) ModelBuilder::attr(n, "axis", axis);
      return std::string("r");
    };
  };
  CHECK(result(13, gather({}, {1}, 0, false)) == R{{}, {3}});
  CHECK(result(13, gather({2}, {-1, 0}, 0, false)) == R{{2}, {5, 2}});
  CHECK(result(13, gather({1, 2}, {2, 0}, 1, true)) == R{{2, 1, 2}, {3, 1, 6, 4}});
  CHECK(result(13, gather({1}, {-1}, -2, true)) == R{{1, 3}, {4, 5, 6}});

  // Unsqueeze and Squeeze (axes an attribute at opset 11, an input from 13), Concat, Reshape, Identity.
  CHECK(result(11, [](ModelBuilder& b) {  // PyTorch's opset-11 view: Gather, Unsqueeze(axes=[0]), Concat
          b.node("Shape", {"x"}, "s");
          int_constant(b, "zero", {}, {0});
          int_constant(b, "minus1", {1}, {-1});
          b.node("Gather", {"s", "zero"}, "n");
          ModelBuilder::attr(b.node("Unsqueeze", {"n"}, "n1"), "axes", std::vector<std::int64_t>{0});
          ModelBuilder::attr(b.node("Concat", {"n1", "minus1"}, "r"), "axis", std::int64_t(0));
          return std::string("r");
        }) == R{{2}, {2, -1}});
  CHECK(result(13, [](ModelBuilder& b) {
          b.node("Shape", {"x"}, "s");
          int_constant(b, "a", {2}, {0, -1});
          int_constant(b, "zero", {1}, {0});
          b.node("Unsqueeze", {"s", "a"}, "u");  // (1, 4, 1)
          b.node("Squeeze", {"u", "zero"}, "q");  // (4, 1)
          b.node("Identity", {"q"}, "r");
          return std::string("r");
        }) == R{{4, 1}, {2, 3, 4, 5}});
  CHECK(result(13, [](ModelBuilder& b) {  // Squeeze without axes: every axis of size 1
          int_constant(b, "c", {1, 2, 1}, {7, 8});
          b.node("Squeeze", {"c"}, "r");
          return std::string("r");
        }) == R{{2}, {7, 8}});
  CHECK(result(13, [](ModelBuilder& b) {
          int_constant(b, "c", {2, 3}, {1, 2, 3, 4, 5, 6});
          int_constant(b, "d", {2, 1}, {7, 8});
          ModelBuilder::attr(b.node("Concat", {"c", "d"}, "r"), "axis", std::int64_t(-1));
          return std::string("r");
        }) == R{{2, 4}, {1, 2, 3, 7, 4, 5, 6, 8}});
  CHECK(result(13, [](ModelBuilder& b) {
          int_constant(b, "c", {2, 3}, {1, 2, 3, 4, 5, 6});
          int_constant(b, "to", {2}, {3, -1});
          b.node("Reshape", {"c", "to"}, "r");
          return std::string("r");
        }) == R{{3, 2}, {1, 2, 3, 4, 5, 6}});
  // Cast to int32 wraps as ONNX's (and C++'s) conversion does; to int64 keeps.
  CHECK(result(13, [](ModelBuilder& b) {
          int_constant(b, "c", {3}, {(std::int64_t(1) << 32) + 5, -1, std::int64_t(1) << 31});
          ModelBuilder::attr(b.node("Cast", {"c"}, "c32"), "to", std::int64_t(::onnx::TensorProto_DataType_INT32));
          ModelBuilder::attr(b.node("Cast", {"c32"}, "r"), "to", std::int64_t(::onnx::TensorProto_DataType_INT64));
          return std::string("r");
        }) == R{{3}, {5, -1, -2147483648.0f}});
  // Constant's value_int, value_ints, value_float and value_floats.
  auto constant = [](const char* key, std::vector<float> v) {
    return [=](ModelBuilder& b) {
      auto& a = *b.node("Constant", {}, "r").add_attribute();
      a.set_name(key);
      const std::string k = key;
      a.set_type(k == "value_int"     ? ::onnx::AttributeProto_AttributeType_INT
                 : k == "value_ints"  ? ::onnx::AttributeProto_AttributeType_INTS
                 : k == "value_float" ? ::onnx::AttributeProto_AttributeType_FLOAT
                                      : ::onnx::AttributeProto_AttributeType_FLOATS);
      if (k == "value_int") a.set_i(std::int64_t(v[0]));
      if (k == "value_float") a.set_f(v[0]);
      for (float f : v) {
        if (k == "value_ints") a.add_ints(std::int64_t(f));
        if (k == "value_floats") a.add_floats(f);
      }
      return std::string("r");
    };
  };
  CHECK(result(13, constant("value_int", {7})) == R{{}, {7}});
  CHECK(result(13, constant("value_ints", {3, -1})) == R{{2}, {3, -1}});
  CHECK(result(13, constant("value_float", {2.5f})) == R{{}, {2.5f}});
  CHECK(result(13, constant("value_floats", {1.5f, -2})) == R{{2}, {1.5f, -2}});
  // Values that depend on the shape are refused when the forward knows them.
  CHECK_THROWS_WITH_AS(result(13, gather({1}, {4}, 0, false)),
                       doctest::Contains("(op Gather, opset 13): index 4 is out of range for axis 0 of size 4"),
                       ValueError);
}
TEST_CASE("import: a Reshape to a shape computed from the input's, hybridized at two batch sizes (ONNX Runtime too)") {
  // x (N, 2, 3, 4) -> Reshape to (-1, 3, 4) (its last two axes from Shape: with start at opset 15, by Slice at
  // 13) -> plus x's axis 1 (Gather of the Shape, Cast to float): (2N, 3, 4) holding x + 2.
  for (int opset : {13, 15}) {
    INFO("opset ", opset);
    ModelBuilder b(opset);
    b.input("x", {3, 2, 3, 4});
    symbolic_batch(b);
    if (opset == 15) {
      ModelBuilder::attr(b.node("Shape", {"x"}, "last2"), "start", std::int64_t(2));
    } else {
      b.node("Shape", {"x"}, "s");
      int_constant(b, "from", {1}, {2});
      int_constant(b, "to", {1}, {int64_max});
      b.node("Slice", {"s", "from", "to"}, "last2");
    }
    auto& minus1 = *b.node("Constant", {}, "minus1").add_attribute();
    minus1.set_name("value_ints");
    minus1.set_type(::onnx::AttributeProto_AttributeType_INTS);
    minus1.add_ints(-1);
    ModelBuilder::attr(b.node("Concat", {"minus1", "last2"}, "target"), "axis", std::int64_t(0));
    b.node("Reshape", {"x", "target"}, "r");
    b.node("Shape", {"x"}, "all");
    auto& one = *b.node("Constant", {}, "one").add_attribute();
    one.set_name("value_int");
    one.set_type(::onnx::AttributeProto_AttributeType_INT);
    one.set_i(1);
    b.node("Gather", {"all", "one"}, "c");
    ModelBuilder::attr(b.node("Cast", {"c"}, "cf"), "to", std::int64_t(::onnx::TensorProto_DataType_FLOAT));
    b.node("Add", {"r", "cf"}, "y");
    b.output("y");
    auto net = nn::SymbolBlock::from_model(b.m);
    CHECK(net->collect_params().size() == 0);
    auto check = [&](std::size_t n) {
      INFO("batch ", n);
      const auto x = iota_batch({n, 2, 3, 4});
      const auto y = (*net)(x);
      REQUIRE(y.shape() == Shape{2 * n, 3, 4});
      for (std::size_t i = 0; i < x.size(); ++i) CHECK(y.data()[i] == x.data()[i] + 2.0f);
      return y;
    };
    check(3), check(1);
    net->hybridize();
    const auto y = check(3);
    check(1), check(5), check(3);
    b.save("int_shape_reshape" + std::to_string(opset), iota_batch({3, 2, 3, 4}), y);
  }
}
TEST_CASE("import: a float tensor where an int64 one is expected, or the reverse, is refused at import") {
  // Refused by from_model itself, naming the node, its op and the opset; the forward is not needed.
  auto refused = [](ModelBuilder& b) {
    try {
      (void)nn::SymbolBlock::from_model(b.m, "kinds.onnx");
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
    return std::string("imported");
  };
  auto contains = [](const std::string& what, const std::string& part) {
    INFO(what);
    CHECK(what.find(part) != std::string::npos);
  };
  auto model = [](const std::function<void(ModelBuilder&)>& build, int opset = 13) {
    ModelBuilder b(opset);
    b.input("x", {2, 3});
    b.node("Shape", {"x"}, "s");
    build(b);
    b.output("y");
    return b;
  };
  {  // a Reshape to a float tensor's values
    auto b = model([](ModelBuilder& m) {
      m.float_initializer("f", {2}, {3, 2});
      m.node("Reshape", {"x", "f"}, "y");
    });
    contains(refused(b), "'kinds.onnx': node 'y_node' (op Reshape, opset 13): input 1 ('f') is a float tensor, an "
                         "int64 tensor is expected");
  }
  {  // a shape added to a float tensor
    auto b = model([](ModelBuilder& m) { m.node("Add", {"x", "s"}, "y"); });
    contains(refused(b), "node 'y_node' (op Add, opset 13): input 1 ('s') is an int64 tensor, a float tensor is "
                         "expected");
  }
  {  // Concat of the two kinds, either way round
    auto b = model([](ModelBuilder& m) { m.node("Concat", {"x", "s"}, "y"); });
    contains(refused(b), "(op Concat, opset 13): input 1 ('s') is an int64 tensor, a float tensor is expected");
    auto c = model([](ModelBuilder& m) {
      m.node("Concat", {"s", "x"}, "t");
      m.node("Reshape", {"x", "t"}, "y");
    });
    contains(refused(c), "(op Concat, opset 13): input 1 ('x') is a float tensor, an int64 tensor is expected");
  }
  {  // Unsqueeze's axes and Pad's pads as float tensors
    auto b = model([](ModelBuilder& m) {
      m.float_initializer("f", {1}, {0});
      m.node("Unsqueeze", {"x", "f"}, "y");
    });
    contains(refused(b), "(op Unsqueeze, opset 13): input 1 ('f') is a float tensor, an int64 tensor is expected");
    auto c = model([](ModelBuilder& m) {
      m.float_initializer("p", {4}, {0, 0, 0, 0});
      m.node("Pad", {"x", "p"}, "y");
    });
    contains(refused(c), "(op Pad, opset 13): input 1 ('p') is a float tensor, an int64 tensor is expected");
  }
  {  // Gather: float indices; a float tensor cast to int64 indexing an int64 tensor
    auto b = model([](ModelBuilder& m) { m.node("Gather", {"x", "x"}, "y"); });
    contains(refused(b), "(op Gather, opset 13): input 1 ('x') is a float tensor, an int64 tensor is expected");
    auto c = model([](ModelBuilder& m) {
      ModelBuilder::attr(m.node("Cast", {"x"}, "i"), "to", std::int64_t(::onnx::TensorProto_DataType_INT64));
      m.node("Gather", {"s", "i"}, "t");
      m.node("Reshape", {"x", "t"}, "y");
    });
    contains(refused(c), "(op Gather, opset 13): input 1 ('i') is a float tensor cast to an integer type, an int64 "
                         "tensor is expected");
  }
  {  // a Slice of a float tensor
    auto b = model([](ModelBuilder& m) {
      m.int64_initializer("a", {1}, {0});
      m.int64_initializer("e", {1}, {1});
      m.node("Slice", {"x", "a", "e"}, "y");
    });
    contains(refused(b), "(op Slice, opset 13): input 0 ('x') is a float tensor: only a Slice of an int64 tensor");
  }
  {  // an int64 output; a bool constant read as a float tensor
    auto b = model([](ModelBuilder& m) { m.node("Identity", {"s"}, "y"); });
    contains(refused(b), "'kinds.onnx': the model's output 'y' is an int64 tensor, only a float tensor is supported");
    auto c = model([](ModelBuilder& m) {
      auto& a = *m.node("Constant", {}, "flag").add_attribute();
      a.set_name("value");
      a.set_type(::onnx::AttributeProto_AttributeType_TENSOR);
      a.mutable_t()->set_data_type(::onnx::TensorProto_DataType_BOOL);
      a.mutable_t()->add_int32_data(1);
      m.node("Add", {"x", "flag"}, "y");
    });
    contains(refused(c), "(op Add, opset 13): input 1 ('flag') is a bool constant, a float tensor is expected");
  }
  {  // Shape's start and end before opset 15; a Constant of two values, or of a string
    auto b = model([](ModelBuilder& m) {
      ModelBuilder::attr(m.node("Shape", {"x"}, "t"), "start", std::int64_t(1));
      m.node("Relu", {"x"}, "y");
    });
    contains(refused(b), "(op Shape, opset 13): start and end are attributes of Shape from opset 15 on");
    auto c = model([](ModelBuilder& m) {
      auto& n = m.node("Constant", {}, "k");
      ModelBuilder::attr(n, "value_int", std::int64_t(1));
      ModelBuilder::attr(n, "value_ints", std::vector<std::int64_t>{1});
      m.node("Relu", {"x"}, "y");
    });
    contains(refused(c), "(op Constant, opset 13): a Constant has one attribute, its value; this one has 2");
    auto d = model([](ModelBuilder& m) {
      ModelBuilder::attr_s(m.node("Constant", {}, "k"), "value_string", "text");
      m.node("Relu", {"x"}, "y");
    });
    contains(refused(d), "(op Constant, opset 13): attribute 'value_string' is not supported");
  }
}
}

TEST_SUITE("onnx/export") {
TEST_CASE("pooling with ceil_mode whose last window lies in the padding: ONNX's MaxPool / AveragePool, then a Pad") {
  // Gluon's ceil_mode keeps a last window that starts in the right padding (its output is 0);
  // ONNX's ceil_mode drops it, so the export pads the pooled output by one zero on that axis.
  // (A Pad read by a pooling is merged into it by ONNX Runtime's PadFusion, past the pads its
  // pooling kernels accept: each pooling is exported alone here.)
  nn::MaxPool2D max{2, 2, {.padding = 1, .ceil_mode = true}};  // (5, 6): the height's last window dropped
  const auto m = export_and_check("pool_ceil_pad", max, {1, 2, 5, 6});
  CHECK(op_types(m) == std::vector<std::string>{"MaxPool", "Pad"});
  nn::AvgPool2D avg{2, 2, {.padding = 1, .ceil_mode = true, .count_include_pad = false}};  // (5, 5): both axes
  CHECK(op_types(export_and_check("avg_pool_ceil_pad", avg, {1, 2, 5, 5})) ==
        std::vector<std::string>{"AveragePool", "Pad"});
  for (const auto& node : m.graph().node())  // rounded down there: read alike by every ONNX reader
    if (node.op_type() == "MaxPool" || node.op_type() == "AveragePool")
      for (const auto& a : node.attribute())
        if (a.name() == "ceil_mode") CHECK(a.i() == 0);
  nn::HybridSequential one_d;  // 1-D: MaxPool1D, (7,) -> (5,) with a window in the padding
  one_d.add(nn::MaxPool1D{2, 2, {.padding = 1, .ceil_mode = true}});
  one_d.initialize();
  export_and_check("pool1d_ceil_pad", one_d, {1, 2, 7});
  nn::HybridSequential up;  // rounding up adds a window that starts in the input: ONNX's ceil_mode, no Pad
  up.add(nn::MaxPool2D{3, 2, {.ceil_mode = true}});
  up.initialize();
  const auto m_up = export_and_check("pool_ceil_up", up, {1, 2, 6, 6});
  CHECK(op_types(m_up) == std::vector<std::string>{"MaxPool"});
  // Both at once (a window in the padding along the height, one in the input along the width):
  // no ONNX form, refused naming the node.
  nn::MaxPool2D mixed{{2, 3}, 2, {.padding = 1, .ceil_mode = true}};
  CHECK_THROWS_WITH_AS(export_onnx(mixed, (out_dir() / "pool_mixed.onnx").string(), {1, 1, 5, 6}),
                       doctest::Contains("node 0 ('pooling', output (1, 1, 4, 4)): ceil_mode"), ValueError);
}
TEST_CASE("Dense with flatten = false on (N, 1, C): (N, 1, units), not Gemm's (N, units)") {
  nn::HybridSequential net;
  net.add(nn::Dense{4, {.flatten = false}});
  net.initialize();
  CHECK(net(nd::zeros<float>({3, 1, 5})).shape() == Shape{3, 1, 4});
  export_and_check("dense_no_flatten", net, {1, 1, 5});
}
}

namespace {
// Blocks whose output does not hold the batch on its axis 0: the sum over it, a transpose
// moving it to axis 1, and a stack putting a new axis before it.
class SumOverBatch : public nn::HybridCustomBlock<SumOverBatch> {
 public:
  NDArray<float> forward(const NDArray<float>& x) { return nd::sum(nd::tanh(x), 0); }
};
class BatchLast : public nn::HybridCustomBlock<BatchLast> {
 public:
  NDArray<float> forward(const NDArray<float>& x) { return nd::transpose(nd::relu(x), {1, 0}) * 2.0f; }
};
class StackFirst : public nn::HybridCustomBlock<StackFirst> {
 public:
  NDArray<float> forward(const NDArray<float>& x) {
    return nd::stack(std::vector<NDArray<float>>{nd::relu(x), nd::tanh(x)}, 0);
  }
};
// The output's dimensions: "batch" for a symbolic one, else the number.
std::vector<std::string> output_dims(const ::onnx::ModelProto& m) {
  std::vector<std::string> d;
  for (const auto& dim : m.graph().output(0).type().tensor_type().shape().dim())
    d.push_back(dim.has_dim_param() ? dim.dim_param() : std::to_string(dim.dim_value()));
  return d;
}
}  // namespace

TEST_SUITE("onnx/export") {
TEST_CASE("an output whose batch axis moved or went: the symbolic axis where the batch is, or none") {
  auto check = [](nn::Block& net, const std::string& name, const std::vector<std::string>& want_dims) {
    CAPTURE(name);
    const auto path = out_dir() / (name + ".onnx");
    const auto m = export_onnx(net, path.string(), {3, 4});
    CHECK_NOTHROW(::onnx::checker::check_model(m));
    CHECK(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param() == "batch");
    CHECK(output_dims(m) == want_dims);
    auto back = nn::SymbolBlock::imports(path.string());
    for (std::size_t n : {std::size_t{3}, std::size_t{5}}) {
      const auto x = random_batch({n, 4}, 30 + n);
      const auto y = net(x);
      CHECK(max_abs_diff((*back)(x), y) <= 1e-6f);
      nlohmann::json io = {{"inputs", {tensor_json("data", x)}}, {"outputs", {tensor_json("output", y)}}};
      std::ofstream(out_dir() / (name + (n == 3 ? "" : "_b5") + "_io.json")) << io.dump();
    }
  };
  SumOverBatch sum;
  check(sum, "sum_over_batch", {"4"});  // was ("batch"): a (4,) output
  BatchLast last;
  check(last, "batch_last", {"4", "batch"});  // was ("batch", 3): (4, 5) at batch 5
  StackFirst stack;
  check(stack, "stack_first", {"2", "batch", "4"});  // was a fixed batch of 3
}
}

TEST_SUITE("onnx/export") {
TEST_CASE("input and output names that clash with each other or with a parameter's are refused; no file is left") {
  nn::HybridSequential net;
  net.add(nn::Dense{3, {.in_units = 4}});
  net.initialize();
  const std::string weight = net.collect_params().begin()->first;
  const auto path = out_dir() / "name_clash.onnx";
  std::filesystem::remove(path);
  for (const auto& opt : {OnnxExportOptions{.input_name = "x", .output_name = "x"},
                          OnnxExportOptions{.input_name = weight}, OnnxExportOptions{.output_name = weight},
                          OnnxExportOptions{.input_name = ""}, OnnxExportOptions{.output_name = ""}}) {
    CAPTURE(opt.input_name);
    CAPTURE(opt.output_name);
    CHECK_THROWS_WITH_AS(export_onnx(net, path.string(), {2, 4}, opt), doctest::Contains("onnx export: "), ValueError);
    CHECK_FALSE(std::filesystem::exists(path));
  }
  CHECK_NOTHROW(export_onnx(net, path.string(), {2, 4}, {.input_name = "x", .output_name = "y"}));
}
TEST_CASE("to_onnx: one value given as two outputs is made twice (an Identity for the second)") {
  const auto x = random_batch({2, 3}, 40);
  const graph::Graph<float> g = graph::trace<float>(
      [](const std::vector<NDArray<float>>& in) {
        const auto y = nd::relu(in[0]);
        return std::vector<NDArray<float>>{y, y, in[0], in[0]};
      },
      {{"data", x}}, {}, "two_outputs");
  const auto m = to_onnx(g);
  CHECK_NOTHROW(::onnx::checker::check_model(m));
  std::vector<std::string> made;
  for (const auto& n : m.graph().node())
    for (const auto& o : n.output()) made.push_back(o);
  REQUIRE(m.graph().output_size() == 4);
  for (const auto& o : m.graph().output()) {
    CAPTURE(o.name());
    CHECK(std::count(made.begin(), made.end(), o.name()) == 1);  // each output made by one node
  }
}
}

TEST_SUITE("onnx/export") {
TEST_CASE("the file is replaced atomically: a failed write leaves the old file whole, no temporary; links kept") {
  nn::HybridSequential net;
  net.add(nn::Dense{3, {.in_units = 4}});
  net.initialize();
  const auto dir = out_dir() / "atomic";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = dir / "m.onnx";
  auto read = [](const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  std::ofstream(path) << "old model";
  std::ofstream(dir / "m.onnx.tmp") << "someone's file";  // not ours to overwrite or remove
  detail::fail_writes_after_bytes = 100;                 // the disk fills up after 100 bytes
  CHECK_THROWS_AS(export_onnx(net, path.string(), {2, 4}), ValueError);
  detail::fail_writes_after_bytes.reset();
  CHECK(read(path) == "old model");
  CHECK(read(dir / "m.onnx.tmp") == "someone's file");
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 2);
  // Through a symbolic link: the file it points to is replaced, the link stays.
  std::filesystem::create_symlink("m.onnx", dir / "link.onnx");
  const auto m = export_onnx(net, (dir / "link.onnx").string(), {2, 4});
  CHECK(std::filesystem::is_symlink(dir / "link.onnx"));
  std::string bytes;
  REQUIRE(m.SerializeToString(&bytes));
  CHECK(read(path) == bytes);
  CHECK(read(dir / "m.onnx.tmp") == "someone's file");
  // A folder that does not exist is named.
  CHECK_THROWS_WITH_AS(export_onnx(net, (dir / "no" / "m.onnx").string(), {2, 4}),
                       doctest::Contains("does not exist"), ValueError);
}
}

TEST_SUITE("onnx/export") {
TEST_CASE("to_onnx of a hybridized block's predict graph: its folded convolution and batch norm are Conv, BatchNormalization") {
  for (bool fix_gamma : {false, true}) {
    CAPTURE(fix_gamma);
    nn::HybridSequential net;
    net.add(nn::Conv2D{4, 3, {.padding = 1}}, nn::BatchNorm{{.scale = !fix_gamma}}, nn::Activation{"relu"},
            nn::Conv2D{3, 3, {.use_bias = false}}, nn::BatchNorm{}, nn::Flatten{}, nn::Dense{5});
    net.initialize(init::Xavier{});
    {  // running statistics away from (0, 1)
      autograd::train_mode tm;
      for (int i = 0; i < 3; ++i) (void)net(random_batch({4, 2, 8, 8}, std::uint64_t(50 + i)));
    }
    net.hybridize();
    const auto x = random_batch({3, 2, 8, 8}, 53);
    const auto y = net(x);
    (void)net(x);
    REQUIRE(net.cached_graphs().size() == 1);
    std::ostringstream printed;
    printed << *net.cached_graphs()[0];
    CHECK(printed.str().find("convolution_batch_norm") != std::string::npos);  // folded
    const auto m = to_onnx(*net.cached_graphs()[0]);
    CHECK_NOTHROW(::onnx::checker::check_model(m));
    const auto ops = op_types(m);
    CHECK(std::count(ops.begin(), ops.end(), "BatchNormalization") == 2);
    const auto back = nn::SymbolBlock::from_model(m);
    CHECK(max_abs_diff((*back)(x), y) <= 1e-5f);
    const auto x2 = random_batch({2, 2, 8, 8}, 54);
    CHECK(max_abs_diff((*back)(x2), net(x2)) <= 1e-5f);
    // export_onnx traces the network again (batch_norm nodes, not folded): the same numbers.
    const auto m2 = export_onnx(net, (out_dir() / "folded_source.onnx").string(), {3, 2, 8, 8});
    CHECK(max_abs_diff((*nn::SymbolBlock::from_model(m2))(x), y) <= 1e-5f);
  }
}
}

namespace {
// At a batch of 1, the input broadcast against a (3, 4) parameter: the output's axis 0 is 3 at
// any batch of 1 and the model does not hold for other batches.
class PlusRows : public nn::HybridCustomBlock<PlusRows> {
 public:
  PlusRows() { w_ = this->params().get("w", Shape{3, 4}); }
  NDArray<float> forward(const NDArray<float>& x) { return x + w_->data(); }
  std::shared_ptr<nn::Parameter> w_;
};
}  // namespace

TEST_SUITE("onnx/export") {
TEST_CASE("a batch of 1 broadcast against a parameter's axis: a fixed batch, not (batch, 4) holding 3 rows") {
  PlusRows net;
  net.initialize();
  const auto m = export_onnx(net, (out_dir() / "plus_rows.onnx").string(), {1, 4});
  CHECK(m.graph().input(0).type().tensor_type().shape().dim(0).dim_value() == 1);
  CHECK(output_dims(m) == std::vector<std::string>{"3", "4"});
}
}

TEST_SUITE("onnx/symbol_block") {
// A hostile model (written node by node) whose op fails only when it runs, on the input's shape: the op's own
// error, of its own type, naming the block, the file, the node, its op and the opset.
TEST_CASE("import: an op's error at run time names the file, the node, its op and the opset (type kept)") {
  auto run = [](ModelBuilder& b, const Shape& in) {
    (void)(*nn::SymbolBlock::from_model(b.m, "run.onnx"))(iota_batch(in));
  };
  {  // (2, 4) + (3,): no broadcast
    ModelBuilder b;
    b.input("x", {2, 4});
    b.float_initializer("c", {3}, {1, 2, 3});
    b.node("Add", {"x", "c"}, "y").set_name("plus");
    b.output("y");
    CHECK_THROWS_WITH_AS(run(b, {2, 4}),
                         doctest::Contains("'run.onnx': node 'plus' (op Add, opset 13): add: shapes (2, 4) and (3,)"),
                         ShapeError);
  }
  {  // Gemm of a (2, 4) input by a (3, 5) weight transposed
    ModelBuilder b;
    b.input("x", {2, 4});
    b.float_initializer("w", {3, 5}, std::vector<float>(15, 1.0f));
    ModelBuilder::attr(b.node("Gemm", {"x", "w"}, "y"), "transB", 1);
    b.output("y");
    CHECK_THROWS_WITH_AS(run(b, {2, 4}), doctest::Contains("node 'y_node' (op Gemm, opset 13): "), ShapeError);
  }
  {  // a permutation that is none
    ModelBuilder b;
    b.input("x", {2, 4});
    ModelBuilder::attr(b.node("Transpose", {"x"}, "y"), "perm", std::vector<std::int64_t>{0, 0});
    b.output("y");
    CHECK_THROWS_WITH_AS(run(b, {2, 4}), doctest::Contains("node 'y_node' (op Transpose, opset 13): transpose: "),
                         ShapeError);
  }
  {  // a global pooling of a 5-D input
    ModelBuilder b;
    b.input("x", {1, 2, 2, 2, 2});
    b.node("GlobalAveragePool", {"x"}, "y");
    b.output("y");
    CHECK_THROWS_WITH_AS(run(b, {1, 2, 2, 2, 2}),
                         doctest::Contains("node 'y_node' (op GlobalAveragePool, opset 13): pooling: "), ShapeError);
  }
  {  // pads of 2^30 on both axes of a (1, 1) input: (2^31 + 1)^2 elements, refused before allocating
    ModelBuilder b;
    b.input("x", {1, 1});
    b.int64_initializer("p", {4}, std::vector<std::int64_t>(4, std::int64_t(1) << 30));
    b.node("Pad", {"x", "p"}, "y").set_name("huge");
    b.output("y");
    CHECK_THROWS_WITH_AS(run(b, {1, 1}), doctest::Contains("'run.onnx': node 'huge' (op Pad, opset 13): "), ValueError);
  }
  {  // a refusal of the importer's own at run time is not named twice
    ModelBuilder b;
    b.input("x", {2, 4});
    b.int64_initializer("p", {2}, {1, 1});
    b.node("Pad", {"x", "p"}, "y");
    b.output("y");
    try {
      run(b, {2, 4});
      FAIL("not refused");
    } catch (const ValueError& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find("node 'y_node' (op Pad, opset 13): pads has 2 values") != std::string::npos);
      CHECK(what.find("node 'y_node'") == what.rfind("node 'y_node'"));
    }
  }
}
TEST_CASE("import: errors in backward and in a hybridized replay name the node too (type kept)") {
  ModelBuilder b;  // z = erf(x * x): Mul saves x for its backward
  b.input("x", {2, 3});
  b.node("Mul", {"x", "x"}, "y").set_name("sq");
  b.node("Erf", {"y"}, "z").set_name("e");
  b.output("z");
  for (const bool hybrid : {false, true}) {
    CAPTURE(hybrid);
    auto net = nn::SymbolBlock::from_model(b.m, "bw.onnx");
    auto forward = [&](const NDArray<float>& x) {
      autograd::record rec;
      return (*net)(x);
    };
    if (hybrid) {
      net->hybridize();
      NDArray<float> x0 = iota_batch({2, 3});
      x0.attach_grad();
      forward(x0).backward();  // traces the recording graph; the calls below replay it
    }
    {  // x changed in place between forward and backward: the engine's message quotes the op with the node
      NDArray<float> x = iota_batch({2, 3});
      x.attach_grad();
      NDArray<float> z = forward(x);
      x.fill(0.5f);
      CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("of 'multiply, in symbolblock"), StateError);
      CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("_: 'bw.onnx': node 'sq' (op Mul, opset 13)' was modified"),
                           StateError);
    }
    {  // a second backward without retain_graph
      NDArray<float> x = iota_batch({2, 3});
      x.attach_grad();
      NDArray<float> z = forward(x);
      z.backward();
      CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("through 'erf, in symbolblock"), StateError);
      CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("_: 'bw.onnx': node 'e' (op Erf, opset 13)' was freed"),
                           StateError);
    }
    {  // the gradients are those of the ops themselves: 2x erf'(x^2) = 4x exp(-x^4) / sqrt(pi)
      NDArray<float> x = iota_batch({2, 3});
      x.attach_grad();
      forward(x).backward();
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double v = x.data()[i];
        CHECK(x.grad().data()[i] == doctest::Approx(4 * v * std::exp(-v * v * v * v) / std::sqrt(std::acos(-1.0))));
      }
    }
  }
  {  // an index out of range only in a replay (the trace's were in range): embedding's ValueError, named
    ModelBuilder g;
    g.input("i", {3});
    g.float_initializer("w", {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    ModelBuilder::attr(g.node("Cast", {"i"}, "j"), "to", std::int64_t(::onnx::TensorProto_DataType_INT64));
    g.node("Gather", {"w", "j"}, "y").set_name("lookup");
    g.output("y");
    auto net = nn::SymbolBlock::from_model(g.m, "gather.onnx");
    net->hybridize();
    NDArray<float> i(Shape{3});
    for (std::size_t k = 0; k < 3; ++k) i.data()[k] = float(k + 1);
    const NDArray<float> y = (*net)(i);  // traced
    CHECK(y.to_vector() == std::vector<float>{3, 4, 5, 6, 7, 8});
    i.data()[2] = 7;
    CHECK_THROWS_WITH_AS((*net)(i),
                         doctest::Contains("_: 'gather.onnx': node 'lookup' (op Gather, opset 13): embedding: "),
                         ValueError);
    CHECK(net->cached_graphs().size() == 1);  // it was the replay that failed
  }
}
TEST_CASE("import: Conv's and ConvTranspose's group must be at least 1; Gemm's A and B must be matrices") {
  for (const char* op : {"Conv", "ConvTranspose"})
    for (std::int64_t group : {std::int64_t(0), std::int64_t(-2)}) {
      ModelBuilder b;
      b.input("x", {1, 4, 3, 3});
      b.float_initializer("w", {4, 2, 1, 1}, std::vector<float>(8, 1.0f));
      ModelBuilder::attr(b.node(op, {"x", "w"}, "y"), "group", group);
      b.output("y");
      const std::string want =
          std::string("(op ") + op + ", opset 13): attribute 'group' = " + std::to_string(group) + " is out of range";
      CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(b.m, "g.onnx"), doctest::Contains(want.c_str()), ValueError);
    }
  {  // ONNX Runtime: "Gemm: Invalid shape for B"; it ran as a (2, 4) x (4,) product of shape (2,)
    ModelBuilder b;
    b.input("x", {2, 4});
    b.float_initializer("w", {4}, {1, 2, 3, 4});
    b.node("Gemm", {"x", "w"}, "y");
    b.output("y");
    CHECK_THROWS_WITH_AS((*nn::SymbolBlock::from_model(b.m, "g.onnx"))(iota_batch({2, 4})),
                         doctest::Contains("(op Gemm, opset 13): A and B must be matrices, got shapes (2, 4) and (4,)"),
                         ValueError);
  }
  {  // a 3-D A: it ran as a batched product of shape (2, 4, 2)
    ModelBuilder b;
    b.input("x", {2, 4, 4});
    b.float_initializer("w", {4, 2}, std::vector<float>(8, 1.0f));
    b.node("Gemm", {"x", "w"}, "y");
    b.output("y");
    CHECK_THROWS_WITH_AS((*nn::SymbolBlock::from_model(b.m, "g.onnx"))(iota_batch({2, 4, 4})),
                         doctest::Contains("(op Gemm, opset 13): A and B must be matrices, got shapes (2, 4, 4)"),
                         ValueError);
  }
}
TEST_CASE("import: two opsets for ONNX's domain are refused (Softmax's axis means another thing at 11 and 13)") {
  ModelBuilder b;  // opset 13
  b.m.add_opset_import()->set_version(11);
  b.input("x", {2, 3, 4});
  b.node("Softmax", {"x"}, "y");
  b.output("y");
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(b.m, "two.onnx"),
                       doctest::Contains("'two.onnx': ONNX's domain is imported twice, at opsets 13 and 11"),
                       ValueError);
  b.m.mutable_opset_import(1)->set_domain("com.microsoft");  // another domain's opset: the model imports
  CHECK_NOTHROW(nn::SymbolBlock::from_model(b.m, "two.onnx"));
}
TEST_CASE("import: an initializer named as the only input: refused, saying that it hides the input") {
  ModelBuilder b;
  b.input("x", {2, 3});
  b.float_initializer("x", {2, 3}, {1, 2, 3, 4, 5, 6});
  b.node("Relu", {"x"}, "y");
  b.output("y");
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(b.m, "hide.onnx"),
                       doctest::Contains("got 0 inputs and 1 outputs (inputs given by an initializer, not counted: 'x')"),
                       ValueError);
}
TEST_CASE("import: an input declared with a dimension of 0 (ONNX: a zero size, not a symbolic axis) is refused") {
  for (const std::vector<std::int64_t>& dims : {std::vector<std::int64_t>{0, 3}, std::vector<std::int64_t>{2, 0}}) {
    ModelBuilder b;
    b.input("x", dims);
    b.node("Relu", {"x"}, "y");
    b.output("y");
    const std::string want = "'zero.onnx': input 'x' of shape (" + std::to_string(dims[0]) + ", " +
                             std::to_string(dims[1]) + ") has a dimension of 0, which ONNX reads as a zero size";
    CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(b.m, "zero.onnx"), doctest::Contains(want.c_str()), ValueError);
  }
  ModelBuilder b;  // a symbolic axis: a dim_param, or no value; either takes any size
  b.input("x", {2, 3});
  auto& shape = *b.g().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape.mutable_dim(0)->set_dim_param("batch");
  shape.mutable_dim(1)->clear_dim_value();
  b.node("Relu", {"x"}, "y");
  b.output("y");
  auto net = nn::SymbolBlock::from_model(b.m, "zero.onnx");
  CHECK(net->input_shape() == std::vector<std::int64_t>{0, 0});
  const NDArray<float> x = iota_batch({4, 5});
  CHECK((*net)(x).to_vector() == nd::relu(x).to_vector());
}
TEST_CASE("import: an input declared with a negative dimension is refused") {
  ModelBuilder b;
  b.input("x", {2, -4});
  b.node("Relu", {"x"}, "y");
  b.output("y");
  CHECK_THROWS_WITH_AS(nn::SymbolBlock::from_model(b.m, "neg.onnx"),
                       doctest::Contains("'neg.onnx': input 'x' of shape (2, -4) has a negative dimension"),
                       ValueError);
}
}

TEST_SUITE("onnx/symbol_block") {
TEST_CASE("PyTorch's ordinary CNN at opsets 13 to 17: grouped, dilated Conv, BatchNorm, pools' ceil and padding") {
  // scripts/make_torch_cnn_onnx.py: Conv (pads (1, 2), dilation (1, 2); groups 4, stride 2), BatchNormalization
  // after a broadcasting Mul and Add, MaxPool (ceil_mode), AveragePool counting padding and not (PyTorch's Pad
  // first), Concat, x.reshape(x.shape[0], -1) as int64 ops, Flatten, Gemm (transB), Softmax; batch dynamic.
  // Each sample's output depends on it alone: batches of the fixture's inputs in another order and number have
  // PyTorch's outputs picked alike.
  const auto [x, want] = fixture_io("torch_cnn_io.json");
  for (int opset : {13, 14, 15, 16, 17}) {
    INFO("opset ", opset);
    auto net = nn::SymbolBlock::imports(GLUINO_TEST_DATA_DIR "/onnx/torch_cnn" + std::to_string(opset) + ".onnx");
    const auto ops = net->op_types();
    for (const char* op : {"BatchNormalization", "MaxPool", "AveragePool", "Concat", "Reshape", "Gemm", "Softmax"})
      CHECK(std::find(ops.begin(), ops.end(), op) != ops.end());
    CHECK(max_abs_diff((*net)(x), want) <= 1e-5f);
    for (const std::vector<std::size_t>& pick : {std::vector<std::size_t>{1}, {2, 0, 1, 1, 2}})
      CHECK(max_abs_diff((*net)(rows(x, pick)), rows(want, pick)) <= 1e-5f);
    net->hybridize();
    CHECK(max_abs_diff((*net)(rows(x, {2, 0})), rows(want, {2, 0})) <= 1e-5f);
    CHECK(max_abs_diff((*net)(x), want) <= 1e-5f);
    auto net64 = std::dynamic_pointer_cast<nn::BasicSymbolBlock<double>>(net->cast<double>());
    REQUIRE(net64 != nullptr);
    CHECK(max_abs_diff((*net64)(x.astype<double>()).astype<float>(), want) <= 1e-5f);
  }
}
TEST_CASE("a SymbolBlock's parameters saved and loaded: the outputs come back; running statistics too") {
  auto net = nn::SymbolBlock::imports(GLUINO_TEST_DATA_DIR "/onnx/torch_cnn13.onnx");
  const auto [x, want] = fixture_io("torch_cnn_io.json");
  const auto path = (out_dir() / "torch_cnn13.safetensors").string();
  net->save_parameters(path);
  auto again = nn::SymbolBlock::imports(GLUINO_TEST_DATA_DIR "/onnx/torch_cnn13.onnx");
  for (const auto& [name, p] : again->collect_params()) p->data().fill(0.5f);
  CHECK(max_abs_diff((*again)(x), want) > 1e-3f);
  again->load_parameters(path);
  CHECK(max_abs_diff((*again)(x), want) <= 1e-5f);
}
}
