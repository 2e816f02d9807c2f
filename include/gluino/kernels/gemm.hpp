// SPDX-License-Identifier: Apache-2.0
#pragma once
/// GEMM on raw row-major pointers through Eigen: C = alpha * op(A) * op(B) + beta * C.
/// Every matrix product in gluino (dot, fully_connected, convolution) goes through here.
///
/// Built with GLUINO_USE_OPENBLAS (the CMake target sets it, with EIGEN_USE_BLAS, when it finds
/// OpenBLAS), Eigen hands its products to OpenBLAS's sgemm/dgemm.  Threads stay gluino's: the
/// convolutions call gemm from each thread of their team, and gemm splits a large product called
/// outside a team over gluino's threads itself (gemm_split; Eigen does not split what it hands to
/// a BLAS), so OpenBLAS must run each call on the calling thread.  Its OpenMP build does that
/// inside a parallel region; its pthreads build is set to one thread (once, at
/// the first product), as OPENBLAS_NUM_THREADS=1 would.
#include <algorithm>
#include <cassert>
#include <climits>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "gluino/core/parallel.hpp"
#include "gluino/kernels/blas_core.hpp"
#include "gluino/detail/precompiled.hpp"

#if defined(GLUINO_USE_OPENBLAS)
#if !defined(EIGEN_USE_BLAS)
#error "GLUINO_USE_OPENBLAS needs EIGEN_USE_BLAS as well, in every translation unit (the gluino CMake target defines both)"
#endif
extern "C" {  // openblas_get_config: blas_core.hpp
int openblas_get_parallel(void);
void openblas_set_num_threads(int);
}
#endif

namespace gluino::detail {
/// Keeps OpenBLAS from starting threads of its own (see the top of this header), and warns
/// once when its kernels fall short of the CPU (kernels/blas_core.hpp); a no-op without it.
/// Cheap after the first call.
inline void blas_one_thread_per_call() {
#if defined(GLUINO_USE_OPENBLAS)
  static const bool done = [] {
    if (openblas_get_parallel() == 1) openblas_set_num_threads(1);  // 1: the pthreads build
    warn_if_blas_below_cpu();
    return true;
  }();
  (void)done;
#endif
}
}  // namespace gluino::detail

namespace gluino::kernels {

/// What multiplies gluino's matrices: OpenBLAS's build configuration ("OpenBLAS 0.3.21 ...") or "Eigen".
inline std::string gemm_backend() {
#if defined(GLUINO_USE_OPENBLAS)
  return openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Zen MAX_THREADS=64"
#else
  return "Eigen";
#endif
}

/// How gemm splits one product over gluino's threads.  Eigen splits its own products over OpenMP
/// threads, but not when it hands them to a BLAS (EIGEN_USE_BLAS), and OpenBLAS runs each call
/// on the calling thread (above); so with OpenBLAS, a product called outside a parallel region
/// (a dense layer, dot) that is large enough to pay for a team is split here: C's rows (the rows
/// of op(A)) or columns (the columns of op(B)), whichever are more, into blocks of whole vectors
/// (8 rows, 16 columns), one per thread.  threads == 1: one call on the calling thread.
struct GemmSplit {
  int threads = 1;
  bool rows = false;      ///< split C's rows (else its columns)
  std::size_t block = 0;  ///< rows or columns per thread (the last thread takes the rest)
};
/// Multiply-adds per thread below which gemm does not split (about 5 us on one core).
inline constexpr double gemm_split_min_work = 512.0 * 1024.0;
/// A matrix-vector product (M or N is 1: a dense layer at batch 1) is bound by reading its
/// matrix, not by its multiply-adds: it splits when each thread reads at least this many of the
/// matrix's elements (256 KiB of floats, about 4 us from a core's L2 cache; LeNet's first dense
/// layer at batch 1, 640 KB of weights, took 7.8-8.5 us on one thread and 5.5-6.1 on two).
inline constexpr double gemv_split_min_elements = 64.0 * 1024.0;
inline GemmSplit gemm_split(std::size_t M, std::size_t N, std::size_t K) {
  GemmSplit s;
#if defined(GLUINO_USE_OPENBLAS) && defined(_OPENMP)
  if (omp_in_parallel()) return s;
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  const bool matrix_vector = M == 1 || N == 1;
  const double per_thread = matrix_vector ? gemv_split_min_elements : gemm_split_min_work;
  const auto by_work = static_cast<std::size_t>(work / per_thread);
  std::size_t t = std::min<std::size_t>(static_cast<std::size_t>(get_num_threads()), by_work);
  s.rows = M > N;
  const std::size_t extent = s.rows ? M : N, align = s.rows ? 8 : 16;
  t = std::min(t, extent / align);  // at least one whole block each
  if (t <= 1) return s;
  s.block = ((extent + t - 1) / t + align - 1) / align * align;
  s.threads = static_cast<int>((extent + s.block - 1) / s.block);
#else
  (void)M, (void)N, (void)K;
#endif
  return s;
}

/// C (M x N, leading dimension ldc) = alpha * op(A) * op(B) + beta * C, all row-major.
/// op(A) is M x K: A is M x K (lda >= K), or K x M (lda >= M) when trans_a.
/// op(B) is K x N: B is K x N (ldb >= N), or N x K (ldb >= K) when trans_b.
/// beta == 0 overwrites C without reading it (C may hold garbage).  A large product called
/// outside a parallel region runs on gluino's threads (Eigen's own, or gemm_split's blocks with
/// OpenBLAS); inside one, on the calling thread.  With OpenBLAS, whose sizes are ints, a size or
/// leading dimension above INT_MAX throws std::length_error.
template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc);

