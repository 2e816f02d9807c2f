// SPDX-License-Identifier: Apache-2.0
#pragma once
/// CustomBlock<Derived>: the base of a user's own blocks.  It names them after their class, as
/// Gluon does ("mlp0_"), and calls forward with any inputs and outputs.
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "gluino/nn/block.hpp"

namespace gluino::nn {

/// Derive a block of your own from BasicCustomBlock<MyBlock, T> (CustomBlock<MyBlock> for
/// float): C++'s base constructors cannot see the derived class, so the class is named here,
/// and the block is aliased "myblock" ("myblock0_", as Gluon's _alias()).  Its forward may take
/// several arrays and return several (a pair, tuple or vector of arrays):
///   class Cell : public nn::CustomBlock<Cell> {
///    public:
///     Cell() { auto scope = name_scope(); i2h = register_child(nn::Dense{8}); }
///     std::pair<NDArray<float>, NDArray<float>> forward(const NDArray<float>& x, const NDArray<float>& h) {
///       auto next = nd::tanh((*i2h)(x) + h);
///       return {next, next};
///     }
///     std::shared_ptr<nn::Dense> i2h;
///   };
///   auto [out, state] = cell(x, h);
/// A call runs the same steps as Block::operator(): checks, deferred initialization (the
/// block's infer_shape(args...) first, when it has one and a parameter waits for its shape),
/// the hooks (given the arrays among the arguments and results), forward(args...).  A block
/// whose forward takes one array and returns one is also a Block like any other (it overrides
/// the virtual forward, and chains in a Sequential); other arities are called on the derived
/// type (Sequential::add refuses them at compile time).
template <class Derived, class T = float>
class BasicCustomBlock : public BasicBlock<T> {
 public:
  /// The base's name in a derived class's constructor: `MLP(std::string p) : CustomBlock(p) {}`.
  using CustomBlock = BasicCustomBlock;
  /// prefix: "" for an automatic name; params: parameters to share (Gluon's prefix=, params=).
  explicit BasicCustomBlock(std::string prefix = "", BasicParameterDict<T> params = {})
      : BasicBlock<T>({.alias = detail::alias_of(typeid(Derived)), .prefix = std::move(prefix),
                       .params = std::move(params)}) {}

  /// Calls Derived::forward(args...) with the steps of the class comment.  Gluon: block(*args).
  template <class... A>
  decltype(auto) operator()(const A&... args) {
    Derived& self = static_cast<Derived&>(*this);
    static_assert(requires { self.forward(args...); },
                  "CustomBlock: the block has no public forward taking these arguments");
    return this->call(
        [&] {
          if constexpr (requires { self.infer_shape(args...); }) self.infer_shape(args...);
        },
        [&]() -> decltype(auto) { return self.forward(args...); },
        [&](typename BasicBlock<T>::Arrays& in) { (detail::append_arrays<T>(in, args), ...); });
  }

 protected:
  BasicCustomBlock(BasicCustomBlock&&) = default;
};

/// The float CustomBlock: `class MLP : public nn::CustomBlock<MLP>`.
template <class Derived>
using CustomBlock = BasicCustomBlock<Derived, float>;

}  // namespace gluino::nn
