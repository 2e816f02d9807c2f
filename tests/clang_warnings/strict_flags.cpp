// SPDX-License-Identifier: Apache-2.0
// What a user program instantiates, compiled (never run) by scripts/test.sh with clang++
// -fsyntax-only and a user's strict flags as errors: -Wall -Wextra -Wpedantic -Wshadow
// -Wconversion, whose clang form includes -Wsign-conversion (gcc's does not, so the gcc builds
// cannot see those).  Every public header (the umbrella and the optional ones), and the templates
// of a training step, hybridize, ONNX export and import, the data pipeline, every loss, metric,
// optimizer and model, in float and double.  docs/building.md.
#include <gluino/data/idx.hpp>
#include <gluino/data/sha256.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/image.hpp>
#include <gluino/data/vision/image_folder.hpp>
#include <gluino/dist/mpi.hpp>
#include <gluino/gluino.hpp>
#include <gluino/onnx/export.hpp>
#include <gluino/onnx/symbol_block.hpp>

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace gluino;

namespace {

// Constructing a block instantiates its virtual forward, hence every layer it holds.
template <class T>
std::vector<std::shared_ptr<nn::BasicBlock<T>>> models() {
  return {model_zoo::lenet<T>(),         model_zoo::alexnet<T>(),      model_zoo::vgg11<T>(),
          model_zoo::resnet18_v1<T>(),   model_zoo::resnet18_v2<T>(),  model_zoo::densenet121<T>(),
          model_zoo::mobilenet1_0<T>(),  model_zoo::mobilenet_v2_1_0<T>(), model_zoo::googlenet<T>(),
          model_zoo::nin<T>()};
}

template <class T>
void losses_and_metrics(const NDArray<T>& out, const NDArray<T>& label) {
  NDArray<T> l = loss::BasicSoftmaxCrossEntropyLoss<T>()(out, label);
  l = l + loss::BasicL1Loss<T>()(out, out) + loss::BasicL2Loss<T>()(out, out) + loss::BasicHuberLoss<T>()(out, out);
  l = l + loss::BasicHingeLoss<T>()(out, out) + loss::BasicSquaredHingeLoss<T>()(out, out);
  l = l + loss::BasicLogisticLoss<T>()(out, out) + loss::BasicKLDivLoss<T>()(out, out);
  l = l + loss::BasicPoissonNLLLoss<T>()(out, out) + loss::BasicSigmoidBinaryCrossEntropyLoss<T>()(out, out);
  l = l + loss::BasicTripletLoss<T>()(out, out, out) + loss::BasicCosineEmbeddingLoss<T>()(out, out, label);
  metric::BasicCompositeEvalMetric<T> all;
  all.add(std::make_shared<metric::BasicAccuracy<T>>());
  all.add(std::make_shared<metric::BasicTopKAccuracy<T>>(3));
  all.add(std::make_shared<metric::BasicCrossEntropy<T>>());
  all.add(std::make_shared<metric::BasicPerplexity<T>>(std::nullopt));
  all.add(std::make_shared<metric::BasicMAE<T>>());
  all.add(std::make_shared<metric::BasicRMSE<T>>());
  all.add(std::make_shared<metric::BasicPearsonCorrelation<T>>());
  all.add(std::make_shared<metric::BasicMCC<T>>());
  all.add(std::make_shared<metric::BasicLoss<T>>());
  all.update(label, out);
  (void)all.get();
}

template <class T>
void training_step() {
  auto net = model_zoo::lenet<T>();
  net->initialize(init::Xavier{});
  net->hybridize();
  data::ArrayDataset<T> set(nd::zeros<T>({8, 1, 28, 28}), nd::zeros<T>({8}));
  data::DataLoader<T> loader(set, {.batch_size = 4, .shuffle = true});
  for (const std::string name : {"sgd", "nag", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "signum",
                                 "ftml", "lamb", "adamw"}) {
    BasicTrainer<T> trainer(net->collect_params(), name, {{"learning_rate", 0.1}});
    for (auto [x, y] : loader) {
      NDArray<T> out, l;
      {
        autograd::record rec;
        out = (*net)(x);
        l = loss::BasicSoftmaxCrossEntropyLoss<T>()(out, y);
      }
      l.backward();
      trainer.step(x.shape(0));
      losses_and_metrics(out, y);
    }
    trainer.save_states("strict.states");
    trainer.load_states("strict.states");
  }
  net->save_parameters("strict.safetensors");
  net->load_parameters("strict.safetensors");
  std::ostringstream os;
  os << *net << nd::zeros<T>({2, 2});
  net->summary(nd::zeros<T>({1, 1, 28, 28}), os);
  const NDArray<T> x = nd::zeros<T>({1, 1, 28, 28});
  graph::Graph<T> g = graph::trace<T>([&](const std::vector<NDArray<T>>& in) { return std::vector{(*net)(in[0])}; },
                                      {{"data", x}}, {}, "strict");
  (void)(graph::fold_batch_norm(g) + graph::fuse_relu_pool(g) + graph::fuse_conv_max_pool(g));
  os << g << g.peak_live().first << g.run({x})[0] << to_onnx(g).graph().node_size();
  (void)export_onnx(*net, "strict.onnx", Shape{1, 1, 28, 28});
  auto imported = nn::BasicSymbolBlock<T>::imports("strict.onnx");
  (void)(*imported)(nd::zeros<T>({1, 1, 28, 28}));
  for (const auto& m : models<T>()) (void)m;
}

}  // namespace

int main() {
  training_step<float>();
  training_step<double>();
  return 0;
}
