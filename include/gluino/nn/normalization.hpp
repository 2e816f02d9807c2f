// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LayerNorm, InstanceNorm and GroupNorm: normalisation by each sample's own statistics, with a
/// learned scale (gamma) and shift (beta); no running statistics, the same in train and predict
/// mode.  Gluon 1.x: gluon.nn.LayerNorm, InstanceNorm, GroupNorm (basic_layers.py).
#include <cmath>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/layer_norm.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of LayerNorm and InstanceNorm, in the order of their Gluon keyword arguments, with
/// each layer's defaults: LayerNormOptions (axis = -1, scale = true) and InstanceNormOptions
/// (axis = 1, scale = false, as Gluon's InstanceNorm).
template <class T, int DefaultAxis, bool DefaultScale>
struct BasicAxisNormOptions {
  /// LayerNorm: the axis normalised over.  InstanceNorm: the channel axis (not normalised over).
  int axis = DefaultAxis;
  /// Added to the variance inside the square root; > 0.
  double epsilon = 1e-5;
  /// Learn beta; false: beta's grad_req is null (it keeps its initial value, zeros by default).
  bool center = true;
  /// Learn gamma; false: gamma's grad_req is null (it keeps its initial value, ones by default).
  bool scale = DefaultScale;
  /// The parameters' own initializers (Gluon's 'zeros' and 'ones').
  init::BasicAnyInitializer<T> beta_initializer = init::BasicZero<T>{}, gamma_initializer = init::BasicOne<T>{};
  /// The size of x along axis; 0 = inferred at the first forward.
  std::size_t in_channels = 0;
  /// Gluon's params=: share another block's parameters (e.g. other.params()).
  BasicParameterDict<T> params = {};
};
template <class T>
using BasicLayerNormOptions = BasicAxisNormOptions<T, -1, true>;
template <class T>
using BasicInstanceNormOptions = BasicAxisNormOptions<T, 1, false>;

/// Options of GroupNorm, in the order of gluon.nn.GroupNorm's keyword arguments (MXNet 1.x's
/// GroupNorm has no in_channels: its parameters are (num_groups,), known at construction).
template <class T>
struct BasicGroupNormOptions {
  /// The number of groups the channel axis (axis 1) is split into; it must divide the channels.
  std::size_t num_groups = 1;
  double epsilon = 1e-5;
  bool center = true;
  bool scale = true;
  init::BasicAnyInitializer<T> beta_initializer = init::BasicZero<T>{}, gamma_initializer = init::BasicOne<T>{};
  BasicParameterDict<T> params = {};
};

/// The part the three layers share: the parameters gamma and beta of shape (n,), learned as
/// center and scale say, with their checks and deferred shape.  Not a layer of its own.
template <class T>
class BasicNormalizationBlock : public BasicBlock<T> {
 public:
  /// Gluon: layer.gamma, layer.beta.
  const std::shared_ptr<BasicParameter<T>>& gamma() const { return this->param_at(gamma_); }
  const std::shared_ptr<BasicParameter<T>>& beta() const { return this->param_at(beta_); }
  double epsilon() const { return epsilon_; }
  bool center() const { return center_; }
  bool scale() const { return scale_; }

 protected:
  /// type: the class's name for messages; n: the parameters' size (0 = inferred later); opt: any
  /// of the options structs (epsilon, center, scale, the initializers, params).
  template <class Options>
  BasicNormalizationBlock(const char* type, const char* alias, std::string prefix, std::size_t n, Options& opt)
      : BasicBlock<T>({.alias = alias, .prefix = std::move(prefix), .params = std::move(opt.params)}),
        epsilon_(opt.epsilon), center_(opt.center), scale_(opt.scale) {
    GLUINO_CHECK(ValueError, epsilon_ > 0 && std::isfinite(epsilon_), type, ": epsilon must be > 0 and finite, got ",
                 epsilon_);
    GLUINO_CHECK(ValueError, n <= Size2::max_side, type, ": the parameters' size must be at most 2^40, got ",
                 static_cast<long long>(n));
    gamma_ = this->declare_param("gamma", Shape{n}, std::move(opt.gamma_initializer),
                                 ParameterOptions{.grad_req = scale_ ? GradReq::write : GradReq::null});
    beta_ = this->declare_param("beta", Shape{n}, std::move(opt.beta_initializer),
                                ParameterOptions{.grad_req = center_ ? GradReq::write : GradReq::null});
  }
  /// Before a forward on x: gamma and beta get shape (n,), n the size of x's axis `what`
  /// describes; ShapeError naming the block and the shapes when they already have another.
  void fit_params(const Shape& x, std::size_t n, const std::string& what) {
    const std::size_t known = gamma()->shape()[0];
    GLUINO_CHECK(ShapeError, known == 0 || known == n, this->who(), ": input of shape ", x, " has ", n, " ", what,
                 " but parameter '", gamma()->name(), "' has shape ", gamma()->shape());
    for (std::size_t i : {gamma_, beta_}) this->param_at(i)->finish_deferred_init(Shape{n}, this->who());
  }
  /// "eps=1e-05, <middle>, center=True, scale=True", as Gluon's reprs list them.
  std::string repr_args(const std::string& middle) const {
    std::ostringstream s;
    s << "eps=" << detail::python_float(epsilon_) << ", " << middle << ", center=" << detail::python_bool(center_)
      << ", scale=" << detail::python_bool(scale_);
    return s.str();
  }

