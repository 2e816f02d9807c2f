// SPDX-License-Identifier: Apache-2.0
#pragma once
/// ReflectionPad2D: pads the height and width of (N, C, H, W) inputs with the reflection of
/// their border.  Gluon: gluon.nn.ReflectionPad2D.
#include <array>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/pad.hpp"
#include "gluino/nn/block.hpp"

namespace gluino::nn {

/// Reflection padding of (N, C, H, W) inputs: nd::pad(x, "reflect", pad_width), so [a b c]
/// padded by 2 is [c b a b c b a] (the border element is not repeated).  Mirrors
/// gluon.nn.ReflectionPad2D(padding): a number p pads p rows above and below and p columns
/// left and right, MXNet's pad_width (0, 0, 0, 0, p, p, p, p); the constructor from eight
/// numbers takes a pad_width as Gluon's tuple does (its first four, the N and C axes, must be
/// 0, as MXNet's pad asks).  Output (N, C, H + top + bottom, W + left + right).  No parameters;
/// named reflectionpad2d0_, ...  ShapeError naming the block for an input that is not 4-D;
/// ValueError naming it when a padding is not less than its dimension (H or W), or for a
/// pad_width padding N or C.  Printed "ReflectionPad2D((0, 0, 0, 0, 1, 1, 1, 1))" (Gluon 1.x
/// prints no arguments).
template <class T>
class BasicReflectionPad2D : public BasicBlock<T> {
 public:
  explicit BasicReflectionPad2D(std::size_t padding = 0, std::string prefix = "")
      : BasicReflectionPad2D(std::array<std::size_t, 8>{0, 0, 0, 0, padding, padding, padding, padding},
                             std::move(prefix)) {}
  explicit BasicReflectionPad2D(const std::array<std::size_t, 8>& pad_width, std::string prefix = "")
      : BasicBlock<T>({.alias = "reflectionpad2d", .prefix = std::move(prefix)}), pad_width_(pad_width) {
    GLUINO_CHECK(ValueError, pad_width[0] == 0 && pad_width[1] == 0 && pad_width[2] == 0 && pad_width[3] == 0,
                 "ReflectionPad2D: pad_width ", repr_width(), " pads the N or C axis; only H and W can be padded");
  }
  std::string type_name() const override { return "ReflectionPad2D"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicReflectionPad2D<U>>(pad_width_);
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const Shape& s = x.shape();
    GLUINO_CHECK(ShapeError, s.ndim() == 4, this->who(), ": input must be (N, C, H, W), got shape ", s);
    for (std::size_t d = 2; d < 4; ++d)
      GLUINO_CHECK(ValueError, pad_width_[2 * d] < s[d] && pad_width_[2 * d + 1] < s[d], this->who(),
                   ": reflection padding (", pad_width_[2 * d], ", ", pad_width_[2 * d + 1], ") must be less than the ",
                   d == 2 ? "height " : "width ", s[d], " of the input of shape ", s);
    return nd::pad(x, "reflect", std::vector<std::size_t>(pad_width_.begin(), pad_width_.end()));
  }
  std::string repr() const override { return "ReflectionPad2D(" + repr_width() + ")"; }
  /// MXNet's pad_width: (0, 0, 0, 0, top, bottom, left, right).
  const std::array<std::size_t, 8>& pad_width() const { return pad_width_; }

 private:
  std::string repr_width() const {
    std::ostringstream s;
    for (std::size_t i = 0; i < 8; ++i) s << (i ? ", " : "(") << pad_width_[i];
    s << ')';
    return s.str();
  }
  std::array<std::size_t, 8> pad_width_;
};

using ReflectionPad2D = BasicReflectionPad2D<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_REFLECTION_PAD_INSTANTIATIONS(X, T) \
  X class BasicReflectionPad2D<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_REFLECTION_PAD_INSTANTIATIONS)
}  // namespace gluino::nn
