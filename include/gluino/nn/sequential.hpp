// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Sequential: a container that chains its children.  Gluon: gluon.nn.Sequential.
#include <cstddef>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "gluino/nn/block.hpp"

namespace gluino::nn {

/// Stacks blocks: forward feeds x through each child in order (an empty Sequential returns x).
/// Mirrors gluon.nn.Sequential.
///   nn::Sequential net;
///   net.add(nn::Dense{256, {.activation = "relu"}}, nn::Dense{10});
/// Children are added by value (temporaries or std::move) or as shared_ptr; net[i] is the
/// i-th child as a BasicBlock<T>&; iteration yields BasicBlock<T>&.
template <class T>
class BasicSequential : public BasicBlock<T> {
  using Children = std::vector<typename BasicBlock<T>::BlockPtr>;

 public:
  explicit BasicSequential(std::string prefix = "", BasicParameterDict<T> params = {})
      : BasicBlock<T>(std::move(prefix), std::move(params)) {
  }
  std::string type_name() const override { return "Sequential"; }

  /// Appends one or more blocks.  Gluon: add(*blocks).
  template <class... Bs>
  BasicSequential& add(Bs&&... blocks) {
    (this->register_child(std::forward<Bs>(blocks)), ...);
    return *this;
  }
  /// The i-th child.  ValueError when i >= size().  Gluon: net[i].
  BasicBlock<T>& operator[](std::size_t i) const {
    GLUINO_CHECK(ValueError, i < size(), this->prefix(), ": index ", i, " out of range for a Sequential of ", size(),
                 " blocks");
    return *this->children()[i];
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

  NDArray<T> forward(const NDArray<T>& x) override {
    NDArray<T> y = x;
    for (const auto& c : this->children()) y = (*c)(y);
    return y;
  }

 protected:
  bool in_summary() const override { return false; }
};

using Sequential = BasicSequential<float>;

}  // namespace gluino::nn
