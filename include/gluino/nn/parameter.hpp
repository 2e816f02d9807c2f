// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicParameter<T>: a named, trainable array with its gradient, deferred shape and initializer
/// (Gluon: gluon.Parameter), and the options of initializing and loading.  The dictionary of
/// parameters that blocks own and share, BasicParameterDict<T>, is in nn/parameter_dict.hpp.
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/autograd/mode.hpp"
#include "gluino/autograd/trace.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/warning.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/init/initializer.hpp"

namespace gluino::nn {

template <class T>
class BasicParameterDict;
template <class T>
class BasicBlock;
template <class T>
class BasicParameter;

/// The first call of a block whose own parameters wait for their shapes (BasicBlock::call makes
/// one; not for users): while alive it holds those parameters' locks, so that threads making
/// the first call of one block at once run its deferred initializations one at a time and once,
/// and the others then see the parameters initialized; commit() publishes what the call
/// initialized, and without commit() (the call threw) the destructor puts the parameters back as
/// they were (shape, pending initializer, no data), so that a first call with a wrong input
/// leaves nothing inferred from it.
template <class T>
class DeferredInitCall {
 public:
  /// Locks (in address order: two first calls of blocks that share parameters take them in the
  /// same order) and remembers the parameters among `params` that wait for their shapes.
  template <class Params>
  explicit DeferredInitCall(const Params& params) {
    std::vector<BasicParameter<T>*> ps;
    for (const auto& [n, p] : params)
      if (p->is_deferred()) ps.push_back(p.get());
    std::sort(ps.begin(), ps.end());
    ps.erase(std::unique(ps.begin(), ps.end()), ps.end());
    for (BasicParameter<T>* p : ps) {
      std::unique_lock<std::recursive_mutex> lock(p->mutex_);
      // Skipped: finished by another thread's first call meanwhile, or by an enclosing first call
      // on this thread (which publishes it, or puts it back).
      if (!p->is_deferred() || p->data_.defined()) continue;
      saved_.push_back({p, p->shape_, p->pending_, p->own_pending_, std::move(lock)});
    }
    outer_ = current();
    current() = this;
  }
  DeferredInitCall(const DeferredInitCall&) = delete;
  DeferredInitCall& operator=(const DeferredInitCall&) = delete;
  /// The call succeeded: the parameters it initialized are no longer deferred.
  void commit() {
    for (auto& s : saved_)
      if (s.param->data_.defined()) s.param->deferred_.store(false, std::memory_order_release);
    committed_ = true;
  }
  ~DeferredInitCall() {
    current() = outer_;
    if (committed_) return;
    for (auto& s : saved_) {
      s.param->data_ = NDArray<T>{};
      s.param->shape_ = s.shape;
      s.param->pending_ = std::move(s.pending);
      s.param->own_pending_ = s.own_pending;
    }
  }
  /// True when p is held by a first call running on this thread (which then publishes it).
  static bool holds(const BasicParameter<T>* p) {
    for (const DeferredInitCall* c = current(); c; c = c->outer_)
      for (const auto& s : c->saved_)
        if (s.param == p) return true;
    return false;
  }

