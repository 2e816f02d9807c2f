// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The NDArray<T> class itself (include gluino/core/ndarray.hpp, which also brings the ops its
/// methods call).  NDArray<T>: a handle to a contiguous, row-major, reference-counted array, with the autograd
/// state Gluon keeps on an NDArray (attached gradient, grad_req, the node that produced it).
/// Copying a handle aliases (like Python names, MXNet and torch); copy() makes a deep copy.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/shape.hpp"
#include "gluino/core/storage.hpp"

namespace gluino {

template <class T>
class NDArray;

namespace autograd {
template <class T>
class Node;
}  // namespace autograd

/// How backward() writes a leaf's gradient.  Gluon's grad_req: "write", "add", "null".
enum class GradReq { null, write, add };

/// The nd functions that NDArray's methods forward to, declared here so that the class can
/// call them; each is defined (with convenience overloads) in its nd/ header.
namespace nd {
template <class T>
NDArray<T> reshape(const NDArray<T>& x, const std::vector<long long>& shape);
template <class T>
NDArray<T> transpose(const NDArray<T>& x, const std::vector<std::size_t>& axes);
template <class T>
NDArray<T> expand_dims(const NDArray<T>& x, int axis);
template <class T>
NDArray<T> broadcast_to(const NDArray<T>& x, const Shape& shape);
template <class T>
NDArray<T> sum(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims);
template <class T>
NDArray<T> mean(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims);
template <class T>
NDArray<T> max(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims);
template <class T>
NDArray<T> min(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims);
template <class T>
NDArray<T> argmax(const NDArray<T>& x, int axis, bool keepdims);
template <class T>
NDArray<T> relu(const NDArray<T>& x);
template <class T>
NDArray<T> slice_axis0(const NDArray<T>& x, std::size_t begin, std::size_t end);
}  // namespace nd

namespace autograd {
template <class T>
void backward(const NDArray<T>& head, const NDArray<T>& head_grad, bool retain_graph);
}  // namespace autograd

/// An n-dimensional array of T (float or double).
/// Data layout: contiguous row-major storage shared between handles; views made by reshape
/// and first-axis slicing share that storage, so writes through one are seen by the others.
template <class T>
class NDArray {
  static_assert(std::is_floating_point_v<T>, "NDArray<T>: T must be float or double");

 public:
  using value_type = T;
  struct Impl;

  /// An empty handle (no storage); most operations on it throw StateError.
  NDArray() = default;
  /// A new array of the given shape; elements are uninitialised (use nd::zeros to get zeros).
  explicit NDArray(const Shape& shape);

  /// True when the handle refers to an array.
  bool defined() const { return impl_ != nullptr; }
  explicit operator bool() const { return defined(); }

  const Shape& shape() const { return checked().shape; }
  /// Dimension of one axis; negative counts from the back (shape(-1) is the last).
  std::size_t shape(int axis) const { return shape().at(axis); }
  std::size_t ndim() const { return shape().ndim(); }
  std::size_t size() const { return shape().size(); }

