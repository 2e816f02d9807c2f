// SPDX-License-Identifier: Apache-2.0
#pragma once
/// NDArray<T>: a handle to a contiguous, row-major, reference-counted array, with the autograd
/// state Gluon keeps on an NDArray (attached gradient, grad_req, the node that produced it).
/// Copying a handle aliases (like Python names, MXNet and torch); copy() makes a deep copy.
///
/// The core layer: this header knows no op.  The methods that call ops (a.sum(), a.reshape(),
/// a.backward(), ...) are defined where those ops are (nd/reduce.hpp, nd/shape_ops.hpp,
/// nd/elementwise.hpp, autograd/engine.hpp); gluino/gluino.hpp and gluino/nd.hpp bring them
/// together.  Such a method called without its header fails to compile with a message naming
/// the header (docs/architecture.md).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/tracing.hpp"
#include "gluino/core/shape.hpp"
#include "gluino/core/storage.hpp"

namespace gluino {

template <class T>
class NDArray;

namespace autograd {
template <class T>
class Node;
template <class T>
struct GradHooks;  // autograd/hooks.hpp
}  // namespace autograd

/// How backward() writes a leaf's gradient.  Gluon's grad_req: "write", "add", "null".
enum class GradReq { null, write, add };

namespace detail {
/// The ops behind NDArray's methods, one struct a header, defined (as a template over the array
/// type) by that header: the methods name them, so that the class itself needs no op.
template <class A>
struct ndarray_shape_ops;  // nd/shape_ops.hpp: reshape, flatten, transpose, expand_dims, broadcast_to, slice, []
template <class A>
struct ndarray_reduce_ops;  // nd/reduce.hpp: sum, mean, max, min, argmax
template <class A>
struct ndarray_elementwise_ops;  // nd/elementwise.hpp: relu
template <class A>
struct ndarray_autograd_ops;  // autograd/engine.hpp: backward
/// A copy of x stretched to `shape` (detail/broadcast.hpp, included at the end of this header).
template <class T>
NDArray<T> broadcast_copy(const NDArray<T>& x, const Shape& shape, const char* op);
/// True when X is a complete type here (its header was included before this use).
template <class X>
concept complete_type = requires { sizeof(X); };
}  // namespace detail

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
  /// Copies and assignments share the array (a handle, as LibTorch's Tensor): y = x makes y refer
  /// to x's storage.  Assigning to a temporary handle does not compile: `param->data() = x` or
  /// `net.weight() = x` would rebind a copy of the handle that is then destroyed, leaving the
  /// parameter unchanged with no error.  Write param->set_data(x), or x's values into the array
  /// with `param->data().assign(x)`.
  NDArray(const NDArray&) = default;
  NDArray(NDArray&&) noexcept = default;
  NDArray& operator=(const NDArray&) & = default;
  NDArray& operator=(NDArray&&) & noexcept = default;
  NDArray& operator=(const NDArray&) && = delete;  // a temporary handle would change nothing: set_data(x), assign(x)
  NDArray& operator=(NDArray&&) && = delete;  // a temporary handle would change nothing: set_data(x), assign(x)
  ~NDArray() = default;

  /// True when the handle refers to an array.
  bool defined() const { return impl_ != nullptr; }
  /// Not convertible to bool, as LibTorch's at::Tensor: `if (x)` and `if (nd::sum(x) > 0)` do not
  /// compile.  NumPy and Gluon read a one-element array's value there, and a handle test would read
  /// whether it is defined; a C++ program meaning one and getting the other would silently branch
  /// wrong (`if (loss < 0.01f)` was always true), so neither is guessed: write `x.defined()` for the
  /// handle and `x.asscalar()` (or `item()`) for the value.
  explicit operator bool() const = delete;  // not a bool: write x.defined() or x.asscalar()

  const Shape& shape() const { return checked().shape; }
  /// Dimension of one axis; negative counts from the back (shape(-1) is the last).
  std::size_t shape(int axis) const { return shape().at(axis); }
  std::size_t ndim() const { return shape().ndim(); }
  std::size_t size() const { return shape().size(); }

