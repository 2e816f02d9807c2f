// SPDX-License-Identifier: Apache-2.0
// custom_blocks: the tutorial's "creating neural networks with nn.Block" programs, in order,
// written with gluino.  Each section prints what the Gluon program prints:
//   1. MLP: a Block with two Dense children created in its name_scope(); automatic names
//      (mlp0_dense0_weight ...) and collect_params() after a forward on a (4, 20) input; an
//      explicit prefix (MLP("another_mlp_")).
//   2. FancyMLP: one Dense used twice, and a constant random weight that is not a parameter.
//   3. Sequential with name_scope: Dense(256, relu) then Dense(10).
//   4. RecMLP: a Block holding a Sequential, nested in another Sequential; printed with <<.
//   5. collect_params() and a custom initializer MyInit (weights in [5, 10), biases 2).
//   6. Shared parameters: two Dense layers with the same weight; their gradients add up.
//   7. CenteredLayer: a block without parameters that subtracts the mean.
//   8. Beyond the tutorial, what a C++ user meets: names fixed when blocks are made, indexing
//      (net[-1], net.at<nn::Dense>(i), net.slice), a custom parameter with a deferred shape
//      (infer_shape), a block of two inputs, and a cell returning (output, state).
//   9. Hybridizing (Gluon's HybridBlock and hybridize()): the MLP with nn::HybridCustomBlock as
//      its base runs as a graph with the same output; a forward looping on a value (the book's
//      next FancyMLP, `while x.norm().asscalar() > 1`) is refused (docs/hybridize.md).
//
// Build: with CMake (-DGLUINO_BUILD_EXAMPLES=ON) it is the target `custom_blocks`; by hand:
//   g++ -std=c++20 -O2 -fopenmp -I include -isystem /usr/include/eigen3 examples/custom_blocks.cpp -o custom_blocks
// Run:   ./custom_blocks          (no data, no options; runs in well under a second)
//
// Where the C++ differs from the tutorial's Python (besides the syntax) is said at each place;
// in short: a block of one's own derives from nn::CustomBlock<Itself> (so that it is named after
// its class, as Gluon's are); children are created with register_child (Gluon registers them on
// attribute assignment); name_scope() is an RAII guard; net.at<nn::Dense>(i) reaches a layer's
// weight (net[i] is a Block&); the tutorial's slips (self.dnese1, nn.Sequenctial, RecMLP's
// undefined self.dense, __init__weight) are written as what they mean.
#include <gluino/core/ndarray.hpp>
#include <gluino/core/print.hpp>
#include <gluino/core/random.hpp>
#include <gluino/init/initializer.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nn/activations.hpp>
#include <gluino/nn/basic_layers.hpp>
#include <gluino/nn/block.hpp>
#include <gluino/nn/custom_block.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/sequential.hpp>

#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>

using namespace gluino;

namespace {

void section(const std::string& title) { std::cout << "\n===== " << title << " =====\n"; }

/// Prints "name shape" for each parameter of a dict, one per line.
void print_params(const nn::ParameterDict& params) {
  for (const auto& [name, p] : params) std::cout << "  " << name << ' ' << p->shape() << '\n';
}

/// The largest |a - b| over all elements.
float max_abs_diff(const NDArray<float>& a, const NDArray<float>& b) { return nd::max(nd::abs(a - b)).asscalar(); }

// ---------------------------------------------------------------------------------------------
// 1. MLP.  Python:
//   class MLP(nn.Block):
//       def __init__(self, **kwargs):
//           super(MLP, self).__init__(**kwargs)
//           with self.name_scope():
//               self.dense0 = nn.Dense(256)
//               self.dense1 = nn.Dense(10)        # the tutorial misspells it self.dnese1
//       def forward(self, x):
//           return self.dense1(nd.relu(self.dense0(x)))
// The constructor's prefix is Gluon's prefix= keyword (the **kwargs passed to nn.Block).
// nn::CustomBlock<MLP> names the block after its class ("mlp0_"), as Python reads the class name.
class MLP : public nn::CustomBlock<MLP> {
 public:
  explicit MLP(std::string prefix = "") : CustomBlock(std::move(prefix)) {
    auto scope = name_scope();  // with self.name_scope():
    // Gluon registers a child when it is assigned to an attribute, under the attribute's name;
    // here register_child does it, and the second argument is that name.
    dense0 = register_child(nn::Dense{256}, "dense0");
    dense1 = register_child(nn::Dense{10}, "dense1");
  }
  NDArray<float> forward(const NDArray<float>& x) override { return (*dense1)(nd::relu((*dense0)(x))); }

