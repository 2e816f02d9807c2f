// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicBlock<T>: the base of every layer and model (Gluon: gluon.Block): names fixed at
/// construction or registration, name scopes, parameters, children, initialize, forward with
/// deferred initialization, hooks, printing, summary, and saving / loading parameters.
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <tuple>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "gluino/autograd/mode.hpp"
#include "gluino/autograd/trace.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/block_naming.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/init/initializer.hpp"
#include "gluino/nn/parameter.hpp"
#include "gluino/nn/parameter_dict.hpp"

namespace gluino::graph {
template <class T>
class Graph;
}  // namespace gluino::graph

namespace gluino::detail {

template <class P>
inline constexpr bool is_shared_ptr_v = false;
template <class E>
inline constexpr bool is_shared_ptr_v<std::shared_ptr<E>> = true;

/// The block whose call is running on this thread (null: none); see BasicBlock::operator().
template <class T>
const nn::BasicBlock<T>*& running_block() {
  thread_local const nn::BasicBlock<T>* block = nullptr;
  return block;
}

/// Appends the arrays among a call's arguments or results: an NDArray, a vector of them, or a
/// pair / tuple of those; anything else adds nothing.  For hooks.
template <class T, class X>
void append_arrays(std::vector<NDArray<T>>& out, const X& x) {
  if constexpr (std::is_same_v<X, NDArray<T>>) {
    out.push_back(x);
  } else if constexpr (requires { requires std::is_same_v<typename X::value_type, NDArray<T>>; }) {
    for (const auto& a : x) out.push_back(a);
  } else if constexpr (requires { std::tuple_size<X>::value; }) {
    std::apply([&](const auto&... e) { (append_arrays<T>(out, e), ...); }, x);
  }
}

/// A hybridized block's cached graphs (nn/hybrid_block.hpp implements it).
template <class T>
class HybridState {
 public:
  using Arrays = std::vector<NDArray<T>>;
  virtual ~HybridState() = default;
  /// forward(inputs) through the graph traced for these inputs' shapes and the autograd mode
  /// (traced by running forward once, on the first such call).  derived_forward: forward is not
  /// Block's virtual forward(x) but a HybridCustomBlock's own (another arity, or several
  /// outputs); graphs are kept apart by it, so that a call through a Block& never runs a graph
  /// traced for the other.
  virtual Arrays call(nn::BasicBlock<T>& block, const Arrays& inputs,
                      const std::function<Arrays(const Arrays&)>& forward, bool derived_forward) = 0;
  /// Drops the cached graphs (the block's structure changed).
  virtual void clear() = 0;
  /// The cached graphs, oldest first.
  virtual std::vector<std::shared_ptr<const graph::Graph<T>>> graphs() const = 0;
};
template <class B>
struct block_hybrid;  // nn/hybrid_block.hpp: makes a HybridState
/// True while BasicBlock::summary runs: hybridized blocks then run imperatively, so that the
/// children's hooks see each layer.
template <class T>
bool& force_imperative() {
  thread_local bool on = false;
  return on;
}

}  // namespace gluino::detail

namespace gluino::nn {

/// Gluon's hybridize(active, static_alloc, static_shape) keywords that gluino has.
struct HybridizeOptions {
  /// In predict mode (not recording), fold each batch norm into the convolution before it.
  bool fold_batch_norm = true;
  /// Gluon's static_alloc: a graph's arrays, and in training the gradients its backward makes,
  /// live in one buffer planned by liveness from an earlier call and reused on every call
  /// (graph::Graph::static_alloc), instead of in the memory pool's per-size cache.
  bool static_alloc = true;
  /// How many graphs (input shapes x train / predict x recording) a block keeps, at least 1
  /// (ValueError otherwise); the oldest is dropped beyond that.
  std::size_t max_graphs = 16;
};

/// The element types a block can be cast to (Block::cast).
enum class Dtype { float32, float64 };
/// Dtype of float and double.
template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "dtype_of: float or double");
  return std::is_same_v<T, float> ? Dtype::float32 : Dtype::float64;
}
/// NumPy's names: "float32" (or "float") and "float64" (or "double").  ValueError naming them
/// for any other.
inline Dtype dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "float") return Dtype::float32;
  if (name == "float64" || name == "double") return Dtype::float64;
  detail::raise<ValueError>("cast: unknown dtype '", name, "'; gluino's blocks are float32 (\"float32\", \"float\") "
                            "or float64 (\"float64\", \"double\")");
}
/// A block of either element type: what Block::cast(dtype) and Block::rebuild return.
using AnyBlockPtr = std::variant<std::shared_ptr<BasicBlock<float>>, std::shared_ptr<BasicBlock<double>>>;
/// For a layer's rebuild(to): calls make.template operator()<U>() with U the type of `to` and
/// returns its block.
///   return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<BasicDense<U>>(units_); });
template <class F>
AnyBlockPtr rebuild_as(Dtype to, F&& make) {
  if (to == Dtype::float32) return std::shared_ptr<BasicBlock<float>>(make.template operator()<float>());
  return std::shared_ptr<BasicBlock<double>>(make.template operator()<double>());
}

/// Resets the per-alias counters of blocks made outside any name scope, so that the next
/// Dense is "dense0_" again (Gluon keeps them in its NameManager).  For tests and notebooks;
/// per thread.
inline void reset_name_counters() { detail::global_name_counters().clear(); }

/// Returned by register_forward_hook: detach() removes the hook.  Gluon: HookHandle.
class HookHandle {
 public:
  HookHandle() = default;
  explicit HookHandle(std::function<void()> detach) : detach_(std::move(detach)) {}
  void detach() {
    if (detach_) detach_();
    detach_ = nullptr;
  }

 private:
  std::function<void()> detach_;
};

/// What a block is made with (Gluon's Block(prefix=, params=), plus the alias that Python
/// reads off the class).  Layers pass their alias; a user's block derives from
/// nn::CustomBlock<MyBlock> (nn/custom_block.hpp), which passes "myblock".
template <class T>
struct BasicBlockOptions {
  std::string alias = "";             ///< stem of automatic names ("dense"); "" = "block"
  std::string prefix = "";            ///< explicit prefix ("another_mlp_"); "" = automatic
  BasicParameterDict<T> params = {};  ///< Gluon's params=: parameters to share, or none
};
using BlockOptions = BasicBlockOptions<float>;