  T* data() { return checked().storage->data() + impl_->offset; }
  const T* data() const { return checked().storage->data() + impl_->offset; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  /// Element at a full index, e.g. x.at(1, 2).  ShapeError when the index is out of range.
  template <class... I>
  T& at(I... idx) {
    return data()[offset_of({static_cast<std::size_t>(idx)...})];
  }
  template <class... I>
  const T& at(I... idx) const {
    return data()[offset_of({static_cast<std::size_t>(idx)...})];
  }
  /// The single element of a one-element array.  Gluon: asscalar().
  T asscalar() const {
    GLUINO_CHECK(ShapeError, size() == 1, "asscalar: the array must have exactly one element, got shape ", shape());
    return data()[0];
  }
  T item() const { return asscalar(); }
  /// The elements, copied into a std::vector in row-major order.
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  /// Sets every element to v (in place, not recorded).  Gluon: x[:] = v.
  NDArray& fill(T v) {
    std::fill(begin(), end(), v);
    bump_version();
    return *this;
  }
  /// The in-place change count of this array's storage, shared by all its views (PyTorch's
  /// _version).  fill, assign and the optimizers' updates bump it; a backward() through an op
  /// that saved this storage before the change throws StateError.  Writes through data() are
  /// not counted: code that writes there into an array already recorded calls bump_version().
  std::uint64_t version() const { return checked().storage->version(); }
  void bump_version() { checked().storage->bump_version(); }
  /// Copies src's values into this array (in place, not recorded).  Gluon: x[:] = src.
  /// src must have the same shape or broadcast to it.
  NDArray& assign(const NDArray& src);
  /// A deep copy: new storage, no autograd history.  Gluon: copy().
  NDArray copy() const;
  /// The same data converted to U.  Gluon: astype().
  template <class U>
  NDArray<U> astype() const {
    NDArray<U> out(shape());
    std::transform(begin(), end(), out.begin(), [](T v) { return static_cast<U>(v); });
    return out;
  }
  /// A handle to the same storage with no autograd history.  Gluon: detach().
  NDArray detach() const;

  // Shape ops; recorded by autograd, and views where the data need not move.
  /// Same data, new shape; one dimension may be -1 (inferred).  Gluon: reshape.
  NDArray reshape(std::initializer_list<long long> s) const { return nd::reshape(*this, std::vector<long long>(s)); }
  NDArray reshape(const Shape& s) const {
    return nd::reshape(*this, std::vector<long long>(s.begin(), s.end()));
  }
  /// (N, ...) -> (N, product of the rest).  Gluon: flatten.
  NDArray flatten() const {
    GLUINO_CHECK(ShapeError, ndim() >= 1, "flatten: needs at least one axis, got shape ", shape());
    // The rest's size spelled out, not -1, so that an empty batch (0, C, H, W) flattens too.
    std::size_t rest = 1;
    for (std::size_t d = 1; d < ndim(); ++d) rest *= shape()[d];  // cannot overflow: size() did not
    return nd::reshape(*this, {static_cast<long long>(shape()[0]), static_cast<long long>(rest)});
  }
  /// Reverses the axes, or permutes them by axes.  Gluon: transpose / T.
  NDArray transpose(const std::vector<std::size_t>& axes = {}) const { return nd::transpose(*this, axes); }
  NDArray expand_dims(int axis) const { return nd::expand_dims(*this, axis); }
  NDArray broadcast_to(const Shape& s) const { return nd::broadcast_to(*this, s); }
  /// Rows [begin, end) along the first axis, sharing storage (a view).  Gluon: x[begin:end].
  NDArray slice(std::size_t begin, std::size_t end) const { return nd::slice_axis0(*this, begin, end); }
  /// Row i along the first axis, with that axis dropped (a view).  Gluon: x[i].
  NDArray operator[](std::size_t i) const {
    GLUINO_CHECK(ShapeError, ndim() >= 1, "operator[]: cannot index a 0-d array");
    Shape rest;
    for (std::size_t d = 1; d < ndim(); ++d) rest.push_back(shape()[d]);
    return slice(i, i + 1).reshape(rest);
  }

  // Reductions over all axes (empty axes) or the given ones.
  NDArray sum(const std::vector<int>& axes = {}, bool keepdims = false) const { return nd::sum(*this, axes, keepdims); }
  NDArray mean(const std::vector<int>& axes = {}, bool keepdims = false) const { return nd::mean(*this, axes, keepdims); }
  NDArray max(const std::vector<int>& axes = {}, bool keepdims = false) const { return nd::max(*this, axes, keepdims); }
  NDArray min(const std::vector<int>& axes = {}, bool keepdims = false) const { return nd::min(*this, axes, keepdims); }
  /// Index of the largest element along axis, as T.  Gluon: argmax.
  NDArray argmax(int axis = -1, bool keepdims = false) const { return nd::argmax(*this, axis, keepdims); }
  NDArray relu() const { return nd::relu(*this); }
  NDArray zeros_like() const { return NDArray(shape()).fill(T(0)); }
  NDArray ones_like() const { return NDArray(shape()).fill(T(1)); }

  // Autograd.
  /// Allocates a zero gradient buffer and marks this array as a leaf whose gradient backward()
  /// computes.  Gluon: attach_grad(grad_req).  Detaches the array from any recorded history.
  void attach_grad(GradReq req = GradReq::write);
  /// The gradient buffer attach_grad allocated.  StateError when none is attached.
  NDArray& grad() const;
  GradReq grad_req() const { return checked().grad_req; }
  /// Runs backward from this array.  A non-scalar head gets a head gradient of ones (as MXNet).
  void backward(bool retain_graph = false) const { autograd::backward(*this, NDArray(), retain_graph); }
  /// Runs backward with an explicit head gradient of this array's shape.
  void backward(const NDArray& head_grad, bool retain_graph = false) const {
    autograd::backward(*this, head_grad, retain_graph);
  }

  /// Internals used by autograd; not part of the user API.
  const std::shared_ptr<Impl>& impl() const { return impl_; }
  explicit NDArray(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  /// A view of this array's storage with another shape (no copy, no history).
  NDArray view_as(const Shape& s, std::size_t extra_offset = 0) const;

 private:
  Impl& checked() const {
    GLUINO_CHECK(StateError, impl_ != nullptr, "NDArray: operation on an empty (default-constructed) array");
    return *impl_;
  }
  std::size_t offset_of(std::initializer_list<std::size_t> idx) const {
    const Shape& s = shape();
    GLUINO_CHECK(ShapeError, idx.size() == s.ndim(), "at: ", idx.size(), " indices for an array of shape ", s);
    std::size_t off = 0, d = 0;
    for (std::size_t i : idx) {
      GLUINO_CHECK(ShapeError, i < s[d], "at: index ", i, " out of range for axis ", d, " of shape ", s);
      off = off * s[d] + i;
      ++d;
    }
    return off;
  }
  std::shared_ptr<Impl> impl_;
};

/// The state behind a handle: storage, view offset and shape, and autograd bookkeeping.
template <class T>
struct NDArray<T>::Impl {
  std::shared_ptr<Storage<T>> storage;
  std::size_t offset = 0;
  Shape shape;
  std::shared_ptr<autograd::Node<T>> grad_fn;  // set on outputs of recorded ops
  NDArray<T> grad;                             // set by attach_grad
  GradReq grad_req = GradReq::null;
};

template <class T>
NDArray<T>::NDArray(const Shape& shape) : impl_(std::make_shared<Impl>()) {
  impl_->storage = std::make_shared<Storage<T>>(shape.size());
  impl_->shape = shape;
}

template <class T>
NDArray<T> NDArray<T>::view_as(const Shape& s, std::size_t extra_offset) const {
  auto impl = std::make_shared<Impl>();
  impl->storage = checked().storage;
  impl->offset = impl_->offset + extra_offset;
  impl->shape = s;
  return NDArray(std::move(impl));
}

template <class T>
NDArray<T> NDArray<T>::copy() const {
  NDArray out(shape());
  std::copy(begin(), end(), out.begin());
  return out;
}

template <class T>
NDArray<T> NDArray<T>::detach() const {
  return view_as(shape());
}

template <class T>
NDArray<T>& NDArray<T>::assign(const NDArray& src) {
  if (src.shape() == shape()) {
    std::copy(src.begin(), src.end(), begin());
  } else {
    NDArray b = nd::broadcast_to(src.detach(), shape());
    std::copy(b.begin(), b.end(), begin());
  }
  bump_version();
  return *this;
}

template <class T>
void NDArray<T>::attach_grad(GradReq req) {
  Impl& im = checked();
  im.grad_fn.reset();
  im.grad_req = req;
  if (req == GradReq::null) {
    im.grad = NDArray();
  } else {
    im.grad = NDArray(im.shape);
    im.grad.fill(T(0));
  }
}

template <class T>
NDArray<T>& NDArray<T>::grad() const {
  Impl& im = checked();
  GLUINO_CHECK(StateError, im.grad.defined(),
               "grad: no gradient is attached to this array of shape ", im.shape, "; call attach_grad() first");
  return im.grad;
}

}  // namespace gluino

