// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Dropout: the inverted-dropout layer.  Gluon: gluon.nn.Dropout.
#include <string>
#include <utility>

#include "gluino/core/random.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/dropout.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of Dropout after the rate.  Gluon's axes= (a mask shared along axes) is not supported.
struct DropoutOptions {
  /// Where the masks come from; null = gluino::random::default_generator() (seeded by
  /// gluino::random::seed).  The generator must outlive the layer.
  gluino::random::Generator* generator = nullptr;
};

/// Inverted dropout.  Mirrors gluon.nn.Dropout(rate).  Any shape.  In train mode
/// (autograd::is_training(), e.g. inside autograd::record) each element is zeroed with
/// probability rate and the others are scaled by 1 / (1 - rate); in predict mode (the default
/// outside record) it returns its input unchanged.  Named "dropout0_", ... ValueError for a rate
/// outside [0, 1].
template <class T>
class BasicDropout : public BasicBlock<T> {
 public:
  explicit BasicDropout(double rate, DropoutOptions opt = {}, std::string prefix = "")
      : BasicBlock<T>({.alias = "dropout", .prefix = std::move(prefix)}), rate_(rate), gen_(opt.generator) {
    GLUINO_CHECK(ValueError, rate >= 0.0 && rate <= 1.0, "Dropout: rate must be in [0, 1], got ", rate);
  }
  std::string type_name() const override { return "Dropout"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicDropout<U>>(rate_, DropoutOptions{.generator = gen_});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override { return nd::dropout(x, rate_, gen_); }

  /// "Dropout(p = 0.5, axes=())", as Gluon.
  std::string repr() const override { return "Dropout(p = " + detail::python_float(rate_) + ", axes=())"; }

  double rate() const { return rate_; }

 private:
  double rate_;
  gluino::random::Generator* gen_;
};

using Dropout = BasicDropout<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_DROPOUT_INSTANTIATIONS(X, T) \
  X class BasicDropout<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_DROPOUT_INSTANTIATIONS)
}  // namespace gluino::nn
