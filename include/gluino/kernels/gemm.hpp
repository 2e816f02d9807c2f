// SPDX-License-Identifier: Apache-2.0
#pragma once
/// GEMM on raw row-major pointers through Eigen: C = alpha * op(A) * op(B) + beta * C.
/// Every matrix product in gluino (dot, fully_connected, convolution) goes through here.
#include <cassert>
#include <cstddef>

#include <Eigen/Core>

namespace gluino::kernels {

/// C (M x N, leading dimension ldc) = alpha * op(A) * op(B) + beta * C, all row-major.
/// op(A) is M x K: A is M x K (lda >= K), or K x M (lda >= M) when trans_a.
/// op(B) is K x N: B is K x N (ldb >= N), or N x K (ldb >= K) when trans_b.
/// beta == 0 overwrites C without reading it (C may hold garbage).  Eigen parallelises large
/// products over OpenMP threads unless called from inside a parallel region.
template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
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

}  // namespace gluino::kernels