  /// The elements.  While a graph is being traced on this thread (hybridize), reading or writing
  /// outside an op the elements of an array the trace knows (an input, an op's output, a
  /// parameter, a constant an op read), through any handle to its storage (detach(), view_as(),
  /// begin()), throws StateError: a graph replays ops only, and would keep what such code
  /// computed, or the branch it took, as a constant.
  T* data() {
    Impl& im = checked();
    if (detail::tracing_block()) [[unlikely]]
      detail::check_storage_not_traced(im.storage.get(), "reads or writes array values (data)");
    return im.storage->data() + im.offset;
  }
  const T* data() const {
    const Impl& im = checked();
    if (detail::tracing_block()) [[unlikely]]
      detail::check_storage_not_traced(im.storage.get(), "reads array values (data)");
    return im.storage->data() + im.offset;
  }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  /// Element at a full index, e.g. x.at(1, 2); a negative index counts from the back of its axis
  /// (x.at(-1, -1) is the last element), as numpy's item().  ShapeError when the count of
  /// indices differs from ndim() or an index is outside [-n, n) of its axis.  Indices must be
  /// integers: x.at(1.5, 0) does not compile (it would read x.at(1, 0)).
  template <class... I>
    requires(std::is_integral_v<I> && ...)
  T& at(I... idx) {
    detail::check_not_tracing("reads array values (at)");
    return data()[offset_of({index_of(idx)...})];
  }
  template <class... I>
    requires(std::is_integral_v<I> && ...)
  const T& at(I... idx) const {
    detail::check_not_tracing("reads array values (at)");
    return data()[offset_of({index_of(idx)...})];
  }
  /// The single element of a one-element array.  Gluon: asscalar().
  T asscalar() const {
    detail::check_not_tracing("reads array values (asscalar)");
    GLUINO_CHECK(ShapeError, size() == 1, "asscalar: the array must have exactly one element, got shape ", shape());
    return data()[0];
  }
  T item() const { return asscalar(); }
  /// The elements, copied into a std::vector in row-major order.
  std::vector<T> to_vector() const {
    detail::check_not_tracing("reads array values (to_vector)");
    return std::vector<T>(begin(), end());
  }

  /// Sets every element to v (in place, not recorded).  Gluon: x[:] = v.
  NDArray& fill(T v) {
    std::fill(begin(), end(), v);
    bump_version();
    return *this;
  }
  /// The in-place change count of this array's storage, shared by all its views (PyTorch's
  /// _version).  fill, assign and the optimizers' updates bump it; a backward() through an op
  /// that saved this storage before the change throws StateError.  Writes through data() are
  /// not counted, nor through at(): code that writes there into an array already recorded calls bump_version().
  std::uint64_t version() const { return checked().storage->version(); }
  void bump_version() { checked().storage->bump_version(); }
  /// Copies src's values into this array (in place, not recorded).  Gluon: x[:] = src.
  /// src must have the same shape or broadcast to it (extra leading axes of length 1 allowed).
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