/// Base of layers and models.  Mirrors gluon.Block (1.x).  docs/blocks.md tells the model in
/// five minutes; in short:
///
/// Names.  A block's prefix is fixed once, at one of two moments, and getters never change it:
///  - made outside any name_scope(): when it is made, alias + a per-alias counter ("dense0_");
///  - made inside a block's name_scope(): when it is registered (register_child, add), that
///    block's prefix + alias + that scope's counter ("mlp0_dense0_"), in registration order,
///    whatever order C++ evaluated the arguments of add(a, b, c) in.  Until then prefix() is
///    "" and its parameters have local names ("weight").  (If the scope's owner is itself not
///    named yet, its registration names both.)
/// An explicit prefix replaces alias + counter.  Parameters are named parameter prefix + local
/// name ("mlp0_dense0_weight").  Checkpoints use structural keys ("0.weight"), not these names.
///
/// Ownership.  A parent owns its children through shared_ptr: register_child/add take a
/// temporary, std::move(block) or a shared_ptr, and return the shared_ptr<Concrete> to keep.
/// Copying a block does not compile; a moved-from block throws StateError when used; a block
/// passed as a base-class rvalue (which moving would slice) throws ValueError; a child called
/// inside a forward but never registered throws StateError saying so.
///
/// A model derives (from nn::CustomBlock<Model>, which gives the alias and calls with several
/// inputs), registers children and parameters in its constructor, and overrides forward:
///   class MLP : public nn::CustomBlock<MLP> {
///    public:
///     MLP() { auto scope = name_scope(); dense0 = register_child(nn::Dense{256}); }
///     NDArray<float> forward(const NDArray<float>& x) override { return (*dense0)(x); }
///     std::shared_ptr<nn::Dense> dense0;
///   };
/// Train vs predict behaviour follows autograd's mode (autograd::record, train_mode,
/// predict_mode): blocks store no mode.
template <class T>
class BasicBlock {
 public:
  using value_type = T;
  using BlockPtr = std::shared_ptr<BasicBlock<T>>;
  using Arrays = std::vector<NDArray<T>>;
  /// hook(block, input, output) after a single-input, single-output forward.  Gluon:
  /// register_forward_hook.
  using ForwardHook = std::function<void(BasicBlock&, const NDArray<T>&, const NDArray<T>&)>;
  /// hook(block, input) before a single-input forward.  Gluon: register_forward_pre_hook.
  using ForwardPreHook = std::function<void(BasicBlock&, const NDArray<T>&)>;
  /// hook(block, inputs, outputs): every call, any number of arrays.
  using ForwardHookN = std::function<void(BasicBlock&, const Arrays&, const Arrays&)>;
  using ForwardPreHookN = std::function<void(BasicBlock&, const Arrays&)>;

  /// A block named by the rules of the class comment.  StateError when opt.params is the dict of
  /// a block that is not named yet.
  explicit BasicBlock(BasicBlockOptions<T> opt = {})
      : alias_(opt.alias.empty() ? "block" : std::move(opt.alias)),
        created_in_(detail::current_name_scope<T>()) {
    const bool sharing = opt.params.defined();
    GLUINO_CHECK(StateError, !opt.params.pending(), alias_,
                 ": params= is the dict of a block that has no name yet (made inside a name_scope() and not "
                 "registered); register that block first");
    if (!created_in_) {  // top level: named now
      local_ = opt.prefix.empty() ? alias_ + std::to_string(detail::global_name_counters()[alias_]++) + "_"
                                  : std::move(opt.prefix);
      prefix_ = local_;
      named_ = true;
      params_ = sharing ? BasicParameterDict<T>(opt.params.prefix(), opt.params) : BasicParameterDict<T>(prefix_);
    } else {  // inside a name scope: numbered and named when registered
      local_ = std::move(opt.prefix);
      params_ = sharing ? BasicParameterDict<T>(opt.params.prefix(), opt.params)
                        : BasicParameterDict<T>::make_pending(created_in_->shared);
    }
    scope_->shared = params_.shared();
    if (named_) mark_scope_named();
  }
  virtual ~BasicBlock() = default;
  BasicBlock(const BasicBlock&) = delete;
  BasicBlock& operator=(const BasicBlock&) = delete;

  /// The class name shown by printing and summary ("Dense", "MLP").  Default: the dynamic
  /// class name without namespaces, template arguments and a leading "Basic".
  virtual std::string type_name() const { return detail::short_class_name(typeid(*this)); }
  /// The stem of automatic names ("dense", "mlp"), given at construction.  Gluon: _alias().
  const std::string& alias() const { return alias_; }
  /// The name prefix, e.g. "mlp0_dense0_"; "" while a block made inside a name scope waits for
  /// its registration.  Gluon: prefix.
  const std::string& prefix() const { return prefix_; }
  /// The prefix without its trailing '_', e.g. "mlp0_dense0".  Gluon: name.
  std::string name() const {
    return !prefix_.empty() && prefix_.back() == '_' ? prefix_.substr(0, prefix_.size() - 1) : prefix_;
  }
  /// True once the prefix is fixed (see the class comment).
  bool is_named() const { return named_; }
  /// This block's own parameters (not its children's: see collect_params).  Gluon: params.
  /// Layers call params().get("weight", shape, init) in their constructors.
  BasicParameterDict<T>& params() { return params_; }
  const BasicParameterDict<T>& params() const { return params_; }

  /// RAII guard of name_scope(): while alive, blocks made are named inside this block.
  class NameScope {
   public:
    ~NameScope() { detail::current_name_scope<T>() = std::move(saved_); }
    NameScope(const NameScope&) = delete;
    NameScope& operator=(const NameScope&) = delete;

   private:
    friend class BasicBlock;
    explicit NameScope(std::shared_ptr<detail::NameScopeState<T>> s) : saved_(detail::current_name_scope<T>()) {
      detail::current_name_scope<T>() = std::move(s);
    }
    std::shared_ptr<detail::NameScopeState<T>> saved_;
  };
  /// A guard under which blocks are made at top level whatever scope is open (for blocks
  /// that library code makes, such as Sequential::slice).
  [[nodiscard]] static NameScope top_level_scope() { return NameScope(nullptr); }
  /// Opens this block's name scope: `auto scope = name_scope();` (Gluon: with self.name_scope():).
  [[nodiscard]] NameScope name_scope() {
    check_alive("name_scope");
    return NameScope(scope_);
  }

