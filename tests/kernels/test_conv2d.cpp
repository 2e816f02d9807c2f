// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <gluino/core/parallel.hpp>
#include <gluino/core/storage.hpp>

using gluino::kernels::Conv2DGeometry;
namespace kernels = gluino::kernels;

namespace {
using gluino_test::max_abs_diff;
using gluino_test::random_values;

Conv2DGeometry make(std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t k,
                    std::size_t s, std::size_t p, std::size_t d, std::size_t groups) {
  Conv2DGeometry g;
  g.N = N, g.C = C, g.H = H, g.W = W, g.O = O, g.groups = groups;
  g.kh = g.kw = k, g.sh = g.sw = s, g.ph = g.pw = p, g.dh = g.dw = d;
  g.infer_output();
  return g;
}

/// Bytes the C heap has handed out and not taken back (0 where glibc's counters are missing).
std::size_t heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#else
  return 0;
#endif
}

/// True when a freed Storage stays cached in the pool (a sanitizer build may bypass the cache).
bool pool_caches() {
  gluino::detail::memory_pool().release();
  { gluino::Storage<float> probe(1000); }
  const bool cached = gluino::detail::memory_pool().cached_bytes() > 0;
  gluino::detail::memory_pool().release();
  return cached;
}
}  // namespace

TEST_SUITE("kernels/conv2d") {
TEST_CASE("conv2d: tiles of output rows give the naive reference's values, forward and backward (double)") {
  // Geometries of every path (im2col dense and strided/padded, pointwise, single-channel direct
  // with and without padding, groups, dilation), each cut into tiles of 1, 2 and 3 output rows
  // and untiled, with and without the fused ReLU.
  const Conv2DGeometry geoms[] = {
      make(2, 3, 7, 9, 4, 3, 1, 0, 1, 1),    make(3, 4, 8, 8, 6, 3, 2, 1, 1, 1), make(2, 6, 9, 7, 6, 3, 1, 1, 2, 3),
      make(2, 4, 5, 6, 8, 1, 1, 0, 1, 1),    make(2, 4, 7, 6, 4, 1, 2, 0, 1, 2), make(3, 1, 13, 13, 13, 3, 1, 0, 1, 1),
      make(2, 1, 11, 12, 10, 3, 1, 1, 1, 1), make(4, 8, 12, 12, 8, 3, 1, 1, 1, 1),
  };
  for (const auto& g0 : geoms)
    for (std::size_t rows : {1, 2, 3, 0})
      for (bool relu : {false, true}) {
        Conv2DGeometry g = g0;
        g.tile_rows = rows;
        CAPTURE(g.C);
        CAPTURE(g.H);
        CAPTURE(g.kh);
        CAPTURE(g.sh);
        CAPTURE(g.ph);
        CAPTURE(rows);
        CAPTURE(relu);
        const std::size_t nx = g.N * g.C * g.H * g.W, nw = g.O * g.K(), ny = g.N * g.O * g.P();
        const auto x = random_values<double>(nx, 1), w = random_values<double>(nw, 2), b = random_values<double>(g.O, 3);
        const auto dy = random_values<double>(ny, 4);
        std::vector<double> y(ny), y_ref(ny);
        kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), relu);
        kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), y_ref.data());
        if (relu)
          for (auto& v : y_ref) v = std::max(v, 0.0);
        CHECK(max_abs_diff(y, y_ref) < 1e-12);
        // the reference backward of relu(conv): dy masked by y > 0
        std::vector<double> dy_ref = dy;
        if (relu)
          for (std::size_t i = 0; i < ny; ++i) dy_ref[i] = y_ref[i] > 0 ? dy[i] : 0.0;
        std::vector<double> dx(nx), dw(nw), db(g.O), dx_ref(nx), dw_ref(nw), db_ref(g.O);
        kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(),
                                 relu ? y.data() : nullptr);
        kernels::conv2d_backward_naive(g, x.data(), w.data(), dy_ref.data(), dx_ref.data(), dw_ref.data(), db_ref.data());
        CHECK(max_abs_diff(dx, dx_ref) < 1e-12);
        CHECK(max_abs_diff(dw, dw_ref) < 1e-11);
        CHECK(max_abs_diff(db, db_ref) < 1e-11);
      }
}