 private:
  double epsilon_;
  bool center_, scale_;
  std::size_t gamma_ = 0, beta_ = 0;  // positions in params()
};

/// The part LayerNorm and InstanceNorm share: an axis, in_channels (the size of x along it,
/// inferred at the first forward unless given) and Gluon's repr.  Not a layer of its own.
template <class T>
class BasicAxisNormBlock : public BasicNormalizationBlock<T> {
 public:
  int axis() const { return axis_; }
  /// The size of x along axis (0 while unknown).
  std::size_t in_channels() const { return this->gamma()->shape()[0]; }
  /// As Gluon: "LayerNorm(eps=1e-05, axis=-1, center=True, scale=True, in_channels=0)" (0 while
  /// unknown).
  std::string repr() const override {
    return this->type_name() + "(" + this->repr_args("axis=" + std::to_string(axis_)) +
           ", in_channels=" + std::to_string(in_channels()) + ")";
  }

 protected:
  template <int DefaultAxis, bool DefaultScale>
  BasicAxisNormBlock(const char* type, const char* alias, std::string prefix,
                     BasicAxisNormOptions<T, DefaultAxis, DefaultScale>& opt)
      : BasicNormalizationBlock<T>(type, alias, std::move(prefix), opt.in_channels, opt), axis_(opt.axis) {}
  /// Before a forward on x: ShapeError naming the block when x has fewer than min_rank axes or
  /// axis is out of range (or, without allow_batch_axis, is 0); then gamma and beta fitted to
  /// x's size along axis.
  void fit_axis(const Shape& s, int min_rank, bool allow_batch_axis) {
    const int rank = static_cast<int>(s.ndim());
    GLUINO_CHECK(ShapeError, rank >= min_rank && axis_ >= -rank && axis_ < rank &&
                                 (allow_batch_axis || s.normalize_axis(axis_) != 0),
                 this->who(), ": input of shape ", s, " has no axis ", axis_, allow_batch_axis ? "" : " other than 0",
                 min_rank > 1 ? " or fewer than " + std::to_string(min_rank) + " axes" : std::string());
    this->fit_params(s, s.at(axis_), "elements along axis " + std::to_string(axis_));
  }

 private:
  int axis_;
};

/// Layer normalisation over one axis: y = (x - mean) / sqrt(var + epsilon) * gamma + beta, the
/// mean and biased variance of each lane along `axis`, gamma and beta (C,) along it (C the
/// size of the axis, inferred at the first forward unless in_channels is given).  Mirrors
/// gluon.nn.LayerNorm; nd::layer_norm.  Any input shape; the output has the input's shape.
/// Parameters gamma and beta (layernorm0_gamma, layernorm0_beta).  ShapeError naming the block
/// and the shapes for an axis out of range or a size other than the parameters'; ValueError for
/// an epsilon not > 0.  Printed as Gluon: "LayerNorm(eps=1e-05, axis=-1, center=True,
/// scale=True, in_channels=0)" (0 while unknown).
template <class T>
class BasicLayerNorm : public BasicAxisNormBlock<T> {
 public:
  explicit BasicLayerNorm(BasicLayerNormOptions<T> opt = {}, std::string prefix = "")
      : BasicAxisNormBlock<T>("LayerNorm", "layernorm", std::move(prefix), opt) {}
  std::string type_name() const override { return "LayerNorm"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicLayerNorm<U>>(BasicLayerNormOptions<U>{.axis = this->axis(), .epsilon = this->epsilon(),
                                                                 .center = this->center(), .scale = this->scale(),
                                                                 .in_channels = this->in_channels()});
    });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    this->fit_axis(x.shape(), 1, true);
    return nd::layer_norm(x, this->gamma()->data(), this->beta()->data(), this->axis(), this->epsilon());
  }
};