  // Shape ops (nd/shape_ops.hpp); recorded by autograd, and views where the data need not move.
  /// Same data, new shape; one dimension may be -1 (inferred).  Gluon: reshape.
  template <class A = NDArray>
  A reshape(std::initializer_list<long long> s) const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::reshape needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    return shape_ops<A>::reshape(*this, std::vector<long long>(s));
  }
  template <class A = NDArray>
  A reshape(const Shape& s) const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::reshape needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    return shape_ops<A>::reshape(*this, std::vector<long long>(s.begin(), s.end()));
  }
  /// (N, ...) -> (N, product of the rest).  Gluon: flatten.
  template <class A = NDArray>
  A flatten() const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::flatten needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    return shape_ops<A>::flatten(*this);
  }
  /// Reverses the axes, or permutes them by axes.  Gluon: transpose / T.
  template <class A = NDArray>
  A transpose(const std::vector<std::size_t>& axes = {}) const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::transpose needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    return shape_ops<A>::transpose(*this, axes);
  }
  template <class A = NDArray>
  A expand_dims(int axis) const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::expand_dims needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    return shape_ops<A>::expand_dims(*this, axis);
  }
  template <class A = NDArray>
  A broadcast_to(const Shape& s) const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::broadcast_to needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    return shape_ops<A>::broadcast_to(*this, s);
  }
  /// Rows [begin, end) along the first axis, sharing storage (a view).  Gluon: x[begin:end].
  /// A negative bound counts from the back (x.slice(-2, n) is the last two rows).  ShapeError
  /// for a 0-d array, a bound outside [-n, n] or begin > end (no clamping, unlike Python).
  template <class A = NDArray, class I, class J>
  A slice(I begin, J end) const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::slice needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    static_assert(std::is_integral_v<I> && std::is_integral_v<J>, "NDArray::slice: the bounds must be integers");
    const Shape& s = shape();
    GLUINO_CHECK(ShapeError, s.ndim() >= 1, "slice: cannot slice a 0-d array");
    const Index b = index_of(begin), e = index_of(end);
    const std::size_t rb = b.negative ? b.value + s[0] : b.value, re = e.negative ? e.value + s[0] : e.value;
    // below -n wraps past n; the message names the bounds as given
    GLUINO_CHECK(ShapeError, !(b.negative && rb >= s[0]) && !(e.negative && re >= s[0]), "slice: rows [", begin,
                 ", ", end, ") out of range for shape ", s);
    return shape_ops<A>::slice(*this, rb, re);
  }
  /// Row i along the first axis, with that axis dropped (a view); a negative i counts from the
  /// back (x[-1] is the last row).  Gluon: x[i].  ShapeError for a 0-d array or i outside [-n, n).
  template <class A = NDArray, class I>
  A operator[](I i) const {
    static_assert(detail::complete_type<shape_ops<A>>, "NDArray::operator[] needs #include <gluino/nd/shape_ops.hpp> (or <gluino/gluino.hpp>)");
    static_assert(std::is_integral_v<I>, "NDArray::operator[]: the index must be an integer");
    const Shape& s = shape();
    GLUINO_CHECK(ShapeError, s.ndim() >= 1, "operator[]: cannot index a 0-d array");
    const Index k = index_of(i);
    const std::size_t row = k.negative ? k.value + s[0] : k.value;  // below -n wraps past n
    GLUINO_CHECK(ShapeError, row < s[0], "operator[]: index ", i, " out of range for axis 0 of shape ", s);
    return shape_ops<A>::row(*this, row);
  }

  // Reductions (nd/reduce.hpp) over all axes (empty axes) or the given ones.
  template <class A = NDArray>
  A sum(const std::vector<int>& axes = {}, bool keepdims = false) const {
    static_assert(detail::complete_type<reduce_ops<A>>, "NDArray::sum needs #include <gluino/nd/reduce.hpp> (or <gluino/gluino.hpp>)");
    return reduce_ops<A>::sum(*this, axes, keepdims);
  }
  template <class A = NDArray>
  A mean(const std::vector<int>& axes = {}, bool keepdims = false) const {
    static_assert(detail::complete_type<reduce_ops<A>>, "NDArray::mean needs #include <gluino/nd/reduce.hpp> (or <gluino/gluino.hpp>)");
    return reduce_ops<A>::mean(*this, axes, keepdims);
  }
  template <class A = NDArray>
  A max(const std::vector<int>& axes = {}, bool keepdims = false) const {
    static_assert(detail::complete_type<reduce_ops<A>>, "NDArray::max needs #include <gluino/nd/reduce.hpp> (or <gluino/gluino.hpp>)");
    return reduce_ops<A>::max(*this, axes, keepdims);
  }
  template <class A = NDArray>
  A min(const std::vector<int>& axes = {}, bool keepdims = false) const {
    static_assert(detail::complete_type<reduce_ops<A>>, "NDArray::min needs #include <gluino/nd/reduce.hpp> (or <gluino/gluino.hpp>)");
    return reduce_ops<A>::min(*this, axes, keepdims);
  }
  /// Index of the largest element along axis, as T.  Gluon: argmax.
  template <class A = NDArray>
  A argmax(int axis = -1, bool keepdims = false) const {
    static_assert(detail::complete_type<reduce_ops<A>>, "NDArray::argmax needs #include <gluino/nd/reduce.hpp> (or <gluino/gluino.hpp>)");
    return reduce_ops<A>::argmax(*this, axis, keepdims);
  }
  /// nd/elementwise.hpp.
  template <class A = NDArray>
  A relu() const {
    static_assert(detail::complete_type<elementwise_ops<A>>, "NDArray::relu needs #include <gluino/nd/elementwise.hpp> (or <gluino/gluino.hpp>)");
    return elementwise_ops<A>::relu(*this);
  }
  NDArray zeros_like() const { return NDArray(shape()).fill(T(0)); }
  NDArray ones_like() const { return NDArray(shape()).fill(T(1)); }

  // Autograd.
  /// Allocates a zero gradient buffer and marks this array as a leaf whose gradient backward()
  /// computes.  Gluon: attach_grad(grad_req).  Detaches the array from any recorded history.
  void attach_grad(GradReq req = GradReq::write);
  /// The gradient buffer attach_grad allocated, as a handle to it: x.grad().fill(0) and
  /// x.grad().assign(g) write into it.  A handle, not a reference to the array's slot, so that
  /// `x.grad() = other` does not compile: it would rebind the buffer backward() writes into (a
  /// buffer of another shape took a gradient past its end).  StateError when none is attached.
  NDArray grad() const;
  GradReq grad_req() const { return checked().grad_req; }
  /// Runs backward from this array (autograd/engine.hpp).  A non-scalar head gets a head
  /// gradient of ones (as MXNet).
  template <class A = NDArray>
  void backward(bool retain_graph = false) const {
    static_assert(detail::complete_type<autograd_ops<A>>, "NDArray::backward needs #include <gluino/autograd/engine.hpp> (or <gluino/gluino.hpp>)");
    autograd_ops<A>::backward(*this, A(), retain_graph);
  }
  /// Runs backward with an explicit head gradient of this array's shape.
  template <class A = NDArray>
  void backward(const NDArray& head_grad, bool retain_graph = false) const {
    static_assert(detail::complete_type<autograd_ops<A>>, "NDArray::backward needs #include <gluino/autograd/engine.hpp> (or <gluino/gluino.hpp>)");
    autograd_ops<A>::backward(*this, head_grad, retain_graph);
  }

  /// Internals used by autograd; not part of the user API.
  const std::shared_ptr<Impl>& impl() const { return impl_; }
  explicit NDArray(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  /// A view of this array's storage with another shape (no copy, no history), `extra_offset`
  /// elements past this one's start.  ShapeError when it would reach past the storage's end.
  NDArray view_as(const Shape& s, std::size_t extra_offset = 0) const;

 private:
  // The struct behind a method, with a message naming its header when it was not included.
  template <class A>
  using shape_ops = detail::ndarray_shape_ops<A>;
  template <class A>
  using reduce_ops = detail::ndarray_reduce_ops<A>;
  template <class A>
  using elementwise_ops = detail::ndarray_elementwise_ops<A>;
  template <class A>
  using autograd_ops = detail::ndarray_autograd_ops<A>;
  Impl& checked() const {
    GLUINO_CHECK(StateError, impl_ != nullptr, "NDArray: operation on an empty (default-constructed) array");
    return *impl_;
  }
  // An index of at(): its value modulo 2^64, and whether it was negative (a signed integer < 0).
  struct Index {
    std::size_t value;
    bool negative;
  };
  template <class I>
  static Index index_of(I i) {
    if constexpr (std::is_integral_v<I> && std::is_signed_v<I>)
      return {static_cast<std::size_t>(i), i < 0};
    else
      return {static_cast<std::size_t>(i), false};
  }
  std::size_t offset_of(std::initializer_list<Index> idx) const {
    const Shape& s = shape();
    GLUINO_CHECK(ShapeError, idx.size() == s.ndim(), "at: ", idx.size(), " indices for an array of shape ", s);
    std::size_t off = 0, d = 0;
    for (const Index& x : idx) {
      const std::size_t i = x.negative ? x.value + s[d] : x.value;  // -1 + n = n - 1; below -n wraps past n
      if (i >= s[d]) [[unlikely]] {
        if (x.negative) raise_index(static_cast<long long>(x.value), d);
        raise_index(x.value, d);
      }
      off = off * s[d] + i;
      ++d;
    }
    return off;
  }
  template <class V>
  [[noreturn]] void raise_index(V i, std::size_t axis) const {
    detail::raise<ShapeError>("at: index ", i, " out of range for axis ", axis, " of shape ", shape());
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
  std::shared_ptr<autograd::GradHooks<T>> grad_hooks;  // autograd::on_gradient_ready
};

template <class T>
NDArray<T>::NDArray(const Shape& shape) : impl_(std::make_shared<Impl>()) {
  impl_->storage = std::make_shared<Storage<T>>(shape.size());
  impl_->shape = shape;
}

template <class T>
NDArray<T> NDArray<T>::view_as(const Shape& s, std::size_t extra_offset) const {
  const Impl& im = checked();
  const std::size_t held = im.storage->size(), n = s.size();  // s.size(): ShapeError on overflow
  std::size_t offset = 0;
  GLUINO_CHECK(ShapeError, !detail::add_overflows(im.offset, extra_offset, &offset) && offset <= held &&
                               n <= held - offset,
               "view_as: shape ", s, " at offset ", im.offset, " + ", extra_offset, " needs ", n,
               " elements, but the storage holds ", held);
  auto impl = std::make_shared<Impl>();
  impl->storage = im.storage;
  impl->offset = offset;
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
  const Shape& out = shape();
  if (src.shape() == out) {
    std::copy(src.begin(), src.end(), begin());
  } else {  // a stretched copy first: src may be a view of this array
    // src's extra leading axes of length 1 are dropped, as NumPy's x[...] = src does
    std::size_t lead = 0;
    const Shape& ss = src.shape();
    while (ss.ndim() - lead > out.ndim() && ss[lead] == 1) ++lead;
    const NDArray s = lead == 0 ? src : src.view_as(Shape(std::vector<std::size_t>(ss.begin() + lead, ss.end())));
    NDArray b = detail::broadcast_copy(s, out, "assign");
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
NDArray<T> NDArray<T>::grad() const {
  Impl& im = checked();
  GLUINO_CHECK(StateError, im.grad.defined(),
               "grad: no gradient is attached to this array of shape ", im.shape, "; call attach_grad() first");
  return im.grad;
}

}  // namespace gluino

// assign's broadcasting (same layer; it needs the class above).
#include "gluino/detail/broadcast.hpp"
