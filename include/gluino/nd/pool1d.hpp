// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 1-D max and average pooling over NCW arrays, including global pooling.
/// Gluon: mx.nd.Pooling with a 1-element kernel (behind gluon.nn.MaxPool1D, AvgPool1D,
/// GlobalMaxPool1D, GlobalAvgPool1D).
#include <cstddef>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/pool.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd {

/// Options of pooling1d, in the order of mx.nd.Pooling's keyword arguments:
/// `nd::pooling1d(x, {.kernel = 3, .stride = 2, .type = nd::pool_type::avg})`.  As nd.Pooling
/// the stride defaults to 1 (gluon.nn.MaxPool1D defaults it to the pool size).
struct Pool1DOptions {
  std::size_t kernel = 2;  ///< window size; ignored when global_pool
  std::size_t stride = 1;  ///< > 0; ignored when global_pool
  std::size_t pad = 0;     ///< < kernel; ignored when global_pool
  pool_type type = pool_type::max;
  bool global_pool = false;  ///< pool all of W into 1
  pooling_convention convention = pooling_convention::valid;
  bool count_include_pad = true;  ///< avg only: padding zeros count in the divisor
};

/// 1-D pooling.  Gluon: nd.Pooling(x, kernel=(k,), pool_type, global_pool, pooling_convention,
/// stride=(s,), pad=(p,), count_include_pad).  x (N, C, W) -> (N, C, Wo) with
/// Wo = floor((W + 2 pad - kernel) / stride) + 1 (valid) or ceil(...) + 1 (full); (N, C, 1) when
/// global_pool.  Runs as nd::pooling of a height-1 image (reshape, pooling, reshape), with the
/// window rules of nd::pooling.  Checked first, with 1-D shapes in the messages: ShapeError for a
/// non-3-D input, an empty input (W of 0, whatever the padding, also for a global pool, as
/// PyTorch; an empty batch is fine), a kernel larger than the padded input;
/// ValueError for a zero kernel or stride, pad >= kernel, or a kernel or stride of 2^40 or more.
template <class T>
NDArray<T> pooling1d(const NDArray<T>& x, Pool1DOptions opt = {}) {
  GLUINO_CHECK(StateError, x.defined(), "pooling1d: input must be a defined array");
  GLUINO_CHECK(ShapeError, x.ndim() == 3, "pooling1d: input must be 3-D (N, C, W), got ", x.shape());
  const std::size_t N = x.shape(0), C = x.shape(1), W = x.shape(2);
  PoolOptions o{.type = opt.type, .global_pool = opt.global_pool, .convention = opt.convention,
                .count_include_pad = opt.count_include_pad};
  std::size_t Wo = 1;
  if (opt.global_pool) {
    GLUINO_CHECK(ShapeError, W > 0, "pooling1d: global pooling of an empty input ", x.shape());
  } else {
    GLUINO_CHECK(ShapeError, W > 0, "pooling1d: empty input ", x.shape(),
                 ": W must be > 0 (only the batch may be empty)");
    constexpr std::size_t lim = std::size_t(1) << 40;
    const auto signed_ = [](std::size_t v) { return static_cast<long long>(v); };
    GLUINO_CHECK(ValueError, opt.kernel > 0 && opt.stride > 0, "pooling1d: kernel and stride must be > 0, got kernel ",
                 signed_(opt.kernel), ", stride ", signed_(opt.stride), ": input ", x.shape());
    GLUINO_CHECK(ValueError, opt.kernel < lim && opt.stride < lim, "pooling1d: kernel ", signed_(opt.kernel),
                 " or stride ", signed_(opt.stride), " too large (a negative value converted to size_t?): input ",
                 x.shape());
    GLUINO_CHECK(ValueError, opt.pad < opt.kernel, "pooling1d: pad ", signed_(opt.pad),
                 " must be smaller than kernel ", opt.kernel, ": input ", x.shape());
    GLUINO_CHECK(ShapeError, opt.kernel <= W + 2 * opt.pad, "pooling1d: kernel ", opt.kernel,
                 " larger than the padded input (", W + 2 * opt.pad, "): input ", x.shape());
    o.kernel = {1, opt.kernel};
    o.stride = {1, opt.stride};
    o.pad = {0, opt.pad};
    Wo = kernels::Pool2DGeometry::out_size(W, opt.kernel, opt.stride, opt.pad,
                                           opt.convention == pooling_convention::full);
  }
  const NDArray<T> y = pooling(reshape(x, Shape{N, C, 1, W}), o);
  return reshape(y, Shape{N, C, Wo});
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_POOL1D_INSTANTIATIONS(X, T) \
  X NDArray<T> pooling1d<T>(const NDArray<T>&, Pool1DOptions);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_POOL1D_INSTANTIATIONS)
}  // namespace gluino::nd