  /// Adds a child block (a temporary, a std::move'd block or a shared_ptr to one) and returns
  /// it as shared_ptr<B>, which stays valid.  name: the key in listings and in save_parameters
  /// files (default: its index).  A block made inside a name scope gets its name here.
  /// Gluon: register_child (and attribute assignment).
  template <class B>
  auto register_child(B&& block, std::string name = "") {
    check_alive("register_child");
    using D = std::remove_cvref_t<B>;
    if constexpr (detail::is_shared_ptr_v<D>) {
      using E = typename D::element_type;
      static_assert(std::is_base_of_v<BasicBlock<T>, E>,
                    "register_child/add: not a block of this element type (a float block cannot hold a double one)");
      std::shared_ptr<E> p = block;
      GLUINO_CHECK(ValueError, p != nullptr, who(), ": register_child: null block");
      static_cast<const BasicBlock&>(*p).check_alive("register_child (the block given)");
      name = checked_child_name(std::move(name));
      add_child(p, std::move(name));
      return p;
    } else {
      static_assert(std::is_base_of_v<BasicBlock<T>, D>,
                    "register_child/add: not a block of this element type (a float block cannot hold a double one)");
      static_assert(!std::is_lvalue_reference_v<B>,
                    "register_child/add: pass a temporary, std::move(block) or a shared_ptr (blocks are not copied)");
      constexpr bool movable = std::is_move_constructible_v<D> || std::is_same_v<D, BasicBlock<T>>;
      static_assert(movable,
                    "register_child/add: this block type cannot be moved (a user-declared destructor or copy "
                    "operation removes the implicit move constructor): declare `MyBlock(MyBlock&&) = default;` "
                    "or pass std::make_shared<MyBlock>(...)");
      if constexpr (movable) {
        GLUINO_CHECK(ValueError, typeid(block) == typeid(D), who(), ": register_child: the block is a ",
                     detail::short_class_name(typeid(block)), " passed as a ", detail::short_class_name(typeid(D)),
                     "&&, and moving it would slice it; pass the ", detail::short_class_name(typeid(block)),
                     " itself (its own type) or a shared_ptr to it");
        static_cast<const BasicBlock&>(block).check_alive("register_child (the block given)");
        name = checked_child_name(std::move(name));
        std::shared_ptr<D> p(new D(std::move(block)));
        add_child(p, std::move(name));
        return p;
      } else {
        return std::shared_ptr<D>{};
      }
    }
  }
  /// The children in registration order.
  const std::vector<BlockPtr>& children() const { return children_; }
  /// The children's keys (names given to register_child, or indices), in order.
  const std::vector<std::string>& child_names() const { return child_names_; }

  /// This block's and its descendants' parameters, own first, then each child's in order
  /// (Gluon's order), filtered by a regular expression matched from the start of the full name
  /// (".*weight").  Gluon: collect_params(select).
  BasicParameterDict<T> collect_params(const std::string& select = "") const {
    check_alive("collect_params");
    BasicParameterDict<T> ret(params_.prefix());
    ret.update(params_.select(select));
    for (const auto& c : children_) ret.update(c->collect_params(select));
    return ret;
  }
  /// collect_params().initialize(init, opt): Uniform(0.07) by default; shapes that are still
  /// unknown are initialized at the first forward.  Gluon: initialize(init, force_reinit=).
  void initialize(init::BasicAnyInitializer<T> init = init::BasicUniform<T>{}, InitializeOptions opt = {}) {
    collect_params().initialize(std::move(init), opt);
  }

  /// The computation of a single-input, single-output block.  The base class throws
  /// StateError: derived blocks override it (or, with nn::CustomBlock, define a forward of
  /// other inputs and outputs).
  virtual NDArray<T> forward(const NDArray<T>& x) {
    (void)x;
    detail::raise<StateError>(who(), ": forward(x) with one input is not implemented in ", type_name(),
                              "; override it (a block whose forward takes other inputs is called with those, and "
                              "cannot be a Sequential's child)");
  }
  /// Sets the shapes of this block's own deferred parameters from the input, before the first
  /// forward (Gluon 2's infer_shape): set `param->set_shape(...)` and the pending initialization
  /// runs right after.  The default does nothing (built-in layers complete theirs in forward).
  virtual void infer_shape(const NDArray<T>& x) { (void)x; }
  /// Runs the pre-hooks, deferred initialization, forward(x) and the hooks.  Gluon: block(x).
  /// A hybridized block (see hybridize) runs its cached graph instead of forward.
  NDArray<T> operator()(const NDArray<T>& x) {
    return call([&] { infer_shape(x); }, [&] { return hybrid_active() ? run_hybrid(x) : forward(x); },
                [&](Arrays& in) { in.push_back(x); });
  }

