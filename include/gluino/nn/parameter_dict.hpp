// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicParameterDict<T>: the ordered dictionary of parameters a block owns, collects and shares.
/// Gluon: gluon.ParameterDict.
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nn/parameter.hpp"

namespace gluino::detail {
/// Saving and loading of dicts and blocks, defined by nn/parameter_io.hpp.
template <class D>
struct dict_io;
template <class B>
struct block_io;
}  // namespace gluino::detail

namespace gluino::detail {
/// For each name, whether the regular expression `pattern` matches it from its start (Python's
/// re.match).  ValueError starting with `who` for an invalid pattern.  <regex> is parsed only
/// where this is compiled (detail/precompiled.hpp).
GLUINO_FUNC std::vector<bool> match_from_start(const std::vector<std::string>& names, const std::string& pattern,
                                               const char* who);
}  // namespace gluino::detail

#if GLUINO_FUNCTION_BODIES
#include <regex>

namespace gluino::detail {
GLUINO_FUNC std::vector<bool> match_from_start(const std::vector<std::string>& names, const std::string& pattern,
                                               const char* who) {
  std::regex re;
  try {
    re = std::regex(pattern);
  } catch (const std::regex_error& e) {
    raise<ValueError>(who, ": invalid regular expression '", pattern, "': ", e.what());
  }
  std::vector<bool> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back(std::regex_search(n, re, std::regex_constants::match_continuous));
  return out;
}
}  // namespace gluino::detail
#endif  // GLUINO_FUNCTION_BODIES

namespace gluino::nn {

/// An ordered (insertion order) map from full parameter names to shared parameters, with a
/// name prefix.  Mirrors gluon.ParameterDict.
/// - A handle, like NDArray: copies refer to the same dictionary.  A default-constructed dict is
///   "none" (Gluon's params=None; defined() is false) until something is added to it.
/// - get(name, ...) returns prefix + name, creating it if needed, or taking it from the
///   `shared` dict given at construction: this is how blocks share parameters (a Dense given
///   another Dense's params() gets the same Parameter objects).
/// - The own dict of a block made inside a name_scope() is *pending* until the block is
///   registered with its parent (see BasicBlock): its parameters carry their local names
///   ("weight") until then, and registration gives them their full names once.
/// - Iteration yields (name, shared_ptr<BasicParameter<T>>) pairs in insertion order:
///   `for (const auto& [name, p] : net.collect_params()) ...`.
template <class T>
class BasicParameterDict {
 public:
  using ParameterPtr = std::shared_ptr<BasicParameter<T>>;
  using Item = std::pair<std::string, ParameterPtr>;
  using const_iterator = typename std::vector<Item>::const_iterator;

  /// The "none" dict: empty, no prefix, allocated on first insertion.
  BasicParameterDict() = default;
  /// An empty dict whose new parameters are named prefix + name; get() also looks names up in
  /// shared (Gluon: ParameterDict(prefix, shared)).
  explicit BasicParameterDict(std::string prefix, BasicParameterDict shared = {}) : impl_(std::make_shared<Impl>()) {
    impl_->prefix = std::move(prefix);
    impl_->shared = std::move(shared.impl_);
  }

  /// False for a default-constructed dict that nothing was added to.
  bool defined() const { return impl_ != nullptr; }
  const std::string& prefix() const {
    static const std::string none;
    return impl_ ? impl_->prefix : none;
  }
  /// True for the own dict of a block that is not named yet (see BasicBlock): its parameters
  /// have their local names, and it cannot be shared until the block is registered.
  bool pending() const { return impl_ && impl_->pending; }
  /// The dict this one takes shared parameters from (undefined when none).
  BasicParameterDict shared() const { return BasicParameterDict(impl_ ? impl_->shared : nullptr); }

