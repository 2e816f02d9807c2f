// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The Sequential that model-zoo builders return: a plain nn::BasicSequential printed and named
/// after the model ("LeNet(...)", parameters "lenet0_conv0_weight").  Not API: users see it as
/// an nn::BasicSequential<T>.
#include <cctype>
#include <memory>
#include <string>
#include <utility>

#include "gluino/core/error.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::detail {

/// A Sequential whose type_name() is the model's name, so that listings read "LeNet(...)" and
/// automatic names "lenet0_" (Gluon's model-zoo networks are named after their class).
/// Hybridizable, as Gluon's HybridSequential.
template <class T>
class ModelSequential : public nn::BasicSequential<T> {
 public:
  explicit ModelSequential(std::string model_name)
      : nn::BasicSequential<T>(nn::BasicBlockOptions<T>{.alias = lower(model_name)}), model_name_(std::move(model_name)) {
    this->set_hybridizable();  // Gluon's model-zoo networks are HybridBlocks
  }
  std::string type_name() const override { return model_name_; }
  /// Runs the layers in order; a ShapeError inside is rethrown naming the model and the input's
  /// shape first ("LeNet: cannot run on an input of shape (2, 1, 8, 8): convolution: kernel ...
  /// larger than the padded input (2x2)"), so that an image too small for the network, or of other
  /// channels, reads as such and not as a fault of an inner layer.
  NDArray<T> forward(const NDArray<T>& x) override {
    try {
      return nn::BasicSequential<T>::forward(x);
    } catch (const ShapeError& e) {
      raise<ShapeError>(model_name_, ": cannot run on an input of shape ", x.shape(), ": ", e.what());
    }
  }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<ModelSequential<U>>(model_name_); });
  }

 private:
  static std::string lower(std::string name) {
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
  }
  std::string model_name_;
};

}  // namespace gluino::detail