 private:
  struct Saved {
    BasicParameter<T>* param;
    Shape shape;
    init::BasicAnyInitializer<T> pending;
    bool own_pending;
    std::unique_lock<std::recursive_mutex> lock;
  };
  static const DeferredInitCall*& current() {
    thread_local const DeferredInitCall* c = nullptr;
    return c;
  }
  std::vector<Saved> saved_;
  const DeferredInitCall* outer_ = nullptr;
  bool committed_ = false;
};

/// Options of initialize() (Gluon's keyword arguments of Block.initialize / ParameterDict.initialize).
struct InitializeOptions {
  /// Re-initialize parameters that already have data (Gluon: force_reinit).  Without it,
  /// initializing an initialized parameter does nothing but warn (gluino::warn, as Gluon).
  bool force_reinit = false;
};

/// Options of load_parameters / ParameterDict::load, in the order of Gluon's keyword arguments.
struct LoadOptions {
  /// Leave parameters that the file lacks as they are (otherwise ValueError).
  bool allow_missing = false;
  /// Skip names in the file that the block or dict lacks (otherwise ValueError).
  bool ignore_extra = false;
  /// ParameterDict::load only: prepended to the file's names (Gluon: restore_prefix).
  std::string restore_prefix = "";
};

/// Attributes of a new parameter, in the order of gluon.Parameter's keyword arguments.
struct ParameterOptions {
  GradReq grad_req = GradReq::write;  ///< Gluon: grad_req ("write", "add", "null")
  double lr_mult = 1.0;               ///< Gluon: lr_mult, multiplies the learning rate
  double wd_mult = 1.0;               ///< Gluon: wd_mult, multiplies the weight decay
  bool allow_deferred_init = true;    ///< Gluon: allow_deferred_init
};

/// A parameter of a block.  Mirrors gluon.Parameter.
/// - shape may contain 0 for "unknown": initialize() then only records the initializer, and the
///   layer's first forward calls finish_deferred_init(shape) which fills the unknown dimensions
///   and runs it (Gluon's deferred initialization).
/// - data() is an NDArray with attach_grad(grad_req) done, so backward() fills grad().
/// - Its own initializer (init(), e.g. Dense's bias: init::Zero) wins over the global one given
///   to initialize(); as in Gluon the own initializer's init_weight fills the array, whatever
///   the name.  Without one, the global initializer dispatches on the name's suffix.
/// Blocks hold parameters by shared_ptr: blocks that share parameters hold the same object.
template <class T>
class BasicParameter {
 public:
  /// A parameter named name (the full name, with the block prefix) of the given shape.
  explicit BasicParameter(std::string name, Shape shape = {}, init::BasicAnyInitializer<T> init = {},
                          ParameterOptions opt = {})
      : name_(std::move(name)), shape_(shape), init_(std::move(init)), opt_(opt) {}
  BasicParameter(const BasicParameter&) = delete;
  BasicParameter& operator=(const BasicParameter&) = delete;

  const std::string& name() const { return name_; }
  /// The shape; 0 marks a dimension not known yet.
  const Shape& shape() const { return shape_; }
  /// Sets the shape before initialization (Gluon: param.shape = ...); ShapeError when data
  /// exists with another shape.
  void set_shape(const Shape& s) {
    GLUINO_CHECK(ShapeError, !data_.defined() || s == data_.shape(), "Parameter '", name_,
                 "': cannot change the shape of an initialized parameter from ", data_.shape(), " to ", s);
    shape_ = s;
  }
  GradReq grad_req() const { return opt_.grad_req; }
  /// Changes grad_req; on an initialized parameter this allocates a zero gradient or drops it.
  /// The grad_req it has already changes nothing (the gradient and handles to it are kept, so
  /// an accumulation loop may set GradReq::add at every batch).  Gluon: param.grad_req = "null".
  void set_grad_req(GradReq req) {
    if (req == opt_.grad_req && (!data_.defined() || data_.grad_req() == req)) return;
    opt_.grad_req = req;
    if (data_.defined()) data_.attach_grad(req);
  }
  double lr_mult() const { return opt_.lr_mult; }
  void set_lr_mult(double m) { opt_.lr_mult = m; }
  double wd_mult() const { return opt_.wd_mult; }
  void set_wd_mult(double m) { opt_.wd_mult = m; }
  bool allow_deferred_init() const { return opt_.allow_deferred_init; }
  /// The parameter's own initializer (empty: the global one decides).  Gluon: param.init.
  const init::BasicAnyInitializer<T>& init() const { return init_; }
  void set_init(init::BasicAnyInitializer<T> i) { init_ = std::move(i); }

