// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicConvLayer, the part Conv1D, Conv3D and Conv2DTranspose share (Gluon's _Conv): channels,
/// groups, activation, the weight and bias parameters, the input-channel check of each forward
/// and the tail of the printed form; and the argument checks of 1-D layers (check_size1).
/// (Conv2D keeps its own, but for the dilated span's check, dilated_reach_fits, which all four use.)
#include <cstddef>
#include <ostream>
#include <string>
#include <utility>

#include "gluino/core/error.hpp"
#include "gluino/core/shape.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nn/activations.hpp"
#include "gluino/nn/block.hpp"

namespace gluino::detail {

/// ValueError "<layer>: <what> must be > 0, got (0,)" (">= 0" when zero is allowed) for a zero or
/// negative size of a 1-D layer (a negative int converted to size_t, printed as such), and
/// "... must be at most 2^40" above that.  Gluon prints 1-D sizes as 1-tuples, "(3,)".
GLUINO_FUNC void check_size1(const char* layer, const char* what, std::size_t n, bool positive);

/// True when d (k - 1), how far a kernel of k taps dilated by d reaches past its first tap, is
/// below 2^40.  The product is checked: each factor may be up to 2^40, and 2^24 taps 2^40 apart
/// made 2^64, which wrapped to 0 and passed a plain `(k - 1) * d < 2^40`.
inline bool dilated_reach_fits(std::size_t k, std::size_t d) {
  std::size_t reach = 0;
  return !mul_overflows(k - 1, d, &reach) && reach < (std::size_t(1) << 40);
}

/// "(3,)": a 1-D size as Gluon prints it.
GLUINO_FUNC std::string python_tuple1(std::size_t n);

/// ValueError naming the argument unless 0 < channels <= 2^40, 0 < groups <= 2^40, in_channels
/// <= 2^40 and both channels and in_channels are multiples of groups.
GLUINO_FUNC void check_conv_layer_counts(const char* layer, std::size_t channels, std::size_t groups,
                                         std::size_t in_channels);

/// The input channels of x's shape s for a convolution layer: ShapeError naming the block (who),
/// the input shape and the weight unless s has rank `rank` (layout e.g. "(N, C, W)"), its
/// channels are a multiple of groups, and they match the weight's known in_channels
/// (`known_in`, 0 while deferred).
GLUINO_FUNC std::size_t conv_layer_in_channels(const std::string& who, const Shape& s, std::size_t rank,
                                               const char* layout, std::size_t groups, std::size_t known_in,
                                               const std::string& weight_name, const Shape& weight_shape);

}  // namespace gluino::detail

namespace gluino::nn {

/// The shared part of the convolution layers Conv1D, Conv3D and Conv2DTranspose (Gluon's _Conv):
/// named "conv0_", "conv1_", ...; holds channels, groups, the activation ("" = linear), the
/// weight and the optional bias.  `transposed`: the weight is (in_channels, channels / groups,
/// k...) (Conv2DTranspose) rather than (channels, in_channels / groups, k...).
template <class T>
class BasicConvLayer : public BasicBlock<T> {
 public:
  std::size_t channels() const { return channels_; }
  /// The input channels (0 while unknown).
  std::size_t in_channels() const { return transposed_ ? weight()->shape()[0] : weight()->shape()[1] * groups_; }
  std::size_t groups() const { return groups_; }
  const std::string& activation() const { return act_; }
  /// Gluon: conv.weight.
  const std::shared_ptr<BasicParameter<T>>& weight() const { return this->param_at(weight_); }
  /// Gluon: conv.bias; null when use_bias is false.
  const std::shared_ptr<BasicParameter<T>>& bias() const { return this->param_at(bias_); }