#define GLUINO_KERNELS_GEMM_INSTANTIATIONS(X, T)                                                                \
  X void gemm<T>(bool, bool, std::size_t, std::size_t, std::size_t, T, const T*, std::size_t, const T*, \
                 std::size_t, T, T*, std::size_t);
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_GEMM_INSTANTIATIONS)

}  // namespace gluino::kernels

// The definition, which needs Eigen: a program built against the precompiled library sees only
// the declaration above (and does not parse Eigen).
#if !GLUINO_EXTERN_TEMPLATES
// Eigen's AVX-512 reductions trip GCC 12's -Wmaybe-uninitialized inside avx512fintrin.h (a false
// positive in Eigen's code, reported where it is inlined): silenced for Eigen's headers only, so
// that a user's build log shows only their own warnings.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace gluino::kernels {

namespace detail_gemm {
/// One thread's product, through Eigen (and OpenBLAS under it when built with it).
template <class T>
void gemm_here(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
               std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using CMap = Eigen::Map<const Mat, 0, Stride>;
  const auto m = static_cast<Eigen::Index>(M), n = static_cast<Eigen::Index>(N), k = static_cast<Eigen::Index>(K);
  Eigen::Map<Mat, 0, Stride> c(C, m, n, Stride(static_cast<Eigen::Index>(ldc)));
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (beta == T(0)) c.setZero(); else c *= beta;
    return;
  }
  CMap a(A, trans_a ? k : m, trans_a ? m : k, Stride(static_cast<Eigen::Index>(lda)));
  CMap b(B, trans_b ? n : k, trans_b ? k : n, Stride(static_cast<Eigen::Index>(ldb)));
  auto run = [&](const auto& pa, const auto& pb) {
    if (beta == T(0)) {
      if (alpha == T(1)) c.noalias() = pa * pb; else c.noalias() = alpha * (pa * pb);
    } else {
      if (beta != T(1)) c *= beta;
      if (alpha == T(1)) c.noalias() += pa * pb; else c.noalias() += alpha * (pa * pb);
    }
  };
  if (!trans_a && !trans_b) run(a, b);
  else if (trans_a && !trans_b) run(a.transpose(), b);
  else if (!trans_a && trans_b) run(a, b.transpose());
  else run(a.transpose(), b.transpose());
}
}  // namespace detail_gemm

template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
#if defined(GLUINO_USE_OPENBLAS)
  constexpr std::size_t int_max = INT_MAX;
  if (M > int_max || N > int_max || K > int_max || lda > int_max || ldb > int_max || ldc > int_max)
    throw std::length_error("gemm: a " + std::to_string(M) + "x" + std::to_string(K) + " by " + std::to_string(K) + "x" +
                            std::to_string(N) + " product exceeds OpenBLAS's int sizes (at most " +
                            std::to_string(int_max) + " per dimension and leading dimension)");
#endif
  detail::blas_one_thread_per_call();
  const GemmSplit split = gemm_split(M, N, K);
  if (split.threads <= 1) return detail_gemm::gemm_here(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  // Each thread takes a block of C's rows (the rows of op(A)) or columns (the columns of op(B)).
  gluino::detail::run_team(split.threads, [&](int tid, int team) {
    const std::size_t extent = split.rows ? M : N;
    const std::size_t lo = std::min(extent, split.block * static_cast<std::size_t>(tid));
    const std::size_t hi = tid + 1 == team ? extent : std::min(extent, lo + split.block);
    if (lo >= hi) return;
    if (split.rows) {
      const T* a = trans_a ? A + lo : A + lo * lda;
      detail_gemm::gemm_here(trans_a, trans_b, hi - lo, N, K, alpha, a, lda, B, ldb, beta, C + lo * ldc, ldc);
    } else {
      const T* b = trans_b ? B + lo * ldb : B + lo;
      detail_gemm::gemm_here(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
    }
  });
}

}  // namespace gluino::kernels
#endif  // !GLUINO_EXTERN_TEMPLATES
