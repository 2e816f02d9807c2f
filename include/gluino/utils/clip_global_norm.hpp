// SPDX-License-Identifier: Apache-2.0
#pragma once
/// clip_global_norm: scales arrays (typically gradients) so that their joint L2 norm is at most
/// max_norm.  Gluon: gluon.utils.clip_global_norm.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <set>
#include <sstream>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/warning.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nn/parameter_dict.hpp"

namespace gluino::utils {

/// Returns the global norm of `arrays`, norm = sqrt(sum over the arrays of sum x^2) (summed in
/// double, and rescaled by the largest |x| when the squares overflow, so finite doubles near
/// 1e300 still have a finite norm), and scales every array in place by max_norm / (norm + 1e-8)
/// when that is < 1 (Gluon's rule, so an array is left alone when norm + 1e-8 <= max_norm).  The
/// arrays are handles: what is scaled is their storage, shared with the caller's arrays (e.g. the
/// parameters' gradients).
///
/// A norm that is NaN or infinite leaves every array as it was, and is returned; with
/// check_isfinite (the default) gluino::warn reports it first ("clip_global_norm: nan or inf is
/// detected (global norm inf); the arrays are left unscaled").  Gluon warns too ("nan or inf is
/// detected. Clipping results will be undefined.") but then scales anyway, by NaN or 0.
///
/// ValueError for no arrays, an undefined array, or a max_norm that is NaN or <= 0 (infinity is
/// accepted: nothing is ever scaled).  Gluon returns the norm as a float when check_isfinite and
/// as an NDArray otherwise; gluino returns a double in both cases.
template <class T>
double clip_global_norm(const std::vector<NDArray<T>>& arrays, double max_norm, bool check_isfinite = true) {
  GLUINO_CHECK(ValueError, !arrays.empty(), "clip_global_norm: no arrays");
  GLUINO_CHECK(ValueError, max_norm > 0, "clip_global_norm: max_norm must be > 0, got ", max_norm);
  double sum = 0, largest = 0;
  for (std::size_t k = 0; k < arrays.size(); ++k) {
    GLUINO_CHECK(ValueError, arrays[k].defined(), "clip_global_norm: array ", k, " is undefined");
    const T* x = arrays[k].data();
    for (std::size_t i = 0; i < arrays[k].size(); ++i) {
      const double v = static_cast<double>(x[i]);
      sum += v * v;
      largest = std::max(largest, std::abs(v));  // NaN leaves it: sum is NaN then
    }
  }
  double norm = std::sqrt(sum);
  if (std::isinf(sum) && std::isfinite(largest)) {  // finite values whose squares overflow: sum (x / largest)^2
    double scaled = 0;
    for (const NDArray<T>& a : arrays)
      for (const T v : a) scaled += (static_cast<double>(v) / largest) * (static_cast<double>(v) / largest);
    norm = largest * std::sqrt(scaled);
  }
  if (!std::isfinite(norm)) {
    if (check_isfinite) {
      std::ostringstream msg;
      msg << "clip_global_norm: nan or inf is detected (global norm " << norm << "); the arrays are left unscaled";
      warn(msg.str());
    }
    return norm;
  }
  const double scale = max_norm / (norm + 1e-8);
  if (scale >= 1) return norm;
  const T s = static_cast<T>(scale);
  for (NDArray<T> a : arrays) {  // a copy of the handle: the storage is the caller's
    T* x = a.data();
    for (std::size_t i = 0; i < a.size(); ++i) x[i] *= s;
    a.bump_version();
  }
  return norm;
}

/// The same over the gradients of `params` (each parameter once, as Trainer), those with
/// grad_req null skipped.  Call it between backward() and trainer.step(batch_size):
/// max_norm then bounds the gradients as backward left them (summed over the batch; the
/// Trainer's 1 / batch_size comes after).  ValueError when no parameter has a gradient;
/// StateError for a parameter that is not initialized.  Gluon's idiom:
/// `clip_global_norm([p.grad() for p in params.values()], max_norm)`.
template <class T>
double clip_global_norm(const nn::BasicParameterDict<T>& params, double max_norm, bool check_isfinite = true) {
  std::vector<NDArray<T>> grads;
  std::set<const nn::BasicParameter<T>*> seen;
  for (const auto& [name, p] : params)
    if (p->grad_req() != GradReq::null && seen.insert(p.get()).second) grads.push_back(p->grad());
  GLUINO_CHECK(ValueError, !grads.empty(), "clip_global_norm: no parameter of '", params.prefix(),
               "' has a gradient (all grad_req null, or none)");
  return clip_global_norm(grads, max_norm, check_isfinite);
}

}  // namespace gluino::utils

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_UTILS_CLIP_GLOBAL_NORM_INSTANTIATIONS(X, T)                                   \
  X double clip_global_norm<T>(const std::vector<NDArray<T>>&, double, bool);                \
  X double clip_global_norm<T>(const nn::BasicParameterDict<T>&, double, bool);
namespace gluino::utils {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_UTILS_CLIP_GLOBAL_NORM_INSTANTIATIONS)
}  // namespace gluino::utils
