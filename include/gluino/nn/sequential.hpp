// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Sequential: a container that chains its children.  Gluon: gluon.nn.Sequential.
#include <concepts>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "gluino/autograd/trace.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/pooling.hpp"

namespace gluino::detail {

/// True when a block of type B chains in a Sequential: a public forward taking one array and
/// returning one.
template <class B, class T>
concept chains = requires(B& b, const NDArray<T>& x) {
  { b.forward(x) } -> std::convertible_to<NDArray<T>>;
};
template <class B>
struct block_type {
  using type = B;
};
template <class E>
struct block_type<std::shared_ptr<E>> {
  using type = E;
};

}  // namespace gluino::detail

namespace gluino::nn {

/// Stacks blocks: forward feeds x through each child in order (an empty Sequential returns x).
/// Mirrors gluon.nn.Sequential.
///   nn::Sequential net;
///   net.add(nn::Dense{256, {.activation = "relu"}}, nn::Dense{10});
/// Children are added by value (temporaries or std::move) or as shared_ptr.  net[i] is the i-th
/// child as a BasicBlock<T>& (negative i counts from the end, as Python), net.at<nn::Dense>(i)
/// the same as a Dense& (ValueError naming both types when it is not one), and
/// net.slice(start, stop, step) a Sequential sharing those children (Gluon: net[1:3]).
template <class T>
class BasicSequential : public BasicBlock<T> {
  using Children = std::vector<typename BasicBlock<T>::BlockPtr>;