  /// Calls fn on every descendant (children first) and then on this block.  Gluon: apply(fn).
  BasicBlock& apply(const std::function<void(BasicBlock&)>& fn) {
    for (const auto& c : children_) c->apply(fn);
    fn(*this);
    return *this;
  }
  /// Registers hook(block, input, output), called after each forward; or, with a hook taking
  /// (block, const Arrays& inputs, const Arrays& outputs), after every call whatever its arity.
  /// Gluon: register_forward_hook.
  template <class F>
  HookHandle register_forward_hook(F hook) {
    check_alive("register_forward_hook");
    if constexpr (std::is_invocable_v<F&, BasicBlock&, const Arrays&, const Arrays&>) {
      return add_hook(hooks_->post, ForwardHookN(std::move(hook)));
    } else {
      static_assert(std::is_invocable_v<F&, BasicBlock&, const NDArray<T>&, const NDArray<T>&>,
                    "register_forward_hook: the hook takes (Block&, const NDArray&, const NDArray&) or "
                    "(Block&, const std::vector<NDArray>&, const std::vector<NDArray>&)");
      return add_hook(hooks_->post, ForwardHookN([h = std::move(hook)](BasicBlock& b, const Arrays& in, const Arrays& out) {
                        check_single(b, "forward hook", in.size(), out.size());
                        h(b, in[0], out[0]);
                      }));
    }
  }
  /// Registers hook(block, input) (or hook(block, const Arrays& inputs)), called before each
  /// forward.  Gluon: register_forward_pre_hook.
  template <class F>
  HookHandle register_forward_pre_hook(F hook) {
    check_alive("register_forward_pre_hook");
    if constexpr (std::is_invocable_v<F&, BasicBlock&, const Arrays&>) {
      return add_hook(hooks_->pre, ForwardPreHookN(std::move(hook)));
    } else {
      static_assert(std::is_invocable_v<F&, BasicBlock&, const NDArray<T>&>,
                    "register_forward_pre_hook: the hook takes (Block&, const NDArray&) or "
                    "(Block&, const std::vector<NDArray>&)");
      return add_hook(hooks_->pre, ForwardPreHookN([h = std::move(hook)](BasicBlock& b, const Arrays& in) {
                        check_single(b, "forward pre-hook", in.size(), 1);
                        h(b, in[0]);
                      }));
    }
  }
  /// Hybridizes (active) or un-hybridizes this block and its descendants: each hybridizable one
  /// (HybridBlock, HybridSequential, HybridCustomBlock, the model zoo's networks) then runs, when
  /// called on its own, the graph of its forward traced at the first call for those input
  /// shapes and autograd mode; blocks inside a graph are traced through.  Plain blocks run
  /// imperatively, as in Gluon.  Needs nn/hybrid_block.hpp.  docs/hybridize.md.  Gluon: hybridize.
  template <class B = BasicBlock>
  void hybridize(bool active = true, HybridizeOptions opt = {}) {
    static_assert(detail::complete_type<detail::block_hybrid<B>>,
                  "Block::hybridize needs #include <gluino/nn/hybrid_block.hpp> (or <gluino/gluino.hpp>)");
    check_alive("hybridize");
    GLUINO_CHECK(ValueError, !active || opt.max_graphs > 0, name(), ": hybridize: max_graphs must be at least 1 (a "
                 "block runs the graph of its last call), got 0");
    for (const auto& c : children_) c->template hybridize<B>(active, opt);
    if (hybridizable_) hybrid_ = active ? detail::block_hybrid<B>::make(opt) : nullptr;
  }
  /// True for blocks that hybridize() turns into graphs (Gluon: isinstance(b, HybridBlock)).
  bool is_hybridizable() const { return hybridizable_; }
  /// True once hybridize() made this block run graphs.
  bool is_hybridized() const { return hybrid_ != nullptr; }
  /// True when a call of this block would run forward() and nothing else: no forward hooks or
  /// pre-hooks, no cached graph to run, no parameter waiting for its shape, not moved from.  A
  /// container may then run such a child's work another way with the same result
  /// (nn::Sequential fuses a Conv2D and the MaxPool2D after it).
  bool plain_call() const {
    if (moved_from_ || !hooks_->pre.empty() || !hooks_->post.empty() || hybrid_active()) return false;
    for (const auto& [n, p] : params_)  // is_deferred first: it orders the read of the data
      if (p->is_deferred() || !p->is_initialized()) return false;
    return true;
  }
  /// The graphs a hybridized block traced so far (one per input signature), oldest first;
  /// empty when it is not hybridized.  Print one with <<.
  std::vector<std::shared_ptr<const graph::Graph<T>>> cached_graphs() const {
    return hybrid_ ? hybrid_->graphs() : std::vector<std::shared_ptr<const graph::Graph<T>>>{};
  }

