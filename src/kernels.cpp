// SPDX-License-Identifier: Apache-2.0
// gluino::precompiled: the kernels' float and double instantiations (detail/precompiled.hpp).
#include "gluino/kernels/batch_norm.hpp"
#include "gluino/kernels/conv2d.hpp"
#include "gluino/kernels/conv2d_lanes.hpp"
#include "gluino/kernels/conv2d_pool.hpp"
#include "gluino/kernels/conv2d_wide.hpp"
#include "gluino/kernels/conv2d_winograd.hpp"
#include "gluino/kernels/conv3d.hpp"
#include "gluino/kernels/deconv2d.hpp"
#include "gluino/kernels/gemm.hpp"
#include "gluino/kernels/im2col.hpp"
#include "gluino/kernels/layer_norm.hpp"
#include "gluino/kernels/pool.hpp"
#include "gluino/kernels/softmax.hpp"
#include "gluino/kernels/vector_sqrt.hpp"

namespace gluino::kernels {
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_BATCH_NORM_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_LANES_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_POOL_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_WIDE_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_WINOGRAD_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_CONV3D_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_DECONV2D_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_GEMM_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_IM2COL_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_LAYER_NORM_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_POOL_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_SOFTMAX_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_KERNELS_VECTOR_SQRT_INSTANTIATIONS)
}  // namespace gluino::kernels