 protected:
  /// Checks channels, groups, in_channels and the activation's name (ValueError naming `layer`).
  BasicConvLayer(const char* layer, bool transposed, std::size_t channels, std::size_t groups, std::string activation,
                 std::size_t in_channels, BasicParameterDict<T> params, std::string prefix)
      : BasicBlock<T>({.alias = "conv", .prefix = std::move(prefix), .params = std::move(params)}),
        transposed_(transposed), channels_(channels), groups_(groups), act_(std::move(activation)) {
    detail::check_conv_layer_counts(layer, channels, groups, in_channels);
    if (!act_.empty()) detail::check_activation_name(layer, act_);
  }
  /// Declares weight (of weight_shape) and, with use_bias, bias (channels,).
  void declare_parameters(const Shape& weight_shape, bool use_bias, init::BasicAnyInitializer<T> weight_init,
                          init::BasicAnyInitializer<T> bias_init) {
    weight_ = this->declare_param("weight", weight_shape, std::move(weight_init));
    if (use_bias) bias_ = this->declare_param("bias", Shape{channels_}, std::move(bias_init));
  }
  /// x's channels, checked (ShapeError naming the block, x's shape and the weight) against the
  /// rank (layout e.g. "(N, C, W)"), the groups and the weight's known in_channels.
  std::size_t input_channels(const NDArray<T>& x, std::size_t rank, const char* layout) const {
    return detail::conv_layer_in_channels(this->who(), x.shape(), rank, layout, groups_, in_channels(),
                                          weight()->name(), weight()->shape());
  }
  /// The bias's data, or an undefined array without one.
  NDArray<T> bias_data() const { return bias() ? bias()->data() : NDArray<T>{}; }
  /// act(y), or y when linear.
  NDArray<T> activate(const NDArray<T>& y) const { return act_.empty() ? y : nd::activation(y, act_); }
  /// The end of Gluon's printed form: ", groups=2", ", bias=False", ", Activation(relu)" when not
  /// the defaults, then ")".
  void repr_tail(std::ostream& s) const {
    if (groups_ != 1) s << ", groups=" << groups_;
    if (!bias()) s << ", bias=False";
    if (!act_.empty()) s << ", Activation(" << act_ << ')';
    s << ')';
  }

 private:
  bool transposed_;
  std::size_t channels_, groups_;
  std::string act_;
  std::size_t weight_ = BasicParameterDict<T>::npos, bias_ = BasicParameterDict<T>::npos;  // in params()
};

}  // namespace gluino::nn

#if GLUINO_FUNCTION_BODIES
namespace gluino::detail {

GLUINO_FUNC void check_size1(const char* layer, const char* what, std::size_t n, bool positive) {
  const bool negative = static_cast<long long>(n) < 0;
  GLUINO_CHECK(ValueError, !negative && (!positive || n > 0), layer, ": ", what,
               positive ? " must be > 0, got " : " must be >= 0, got ", python_tuple1(n));
  GLUINO_CHECK(ValueError, n <= (std::size_t(1) << 40), layer, ": ", what, " must be at most 2^40, got ",
               python_tuple1(n));
}

GLUINO_FUNC std::string python_tuple1(std::size_t n) {
  std::string s = "(";  // (appended piece by piece: "(" + std::string trips g++ 12's -Wrestrict)
  s += std::to_string(static_cast<long long>(n));  // a negative int converted prints as itself
  s += ",)";
  return s;
}

GLUINO_FUNC void check_conv_layer_counts(const char* layer, std::size_t channels, std::size_t groups,
                                         std::size_t in_channels) {
  constexpr std::size_t max_count = std::size_t(1) << 40;
  GLUINO_CHECK(ValueError, channels > 0 && channels <= max_count, layer,
               ": channels must be > 0 and at most 2^40, got ", static_cast<long long>(channels));
  GLUINO_CHECK(ValueError, groups > 0 && groups <= max_count, layer, ": groups must be > 0, got ",
               static_cast<long long>(groups));
  GLUINO_CHECK(ValueError, in_channels <= max_count, layer, ": in_channels must be >= 0 and at most 2^40, got ",
               static_cast<long long>(in_channels));
  GLUINO_CHECK(ValueError, channels % groups == 0, layer, ": channels (", channels, ") must be a multiple of groups (",
               groups, ")");
  GLUINO_CHECK(ValueError, in_channels % groups == 0, layer, ": in_channels (", in_channels,
               ") must be a multiple of groups (", groups, ")");
}

GLUINO_FUNC std::size_t conv_layer_in_channels(const std::string& who, const Shape& s, std::size_t rank,
                                               const char* layout, std::size_t groups, std::size_t known_in,
                                               const std::string& weight_name, const Shape& weight_shape) {
  GLUINO_CHECK(ShapeError, s.ndim() == rank, who, ": input must be ", rank, "-D ", layout, ", got shape ", s);
  const std::size_t c = s[1];
  GLUINO_CHECK(ShapeError, c % groups == 0, who, ": input of shape ", s, " has ", c,
               " channels, not a multiple of groups = ", groups);
  GLUINO_CHECK(ShapeError, known_in == 0 || known_in == c, who, ": input of shape ", s, " has ", c,
               " channels but weight '", weight_name, "' has shape ", weight_shape, " (in_channels ", known_in, ")");
  return c;
}

}  // namespace gluino::detail
#endif  // GLUINO_FUNCTION_BODIES

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_CONV_LAYER_INSTANTIATIONS(X, T) \
  X class BasicConvLayer<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_CONV_LAYER_INSTANTIATIONS)
}  // namespace gluino::nn
