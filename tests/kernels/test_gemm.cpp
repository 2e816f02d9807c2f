// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/gemm.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gluino/core/parallel.hpp>
#include <gluino/kernels/conv2d.hpp>

using gluino::kernels::gemm;

namespace {
using gluino_test::random_values;

/// The definition: C = alpha * op(A) * op(B) + beta * C, in double, with padded leading
/// dimensions so that a kernel reading or writing past a row shows up.
template <class T>
void check_against_definition(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, T beta, double tol) {
  const std::size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
  const auto A = random_values<T>((ta ? K : M) * lda, 1), B = random_values<T>((tb ? N : K) * ldb, 2);
  auto C = random_values<T>(M * ldc, 3);
  const auto C0 = C;
  gemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  for (std::size_t i = 0; i < M; ++i) {
    for (std::size_t j = 0; j < N; ++j) {
      double acc = 0;
      for (std::size_t p = 0; p < K; ++p)
        acc += static_cast<double>(ta ? A[p * lda + i] : A[i * lda + p]) * static_cast<double>(tb ? B[j * ldb + p] : B[p * ldb + j]);
      const double want = static_cast<double>(alpha) * acc + (beta == T(0) ? 0.0 : static_cast<double>(beta) * static_cast<double>(C0[i * ldc + j]));
      REQUIRE(static_cast<double>(C[i * ldc + j]) == doctest::Approx(want).epsilon(tol));
    }
    for (std::size_t j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == C0[i * ldc + j]);  // padding untouched
  }
}
}  // namespace

TEST_SUITE("kernels/gemm") {
TEST_CASE("gemm: every transpose combination, alpha and beta, against the definition") {
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    CAPTURE(ta);
    CAPTURE(tb);
    check_against_definition<double>(ta, tb, 7, 5, 9, 1.0, 0.0, 1e-12);
    check_against_definition<double>(ta, tb, 33, 41, 29, 0.5, 2.0, 1e-12);
    // Large enough for Eigen to split the product over threads, and to reach the BLAS kernels.
    check_against_definition<float>(ta, tb, 150, 130, 170, 1.0, 1.0, 1e-4);
    check_against_definition<double>(ta, tb, 150, 130, 170, -1.5, 0.0, 1e-12);
  }
}

TEST_CASE("gemm: a product split over 1-3 threads, C's rows or columns, uneven blocks, agrees with the definition") {
  const int saved = gluino::get_num_threads();
  for (int threads = 1; threads <= 3; ++threads) {
    gluino::set_num_threads(threads);
    CAPTURE(threads);
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      CAPTURE(ta);
      CAPTURE(tb);
      check_against_definition<float>(ta, tb, 37, 203, 300, 1.0f, 0.0f, 1e-4);    // columns: 80, 80, 43
      check_against_definition<float>(ta, tb, 203, 37, 300, 0.5f, 2.0f, 1e-4);    // rows: 72, 72, 59
      check_against_definition<double>(ta, tb, 130, 120, 400, -1.5, 1.0, 1e-12);  // rows
      // matrix-vector products, split by the elements of the matrix they read
      check_against_definition<float>(ta, tb, 1, 200, 1000, 1.0f, 0.0f, 1e-4);   // columns: 80, 80, 40
      check_against_definition<float>(ta, tb, 203, 1, 1000, 1.0f, 1.0f, 1e-4);  // rows: 72, 72, 59
    }
  }
  gluino::set_num_threads(saved);
}