  /// True once the parameter has data.
  bool is_initialized() const {
    if (!is_deferred()) return data_.defined();
    std::lock_guard<std::recursive_mutex> lock(mutex_);  // another thread's first call may be writing it
    return data_.defined();
  }
  /// True when initialize() was called but waits for the shape (deferred initialization); during
  /// a block's first call, until that call returns (see finish_deferred_init).
  bool is_deferred() const { return deferred_.load(std::memory_order_acquire); }

  /// Initializes the data: with the parameter's own initializer if it has one, else with
  /// default_init (dispatching on the name).  With an incomplete shape the initialization is
  /// deferred to finish_deferred_init (ValueError when allow_deferred_init is false).  Without
  /// force_reinit an initialized parameter is left as it is, with a warning (gluino::warn, as
  /// Gluon).  Re-initialization writes into the existing array, so handles to data() stay valid.
  /// Gluon: Parameter.initialize.
  void initialize(init::BasicAnyInitializer<T> default_init = init::BasicUniform<T>{}, InitializeOptions opt = {}) {
    if (data_.defined() && !opt.force_reinit) {
      warn("Parameter '" + name_ + "' is already initialized, ignoring; pass {.force_reinit = true} to re-initialize");
      return;
    }
    init::BasicAnyInitializer<T> chosen = init_ ? init_ : default_init;
    GLUINO_CHECK(ValueError, static_cast<bool>(chosen), "Parameter '", name_, "': initialize: no initializer given");
    if (!shape_.is_complete()) {
      GLUINO_CHECK(ValueError, opt_.allow_deferred_init, "Parameter '", name_,
                   "': cannot initialize with the incomplete shape ", shape_,
                   " (0 = unknown) because deferred initialization is not allowed");
      own_pending_ = static_cast<bool>(init_);
      pending_ = std::move(chosen);
      deferred_.store(true, std::memory_order_release);
      return;
    }
    run_init(*chosen, static_cast<bool>(init_));
    pending_ = {};  // an initialization that waited is replaced by this one
    deferred_.store(false, std::memory_order_release);
  }

  /// Completes a deferred initialization once the layer knows the full shape: fills the unknown
  /// dimensions of shape() from `inferred`, checks the known ones, and runs the pending
  /// initializer if initialize() was called.  Called by layers at every forward; cheap once
  /// initialized.  ShapeError (starting with `who`, e.g. the block prefix, and naming the
  /// parameter and both shapes) when a known dimension differs, or when an unknown one comes out
  /// 0 while an initialization waits (an input with an empty feature or channel axis).
  /// Thread-safe: the initializer runs once however many threads finish the parameter at once.
  /// Inside a block's first call (BasicBlock::operator()) the parameter counts as deferred until
  /// the call returns, and goes back to waiting, its shape unknown again, if the call throws (a
  /// first call with a wrong input infers nothing).  If the initializer throws, the parameter
  /// still waits, with its shape as before.
  void finish_deferred_init(const Shape& inferred, const std::string& who = "") {
    if (!is_deferred() && data_.defined() && inferred == shape_) return;  // initialized: no lock
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (data_.defined() && inferred == shape_) return;
    const Shape before = shape_, merged = merged_shape(inferred, who);
    GLUINO_CHECK(ShapeError, !pending_ || merged.is_complete(), who.empty() ? "" : who + ": ", "Parameter '", name_,
                 "' of shape ", shape_, " cannot be initialized from an input that implies shape ", inferred,
                 ": an unknown dimension comes out 0 (an empty axis of the input)");
    shape_ = merged;
    if (pending_ && shape_.is_complete()) {
      try {
        run_init(*pending_, own_pending_);
      } catch (...) {
        data_ = NDArray<T>{};
        shape_ = before;
        throw;
      }
      pending_ = {};
      if (!DeferredInitCall<T>::holds(this)) deferred_.store(false, std::memory_order_release);
    }
  }