  std::shared_ptr<nn::Dense> dense0, dense1;
};

// ---------------------------------------------------------------------------------------------
// 2. FancyMLP: the same Dense is applied twice (its parameters are used twice), and `weight_` is
// a constant random array: not registered with params().get, so it is not a parameter, is not
// initialized or trained, and does not appear in collect_params().
class FancyMLP : public nn::CustomBlock<FancyMLP> {
 public:
  FancyMLP() {
    auto scope = name_scope();
    dense = register_child(nn::Dense{256}, "dense");
    weight_ = nd::random::uniform<float>({256, 20});  // nd.random_uniform(shape=(256, 20))
  }
  NDArray<float> forward(const NDArray<float>& x0) override {
    NDArray<float> x = nd::relu((*dense)(x0));        // (4, 20) -> (4, 256)
    std::cout << "layer 1: " << x << '\n';
    x = nd::relu(nd::dot(x, weight_) + 1.0f);          // (4, 256) x (256, 20) -> (4, 20)
    std::cout << "layer 2: " << x << '\n';
    return nd::relu((*dense)(x));                      // the same Dense again: (4, 20) -> (4, 256)
  }

  std::shared_ptr<nn::Dense> dense;

 private:
  NDArray<float> weight_;
};

// ---------------------------------------------------------------------------------------------
// 4. RecMLP.  The tutorial's forward calls self.dense, which its constructor never defines: here
// it is a Dense(64) of RecMLP's own (linear, the relu is applied in forward), after the
// Sequential of Dense(256, relu), Dense(128, relu), Dense(64, relu).  The tutorial also creates
// self.net before opening name_scope(), which in Gluon names it "sequential0_" outside RecMLP;
// here every child is created inside the scope, so all names start with "recmlp0_".
class RecMLP : public nn::CustomBlock<RecMLP> {
 public:
  RecMLP() {
    auto scope = name_scope();
    net = register_child(nn::Sequential{}, "net");
    net->add(nn::Dense{256, {.activation = "relu"}});
    net->add(nn::Dense{128, {.activation = "relu"}});
    net->add(nn::Dense{64, {.activation = "relu"}});
    dense = register_child(nn::Dense{64}, "dense");
  }
  NDArray<float> forward(const NDArray<float>& x) override { return nd::relu((*dense)((*net)(x))); }

