// SPDX-License-Identifier: Apache-2.0
#pragma once
/// GoogLeNet as in Dive into Deep Learning's Gluon chapter: the Inception block (four branches
/// concatenated along the channels) and the Fashion-MNIST GoogLeNet of five stages.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/model_zoo/model_sequential.hpp"
#include "gluino/nn/concatenate.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/dense.hpp"
#include "gluino/nn/hybrid_block.hpp"
#include "gluino/nn/pooling.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::model_zoo {

/// The Inception block (Szegedy et al. 2015; d2l's Inception(c1, c2, c3, c4)): four branches
/// on the same input, concatenated along the channels:
///   path 1: Conv2D(c1, 1, relu)
///   path 2: Conv2D(c2.first, 1, relu) Conv2D(c2.second, 3, padding 1, relu)
///   path 3: Conv2D(c3.first, 1, relu) Conv2D(c3.second, 5, padding 2, relu)
///   path 4: MaxPool2D(3, 1, padding 1) Conv2D(c4, 1, relu)
/// (N, C, H, W) -> (N, c1 + c2.second + c3.second + c4, H, W).  A HybridConcatenate on axis 1
/// whose children are the four paths (HybridSequentials; d2l's block holds the seven layers
/// as p1_1 ... p4_2 and concatenates in its forward, which computes the same).  Printed
/// "Inception(...)", named "inception0_".
template <class T>
class BasicInception : public nn::BasicConcatenate<T> {
 public:
  using Pair = std::pair<std::size_t, std::size_t>;
  BasicInception(std::size_t c1, Pair c2, Pair c3, std::size_t c4, std::string prefix = "")
      : nn::BasicConcatenate<T>(1, nn::BasicBlockOptions<T>{.alias = "inception", .prefix = std::move(prefix)}),
        c1_(c1), c2_(c2), c3_(c3), c4_(c4) {
    this->set_hybridizable();
    auto scope = this->name_scope();
    auto path = [] { return std::make_shared<nn::BasicHybridSequential<T>>(); };
    auto p1 = path(), p2 = path(), p3 = path(), p4 = path();
    p1->add(nn::BasicConv2D<T>{c1, 1, {.activation = "relu"}});
    p2->add(nn::BasicConv2D<T>{c2.first, 1, {.activation = "relu"}},
            nn::BasicConv2D<T>{c2.second, 3, {.padding = 1, .activation = "relu"}});
    p3->add(nn::BasicConv2D<T>{c3.first, 1, {.activation = "relu"}},
            nn::BasicConv2D<T>{c3.second, 5, {.padding = 2, .activation = "relu"}});
    p4->add(nn::BasicMaxPool2D<T>{3, 1, {.padding = 1}}, nn::BasicConv2D<T>{c4, 1, {.activation = "relu"}});
    this->add(p1, p2, p3, p4);
  }
  std::string type_name() const override { return "Inception"; }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<BasicInception<U>>(c1_, c2_, c3_, c4_); });
  }

 private:
  std::size_t c1_;
  Pair c2_, c3_;
  std::size_t c4_;
};
using Inception = BasicInception<float>;

/// Options of googlenet(): googlenet({.classes = 10}).
struct GoogLeNetOptions {
  std::size_t classes = 10;  ///< outputs of the last Dense
};

/// d2l's GoogLeNet for (N, 1, 96, 96) Fashion-MNIST images resized to 96x96:
///   b1: Conv2D(64, 7, strides 2, padding 3, relu) MaxPool2D(3, 2, padding 1)
///   b2: Conv2D(64, 1, relu) Conv2D(192, 3, padding 1, relu) MaxPool2D(3, 2, padding 1)
///   b3: Inception(64, (96, 128), (16, 32), 32) Inception(128, (128, 192), (32, 96), 64) MaxPool2D(3, 2, 1)
///   b4: Inception(192, (96, 208), (16, 48), 64) Inception(160, (112, 224), (24, 64), 64)
///       Inception(128, (128, 256), (24, 64), 64) Inception(112, (144, 288), (32, 64), 64)
///       Inception(256, (160, 320), (32, 128), 128) MaxPool2D(3, 2, 1)
///   b5: Inception(256, (160, 320), (32, 128), 128) Inception(384, (192, 384), (48, 128), 128)
///       GlobalAvgPool2D
///   Dense(classes)
/// -> (N, classes) logits; 5,977,530 parameters with 10 classes on one input channel (inferred at
/// the first forward).  H, W shrink 32 times before the pool (96 -> 3).  Printed "GoogLeNet(...)",
/// parameters "googlenet0_conv0_weight", "googlenet0_inception0_conv0_weight", ...  ValueError
/// for 0 classes.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> googlenet(GoogLeNetOptions opt = {}) {
  GLUINO_CHECK(ValueError, opt.classes > 0, "googlenet: classes must be > 0");
  using I = BasicInception<T>;
  using Pool = nn::BasicMaxPool2D<T>;
  auto net = std::make_shared<detail::ModelSequential<T>>("GoogLeNet");
  auto scope = net->name_scope();
  auto stage = [] { return std::make_shared<nn::BasicHybridSequential<T>>(); };
  auto b1 = stage(), b2 = stage(), b3 = stage(), b4 = stage(), b5 = stage();
  b1->add(nn::BasicConv2D<T>{64, 7, {.strides = 2, .padding = 3, .activation = "relu"}}, Pool{3, 2, {.padding = 1}});
  b2->add(nn::BasicConv2D<T>{64, 1, {.activation = "relu"}},
          nn::BasicConv2D<T>{192, 3, {.padding = 1, .activation = "relu"}}, Pool{3, 2, {.padding = 1}});
  b3->add(I{64, {96, 128}, {16, 32}, 32}, I{128, {128, 192}, {32, 96}, 64}, Pool{3, 2, {.padding = 1}});
  b4->add(I{192, {96, 208}, {16, 48}, 64}, I{160, {112, 224}, {24, 64}, 64}, I{128, {128, 256}, {24, 64}, 64},
          I{112, {144, 288}, {32, 64}, 64}, I{256, {160, 320}, {32, 128}, 128}, Pool{3, 2, {.padding = 1}});
  b5->add(I{256, {160, 320}, {32, 128}, 128}, I{384, {192, 384}, {48, 128}, 128}, nn::BasicGlobalAvgPool2D<T>{});
  net->add(b1, b2, b3, b4, b5, nn::BasicDense<T>{opt.classes});
  return net;
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_GOOGLENET_INSTANTIATIONS(X, T) \
  X class BasicInception<T>; \
  X std::shared_ptr<nn::BasicSequential<T>> googlenet<T>(GoogLeNetOptions);
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_GOOGLENET_INSTANTIATIONS)
}  // namespace gluino::model_zoo