  /// The parameters keyed by their structural names, as Gluon's save_parameters stores them:
  /// the parameter's name without its dict prefix, preceded by the children's keys
  /// ("0.weight", "1.bias", "features.2.weight").  Independent of the automatic prefixes.
  std::vector<std::pair<std::string, std::shared_ptr<BasicParameter<T>>>> collect_params_with_prefix(
      const std::string& prefix = "") const {
    check_alive("collect_params_with_prefix");
    const std::string pre = prefix.empty() ? "" : prefix + ".";
    std::vector<std::pair<std::string, std::shared_ptr<BasicParameter<T>>>> out;
    const std::string& dp = params_.prefix();
    for (const auto& [n, p] : params_)
      out.emplace_back(pre + (n.rfind(dp, 0) == 0 ? n.substr(dp.size()) : n), p);
    for (std::size_t i = 0; i < children_.size(); ++i)
      for (auto& kv : children_[i]->collect_params_with_prefix(pre + child_names_[i])) out.push_back(std::move(kv));
    return out;
  }
  /// Saves the parameters (structural names, see collect_params_with_prefix) to a safetensors
  /// file, with optional string metadata (e.g. the epoch).  Atomic: a failed save leaves an
  /// existing file whole.  Needs nn/parameter_io.hpp (nn knows no file format).  Gluon:
  /// save_parameters.
  template <class B = BasicBlock>
  void save_parameters(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const {
    static_assert(detail::complete_type<detail::block_io<B>>,
                  "Block::save_parameters needs #include <gluino/nn/parameter_io.hpp> (or <gluino/gluino.hpp>)");
    detail::block_io<B>::save(*this, path, metadata);
  }
  /// Loads parameters saved by save_parameters, all or nothing: the whole file is checked first
  /// and every mismatch reported in one exception, ValueError for a parameter missing from the
  /// file (unless allow_missing), a name in the file the block does not have (unless
  /// ignore_extra) or a wrong dtype, ShapeError when all mismatches are shapes; no parameter
  /// changes then.  Uninitialized (also deferred) parameters are initialized with the loaded
  /// values.  Needs nn/parameter_io.hpp.  Gluon: load_parameters.
  template <class B = BasicBlock>
  void load_parameters(const std::string& path, LoadOptions opt = {}) {
    static_assert(detail::complete_type<detail::block_io<B>>,
                  "Block::load_parameters needs #include <gluino/nn/parameter_io.hpp> (or <gluino/gluino.hpp>)");
    detail::block_io<B>::load(*this, path, opt);
  }
  /// Gluon's block.cast(dtype), as C++ can: a new model of element type U (float or double) with
  /// this one's architecture (each block rebuilt by its class, see rebuild), names, parameter
  /// values converted to U, their grad_req, lr_mult, wd_mult and own initializers, deferred
  /// initializations still waiting, and the same parameter sharing.  This block is unchanged
  /// (C++ cannot change T in place); gradients and hooks are not copied, and the copy is not
  /// hybridized.
  /// cast<T>() is a deep copy.  ValueError naming the block when a block in the model cannot be
  /// rebuilt (a user's block that does not override rebuild; a Lambda of a C++ function; a
  /// block whose rebuild made other children or parameters than it has), StateError when this
  /// block has no name yet.
  /// docs/blocks.md.
  ///   std::shared_ptr<nn::BasicBlock<double>> net64 = net->cast<double>();
  template <class U>
  std::shared_ptr<BasicBlock<U>> cast() const;
  /// cast<float>() or cast<double>() by NumPy's name ("float32", "float64"; also "float",
  /// "double"): std::get<std::shared_ptr<nn::BasicBlock<double>>>(net->cast("float64")).
  AnyBlockPtr cast(const std::string& dtype) const {
    if (dtype_from_name(dtype) == Dtype::float32) return cast<float>();
    return cast<double>();
  }
  /// Sets every parameter of this block to the value of source's parameter of the same
  /// structural name (collect_params_with_prefix: "0.weight"), converted from U to T: how a float
  /// model's weights reach a double model of the same architecture (Gluon's block.cast(dtype);
  /// C++ cannot change a block's T in place, see docs/blocks.md).  Values only: gradients,
  /// grad_req and lr_mult stay this block's.  Uninitialized (also deferred) parameters are
  /// initialized with the values.  All or nothing: every mismatch is reported in one exception
  /// and nothing changes, ValueError naming the parameters one block has and the other has not,
  /// ShapeError naming the parameter and both shapes when only shapes differ, StateError when a
  /// parameter of source is not initialized.
  template <class U>
  void copy_parameters_from(const BasicBlock<U>& source) {
    check_alive("copy_parameters_from");
    std::map<std::string, std::shared_ptr<BasicParameter<U>>> from;
    for (auto& [key, p] : source.collect_params_with_prefix()) from.emplace(key, p);
    std::vector<std::pair<std::shared_ptr<BasicParameter<T>>, NDArray<U>>> plan;
    std::vector<std::string> problems;
    bool only_shapes = true;
    std::set<std::string> known;
    for (const auto& [key, p] : collect_params_with_prefix()) {
      known.insert(key);
      auto it = from.find(key);
      if (it == from.end()) {
        problems.push_back("parameter '" + key + "' is missing in the source");
        only_shapes = false;
        continue;
      }
      GLUINO_CHECK(StateError, it->second->is_initialized(), "copy_parameters_from: parameter '", key,
                   "' of the source is not initialized");
      const NDArray<U> v = it->second->data();
      const Shape want = p->is_initialized() ? p->data().shape() : p->shape();
      bool ok = p->is_initialized() ? v.shape() == want : (want.ndim() == 0 || want.ndim() == v.ndim());
      for (std::size_t d = 0; ok && !p->is_initialized() && d < want.ndim(); ++d) ok = want[d] == 0 || want[d] == v.shape()[d];
      if (!ok) {
        std::ostringstream os;
        os << "parameter '" << key << "' has shape " << want << " here but " << v.shape() << " in the source";
        problems.push_back(os.str());
        continue;
      }
      plan.emplace_back(p, v);
    }
    for (const auto& [key, p] : from)
      if (!known.count(key)) {
        problems.push_back("the source's parameter '" + key + "' is not a parameter here");
        only_shapes = false;
      }
    if (!problems.empty()) {
      std::string all;
      for (const auto& m : problems) all += (all.empty() ? "" : "; ") + m;
      if (only_shapes) detail::raise<ShapeError>("copy_parameters_from: ", all, " (nothing was changed)");
      detail::raise<ValueError>("copy_parameters_from: ", all, " (nothing was changed)");
    }
    for (const auto& [p, v] : plan) p->set_data(v.template astype<T>());
  }

  /// The listing that operator<< prints: "Dense(20 -> 256, Activation(relu))", or for a
  /// container "Sequential(\n  (0): Dense(...)\n  (1): ...\n)".  Layers override it.
  virtual std::string repr() const {
    if (children_.empty()) return type_name() + "()";
    std::string s = type_name() + "(\n";
    for (std::size_t i = 0; i < children_.size(); ++i)
      s += "  (" + child_names_[i] + "): " + detail::indent_lines(children_[i]->repr(), 2) + "\n";
    return s + ")";
  }
  friend std::ostream& operator<<(std::ostream& os, const BasicBlock& b) { return os << b.repr(); }

  /// Runs forward(x) without recording and prints, like Gluon's summary, a table of each
  /// block's output shape and own parameter count (children before parents, containers such
  /// as Sequential omitted), then the totals.
  void summary(const NDArray<T>& x, std::ostream& os = std::cout);

 protected:
  /// Moving is for register_child (and derived classes' own moves); a moved-from block throws
  /// StateError when used.  Protected, so that `nn::Block b = std::move(mlp);` (slicing) does
  /// not compile.
  BasicBlock(BasicBlock&& o)
      : alias_(o.alias_), local_(o.local_), prefix_(o.prefix_), named_(o.named_), numbered_(o.numbered_),
        registered_(o.registered_), created_in_(std::move(o.created_in_)), scope_(std::move(o.scope_)),
        params_(std::move(o.params_)), children_(std::move(o.children_)), child_names_(std::move(o.child_names_)),
        hooks_(std::move(o.hooks_)), hybridizable_(o.hybridizable_), hybrid_(std::move(o.hybrid_)) {
    o.moved_from_ = true;
  }
  BasicBlock& operator=(BasicBlock&&) = delete;

  /// params().get(...), returning the parameter's position in params(): layers keep positions,
  /// not pointers, because registering a block made inside a name scope may replace its
  /// parameter by the shared one of the same name (whole-network sharing, params=).
  std::size_t declare_param(const std::string& name, const Shape& shape = {}, init::BasicAnyInitializer<T> init = {},
                            ParameterOptions opt = {}) {
    params_.get(name, shape, std::move(init), opt);
    return params_.index_of(params_.prefix() + name);
  }
  /// The parameter at a position from declare_param; null for BasicParameterDict<T>::npos.
  const std::shared_ptr<BasicParameter<T>>& param_at(std::size_t i) const {
    static const std::shared_ptr<BasicParameter<T>> none;
    return i == BasicParameterDict<T>::npos ? none : params_.nth(i);
  }
  /// Hybrid block classes set this in their constructors (see hybridize).
  void set_hybridizable() { hybridizable_ = true; }
  /// True when a call should run the cached graph: hybridized, and not inside another block's
  /// trace (whose graph takes this block's ops in) or summary().
  bool hybrid_active() const {
    return hybrid_ && !autograd::active_tracer<T>() && !detail::force_imperative<T>();
  }
  /// forward(x) through the cached graph (hybrid_active() must be true).
  NDArray<T> run_hybrid(const NDArray<T>& x) {
    return hybrid_->call(*this, {x}, [this](const Arrays& in) { return Arrays{forward(in[0])}; }, false)[0];
  }
  /// The same for any number of inputs and outputs, with the forward to trace (derived_forward:
  /// see HybridState::call).
  Arrays run_hybrid(const Arrays& xs, const std::function<Arrays(const Arrays&)>& fwd, bool derived_forward) {
    return hybrid_->call(*this, xs, fwd, derived_forward);
  }
  /// False for pure containers (Sequential), which summary() does not list.
  virtual bool in_summary() const { return true; }
  /// For cast: a new, unregistered block of this class for element type `to`, made with this
  /// block's options (units, kernel, activation, ...); cast then copies names, parameter state
  /// and sharing itself, so rebuild passes no prefix, params or initializers.  A container
  /// returns itself empty and cast rebuilds and registers the children (under the same keys); a
  /// block that makes its children in its constructor returns them made.  Every layer overrides
  /// it with nn::rebuild_as; so does a user's block that should be cast, typically a class
  /// template over T:
  ///   nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
  ///     return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<Net<U>>(units_); });
  ///   }
  /// The default throws ValueError naming the class.
  virtual AnyBlockPtr rebuild(Dtype to) const {
    (void)to;
    detail::raise<ValueError>(who(), ": cast: ", type_name(), " does not say how to make it for another element "
                              "type; a block class that can be cast overrides `nn::AnyBlockPtr rebuild(nn::Dtype) "
                              "const` (docs/blocks.md)");
  }
  /// How messages name this block: its prefix, or "<alias>" before it has one.
  const std::string& who() const { return named_ ? prefix_ : unnamed_label_; }

  /// The steps of every call (operator() here; nn::CustomBlock's calls of other arities):
  /// checks, deferred initialization (infer() first when a parameter waits for its shape),
  /// pre-hooks, run(), hooks.  inputs(arrays) appends the call's input arrays, for hooks.
  /// A first call, one whose parameters wait for their shapes, is all or nothing and runs once
  /// at a time: threads calling the block at once wait for it (and then run normally), and if it
  /// throws (a wrong input) the parameters it initialized wait again, as if it had not run
  /// (DeferredInitCall).  Later calls take no lock.
  template <class Infer, class Run, class Inputs>
  decltype(auto) call(Infer&& infer, Run&& run, Inputs&& inputs) {
    check_callable();
    if (!waits_for_shapes()) return call_steps(infer, run, inputs);
    DeferredInitCall<T> first(params_);
    struct DropGraphs {  // a failed first call: a graph it cached holds the data put back
      BasicBlock& block;
      bool failed = true;
      ~DropGraphs() {
        if (failed && block.hybrid_) block.hybrid_->clear();
      }
    } drop{*this};
    if constexpr (std::is_void_v<decltype(call_steps(infer, run, inputs))>) {
      call_steps(infer, run, inputs);
      drop.failed = false;
      first.commit();
    } else {
      decltype(auto) out = call_steps(infer, run, inputs);
      drop.failed = false;
      first.commit();
      return out;
    }
  }

 private:
  template <class Infer, class Run, class Inputs>
  decltype(auto) call_steps(Infer& infer, Run& run, Inputs& inputs) {
    finish_deferred(infer);
    struct Running {  // which block is running, for check_callable of the blocks it calls
      explicit Running(const BasicBlock* b) : saved(detail::running_block<T>()) { detail::running_block<T>() = b; }
      ~Running() { detail::running_block<T>() = saved; }
      const BasicBlock* saved;
    } running(this);
    if (hooks_->pre.empty() && hooks_->post.empty()) return run();
    Arrays in;
    inputs(in);
    for (const auto& [id, h] : Hooks::copy(hooks_->pre)) h(*this, in);
    decltype(auto) out = run();
    if (!hooks_->post.empty()) {
      Arrays outs;
      detail::append_arrays<T>(outs, out);
      for (const auto& [id, h] : Hooks::copy(hooks_->post)) h(*this, in, outs);
    }
    return out;
  }

  template <class U>
  friend class BasicBlock;
  // cast's steps, on this (the source) and its copy t, walked in parallel.
  template <class U>
  std::shared_ptr<BasicBlock<U>> rebuild_tree() const;
  template <class U>
  void give_names(BasicBlock<U>& t) const;
  template <class U>
  void give_parameters(BasicBlock<U>& t, std::map<const BasicParameter<T>*, std::shared_ptr<BasicParameter<U>>>& made) const;

  struct Hooks {
    std::size_t next_id = 0;
    std::vector<std::pair<std::size_t, ForwardPreHookN>> pre;
    std::vector<std::pair<std::size_t, ForwardHookN>> post;
    template <class L>
    static L copy(const L& l) {
      return l;  // a hook may detach itself (or another) while the list is walked
    }
  };

  void check_alive(const char* what) const {
    GLUINO_CHECK(StateError, !moved_from_, who(), ": ", what, ": this block was moved from (into register_child, "
                 "add or another object) and is empty; use the block it was moved into (register_child returns a "
                 "shared_ptr to it)");
  }
  // A moved-from block, or a block called inside another's forward that no parent registered
  // while its parameters (or its children's) are uninitialized: say so, rather than "call
  // initialize()".
  void check_callable() const {
    check_alive("call");
    const BasicBlock* outer = detail::running_block<T>();
    if (!outer || registered_ || outer == this) return;
    for (const auto& [n, p] : collect_params())
      GLUINO_CHECK(StateError, p->is_deferred() || p->is_initialized(), outer->who(), ": its forward calls ", who(),
                   " (", type_name(), "), which no parent registered, so initialize(), collect_params() and "
                   "save_parameters() do not reach it; register it in the constructor (register_child or add)");
  }
  static void check_single(const BasicBlock& b, const char* what, std::size_t n_in, std::size_t n_out) {
    GLUINO_CHECK(ValueError, n_in == 1 && n_out == 1, b.who(), ": a ", what, " taking one input (and one output) ",
                 "cannot observe a call of ", n_in, " inputs and ", n_out, " outputs; register one taking "
                 "(Block&, const std::vector<NDArray>&...)");
  }
  // True when one of this block's own parameters waits for its shape (an atomic read each).
  bool waits_for_shapes() const {
    for (const auto& [n, p] : params_)
      if (p->is_deferred()) return true;
    return false;
  }
  template <class Infer>
  void finish_deferred(Infer& infer) {
    if (!waits_for_shapes()) return;
    infer();
    for (const auto& [n, p] : params_)
      if (p->is_deferred() && p->shape().is_complete()) p->finish_deferred_init(p->shape(), who());
  }

  void mark_scope_named() {
    scope_->named = true;
    scope_->prefix = prefix_;
    scope_->params_prefix = params_.prefix();
  }
  std::string checked_child_name(std::string name) const {
    if (name.empty()) name = std::to_string(children_.size());
    for (const auto& n : child_names_)
      GLUINO_CHECK(ValueError, n != name, who(), ": register_child: a child named '", name, "' already exists");
    return name;
  }
  bool in_subtree(const BasicBlock* b) const {
    if (b == this) return true;
    for (const auto& c : children_)
      if (c->in_subtree(b)) return true;
    return false;
  }
  template <class P>
  void add_child(std::shared_ptr<P> p, std::string name) {
    BasicBlock& c = *p;
    GLUINO_CHECK(ValueError, !c.in_subtree(this), who(), ": register_child: ", c.who(),
                 " contains this block; a block cannot be its own descendant");
    if (!c.named_) {
      if (!c.numbered_ && c.local_.empty())
        c.local_ = c.alias_ + std::to_string(c.created_in_->counters[c.alias_]++) + "_";
      c.numbered_ = true;
      if (c.created_in_->named) c.take_name();
    }
    c.registered_ = true;
    if (hybrid_) hybrid_->clear();  // the graphs no longer match the block
    children_.push_back(std::move(p));
    child_names_.push_back(std::move(name));
  }
  // Called once, when a numbered block's scope owner has its name: fixes this block's prefix
  // and its parameters' names, then names the blocks made in this block's own scope that are
  // registered below it and were waiting for it.
  void take_name() {
    const auto& s = *created_in_;
    if (params_.pending()) params_.finalize(s.params_prefix + local_, s.prefix + local_);
    prefix_ = s.prefix + local_;
    named_ = true;
    created_in_.reset();
    mark_scope_named();
    name_waiting(*this);
  }
  void name_waiting(BasicBlock& root) {
    for (const auto& c : root.children_) {
      if (!c->named_ && c->numbered_ && c->created_in_ == scope_) c->take_name();
      name_waiting(*c);
    }
  }
  template <class L, class H>
  HookHandle add_hook(L& list, H hook) {
    const std::size_t id = hooks_->next_id++;
    list.emplace_back(id, std::move(hook));
    std::weak_ptr<Hooks> weak = hooks_;
    auto* which = &list;
    return HookHandle([weak, which, id] {
      if (auto alive = weak.lock()) std::erase_if(*which, [id](const auto& e) { return e.first == id; });
    });
  }

  // Naming: plain data, fixed once (see the class comment).
  std::string alias_;
  std::string unnamed_label_ = "<" + alias_ + ">";  // who() until the block is named
  std::string local_;   // explicit prefix, or alias + number + '_' once numbered
  std::string prefix_;  // the full prefix once named
  bool named_ = false;
  bool numbered_ = false;
  bool registered_ = false;  // some parent registered it
  bool moved_from_ = false;
  std::shared_ptr<detail::NameScopeState<T>> created_in_;  // the scope it was made in (null: top level)
  std::shared_ptr<detail::NameScopeState<T>> scope_ = std::make_shared<detail::NameScopeState<T>>();
  BasicParameterDict<T> params_;
  std::vector<BlockPtr> children_;
  std::vector<std::string> child_names_;
  std::shared_ptr<Hooks> hooks_ = std::make_shared<Hooks>();
  bool hybridizable_ = false;
  std::shared_ptr<detail::HybridState<T>> hybrid_;  // set by hybridize()
};

template <class T>
void BasicBlock<T>::summary(const NDArray<T>& x, std::ostream& os) {
  struct Row {
    std::string layer, shape;
    std::size_t n = 0, trainable = 0, shared = 0, out_bytes = 0;
  };
  std::vector<Row> rows;
  std::set<const BasicParameter<T>*> seen;
  std::ostringstream in_shape;
  in_shape << x.shape();
  rows.push_back({"Input", in_shape.str()});
  std::vector<HookHandle> handles;
  apply([&](BasicBlock& b) {
    if (!b.in_summary()) return;
    handles.push_back(b.register_forward_hook([&](BasicBlock& blk, const Arrays&, const Arrays& ys) {
      Row r;
      r.layer = blk.type_name() + "-" + std::to_string(rows.size());
      std::ostringstream s;
      for (std::size_t i = 0; i < ys.size(); ++i) {
        s << (i ? ", " : "") << ys[i].shape();
        r.out_bytes += ys[i].size() * sizeof(T);
      }
      r.shape = s.str();
      for (const auto& [n, p] : blk.params()) {
        const std::size_t sz = p->data().size();
        r.n += sz;
        if (p->grad_req() != GradReq::null) r.trainable += sz;
        if (!seen.insert(p.get()).second) r.shared += sz;
      }
      rows.push_back(r);
    }));
  });
  try {
    autograd::pause no_record(autograd::is_training());
    struct Imperative {  // a hybridized block's children must run, for their hooks
      Imperative() : saved(detail::force_imperative<T>()) { detail::force_imperative<T>() = true; }
      ~Imperative() { detail::force_imperative<T>() = saved; }
      bool saved;
    } imperative;
    (*this)(x);
  } catch (...) {
    for (auto& h : handles) h.detach();
    throw;
  }
  for (auto& h : handles) h.detach();

  std::size_t total = 0, trainable = 0, shared = 0, activation_bytes = 0;
  const std::string dash(80, '-'), eq(80, '=');
  os << dash << '\n'
     << std::setw(20) << "Layer (type)" << "  " << std::setw(42) << "Output Shape" << ' ' << std::setw(15) << "Param #"
     << '\n'
     << eq << '\n';
  for (const Row& r : rows) {
    os << std::setw(20) << r.layer << "  " << std::setw(42) << r.shape << ' ' << std::setw(15) << r.n << '\n';
    total += r.n, trainable += r.trainable, shared += r.shared, activation_bytes += r.out_bytes;
  }
  os << eq << '\n'
     << "Parameters in forward computation graph, duplicate included\n"
     << "   Total params: " << total << '\n'
     << "   Trainable params: " << trainable << '\n'
     << "   Non-trainable params: " << total - trainable << '\n'
     << "Shared params in forward computation graph: " << shared << '\n'
     << "Unique parameters in model: " << total - shared << '\n'
     << "Activation memory (the listed layers' outputs for this input): " << std::fixed << std::setprecision(1)
     << (activation_bytes >= (1u << 20) ? double(activation_bytes) / (1 << 20) : double(activation_bytes) / 1024)
     << (activation_bytes >= (1u << 20) ? " MiB" : " KiB") << std::defaultfloat << '\n'
     << dash << '\n';
}

template <class T>
template <class U>
std::shared_ptr<BasicBlock<U>> BasicBlock<T>::cast() const {
  check_alive("cast");
  GLUINO_CHECK(StateError, named_, who(), ": cast: the block has no name yet (made inside a name scope and not "
               "registered); register it first, or cast the block that holds it");
  std::shared_ptr<BasicBlock<U>> copy;
  {
    // The copies are made at top level with automatic names, which give_names replaces; the
    // counters are put back, so that casting does not renumber the blocks made afterwards.
    struct KeepCounters {
      std::map<std::string, std::size_t> saved = detail::global_name_counters();
      ~KeepCounters() { detail::global_name_counters() = std::move(saved); }
    } keep;
    auto top = BasicBlock<U>::top_level_scope();
    copy = rebuild_tree<U>();
  }
  give_names(*copy);
  std::map<const BasicParameter<T>*, std::shared_ptr<BasicParameter<U>>> made;
  give_parameters(*copy, made);
  return copy;
}

template <class T>
template <class U>
std::shared_ptr<BasicBlock<U>> BasicBlock<T>::rebuild_tree() const {
  AnyBlockPtr any = rebuild(dtype_of<U>());
  auto* made = std::get_if<std::shared_ptr<BasicBlock<U>>>(&any);
  GLUINO_CHECK(ValueError, made != nullptr && *made != nullptr, who(), ": cast: ", type_name(),
               "::rebuild returned no block of the element type asked for");
  std::shared_ptr<BasicBlock<U>> t = *made;
  if (t->children_.empty())  // a container: its children are rebuilt here
    for (std::size_t i = 0; i < children_.size(); ++i)
      t->register_child(children_[i]->template rebuild_tree<U>(), child_names_[i]);
  return t;
}

template <class T>
template <class U>
void BasicBlock<T>::give_names(BasicBlock<U>& t) const {
  // The classes' names without template arguments: a subclass that does not override rebuild
  // (class MySequential : public nn::Sequential) is caught here.
  const std::string mine = detail::short_class_name(typeid(*this)), made = detail::short_class_name(typeid(t));
  GLUINO_CHECK(ValueError, made == mine && t.child_names_ == child_names_ && t.params_.size() == params_.size(),
               who(), ": cast: ", mine, "::rebuild made a ", made, " with ", t.children_.size(),
               " children and ", t.params_.size(), " parameters of its own, but the block has ", children_.size(),
               " and ", params_.size(), "; its rebuild must make the block as its constructor did");
  t.local_ = local_;
  t.prefix_ = prefix_;
  t.named_ = named_;
  t.numbered_ = numbered_;
  t.created_in_.reset();
  t.params_.adopt_names(params_);
  t.mark_scope_named();
  for (std::size_t i = 0; i < children_.size(); ++i) children_[i]->give_names(*t.children_[i]);
}

template <class T>
template <class U>
void BasicBlock<T>::give_parameters(BasicBlock<U>& t,
                                    std::map<const BasicParameter<T>*, std::shared_ptr<BasicParameter<U>>>& made) const {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_.nth(i);
    auto it = made.find(p.get());
    if (it != made.end()) {  // shared with a block seen before: share the copy too
      t.params_.replace_nth(i, it->second);
      continue;
    }
    const auto& q = t.params_.nth(i);
    q->copy_state_from(*p);
    made.emplace(p.get(), q);
  }
  for (std::size_t i = 0; i < children_.size(); ++i) children_[i]->give_parameters(*t.children_[i], made);
}

using Block = BasicBlock<float>;

/// Gluon's block.cast(dtype), the C++ way: `target`, a model of the same architecture built for
/// the new element type, takes source's parameter values (copy_parameters_from, which names any
/// parameter that does not match) and is returned:
///   auto net64 = nn::cast(*net, model_zoo::lenet<double>());
template <class B, class U>
std::shared_ptr<B> cast(const BasicBlock<U>& source, std::shared_ptr<B> target) {
  GLUINO_CHECK(ValueError, target != nullptr, "cast: the target block is null");
  target->copy_parameters_from(source);
  return target;
}

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_BLOCK_INSTANTIATIONS(X, T) \
  X class BasicBlock<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_BLOCK_INSTANTIATIONS)
}  // namespace gluino::nn