  /// The data (a handle: writes through it change the parameter).  StateError before
  /// initialize(), or while the initialization waits for the first forward.  Gluon: data().
  NDArray<T> data() const {
    if (is_deferred()) {  // waiting, or initialized by a first call still running (maybe on another thread)
      std::lock_guard<std::recursive_mutex> lock(mutex_);
      return checked_data();
    }
    return checked_data();
  }
  /// The gradient buffer.  StateError when grad_req is null or before initialization.  Gluon: grad().
  NDArray<T> grad() const {
    NDArray<T> d = data();
    GLUINO_CHECK(StateError, opt_.grad_req != GradReq::null, "Parameter '", name_,
                 "': cannot get the gradient because grad_req is null");
    return d.grad();
  }
  /// Copies values into the data (same shape required).  On an uninitialized parameter it sets
  /// the shape (checked against the known dimensions) and initializes with a copy of arr,
  /// replacing any pending initialization.  Gluon: set_data.
  void set_data(const NDArray<T>& arr) {
    GLUINO_CHECK(StateError, arr.defined(), "Parameter '", name_, "': set_data: the array is empty");
    if (data_.defined()) {
      GLUINO_CHECK(ShapeError, arr.shape() == data_.shape(), "Parameter '", name_, "': set_data: shape ",
                   arr.shape(), " differs from the parameter's shape ", data_.shape());
      data_.assign(arr);
      return;
    }
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const Shape merged = merged_shape(arr.shape(), "");  // nothing changes before every check passed
    GLUINO_CHECK(ShapeError, merged == arr.shape(), "Parameter '", name_, "': set_data: shape ", arr.shape(),
                 " differs from the parameter's shape ", shape_);
    NDArray<T> copy = arr.detach().copy();
    copy.attach_grad(opt_.grad_req);
    shape_ = merged;
    pending_ = {};
    data_ = std::move(copy);
    if (!DeferredInitCall<T>::holds(this)) deferred_.store(false, std::memory_order_release);
  }
  /// Takes source's state but its gradient, converted to T: shape, grad_req, lr_mult, wd_mult,
  /// allow_deferred_init, its own initializer (init::rebind_initializer: empty when it cannot be
  /// rebound), and its data (a copy) or its pending deferred initialization.  For nn::Block::cast,
  /// on a parameter that is not initialized.  ValueError when source waits for its shape with an
  /// initializer that cannot be rebound to T (a user's initializer without rebind_float /
  /// rebind_double); nothing changes then.
  template <class S>
  void copy_state_from(const BasicParameter<S>& source) {
    init::BasicAnyInitializer<T> pending = init::rebind_initializer<T>(source.pending_);
    GLUINO_CHECK(ValueError, static_cast<bool>(pending) == static_cast<bool>(source.pending_), "Parameter '",
                 source.name_, "': cast: its deferred initialization waits with an initializer that cannot be "
                 "converted to the new element type (a user's initializer: override rebind_float / rebind_double), "
                 "or pass one batch through the model before casting it");
    NDArray<T> data;
    if (source.data_.defined()) {
      data = source.data_.detach().template astype<T>();
      if constexpr (std::is_same_v<S, T>) data = data.copy();
    }
    shape_ = source.shape_;
    init_ = init::rebind_initializer<T>(source.init_);
    opt_ = source.opt_;
    pending_ = std::move(pending);
    own_pending_ = source.own_pending_;
    data_ = std::move(data);
    if (data_.defined()) data_.attach_grad(opt_.grad_req);
    deferred_.store(static_cast<bool>(pending_), std::memory_order_release);
  }
  /// Sets the gradient to zero (nothing when there is none).  Gluon: zero_grad.
  void zero_grad() {
    if (data_.defined() && opt_.grad_req != GradReq::null) data_.grad().fill(T(0));
  }