  std::shared_ptr<nn::Sequential> net;
  std::shared_ptr<nn::Dense> dense;
};

// ---------------------------------------------------------------------------------------------
// 5. MyInit.  Python (the tutorial writes __init__weight / __init__bias for Gluon's
// _init_weight / _init_bias, and `arr[:] = 2`):
//   class MyInit(init.Initializer):
//       def _init_weight(self, name, arr): nd.random.uniform(low=5, high=10, out=arr)
//       def _init_bias(self, name, arr):   arr[:] = 2
// The tutorial's `self._verbose = True` makes Gluon log each initialization; here the two
// methods print a line themselves.
struct MyInit : init::Initializer {
  void init_weight(const std::string& name, NDArray<float>& arr) override {
    std::cout << "  MyInit: init_weight " << name << ' ' << arr.shape() << '\n';
    nd::random::uniform<float>(5.0f, 10.0f, arr);  // out=arr: the shape comes from arr
  }
  void init_bias(const std::string& name, NDArray<float>& arr) override {
    std::cout << "  MyInit: init_bias   " << name << ' ' << arr.shape() << '\n';
    arr.fill(2.0f);  // arr[:] = 2
  }
};

// ---------------------------------------------------------------------------------------------
// 7. CenteredLayer: no parameters, so nothing to initialize.
//   class CenteredLayer(nn.Block):
//       def forward(self, x): return x - x.mean()
class CenteredLayer : public nn::CustomBlock<CenteredLayer> {
 public:
  NDArray<float> forward(const NDArray<float>& x) override { return x - x.mean(); }  // x.mean(): a 0-d array
};

// ---------------------------------------------------------------------------------------------
// 8. A custom parameter whose size comes from the input: y = x * scale, scale of shape
// (features,).  declare_param returns its position in params(); infer_shape sets the shape
// before the first forward, and the pending initialization then runs by itself.  The name
// "scale" is none an initializer knows: it gets the global initializer's init_weight (Gluon).
class Scale : public nn::CustomBlock<Scale> {
 public:
  Scale() { scale_ = declare_param("scale", Shape{0}); }
  void infer_shape(const NDArray<float>& x) override { param_at(scale_)->set_shape({x.shape(-1)}); }
  NDArray<float> forward(const NDArray<float>& x) override { return x * param_at(scale_)->data(); }

 private:
  std::size_t scale_;
};

// Two inputs (Gluon's forward(self, x, *args)): a gate computed from one input applied to the
// other.  Called as gate(x, y); a block of other arities is called on its own type and cannot be
// a Sequential's child (Sequential::add says so at compile time).
// Block's own forward(x) is hidden on purpose: the using-declaration, private, says so (clang's
// -Wall warns otherwise, -Woverloaded-virtual) and keeps gate(x) a compile-time error.
class Gate : public nn::CustomBlock<Gate> {
  using nn::CustomBlock<Gate>::forward;

 public:
  Gate() {
    auto scope = name_scope();
    proj = register_child(nn::Dense{4});
  }
  NDArray<float> forward(const NDArray<float>& x, const NDArray<float>& y) {
    return nd::sigmoid((*proj)(x)) * y;
  }
  std::shared_ptr<nn::Dense> proj;
};

// A recurrent cell returning (output, state), as Gluon's cells do: out, state = cell(x, state).
class TinyRNNCell : public nn::CustomBlock<TinyRNNCell> {
  using nn::CustomBlock<TinyRNNCell>::forward;  // Block's forward(x), hidden (as Gate's)

 public:
  explicit TinyRNNCell(std::size_t hidden) {
    auto scope = name_scope();
    i2h = register_child(nn::Dense{hidden});
    h2h = register_child(nn::Dense{hidden, {.use_bias = false, .in_units = hidden}});
  }
  std::pair<NDArray<float>, NDArray<float>> forward(const NDArray<float>& x, const NDArray<float>& h) {
    NDArray<float> next = nd::tanh((*i2h)(x) + (*h2h)(h));
    return {next, next};
  }
  std::shared_ptr<nn::Dense> i2h, h2h;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// 9. The MLP as Gluon writes it for hybridize(): class HybridMLP(nn.HybridBlock) with
// hybrid_forward(self, F, x).  In C++ only the base changes; forward is the MLP's.
class HybridMLP : public nn::HybridCustomBlock<HybridMLP> {
 public:
  HybridMLP() {
    auto scope = name_scope();
    dense0 = register_child(nn::Dense{256}, "dense0");
    dense1 = register_child(nn::Dense{10}, "dense1");
  }
  NDArray<float> forward(const NDArray<float>& x) override { return (*dense1)(nd::relu((*dense0)(x))); }

