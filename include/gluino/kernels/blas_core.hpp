// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Which kernels OpenBLAS chose for this CPU, and whether they fall short of it.
///
/// OpenBLAS built with DYNAMIC_ARCH (Debian's packages are) picks its kernels when it is loaded,
/// by the CPU's vendor, family and model number.  A model newer than the installed OpenBLAS
/// gets its oldest x86-64 kernels, "Prescott" (SSE3): OpenBLAS 0.3.21 (Debian 12) does that on
/// Intel's family 6 model 207, a 5th-generation Xeon with AVX-512, where AlexNet then trains at
/// a third of the speed (docs/performance.md, "OpenBLAS and CPUs it does not know").  Setting
/// the environment variable OPENBLAS_CORETYPE (SkylakeX, Haswell, ...) before the program
/// starts overrides the choice; nothing can change it once OpenBLAS is loaded, so gluino does
/// not try: gemm (kernels/gemm.hpp) warns once, at the first product, naming the value to set.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gluino/core/warning.hpp"

#if defined(GLUINO_USE_OPENBLAS)
extern "C" {
char* openblas_get_corename(void);
char* openblas_get_config(void);
}
#endif

namespace gluino::kernels {

/// The vector instructions of this CPU that OpenBLAS's kernels use.
struct CpuVectorIsa {
  bool avx2_fma = false;  ///< AVX2 and FMA (OpenBLAS's Haswell and Zen kernels)
  bool avx512 = false;    ///< AVX-512 F, BW, VL and DQ (its SkylakeX kernels)
};

/// This CPU's (both false off x86 or with a compiler without __builtin_cpu_supports).
inline CpuVectorIsa cpu_vector_isa() {
  CpuVectorIsa isa;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  isa.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  isa.avx512 = isa.avx2_fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
  return isa;
}

/// The kernels OpenBLAS runs ("Haswell", "SkylakeX", "Zen", "Prescott", ...), or "Eigen" when
/// gluino's products are Eigen's own.
inline std::string blas_core() {
#if defined(GLUINO_USE_OPENBLAS)
  const char* core = openblas_get_corename();
  return core ? core : "";
#else
  return "Eigen";
#endif
}

/// The OPENBLAS_CORETYPE value that would give a CPU with `isa` the kernels it can run, when
/// OpenBLAS's kernels `core` (its core name, any case) predate AVX2: "SkylakeX" with AVX-512,
/// else "Haswell"; empty when `core` is one of the AVX2 or AVX-512 kernels (or not OpenBLAS's,
/// "Eigen"), or when the CPU has no AVX2.
inline std::string blas_coretype_advice(std::string_view core, CpuVectorIsa isa) {
  // OpenBLAS's x86 core names (driver/others/dynamic.c) whose kernels use neither AVX2 nor AVX-512.
  static constexpr std::array<std::string_view, 21> older = {
      "unknown",  "katmai",    "coppermine",   "northwood", "prescott",    "banias",     "atom",
      "core2",    "penryn",    "dunnington",   "nehalem",   "athlon",      "opteron",    "opteron_sse3",
      "barcelona", "nano",     "sandybridge",  "bobcat",    "bulldozer",   "piledriver", "steamroller"};
  std::string lower(core);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!isa.avx2_fma || std::find(older.begin(), older.end(), lower) == older.end()) return "";
  return isa.avx512 ? "SkylakeX" : "Haswell";
}

/// The advice for this process: empty unless gluino's products run on an OpenBLAS built with
/// DYNAMIC_ARCH (one built for a single target ignores OPENBLAS_CORETYPE), its kernels predate
/// this CPU's AVX2 or AVX-512, and OPENBLAS_CORETYPE is unset (a value one sets is one's choice).
inline std::string blas_coretype_advice() {
#if defined(GLUINO_USE_OPENBLAS)
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  if (set && *set) return "";
  const char* config = openblas_get_config();
  if (!config || std::string_view(config).find("DYNAMIC_ARCH") == std::string_view::npos) return "";
  return blas_coretype_advice(blas_core(), cpu_vector_isa());
#else
  return "";
#endif
}

}  // namespace gluino::kernels

namespace gluino::detail {
/// The warning for OpenBLAS kernels `core` on a CPU that `advice` (blas_coretype_advice) fits.
inline std::string blas_below_cpu_message(const std::string& core, const std::string& advice) {
  return "OpenBLAS runs its " + core + " kernels on this CPU, which has " +
         (advice == "SkylakeX" ? "AVX-512" : "AVX2") +
         " (the installed OpenBLAS does not know its model): matrix products run several times slower than they "
         "could; set OPENBLAS_CORETYPE=" +
         advice + " in the environment before the program starts (docs/performance.md)";
}
/// Warns (gluino::warn) when blas_coretype_advice() is not empty; gemm calls it once.
inline void warn_if_blas_below_cpu() {
  const std::string advice = kernels::blas_coretype_advice();
  if (!advice.empty()) warn(blas_below_cpu_message(kernels::blas_core(), advice));
}
}  // namespace gluino::detail
