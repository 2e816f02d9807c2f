// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicBlock<T>: the base of every layer and model (Gluon: gluon.Block): automatic names and
/// name scopes, parameters, children, initialize, forward, hooks, printing, summary, and
/// saving / loading parameters.
#include <cctype>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#endif

#include "gluino/autograd/mode.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/init/initializer.hpp"
#include "gluino/nn/parameter.hpp"
#include "gluino/nn/parameter_io.hpp"

namespace gluino::detail {

template <class P>
inline constexpr bool is_shared_ptr_v = false;
template <class E>
inline constexpr bool is_shared_ptr_v<std::shared_ptr<E>> = true;

/// The naming state of a block, shared so that it has a stable address while the block moves:
/// the scope it was created in, its name once given, its parameter dict, and the per-alias
/// counters of the children created inside its name_scope() (Gluon's _BlockScope).
template <class T>
struct NameCell {
  nn::BasicBlock<T>* owner = nullptr;  // the block (kept current by its move operations)
  std::shared_ptr<NameCell> parent;    // the scope the block was created in (null: top level)
  std::string explicit_prefix;
  bool named = false;
  std::string prefix;
  nn::BasicParameterDict<T> params;
  std::map<std::string, std::size_t> counters;
};
/// The scope opened by the innermost live name_scope() on this thread (null: none).
template <class T>
std::shared_ptr<NameCell<T>>& current_block_scope() {
  thread_local std::shared_ptr<NameCell<T>> scope;
  return scope;
}
/// Per-alias counters of blocks created outside any name scope (Gluon's NameManager).
inline std::map<std::string, std::size_t>& global_name_counters() {
  thread_local std::map<std::string, std::size_t> counters;
  return counters;
}

/// The class name of a type without namespaces, enclosing functions or template arguments,
/// and without a leading "Basic" before an upper-case letter: gluino::nn::BasicDense<float>
/// -> "Dense", MLP -> "MLP".
inline std::string short_class_name(const std::type_info& ti) {
  std::string s = ti.name();
#if __has_include(<cxxabi.h>)
  int status = 0;
  char* dem = abi::__cxa_demangle(ti.name(), nullptr, nullptr, &status);
  if (status == 0 && dem) s = dem;
  std::free(dem);
#endif
  for (const char* kw : {"class ", "struct "})  // MSVC's spelling
    if (s.rfind(kw, 0) == 0) s.erase(0, std::string(kw).size());
  int depth = 0;
  std::size_t start = 0, stop = s.size();
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<' || c == '(' || c == '[') {
      if (depth == 0 && c == '<' && stop == s.size()) stop = i;
      ++depth;
    } else if (c == '>' || c == ')' || c == ']') {
      --depth;
    } else if (depth == 0 && c == ':' && i + 1 < s.size() && s[i + 1] == ':') {
      start = i + 2;
      stop = s.size();
    }
  }
  std::string name = s.substr(start, stop > start ? stop - start : 0);
  if (name.size() > 5 && name.rfind("Basic", 0) == 0 && std::isupper(static_cast<unsigned char>(name[5])))
    name.erase(0, 5);
  return name;
}

/// Indents every line but the first by n spaces (Gluon's _indent, for nested listings).
inline std::string indent_lines(const std::string& s, std::size_t n) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out.append(n, ' ');
  }
  return out;
}

}  // namespace gluino::detail

namespace gluino::nn {

/// Resets the per-alias counters of blocks created outside any name scope, so that the next
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

/// Base of layers and models.  Mirrors gluon.Block (1.x).
///
/// Naming (Gluon 1.x): a block's alias is its class name lower-cased (alias(), e.g. "dense",
/// "mlp").  Created outside any name scope it is named alias + a per-alias global counter
/// ("dense0_", "dense1_"); created while a parent's name_scope() is open, parent prefix + alias
/// + a per-parent counter ("mlp0_dense0_").  An explicit prefix replaces alias + counter.
/// Parameters are named prefix + local name ("mlp0_dense0_weight").
/// When names are given (C++ detail): the dynamic class is unknown in the base constructor and
/// C++ may construct the arguments of net.add(a, b) right to left, so the scope is captured at
/// construction and the name is given later, in Gluon's order: when the block is registered
/// into a named parent, when its parent gets its name (children in registration order), or at
/// its first use (prefix(), collect_params(), a call, reading params()).  Until then params()
/// is provisional: get() creates parameters under their local names ("weight"), renamed to
/// "dense0_weight" when the block is named.  Two top-level blocks are numbered in the order of
/// their first use, which is their creation order in usual code.
///
/// A model derives, registers its children and parameters in its constructor and overrides
/// forward:
///   class MLP : public nn::Block {
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
  /// hook(block, input, output) after forward.  Gluon: register_forward_hook.
  using ForwardHook = std::function<void(BasicBlock&, const NDArray<T>&, const NDArray<T>&)>;
  /// hook(block, input) before forward.  Gluon: register_forward_pre_hook.
  using ForwardPreHook = std::function<void(BasicBlock&, const NDArray<T>&)>;

