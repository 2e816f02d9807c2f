// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/blas_core.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include <gluino/kernels/gemm.hpp>

using gluino::kernels::blas_coretype_advice;
using gluino::kernels::CpuVectorIsa;

TEST_SUITE("kernels/blas_core") {

TEST_CASE("blas_coretype_advice: kernels older than the CPU's AVX2 or AVX-512 get the value to set") {
  const CpuVectorIsa avx512{true, true}, avx2{true, false}, older{false, false};
  CHECK(blas_coretype_advice("Prescott", avx512) == "SkylakeX");  // OpenBLAS 0.3.21 on Intel's model 207
  CHECK(blas_coretype_advice("PRESCOTT", avx512) == "SkylakeX");  // any case
  CHECK(blas_coretype_advice("Prescott", avx2) == "Haswell");
  CHECK(blas_coretype_advice("Sandybridge", avx2) == "Haswell");  // AVX without FMA
  CHECK(blas_coretype_advice("Nehalem", avx512) == "SkylakeX");
  CHECK(blas_coretype_advice("Unknown", avx2) == "Haswell");
  // Kernels that use the CPU's vectors, a CPU without AVX2, or not OpenBLAS: nothing to advise.
  for (const char* core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator", "Eigen"}) {
    CAPTURE(core);
    CHECK(blas_coretype_advice(core, avx512).empty());
    CHECK(blas_coretype_advice(core, avx2).empty());
  }
  CHECK(blas_coretype_advice("Prescott", older).empty());
  CHECK(blas_coretype_advice("Core2", older).empty());
  CHECK(blas_coretype_advice("", avx512).empty());
}

TEST_CASE("the warning names the kernels, the CPU's vectors and the setting") {
  const std::string m = gluino::detail::blas_below_cpu_message("Prescott", "SkylakeX");
  CHECK(m.find("OpenBLAS runs its Prescott kernels") != std::string::npos);
  CHECK(m.find("has AVX-512") != std::string::npos);
  CHECK(m.find("set OPENBLAS_CORETYPE=SkylakeX in the environment") != std::string::npos);
  CHECK(gluino::detail::blas_below_cpu_message("Nehalem", "Haswell").find("has AVX2 ") != std::string::npos);
}

TEST_CASE("blas_core names the kernels gemm runs, and the process's advice follows its environment") {
  const std::string core = gluino::kernels::blas_core();
  REQUIRE_FALSE(core.empty());
#if defined(GLUINO_USE_OPENBLAS)
  CHECK(gluino::kernels::gemm_backend().find(" " + core + " ") != std::string::npos);  // the build line names it
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  const bool dynamic = gluino::kernels::gemm_backend().find(" DYNAMIC_ARCH ") != std::string::npos;
  // One's own setting is not second-guessed, and an OpenBLAS built for one target ignores it.
  if ((set && *set) || !dynamic)
    CHECK(blas_coretype_advice().empty());
  else
    CHECK(blas_coretype_advice() == blas_coretype_advice(core, gluino::kernels::cpu_vector_isa()));
#else
  CHECK(core == "Eigen");
  CHECK(blas_coretype_advice().empty());
#endif
}

TEST_CASE("cpu_vector_isa: AVX-512 implies AVX2 and FMA, and matches the compiler's target") {
  const CpuVectorIsa isa = gluino::kernels::cpu_vector_isa();
  CHECK((!isa.avx512 || isa.avx2_fma));
#if defined(__AVX2__) && defined(__FMA__)
  CHECK(isa.avx2_fma);  // this test runs: the CPU executes the AVX2 code it was built with
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
  CHECK(isa.avx512);
#endif
}
}