  std::size_t size() const { return impl_ ? impl_->items.size() : 0; }
  bool empty() const { return size() == 0; }
  const_iterator begin() const { return impl_ ? impl_->items.cbegin() : empty_items().cbegin(); }
  const_iterator end() const { return impl_ ? impl_->items.cend() : empty_items().cend(); }
  /// True when the full name is present.
  bool contains(const std::string& name) const { return impl_ && impl_->index.count(name) > 0; }
  /// The position of the full name in insertion order (npos when absent).  Layers keep
  /// positions, not pointers: registration may replace a pending block's parameter by the
  /// shared one of the same name (see BasicBlock), and the position stays.
  std::size_t index_of(const std::string& name) const {
    if (!impl_) return npos;
    auto it = impl_->index.find(name);
    return it == impl_->index.end() ? npos : it->second;
  }
  /// The i-th parameter in insertion order.  ValueError when i >= size().
  const ParameterPtr& nth(std::size_t i) const {
    GLUINO_CHECK(ValueError, i < size(), "ParameterDict: position ", i, " out of range for a dict of ", size(),
                 " parameters");
    return impl_->items[i].second;
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  /// The parameter of the full name (e.g. "mlp0_dense0_weight").  ValueError listing the names
  /// present when it is missing.  Gluon: params[name].
  const ParameterPtr& operator[](const std::string& name) const {
    GLUINO_CHECK(ValueError, contains(name), "ParameterDict: no parameter named '", name, "'; it holds: ",
                 key_list());
    return impl_->items[impl_->index.at(name)].second;
  }
  const ParameterPtr& at(const std::string& name) const { return (*this)[name]; }
  /// The full names, in order.  Gluon: keys().
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const auto& [n, p] : *this) k.push_back(n);
    return k;
  }

  /// Returns the parameter named prefix() + name, creating it with the given shape, own
  /// initializer and options when neither this dict nor its shared dict has it.  For an
  /// existing parameter the shapes are merged (0 = unknown takes the other's dimension);
  /// ShapeError when known dimensions differ.  Gluon: ParameterDict.get(name, shape=, init=, ...).
  ParameterPtr get(const std::string& name, const Shape& shape = {}, init::BasicAnyInitializer<T> init = {},
                   ParameterOptions opt = {}) {
    ensure();
    const std::string full = impl_->prefix + name;
    ParameterPtr p = find(full);
    if (!p && impl_->shared && !impl_->pending) {  // a pending dict looks up when it gets its prefix
      auto it = impl_->shared->index.find(full);
      if (it != impl_->shared->index.end()) {
        p = impl_->shared->items[it->second].second;
        insert(full, p);
      }
    }
    if (!p) {
      p = std::make_shared<BasicParameter<T>>(full, shape, std::move(init), opt);
      insert(full, p);
      return p;
    }
    if (shape.ndim() > 0) merge_into(*p, shape);
    return p;
  }

  /// The parameters whose full name matches the regular expression from its start (Python's
  /// re.match, as Gluon's collect_params(select)): ".*weight", "mlp0_dense0_.*", ".*weight|.*bias".
  /// An empty pattern selects everything.  The result has this dict's prefix.
  BasicParameterDict select(const std::string& pattern) const {
    BasicParameterDict out(prefix());
    if (pattern.empty()) {
      out.update(*this);
      return out;
    }
    std::vector<std::string> names;
    for (const auto& [n, p] : *this) names.push_back(n);
    const std::vector<bool> keep = detail::match_from_start(names, pattern, "ParameterDict: select");
    std::size_t i = 0;
    for (const auto& [n, p] : *this)
      if (keep[i++]) out.insert(n, p);
    return out;
  }

  /// Adds other's parameters (in its order).  ValueError when a name is present in both with
  /// different Parameter objects.  Gluon: update.
  void update(const BasicParameterDict& other) {
    for (const auto& [n, p] : other) {
      ParameterPtr mine = find(n);
      GLUINO_CHECK(ValueError, !mine || mine == p, "ParameterDict: cannot update: two different parameters are named '",
                   n, "'");
    }
    if (other.empty()) return;
    ensure();
    for (const auto& [n, p] : other)
      if (!find(n)) insert(n, p);
  }