  /// prefix: "" for an automatic name; params: parameters to share (Gluon's params=, e.g.
  /// another block's params() or collect_params()), or none.
  explicit BasicBlock(std::string prefix = "", BasicParameterDict<T> params = {})
      : cell_(std::make_shared<detail::NameCell<T>>()) {
    cell_->owner = this;
    cell_->parent = detail::current_block_scope<T>();
    cell_->explicit_prefix = std::move(prefix);
    if (params.defined()) {  // Gluon: ParameterDict(params.prefix, params)
      cell_->params = BasicParameterDict<T>(params.prefix(), params);
    } else {
      cell_->params = BasicParameterDict<T>("", cell_->parent ? cell_->parent->params.shared() : BasicParameterDict<T>{});
      std::weak_ptr<detail::NameCell<T>> weak = cell_;
      cell_->params.impl_->resolve = [weak] {
        if (auto c = weak.lock(); c && c->owner) c->owner->named();
      };
    }
  }
  virtual ~BasicBlock() {
    if (cell_ && cell_->owner == this) cell_->owner = nullptr;
  }
  BasicBlock(BasicBlock&& o) noexcept
      : cell_(std::move(o.cell_)), children_(std::move(o.children_)), child_names_(std::move(o.child_names_)),
        hooks_(std::move(o.hooks_)) {
    if (cell_) cell_->owner = this;
  }
  BasicBlock& operator=(BasicBlock&& o) noexcept {
    if (this == &o) return *this;
    if (cell_ && cell_->owner == this) cell_->owner = nullptr;
    cell_ = std::move(o.cell_);
    children_ = std::move(o.children_);
    child_names_ = std::move(o.child_names_);
    hooks_ = std::move(o.hooks_);
    if (cell_) cell_->owner = this;
    return *this;
  }
  BasicBlock(const BasicBlock&) = delete;
  BasicBlock& operator=(const BasicBlock&) = delete;

  /// The class name shown by printing and summary ("Dense", "MLP").  Default: the dynamic
  /// class name without namespaces, template arguments and a leading "Basic".
  virtual std::string type_name() const { return detail::short_class_name(typeid(*this)); }
  /// The stem of automatic names: type_name() lower-cased ("dense").  Gluon: _alias().
  virtual std::string alias() const {
    std::string a = type_name();
    for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return a;
  }

  /// The name prefix, e.g. "mlp0_dense0_".  Gluon: prefix.
  const std::string& prefix() const { return named().cell_->prefix; }
  /// The prefix without its trailing '_', e.g. "mlp0_dense0".  Gluon: name.
  std::string name() const {
    const std::string& p = prefix();
    return !p.empty() && p.back() == '_' ? p.substr(0, p.size() - 1) : p;
  }
  /// This block's own parameters (not its children's: see collect_params).  Gluon: params.
  /// Layers call params().get("weight", shape, init) in their constructors.
  BasicParameterDict<T>& params() { return cell_->params; }
  const BasicParameterDict<T>& params() const { return cell_->params; }

  /// RAII guard of name_scope(): while alive, blocks created are named inside this block.
  class NameScope {
   public:
    explicit NameScope(std::shared_ptr<detail::NameCell<T>> s) : saved_(detail::current_block_scope<T>()) {
      detail::current_block_scope<T>() = std::move(s);
    }
    ~NameScope() { detail::current_block_scope<T>() = std::move(saved_); }
    NameScope(const NameScope&) = delete;
    NameScope& operator=(const NameScope&) = delete;

   private:
    std::shared_ptr<detail::NameCell<T>> saved_;
  };
  /// Opens this block's name scope: `auto scope = name_scope();` (Gluon: with self.name_scope():).
  [[nodiscard]] NameScope name_scope() { return NameScope(cell_); }