  std::shared_ptr<nn::Dense> dense0, dense1;
};
// Control flow on a value: `while x.norm().asscalar() > 1: x /= 2` (Dive into Deep Learning's
// FancyMLP).  Imperatively fine; a graph cannot follow it, so hybridize refuses it.
class HalvingMLP : public nn::HybridCustomBlock<HalvingMLP> {
 public:
  HalvingMLP() {
    auto scope = name_scope();
    dense = register_child(nn::Dense{20}, "dense");
  }
  NDArray<float> forward(const NDArray<float>& x0) override {
    NDArray<float> x = (*dense)(x0);
    while (nd::sqrt(nd::square(x).sum()).asscalar() > 1) x = x / 2.0f;
    return x;
  }
  std::shared_ptr<nn::Dense> dense;
};

int main() {
  random::seed(42);  // mx.random.seed(42): the same numbers on every run
  const NDArray<float> x = nd::random::uniform<float>({4, 20});  // x = nd.random.uniform(shape=(4, 20))

  // ----- 1. MLP -------------------------------------------------------------------------------
  section("1. MLP: a Block with name_scope");
  MLP net1;
  net1.initialize();
  NDArray<float> y = net1(x);
  std::cout << "y = net(x): " << y.shape() << '\n';
  std::cout << "default prefix: " << net1.dense0->name() << '\n';  // mlp0_dense0
  std::cout << "net.collect_params():\n";
  print_params(net1.collect_params());

  MLP net3("another_mlp_");  // net3 = MLP(prefix='another_mlp_')
  std::cout << "customized prefix: " << net3.dense0->name() << '\n';  // another_mlp_dense0
  std::cout << "net3.collect_params() (shapes not known until the first forward: 0):\n";
  print_params(net3.collect_params());

  // ----- 2. FancyMLP --------------------------------------------------------------------------
  section("2. FancyMLP: a Dense used twice and a constant weight");
  FancyMLP fancy_mlp;
  fancy_mlp.initialize();
  NDArray<float> fy = fancy_mlp(x);
  std::cout << "y.shape: " << fy.shape() << '\n';
  std::cout << "parameters (the constant (256, 20) weight is not one of them):\n";
  print_params(fancy_mlp.collect_params());

  // ----- 3. Sequential ------------------------------------------------------------------------
  section("3. Sequential with name_scope");
  nn::Sequential net;  // the tutorial's nn.Sequenctial()
  {
    auto scope = net.name_scope();  // with net.name_scope():
    net.add(nn::Dense{256, {.activation = "relu"}});
    net.add(nn::Dense{10});
  }
  net.initialize();
  std::cout << "net(x): " << net(x).shape() << '\n';
  std::cout << net << '\n';

  // ----- 4. RecMLP ----------------------------------------------------------------------------
  section("4. RecMLP: nesting blocks");
  nn::Sequential rec_mlp;
  rec_mlp.add(RecMLP{});
  rec_mlp.add(nn::Dense{10});
  std::cout << "print(rec_mlp) before the first forward (input sizes unknown):\n" << rec_mlp << '\n';
  rec_mlp.initialize();
  std::cout << "rec_mlp(x): " << rec_mlp(x).shape() << '\n';
  std::cout << "after it:\n" << rec_mlp << '\n';
  std::cout << "rec_mlp.collect_params():\n";
  print_params(rec_mlp.collect_params());

  // ----- 5. collect_params and MyInit -----------------------------------------------------
  section("5. Accessing parameters and a custom initializer");
  nn::ParameterDict params = net.collect_params();  // the Sequential of section 3
  std::cout << params << '\n';
  params.initialize(MyInit{}, {.force_reinit = true});
  // net[0] is a Block&: Gluon reaches net[0].weight dynamically; at<nn::Dense> gives the layer
  // (ValueError if it is another type).
  auto& dense0 = net.at<nn::Dense>(0);
  std::cout << "net[0].weight.data(): " << dense0.weight()->data() << '\n';
  std::cout << "net[0].bias.data():   " << dense0.bias()->data() << '\n';
  std::cout << "The bias is still 0: a Dense's bias has its own initializer (bias_initializer, Zero by\n"
               "default, Gluon's 'zeros'), which wins over the one given to initialize(), so MyInit's\n"
               "init_bias was not called (Gluon behaves the same).  With .bias_initializer = {} the\n"
               "bias has none, and MyInit decides:\n";
  nn::Sequential net_b;
  {
    auto scope = net_b.name_scope();
    net_b.add(nn::Dense{256, {.activation = "relu", .bias_initializer = {}, .in_units = 20}});
    net_b.add(nn::Dense{10, {.bias_initializer = {}, .in_units = 256}});
  }
  net_b.collect_params().initialize(MyInit{});
  auto& dense_b = net_b.at<nn::Dense>(0);
  std::cout << "net_b[0].weight.data(): " << dense_b.weight()->data() << '\n';
  std::cout << "net_b[0].bias.data():   " << dense_b.bias()->data() << '\n';

  // ----- 6. Shared parameters -----------------------------------------------------------------
  section("6. Shared parameters");
  nn::Sequential shared;
  {
    auto scope = shared.name_scope();
    shared.add(nn::Dense{4, {.activation = "relu", .in_units = 4}});
    // params=net[-1].params: the second Dense gets the first one's Parameter objects.
    shared.add(nn::Dense{4, {.activation = "relu", .in_units = 4, .params = shared[-1].params()}});
  }
  shared.initialize();
  auto& s0 = shared.at<nn::Dense>(0);
  auto& s1 = shared.at<nn::Dense>(1);
  std::cout << "net[0].weight.data(): " << s0.weight()->data() << '\n';
  std::cout << "net[1].weight.data(): " << s1.weight()->data() << '\n';
  std::cout << "same Parameter object: " << std::boolalpha << (s0.weight() == s1.weight()) << '\n';
  std::cout << "collect_params() lists it once:\n";
  print_params(shared.collect_params());

  // Gradients: the shared weight receives the sum of the gradients of both uses.  Compare with
  // an unshared copy of the net holding the same values.
  const NDArray<float> xs = nd::random::uniform<float>({2, 4});
  {
    autograd::record rec;
    nd::sum(shared(xs)).backward();
  }
  nn::Sequential unshared;
  {
    auto scope = unshared.name_scope();
    unshared.add(nn::Dense{4, {.activation = "relu", .in_units = 4}});
    unshared.add(nn::Dense{4, {.activation = "relu", .in_units = 4}});
  }
  unshared.initialize();
  auto& u0 = unshared.at<nn::Dense>(0);
  auto& u1 = unshared.at<nn::Dense>(1);
  for (auto* u : {&u0, &u1}) {
    u->weight()->set_data(s0.weight()->data().copy());
    u->bias()->set_data(s0.bias()->data().copy());
  }
  {
    autograd::record rec;
    nd::sum(unshared(xs)).backward();
  }
  const NDArray<float> g_sum = u0.weight()->grad() + u1.weight()->grad();
  std::cout << "grad of the shared weight:\n" << s0.weight()->grad() << '\n';
  std::cout << "grad of layer 0 + grad of layer 1 in the unshared copy:\n" << g_sum << '\n';
  std::cout << "max |difference|: " << max_abs_diff(s0.weight()->grad(), g_sum) << '\n';

  // ----- 7. CenteredLayer ---------------------------------------------------------------------
  section("7. A custom layer: CenteredLayer");
  CenteredLayer layer;  // no parameters: no initialize() needed
  std::cout << "layer(nd.array([1, 2, 3, 4, 5])): " << layer(nd::array<float>({1, 2, 3, 4, 5})) << '\n';
  nn::Sequential cnet;
  cnet.add(nn::Dense{128});
  cnet.add(CenteredLayer{});
  cnet.initialize();
  const NDArray<float> cy = cnet(nd::random::uniform<float>({4, 8}));
  std::cout << cnet << '\n';
  std::cout << "y = net(random (4, 8)): " << cy.shape() << ", y.mean() = " << cy.mean().asscalar()
            << " (0 up to rounding)\n";

  // ----- 8. Beyond the tutorial ---------------------------------------------------------------
  section("8. Names, indexing, custom parameters, several inputs and outputs");
  // Names are fixed when a block is made (outside any name scope) or registered (inside one),
  // never when they are first read: a and b are dense.. in the order they were made.
  nn::Dense a{3}, b{3};
  std::cout << "b first, then a: " << b.name() << ' ' << a.name() << '\n';
  // Indexing as Gluon: negative indices, typed access, slices that share the blocks.
  nn::Sequential body;
  {
    auto scope = body.name_scope();  // children numbered as they are registered: dense0, relu0, dense1
    body.add(nn::Dense{8}, nn::Activation{"relu"}, nn::Dense{2});
  }
  body.initialize();
  std::cout << "body[-1]: " << body[-1] << " named " << body[-1].name() << '\n';
  std::cout << "body.at<nn::Dense>(0).units(): " << body.at<nn::Dense>(0).units() << '\n';
  nn::Sequential head = body.slice(0, 2);  // Gluon: body[0:2]; the same blocks, not copies
  std::cout << "body.slice(0, 2):\n" << head << '\n';
  std::cout << "head(x) is body's first two blocks: " << std::boolalpha
            << (max_abs_diff(head(x), body[1](body[0](x))) == 0.0f) << '\n';
  // Ownership: a parent owns its children.  Add a temporary, std::move a named block (it is then
  // empty, and says so if used), or share a handle.
  nn::Sequential owner;
  nn::Dense named{2};
  auto handle = std::make_shared<nn::Dense>(2);
  owner.add(std::move(named), handle);  // `named` moved in; owner and `handle` share the second
  try {
    named(x);
  } catch (const StateError& e) {
    std::cout << "using a moved-from block: " << e.what() << '\n';
  }
  std::cout << "owner[1] is handle: " << (&owner[1] == handle.get()) << '\n';
  // A custom parameter whose shape comes from the first input.
  Scale scale;
  scale.initialize(init::Constant{0.5f});
  std::cout << "scale(ones(2, 3)): " << scale(nd::ones<float>({2, 3})) << '\n';
  std::cout << "its parameter: " << *scale.params().nth(0) << '\n';
  // Two inputs, one output.
  Gate gate;
  gate.initialize();
  std::cout << "gate(x, y).shape: " << gate(x, nd::ones<float>({4, 4})).shape() << '\n';
  // (output, state) out of a cell, unrolled over three steps.
  TinyRNNCell cell(5);
  cell.initialize();
  NDArray<float> state = nd::zeros<float>({4, 5}), out;
  for (int t = 0; t < 3; ++t) std::tie(out, state) = cell(x, state);
  std::cout << "cell unrolled 3 steps: out " << out.shape() << ", state " << state.shape() << ", parameters:\n";
  print_params(cell.collect_params());

  // ----- 9. Hybridizing -----------------------------------------------------------------------
  section("9. HybridBlock and hybridize()");
  HybridMLP hmlp;
  hmlp.initialize();
  const NDArray<float> imperative = hmlp(x);
  hmlp.hybridize();                        // net.hybridize()
  (void)hmlp(x);                           // the first call traces forward
  const NDArray<float> graphed = hmlp(x);  // this one runs the graph
  std::cout << "hybridized: " << hmlp.cached_graphs().size() << " graph, max |graph - imperative| = "
            << max_abs_diff(graphed, imperative) << "\n" << *hmlp.cached_graphs()[0];
  HalvingMLP halving;
  halving.initialize();
  std::cout << "HalvingMLP imperatively: " << halving(x).shape() << '\n';
  halving.hybridize();
  try {
    (void)halving(x);
  } catch (const StateError& e) {
    std::cout << "HalvingMLP hybridized: " << e.what() << '\n';
  }
  return 0;
}