 public:
  explicit BasicSequential(std::string prefix = "", BasicParameterDict<T> params = {})
      : BasicBlock<T>({.alias = "sequential", .prefix = std::move(prefix), .params = std::move(params)}) {}
  std::string type_name() const override { return "Sequential"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicSequential<U>>();
    });
  }

  /// Appends one or more blocks, each of which must take one array and return one.
  /// Gluon: add(*blocks).
  template <class... Bs>
  BasicSequential& add(Bs&&... blocks) {
    static_assert((detail::chains<typename detail::block_type<std::remove_cvref_t<Bs>>::type, T> && ...),
                  "Sequential::add: a block's forward does not take one NDArray and return one (or is not public); "
                  "only single-input, single-output blocks chain in a Sequential");
    (this->register_child(std::forward<Bs>(blocks)), ...);
    return *this;
  }
  /// The i-th child; negative i counts from the end (net[-1] is the last).  ValueError when out
  /// of range.  Gluon: net[i].
  template <std::integral I>
  BasicBlock<T>& operator[](I i) const {
    return *this->children()[position(i)];
  }
  /// The i-th child as a B (net.at<nn::Dense>(0).weight()).  ValueError when it is another type.
  template <class B, std::integral I>
  B& at(I i) const {
    BasicBlock<T>& b = (*this)[i];
    auto* p = dynamic_cast<B*>(&b);
    GLUINO_CHECK(ValueError, p != nullptr, this->who(), ": block ", i, " is a ", b.type_name(), ", not a ",
                 detail::short_class_name(typeid(B)));
    return *p;
  }
  /// The children from start up to (not including) stop by step, with Python's slice rules
  /// (negative positions count from the end, out-of-range ends are clamped, an empty optional
  /// is the end in the step's direction), as a Sequential with this prefix that shares the
  /// blocks.  ValueError for step 0.  Gluon: net[start:stop:step].
  BasicSequential slice(std::optional<std::ptrdiff_t> start, std::optional<std::ptrdiff_t> stop = std::nullopt,
                        std::ptrdiff_t step = 1) const {
    GLUINO_CHECK(ValueError, step != 0, this->who(), ": slice step cannot be zero");
    const auto n = static_cast<std::ptrdiff_t>(size());
    auto clamp = [&](std::optional<std::ptrdiff_t> v, std::ptrdiff_t dflt) {
      if (!v) return dflt;
      std::ptrdiff_t i = *v < 0 ? *v + n : *v;
      const std::ptrdiff_t lo = step > 0 ? 0 : -1, hi = step > 0 ? n : n - 1;
      return i < lo ? lo : (i > hi ? hi : i);
    };
    const std::ptrdiff_t first = clamp(start, step > 0 ? 0 : n - 1), last = clamp(stop, step > 0 ? n : -1);
    typename BasicBlock<T>::NameScope top_level = BasicBlock<T>::top_level_scope();
    BasicSequential out(this->prefix());  // Gluon: self.__class__(prefix=self._prefix)
    for (std::ptrdiff_t i = first; step > 0 ? i < last : i > last; i += step)
      out.register_child(this->children()[static_cast<std::size_t>(i)]);
    return out;
  }
  /// Number of children.  Gluon: len(net).
  std::size_t size() const { return this->children().size(); }

  /// Iterates over the children as BasicBlock<T>&.
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = BasicBlock<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = BasicBlock<T>*;
    using reference = BasicBlock<T>&;
    iterator() = default;
    explicit iterator(typename Children::const_iterator it) : it_(it) {}
    reference operator*() const { return **it_; }
    pointer operator->() const { return it_->get(); }
    iterator& operator++() {
      ++it_;
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++it_;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.it_ == b.it_; }

   private:
    typename Children::const_iterator it_;
  };
  iterator begin() const { return iterator(this->children().begin()); }
  iterator end() const { return iterator(this->children().end()); }

  /// Each child's call on the last one's output.  A Conv2D (no activation or "relu") followed
  /// by a MaxPool2D runs as one op (Conv2D::forward_max_pool: the same values and gradients,
  /// without storing the convolution's output) when both calls would be plain
  /// (BasicBlock::plain_call: no hooks, not hybridized, initialized) and no trace is recording
  /// (hybridize and export see the two ops).
  NDArray<T> forward(const NDArray<T>& x) override {
    NDArray<T> y = x;
    const auto& c = this->children();
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (i + 1 < c.size() && fuses(*c[i], *c[i + 1], y)) {
        const nd::PoolOptions& pool = static_cast<BasicMaxPool2D<T>&>(*c[i + 1]).pool_options();
        y = static_cast<BasicConv2D<T>&>(*c[i]).forward_max_pool(y, pool);
        ++i;
        continue;
      }
      y = (*c[i])(y);
    }
    return y;
  }

 protected:
  /// For containers with another alias (the model zoo's "lenet").
  explicit BasicSequential(BasicBlockOptions<T> opt) : BasicBlock<T>(std::move(opt)) {}
  bool in_summary() const override { return false; }

 private:
  // Whether forward runs a (the convolution) and b (the pooling) on y as one op: exactly those
  // classes (a subclass may override forward), plain calls, an activation the op fuses, and the
  // input channels the weight has (otherwise the layer's own call gives the error).
  static bool fuses(const BasicBlock<T>& a, const BasicBlock<T>& b, const NDArray<T>& y) {
    if (typeid(a) != typeid(BasicConv2D<T>) || typeid(b) != typeid(BasicMaxPool2D<T>) || autograd::active_tracer<T>() ||
        !y.defined() || y.ndim() != 4 || !a.plain_call() || !b.plain_call())
      return false;
    const auto& conv = static_cast<const BasicConv2D<T>&>(a);
    const auto& pool = static_cast<const BasicMaxPool2D<T>&>(b);
    return (conv.activation().empty() || conv.activation() == "relu") && conv.in_channels() == y.shape(1) &&
           pool.pool_options().type == nd::pool_type::max && !pool.pool_options().global_pool;
  }
  template <class I>
  std::size_t position(I i) const {
    const std::size_t n = size();
    if constexpr (std::is_signed_v<I>) {
      if (i < 0) {
        const auto back = static_cast<std::size_t>(-(static_cast<long long>(i) + 1)) + 1;  // no overflow at min
        GLUINO_CHECK(ValueError, back <= n, this->who(), ": index ", i, " out of range for a Sequential of ", n,
                     " blocks (valid: -", n, " to ", static_cast<long long>(n) - 1, ")");
        return n - back;
      }
    }
    const auto u = static_cast<std::make_unsigned_t<I>>(i);
    GLUINO_CHECK(ValueError, u < n, this->who(), ": index ", i, " out of range for a Sequential of ", n,
                 " blocks (valid: -", n, " to ", static_cast<long long>(n) - 1, ")");
    return static_cast<std::size_t>(u);
  }
};

using Sequential = BasicSequential<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_SEQUENTIAL_INSTANTIATIONS(X, T) \
  X class BasicSequential<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_SEQUENTIAL_INSTANTIATIONS)
}  // namespace gluino::nn