  /// Initializes every parameter (see BasicParameter::initialize): a parameter's own
  /// initializer wins over init; deferred where the shape is unknown.  Gluon: initialize(init,
  /// force_reinit=...).
  void initialize(init::BasicAnyInitializer<T> init = init::BasicUniform<T>{}, InitializeOptions opt = {}) {
    for (const auto& [n, p] : *this) p->initialize(init, opt);
  }
  /// Zeros every gradient.  Gluon: zero_grad().
  void zero_grad() {
    for (const auto& [n, p] : *this) p->zero_grad();
  }
  /// Sets grad_req on every parameter.  Gluon: setattr('grad_req', 'null').
  void set_grad_req(GradReq req) {
    for (const auto& [n, p] : *this) p->set_grad_req(req);
  }
  /// Gluon: setattr('lr_mult', m).
  void set_lr_mult(double m) {
    for (const auto& [n, p] : *this) p->set_lr_mult(m);
  }
  /// Gluon: setattr('wd_mult', m).
  void set_wd_mult(double m) {
    for (const auto& [n, p] : *this) p->set_wd_mult(m);
  }

  /// Saves every parameter to a safetensors file under its name minus strip_prefix.
  /// ValueError when a name does not start with strip_prefix.  Atomic.  Needs
  /// nn/parameter_io.hpp (nn knows no file format).  Gluon: save(filename, strip_prefix).
  template <class D = BasicParameterDict>
  void save(const std::string& path, const std::string& strip_prefix = "") const {
    static_assert(detail::complete_type<detail::dict_io<D>>,
                  "ParameterDict::save needs #include <gluino/nn/parameter_io.hpp> (or <gluino/gluino.hpp>)");
    detail::dict_io<D>::save(*this, path, strip_prefix);
  }
  /// Loads a file written by save; names in the file get opt.restore_prefix prepended.
  /// All or nothing: every mismatch is reported in one exception (ValueError for missing or extra
  /// names, see LoadOptions, or a wrong dtype; ShapeError when all are shapes) and then no
  /// parameter changes.  Needs nn/parameter_io.hpp.  Gluon: load(filename, allow_missing=,
  /// ignore_extra=, restore_prefix=).
  template <class D = BasicParameterDict>
  void load(const std::string& path, const LoadOptions& opt = {}) {
    static_assert(detail::complete_type<detail::dict_io<D>>,
                  "ParameterDict::load needs #include <gluino/nn/parameter_io.hpp> (or <gluino/gluino.hpp>)");
    detail::dict_io<D>::load(*this, path, opt);
  }

  /// Prints Gluon's listing: "mlp0_ (\n  Parameter mlp0_dense0_weight (shape=(256, 20), dtype=float32)\n...)".
  friend std::ostream& operator<<(std::ostream& os, const BasicParameterDict& d) {
    os << (d.prefix().empty() ? "" : d.prefix() + " ") << "(\n";
    for (const auto& [n, p] : d) os << "  " << *p << '\n';
    return os << ')';
  }