/// Instance normalisation: for each sample and channel (the axis `axis`, default 1), the other
/// axes' elements are normalised, y = (x - mean) / sqrt(var + epsilon) * gamma[c] + beta[c],
/// biased variance, gamma and beta (C,) (C inferred at the first forward unless in_channels is
/// given).  Mirrors gluon.nn.InstanceNorm; nd::instance_norm.  Input (N, C, ...) with at least
/// three axes; the output has the input's shape.  As Gluon, scale defaults to false: gamma is
/// then not learned and stays at its initial value (ones), but it is applied.  Parameters gamma
/// and beta (instancenorm0_gamma, ...).  ShapeError naming the block and the shapes;
/// ValueError for an epsilon not > 0.  Printed as Gluon: "InstanceNorm(eps=1e-05, axis=1,
/// center=True, scale=False, in_channels=0)".
template <class T>
class BasicInstanceNorm : public BasicAxisNormBlock<T> {
 public:
  explicit BasicInstanceNorm(BasicInstanceNormOptions<T> opt = {}, std::string prefix = "")
      : BasicAxisNormBlock<T>("InstanceNorm", "instancenorm", std::move(prefix), opt) {}
  std::string type_name() const override { return "InstanceNorm"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicInstanceNorm<U>>(BasicInstanceNormOptions<U>{.axis = this->axis(), .epsilon = this->epsilon(),
                                                                       .center = this->center(), .scale = this->scale(),
                                                                       .in_channels = this->in_channels()});
    });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    this->fit_axis(x.shape(), 3, false);
    return nd::instance_norm(x, this->gamma()->data(), this->beta()->data(), this->epsilon(), this->axis());
  }
};

/// Group normalisation, MXNet 1.x's: the channels (axis 1) of x (N, C, ...) are split into
/// num_groups groups of consecutive channels; each sample's group is normalised by its mean
/// and biased variance, y = (x - mean) / sqrt(var + epsilon) * gamma[g] + beta[g], with gamma
/// and beta of shape (num_groups,): one scale and shift per GROUP, as MXNet 1.x's GroupNorm
/// (PyTorch's nn.GroupNorm and MXNet 2's have one per channel, (C,)).  Mirrors
/// gluon.nn.GroupNorm; nd::group_norm.  The output has the input's shape.  Parameters gamma and
/// beta (groupnorm0_gamma, ...).  ShapeError naming the block when the input has fewer than two
/// axes or num_groups does not divide its channels; ValueError for num_groups 0 or an epsilon
/// not > 0.  Printed as Gluon: "GroupNorm(eps=1e-05, num_groups=1, center=True, scale=True)".
template <class T>
class BasicGroupNorm : public BasicNormalizationBlock<T> {
 public:
  explicit BasicGroupNorm(BasicGroupNormOptions<T> opt = {}, std::string prefix = "")
      : BasicNormalizationBlock<T>("GroupNorm", "groupnorm", std::move(prefix), opt.num_groups, opt),
        num_groups_(opt.num_groups) {
    GLUINO_CHECK(ValueError, opt.num_groups > 0, "GroupNorm: num_groups must be > 0");
  }
  std::string type_name() const override { return "GroupNorm"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicGroupNorm<U>>(BasicGroupNormOptions<U>{.num_groups = num_groups_, .epsilon = this->epsilon(),
                                                                 .center = this->center(), .scale = this->scale()});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const Shape& s = x.shape();
    GLUINO_CHECK(ShapeError, s.ndim() >= 2 && s[1] % num_groups_ == 0, this->who(), ": input of shape ", s,
                 " has no channel axis 1 that ", num_groups_, " groups divide");
    this->fit_params(s, num_groups_, "groups");
    return nd::group_norm(x, this->gamma()->data(), this->beta()->data(), num_groups_, this->epsilon());
  }
  std::string repr() const override {
    return "GroupNorm(" + this->repr_args("num_groups=" + std::to_string(num_groups_)) + ")";
  }
  std::size_t num_groups() const { return num_groups_; }

 private:
  std::size_t num_groups_;
};

using LayerNormOptions = BasicLayerNormOptions<float>;
using LayerNorm = BasicLayerNorm<float>;
using InstanceNormOptions = BasicInstanceNormOptions<float>;
using InstanceNorm = BasicInstanceNorm<float>;
using GroupNormOptions = BasicGroupNormOptions<float>;
using GroupNorm = BasicGroupNorm<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_NORMALIZATION_INSTANTIATIONS(X, T) \
  X class BasicNormalizationBlock<T>; \
  X class BasicAxisNormBlock<T>; \
  X class BasicLayerNorm<T>; \
  X class BasicInstanceNorm<T>; \
  X class BasicGroupNorm<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_NORMALIZATION_INSTANTIATIONS)
}  // namespace gluino::nn