TEST_CASE("gemm_split: a dense layer's product outside a team is split over the threads with OpenBLAS") {
  using gluino::kernels::gemm_split;
  const int saved = gluino::get_num_threads();
  gluino::set_num_threads(2);
  const auto fwd = gemm_split(256, 128, 1250);   // LeNet's first Dense at batch 256
  const auto wgrad = gemm_split(128, 1250, 256);  // its weight gradient
  const auto gemv = gemm_split(1, 128, 1250);      // batch 1: 640 KB of weights to read
  const auto gemv_t = gemm_split(1250, 1, 128);    // the same product with the vector on the right
  const auto small = gemm_split(1, 10, 128);       // its second Dense at batch 1: 5 KB of weights
  const auto few = gemm_split(2, 128, 1250);       // batch 2: compute-bound, too little work
  gluino::set_num_threads(1);
  const auto one = gemm_split(256, 128, 1250);
  const auto one_gemv = gemm_split(1, 128, 1250);
  gluino::set_num_threads(saved);
  CHECK(small.threads == 1);
  CHECK(few.threads == 1);
  CHECK(one.threads == 1);
  CHECK(one_gemv.threads == 1);
#if defined(GLUINO_USE_OPENBLAS) && defined(_OPENMP)
  // Two threads, C's rows (else its columns), that many of them per thread.
  const auto check_split = [](const gluino::kernels::GemmSplit& s, bool rows, std::size_t block) {
    CHECK(s.threads == 2);
    CHECK(s.rows == rows);
    CHECK(s.block == block);
  };
  // Eigen does not split what it hands to OpenBLAS, so without this split one core did it all.
  check_split(fwd, true, 128);
  check_split(wgrad, false, 640);
  // A matrix-vector product is bound by reading the matrix: split once each thread reads 64 Ki
  // of its elements, whole vectors of C each.
  check_split(gemv, false, 64);
  check_split(gemv_t, true, 632);
  int inside = 0;
  gluino::detail::run_team(2, [&](int tid, int) {
    if (tid == 0) inside = gemm_split(256, 128, 1250).threads;
  });
  CHECK(inside == 1);  // inside a team each call stays on its thread
#else
  CHECK(fwd.threads == 1);  // Eigen splits its own products
  CHECK(wgrad.threads == 1);
  CHECK(gemv.threads == 1);
  CHECK(gemv_t.threads == 1);
#endif
}

TEST_CASE("gemm: K = 0 scales C by beta; beta = 0 ignores what C held") {
  std::vector<float> C{1, 2, 3, 4};
  gemm<float>(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 3.0f, C.data(), 2);
  CHECK(C == std::vector<float>{3, 6, 9, 12});
  std::vector<float> A{1, 2}, B{3, 4}, D{NAN, NAN, NAN, NAN};
  gemm<float>(false, false, 2, 2, 1, 1.0f, A.data(), 1, B.data(), 2, 0.0f, D.data(), 2);
  CHECK(D == std::vector<float>{3, 4, 6, 8});
}

TEST_CASE("gemm: products run from every thread of a team at once agree with one run alone") {
  // The convolutions call gemm from each thread of their team; a BLAS that shared state
  // between calls, or started threads of its own inside the team, would show here.
  const std::size_t M = 96, N = 144, K = 200;
  const auto A = random_values<float>(M * K, 4), B = random_values<float>(K * N, 5);
  std::vector<float> alone(M * N);
  gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, alone.data(), N);
  const int threads_before = gluino::get_num_threads();
  std::vector<std::vector<float>> outs(4, std::vector<float>(M * N, 0.0f));
  gluino::detail::run_team(2, [&](int tid, int team) {
    for (std::size_t r = static_cast<std::size_t>(tid); r < outs.size(); r += static_cast<std::size_t>(team))
      for (int rep = 0; rep < 3; ++rep) gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, outs[r].data(), N);
  });
  for (const auto& o : outs)
    for (std::size_t i = 0; i < o.size(); ++i) REQUIRE(o[i] == doctest::Approx(alone[i]).epsilon(1e-5));
  CHECK(gluino::get_num_threads() == threads_before);  // the BLAS left gluino's thread count alone
}

TEST_CASE("gemm_backend names what multiplies the matrices") {
  const std::string b = gluino::kernels::gemm_backend();
#if defined(GLUINO_USE_OPENBLAS)
  CHECK(b.rfind("OpenBLAS ", 0) == 0);
#else
  CHECK(b == "Eigen");
#endif
}

#if defined(GLUINO_USE_OPENBLAS)
TEST_CASE("gemm: sizes beyond OpenBLAS's ints throw, naming the product") {
  float c = 0;
  const std::size_t huge = std::size_t(1) << 31;
  CHECK_THROWS_WITH_AS(gemm<float>(false, false, 1, 1, huge, 1.0f, &c, huge, &c, 1, 0.0f, &c, 1),
                       doctest::Contains("1x2147483648 by 2147483648x1"), std::length_error);
}
#endif
}