  /// Adds a child block (a temporary or std::move'd block, or a shared_ptr to one) and returns
  /// it as shared_ptr<B>.  name: the key in listings and in save_parameters files (default:
  /// its index).  Gluon: register_child (and attribute assignment).
  template <class B>
  auto register_child(B&& block, std::string name = "") {
    using D = std::remove_cvref_t<B>;
    if constexpr (detail::is_shared_ptr_v<D>) {
      using E = typename D::element_type;
      static_assert(std::is_base_of_v<BasicBlock<T>, E>, "register_child: not a block of this element type");
      std::shared_ptr<E> p = block;
      GLUINO_CHECK(ValueError, p != nullptr, prefix(), ": register_child: null block");
      add_child(p, std::move(name));
      return p;
    } else {
      static_assert(std::is_base_of_v<BasicBlock<T>, D>, "register_child: not a block of this element type");
      static_assert(!std::is_lvalue_reference_v<B>,
                    "register_child: pass a temporary, std::move(block) or a shared_ptr (blocks are not copied)");
      auto p = std::make_shared<D>(std::move(block));
      add_child(p, std::move(name));
      return p;
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
    named();
    BasicParameterDict<T> ret(params().prefix());
    ret.update(params().select(select));
    for (const auto& c : children_) ret.update(c->collect_params(select));
    return ret;
  }
  /// collect_params().initialize(init, opt): Uniform(0.07) by default; shapes that are still
  /// unknown are initialized at the first forward.  Gluon: initialize(init, force_reinit=).
  void initialize(init::BasicAnyInitializer<T> init = init::BasicUniform<T>{}, InitializeOptions opt = {}) {
    collect_params().initialize(std::move(init), opt);
  }

  /// The computation.  The base class throws StateError: derived blocks override it.
  virtual NDArray<T> forward(const NDArray<T>& x) {
    (void)x;
    detail::raise<StateError>(prefix(), ": forward is not implemented; override forward() in ", type_name());
  }
  /// Runs the pre-hooks, forward(x) and the hooks.  Gluon: block(x).
  NDArray<T> operator()(const NDArray<T>& x) {
    named();
    for (const auto& [id, h] : hooks_->pre) h(*this, x);
    NDArray<T> y = forward(x);
    for (const auto& [id, h] : hooks_->post) h(*this, x, y);
    return y;
  }

  /// Calls fn on every descendant (children first) and then on this block.  Gluon: apply(fn).
  BasicBlock& apply(const std::function<void(BasicBlock&)>& fn) {
    for (const auto& c : children_) c->apply(fn);
    fn(*this);
    return *this;
  }
  /// Registers hook(block, input, output), called after each forward.  Gluon: register_forward_hook.
  HookHandle register_forward_hook(ForwardHook hook) { return add_hook(hooks_->post, std::move(hook)); }
  /// Registers hook(block, input), called before each forward.  Gluon: register_forward_pre_hook.
  HookHandle register_forward_pre_hook(ForwardPreHook hook) { return add_hook(hooks_->pre, std::move(hook)); }
  /// Does nothing: gluino runs every block imperatively (Gluon's HybridBlock.hybridize compiles).
  void hybridize(bool active = true) { (void)active; }

  /// The parameters keyed by their structural names, as Gluon's save_parameters stores them:
  /// the parameter's name without its dict prefix, preceded by the children's keys
  /// ("0.weight", "1.bias", "features.2.weight").  Independent of the automatic prefixes.
  std::vector<std::pair<std::string, std::shared_ptr<BasicParameter<T>>>> collect_params_with_prefix(
      const std::string& prefix = "") const {
    named();
    const std::string pre = prefix.empty() ? "" : prefix + ".";
    std::vector<std::pair<std::string, std::shared_ptr<BasicParameter<T>>>> out;
    const std::string& dp = params().prefix();
    for (const auto& [n, p] : params())
      out.emplace_back(pre + (n.rfind(dp, 0) == 0 ? n.substr(dp.size()) : n), p);
    for (std::size_t i = 0; i < children_.size(); ++i)
      for (auto& kv : children_[i]->collect_params_with_prefix(pre + child_names_[i])) out.push_back(std::move(kv));
    return out;
  }
  /// Saves the parameters (structural names, see collect_params_with_prefix) to a safetensors
  /// file, with optional string metadata (e.g. the epoch).  Atomic: a failed save leaves an
  /// existing file whole.  Gluon: save_parameters.
  void save_parameters(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const {
    detail::save_named_parameters<T>(path, collect_params_with_prefix(), "save_parameters", metadata);
  }
  /// Loads parameters saved by save_parameters, all or nothing: the whole file is checked first
  /// and every mismatch reported in one exception, ValueError for a parameter missing from the
  /// file (unless allow_missing), a name in the file the block does not have (unless
  /// ignore_extra) or a wrong dtype, ShapeError when all mismatches are shapes; no parameter
  /// changes then.  Uninitialized (also deferred) parameters are initialized with the loaded
  /// values.  Gluon: load_parameters.
  void load_parameters(const std::string& path, LoadOptions opt = {}) {
    detail::load_named_parameters<T>(path, collect_params_with_prefix(), opt, "load_parameters");
  }

  /// The listing that operator<< prints: "Dense(20 -> 256, Activation(relu))", or for a
  /// container "Sequential(\n  (0): Dense(...)\n  (1): ...\n)".  Layers override it.
  virtual std::string repr() const {
    named();
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
  /// False for pure containers (Sequential), which summary() does not list.
  virtual bool in_summary() const { return true; }

 private:
  struct Hooks {
    std::size_t next_id = 0;
    std::vector<std::pair<std::size_t, ForwardPreHook>> pre;
    std::vector<std::pair<std::size_t, ForwardHook>> post;
  };

  // Gives the name at first need (see the class comment): the parent scope first, whose naming
  // names its registered children in order; then this block; then this block's children.
  const BasicBlock& named() const {
    const auto& c = *cell_;
    if (!c.named) {
      if (c.parent && !c.parent->named && c.parent->owner) c.parent->owner->named();
      if (!c.named) {
        assign_name();
        for (const auto& ch : children_) ch->named();
      }
    }
    return *this;
  }
  // Gluon's _BlockScope.create.
  void assign_name() const {
    auto& c = *cell_;
    const std::string hint = alias();
    std::string local = c.explicit_prefix, params_prefix;
    auto parent = c.parent;
    if (parent && !parent->named) parent = nullptr;  // the parent block is gone: name at top level
    if (!parent) {
      if (local.empty()) local = hint + std::to_string(detail::global_name_counters()[hint]++) + "_";
      c.prefix = local;
      params_prefix = local;
    } else {
      if (local.empty()) local = hint + std::to_string(parent->counters[hint]++) + "_";
      c.prefix = parent->prefix + local;
      params_prefix = parent->params.prefix() + local;
    }
    c.named = true;
    c.parent.reset();
    if (c.params.provisional()) c.params.finalize(params_prefix);
  }
  template <class P>
  void add_child(std::shared_ptr<P> p, std::string name) {
    if (cell_->named) p->named();  // otherwise named with this block, in registration order
    if (name.empty()) name = std::to_string(children_.size());
    for (const auto& n : child_names_)
      GLUINO_CHECK(ValueError, n != name, prefix(), ": register_child: a child named '", name, "' already exists");
    children_.push_back(std::move(p));
    child_names_.push_back(std::move(name));
  }
  template <class H>
  HookHandle add_hook(std::vector<std::pair<std::size_t, H>>& list, H hook) {
    const std::size_t id = hooks_->next_id++;
    list.emplace_back(id, std::move(hook));
    std::weak_ptr<Hooks> weak = hooks_;
    auto* which = &list;
    return HookHandle([weak, which, id] {
      if (auto alive = weak.lock()) std::erase_if(*which, [id](const auto& e) { return e.first == id; });
    });
  }

  std::shared_ptr<detail::NameCell<T>> cell_;
  std::vector<BlockPtr> children_;
  std::vector<std::string> child_names_;
  std::shared_ptr<Hooks> hooks_ = std::make_shared<Hooks>();
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
    handles.push_back(b.register_forward_hook([&](BasicBlock& blk, const NDArray<T>&, const NDArray<T>& y) {
      Row r;
      r.layer = blk.type_name() + "-" + std::to_string(rows.size());
      std::ostringstream s;
      s << y.shape();
      r.shape = s.str();
      r.out_bytes = y.size() * sizeof(T);
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

using Block = BasicBlock<float>;

}  // namespace gluino::nn
