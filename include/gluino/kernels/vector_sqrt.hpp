// SPDX-License-Identifier: Apache-2.0
#pragma once
/// vector_sqrt: the square roots of an array, vectorised.  A loop of std::sqrt stays scalar
/// unless the program is built with -fno-math-errno (the compiler must call sqrtf to set errno
/// for a negative input), which a header-only library cannot ask of its users; the optimizers
/// that take square roots (Adam, ...) run theirs through this kernel: the processor's vector
/// square-root instruction (AVX or SSE2 on x86, NEON on AArch64; std::sqrt elsewhere),
/// correctly rounded as std::sqrt is, so the results are the same bit for bit.  (Eigen's packet
/// square root is not: with its default EIGEN_FAST_MATH it is an approximation refined by Newton
/// steps, one ulp off and wrong for infinity and subnormals.)  vector_sqrt_naive is the reference.
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "gluino/detail/precompiled.hpp"

namespace gluino::kernels {

/// out[i] = sqrt(in[i]) for i < n (in and out may be the same array; a negative input gives NaN).
template <class T>
void vector_sqrt(const T* in, T* out, std::size_t n);

/// The reference: std::sqrt element by element.
template <class T>
void vector_sqrt_naive(const T* in, T* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = std::sqrt(in[i]);
}

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_VECTOR_SQRT_INSTANTIATIONS(X, T) X void vector_sqrt<T>(const T*, T*, std::size_t);
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_VECTOR_SQRT_INSTANTIATIONS)

}  // namespace gluino::kernels

#if !GLUINO_EXTERN_TEMPLATES
#if defined(__SSE2__) || defined(__AVX__)
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace gluino::kernels {

template <class T>
void vector_sqrt(const T* in, T* out, std::size_t n) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "vector_sqrt: float or double");
  std::size_t i = 0;
  // One instruction per register of lanes; the tail (and other processors) by std::sqrt.  AVX-512
  // machines take the 256-bit path: the update is bound by memory, and GCC 12 warns falsely
  // (-Wmaybe-uninitialized) inside its 512-bit load intrinsics.
  if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_sqrt_ps(_mm256_loadu_ps(in + i)));
#elif defined(__SSE2__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(out + i, _mm_sqrt_ps(_mm_loadu_ps(in + i)));
#elif defined(__aarch64__) && defined(__ARM_NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vsqrtq_f32(vld1q_f32(in + i)));
#endif
  } else {
#if defined(__AVX__)
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(out + i, _mm256_sqrt_pd(_mm256_loadu_pd(in + i)));
#elif defined(__SSE2__)
    for (; i + 2 <= n; i += 2) _mm_storeu_pd(out + i, _mm_sqrt_pd(_mm_loadu_pd(in + i)));
#elif defined(__aarch64__) && defined(__ARM_NEON)
    for (; i + 2 <= n; i += 2) vst1q_f64(out + i, vsqrtq_f64(vld1q_f64(in + i)));
#endif
  }
  for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

}  // namespace gluino::kernels
#endif  // !GLUINO_EXTERN_TEMPLATES