TEST_CASE("conv2d: a batch smaller than the thread count splits each image's output rows (naive values)") {
  // im2col + GEMM, the single-channel direct kernel (padded), the pointwise product, groups with
  // stride and dilation; batch 1 and 2 on 2, 3 and 4 threads, with and without the ReLU.
  const Conv2DGeometry geoms[] = {make(1, 8, 14, 14, 32, 3, 1, 1, 1, 1), make(1, 1, 30, 30, 20, 5, 1, 2, 1, 1),
                                  make(1, 32, 12, 12, 64, 1, 1, 0, 1, 1), make(1, 8, 25, 23, 64, 3, 2, 1, 2, 2),
                                  make(2, 8, 14, 14, 32, 3, 1, 1, 1, 1)};
  const int saved = gluino::get_num_threads();
  for (int threads : {2, 3, 4}) {
    gluino::set_num_threads(threads);
    for (const auto& g : geoms)
      for (bool relu : {false, true}) {
        CAPTURE(threads);
        CAPTURE(g.N);
        CAPTURE(g.C);
        CAPTURE(g.groups);
        CAPTURE(relu);
        const bool split = kernels::conv2d_forward_workspace<double>(g).split_rows;
#if defined(_OPENMP)
        CHECK(split == (g.N < static_cast<std::size_t>(threads)));
#else
        CHECK_FALSE(split);
#endif
        const std::size_t nx = g.N * g.C * g.H * g.W, nw = g.O * g.K(), ny = g.N * g.O * g.P();
        const auto x = random_values<double>(nx, 5), w = random_values<double>(nw, 6), b = random_values<double>(g.O, 7);
        std::vector<double> y(ny, -1.0), y_ref(ny);
        kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), relu);
        kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), y_ref.data());
        if (relu)
          for (auto& v : y_ref) v = std::max(v, 0.0);
        CHECK(max_abs_diff(y, y_ref) < 1e-12);
      }
  }
  gluino::set_num_threads(saved);
}

TEST_CASE("conv2d: the workspace is bounded by conv_panel_bytes, comes from the pool and goes back to it") {
  // VGG's second layer on a 224x224 image: a whole image's column matrix is 576 x 50176 floats
  // (115 MB); the tiles keep each thread's panel within conv_panel_bytes.
  const Conv2DGeometry g = make(2, 64, 224, 224, 4, 3, 1, 1, 1, 1);
  const auto fw = kernels::conv2d_forward_workspace<float>(g);
  CHECK(fw.tile_rows < g.Ho);
  CHECK(fw.tile_rows >= 1);
  CHECK(fw.cols * sizeof(float) <= kernels::conv_panel_bytes);
  CHECK(fw.cols == g.K() * fw.tile_rows * g.Wo);
  const auto bw = kernels::conv2d_backward_workspace<float>(g, true, true, true, true);
  CHECK(bw.cols * sizeof(float) <= kernels::conv_panel_bytes);
  CHECK(bw.dcols * sizeof(float) <= kernels::conv_panel_bytes);
  CHECK(bw.masked * sizeof(float) <= kernels::conv_panel_bytes);
  // at least one output row, whatever the budget
  const Conv2DGeometry wide = make(1, 512, 1, 20000, 1, 1, 2, 0, 1, 1);
  CHECK(kernels::conv2d_forward_workspace<float>(wide).tile_rows == 1);

  const auto x = random_values<float>(g.N * g.C * g.H * g.W, 1), w = random_values<float>(g.O * g.K(), 2);
  std::vector<float> y(g.N * g.O * g.P()), dx(x.size()), dw(w.size());
  auto& pool = gluino::detail::memory_pool();
  if (pool_caches()) {
    // With room in the cache, the workspace is exactly what the pool holds after the call.
    gluino::set_memory_cache_limit(std::size_t(1) << 30);
    kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
    const std::size_t bytes = fw.elements() * sizeof(float);
    CHECK(pool.cached_bytes() >= bytes);
    CHECK(pool.cached_bytes() < bytes + 64);
  }
  // With no cache, nothing stays held after the call: no per-thread scratch survives it.
  gluino::set_memory_cache_limit(0);
  const std::size_t before = heap_in_use();
  kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
  kernels::conv2d_backward(g, x.data(), w.data(), y.data(), dx.data(), dw.data(), static_cast<float*>(nullptr));
  CHECK(pool.cached_bytes() == 0);
  CHECK(heap_in_use() <= before + (std::size_t(1) << 20));
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
}