 private:
  template <class U>
  friend class BasicBlock;
  struct Impl {
    std::string prefix;
    std::vector<Item> items;
    std::unordered_map<std::string, std::size_t> index;
    std::shared_ptr<Impl> shared;
    bool pending = false;  // the own dict of a block not named yet: local names, no shared lookups
  };
  /// A pending dict (a block made inside a name scope): parameters keep their local names
  /// and are looked up in `shared` only when the block is registered (see finalize).
  static BasicParameterDict make_pending(BasicParameterDict shared) {
    BasicParameterDict d("", std::move(shared));
    d.impl_->pending = true;
    return d;
  }
  /// Called once, when the block of a pending dict is registered: every parameter gets its full
  /// name prefix + local name, or, when the shared dict has that name, is replaced by the shared
  /// parameter (shapes merged, as get() does).  Checks that no stale pointer would remain before
  /// renaming anything.
  void finalize(const std::string& prefix, const std::string& who) {
    if (!impl_) impl_ = std::make_shared<Impl>();
    std::vector<ParameterPtr> replacement(impl_->items.size());
    for (std::size_t i = 0; i < impl_->items.size(); ++i) {
      const auto& [local, p] = impl_->items[i];
      const std::string full = prefix + local;
      if (impl_->shared) {
        auto it = impl_->shared->index.find(full);
        if (it != impl_->shared->index.end()) replacement[i] = impl_->shared->items[it->second].second;
      }
      if (!replacement[i]) continue;
      // The block's code may hold the pointer that get() returned; it would go stale.
      GLUINO_CHECK(StateError, p.use_count() == 1, who, ": cannot share parameter '", full,
                   "' with the enclosing block's params: the block holds its own '", local,
                   "' by pointer; keep its position (params().index_of) instead, or share explicitly with params=");
      if (p->shape().ndim() > 0) merge_into(*replacement[i], p->shape());
    }
    impl_->pending = false;
    impl_->prefix = prefix;
    impl_->index.clear();
    for (std::size_t i = 0; i < impl_->items.size(); ++i) {
      auto& [n, p] = impl_->items[i];
      n = prefix + n;
      if (replacement[i])
        p = std::move(replacement[i]);
      else
        p->rename(n);
      impl_->index.emplace(n, i);
    }
  }
  explicit BasicParameterDict(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  /// For Block::cast: takes source's prefix and its parameters' names, position by position (the
  /// caller checked that the sizes agree); a dict made pending is pending no more.
  template <class S>
  void adopt_names(const BasicParameterDict<S>& source) {
    ensure();
    impl_->prefix = source.prefix();
    impl_->pending = false;
    impl_->index.clear();
    std::size_t i = 0;
    for (const auto& [name, p] : source) {
      impl_->items[i].first = name;
      impl_->items[i].second->rename(name);
      impl_->index.emplace(name, i);
      ++i;
    }
  }
  /// For Block::cast: the i-th parameter becomes p (a parameter shared with another block).
  void replace_nth(std::size_t i, ParameterPtr p) { impl_->items[i].second = std::move(p); }
  static const std::vector<Item>& empty_items() {
    static const std::vector<Item> none;
    return none;
  }
  void ensure() {
    if (!impl_) impl_ = std::make_shared<Impl>();
  }
  ParameterPtr find(const std::string& full) const {
    if (!impl_) return nullptr;
    auto it = impl_->index.find(full);
    return it == impl_->index.end() ? nullptr : impl_->items[it->second].second;
  }
  void insert(const std::string& full, ParameterPtr p) {
    ensure();
    impl_->index.emplace(full, impl_->items.size());
    impl_->items.emplace_back(full, std::move(p));
  }
  std::string key_list() const {
    std::string s;
    for (const auto& [n, p] : *this) s += (s.empty() ? "" : ", ") + n;
    return s.empty() ? "(nothing)" : s;
  }
  static void merge_into(BasicParameter<T>& p, const Shape& want) {
    const Shape& have = p.shape();
    if (have.ndim() == 0 && !p.is_initialized()) {
      p.set_shape(want);
      return;
    }
    bool ok = have.ndim() == want.ndim();
    Shape merged;
    for (std::size_t d = 0; ok && d < have.ndim(); ++d) {
      ok = have[d] == 0 || want[d] == 0 || have[d] == want[d];
      merged.push_back(have[d] ? have[d] : want[d]);
    }
    GLUINO_CHECK(ShapeError, ok, "ParameterDict: cannot retrieve Parameter '", p.name(), "': requested shape ", want,
                 " does not match its shape ", have);
    if (merged != have) p.set_shape(merged);
  }

  std::shared_ptr<Impl> impl_;
};

using ParameterDict = BasicParameterDict<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_PARAMETER_DICT_INSTANTIATIONS(X, T) \
  X class BasicParameterDict<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_PARAMETER_DICT_INSTANTIATIONS)
}  // namespace gluino::nn