  /// Prints "Parameter dense0_weight (shape=(256, 20), dtype=float32)", as Gluon.
  friend std::ostream& operator<<(std::ostream& os, const BasicParameter& p) {
    return os << "Parameter " << p.name_ << " (shape=" << p.shape_
              << ", dtype=" << (sizeof(T) == 4 ? "float32" : "float64") << ')';
  }

 private:
  // data() without its lock: StateError saying why there is none.
  NDArray<T> checked_data() const {
    if (!data_.defined()) {
      GLUINO_CHECK(StateError, !pending_, "Parameter '", name_,
                   "' has not been initialized yet because initialization was deferred: its shape ", shape_,
                   " is known only at the first forward; pass one batch through the network first, or give the "
                   "layer its input size (in_units, in_channels, ...); a custom block sets it in infer_shape()");
      detail::raise<StateError>("Parameter '", name_,
                                "' has not been initialized; call initialize() on the block or on "
                                "collect_params() (not params(), which misses the children's parameters)");
    }
    return data_;
  }
  // shape() with its unknown (0) dimensions taken from inferred; ShapeError when a known one differs.
  Shape merged_shape(const Shape& inferred, const std::string& who) const {
    bool ok = shape_.ndim() == 0 || inferred.ndim() == shape_.ndim();
    for (std::size_t d = 0; ok && d < shape_.ndim(); ++d)
      ok = shape_[d] == 0 || inferred[d] == 0 || shape_[d] == inferred[d];
    GLUINO_CHECK(ShapeError, ok, who.empty() ? "" : who + ": ", "Parameter '", name_, "' has shape ", shape_,
                 " but the input implies shape ", inferred);
    if (shape_.ndim() == 0) return inferred;
    Shape merged = shape_;
    for (std::size_t d = 0; d < merged.ndim(); ++d)
      if (merged[d] == 0) merged[d] = inferred[d];
    return merged;
  }
  void run_init(init::BasicInitializer<T>& initializer, bool own) {
    autograd::pause no_record;
    autograd::detail::TracePause<T> no_trace;  // a deferred initialization inside a traced forward
    NDArray<T> arr = data_.defined() ? data_ : NDArray<T>(shape_);
    NDArray<T> target = arr;  // the initializer may assign a new array to its argument
    if (own)
      initializer.init_weight(name_, arr);
    else
      initializer(name_, arr);
    GLUINO_CHECK(ShapeError, arr.shape() == shape_, "Parameter '", name_, "': the initializer produced shape ",
                 arr.shape(), " instead of ", shape_);
    if (arr.impl() != target.impl()) target.assign(arr.detach());
    target.bump_version();  // initializers may write through data(): count the change
    if (!data_.defined()) {
      data_ = target;
      data_.attach_grad(opt_.grad_req);
    }
  }

  template <class U>
  friend class BasicParameterDict;
  template <class U>
  friend class BasicParameter;
  friend class DeferredInitCall<T>;
  // Only a pending ParameterDict renames its parameters, once, when its block is registered.
  void rename(std::string n) { name_ = std::move(n); }

  std::string name_;
  Shape shape_;
  init::BasicAnyInitializer<T> init_;
  ParameterOptions opt_;
  NDArray<T> data_;
  init::BasicAnyInitializer<T> pending_;  // set while initialization waits for the shape
  bool own_pending_ = false;              // the pending initializer is the parameter's own
  // is_deferred(): pending_ set, or initialized by a first call still running (DeferredInitCall).
  // Written under mutex_ (or by initialize / set_data / loading, which are not for concurrent
  // use); read without it, so that an initialized parameter costs forward no lock.
  std::atomic<bool> deferred_{false};
  mutable std::recursive_mutex mutex_;  // finish_deferred_init's slow path and first calls (DeferredInitCall)
};

using Parameter = BasicParameter<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_PARAMETER_INSTANTIATIONS(X, T) \
  X class BasicParameter<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_PARAMETER_INSTANTIATIONS)
}  // namespace gluino::nn
