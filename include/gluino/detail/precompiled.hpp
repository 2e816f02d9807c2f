// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The precompiled mode (docs/building.md).  gluino is header-only; a program may instead link
/// the `gluino::precompiled` library (CMake) and compile with GLUINO_PRECOMPILED defined.  Each
/// header then declares its float and double instantiations `extern template`, so the program
/// compiles none of the ops, kernels, layers, optimizers and file readers it uses: it calls the
/// copies the library compiled once.  The library's own sources (src/) define
/// GLUINO_BUILDING_PRECOMPILED, and each header's list is expanded there as explicit
/// instantiation definitions: one list per header, used for both, so they cannot drift apart.
///
/// A header lists its instantiations as a macro of two arguments, the keyword(s) and the type:
///
///     #define GLUINO_ND_CONV_INSTANTIATIONS(X, T) X NDArray<T> convolution<T>(const NDArray<T>&, ...);
///     GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_CONV_INSTANTIATIONS)   // in the header's namespace
///
/// and src/ expands GLUINO_INSTANTIATIONS(GLUINO_ND_CONV_INSTANTIATIONS) in the same namespace
/// (scripts/check_instantiations.sh checks that every list is expanded there exactly once).  Other
/// element types (NDArray<int>, ...) are instantiated in the program as in header-only mode.

#if defined(GLUINO_PRECOMPILED) && !defined(GLUINO_BUILDING_PRECOMPILED)
/// 1 in a program built against the precompiled library: headers declare, the library defines.
#define GLUINO_EXTERN_TEMPLATES 1
#else
#define GLUINO_EXTERN_TEMPLATES 0
#endif
/// The library's own sources see the declarations too: each instantiation is then compiled in
/// the one source that defines it (an explicit instantiation definition may follow the
/// declaration), not again in every other source that uses it, as each did when the lists were
/// empty there (such copies were 43% of the library's machine code; docs/building.md).
#if defined(GLUINO_PRECOMPILED)
#define GLUINO_EXTERN_INSTANTIATIONS(LIST) LIST(extern template, float) LIST(extern template, double)
#else
#define GLUINO_EXTERN_INSTANTIATIONS(LIST)
#endif

/// Non-template functions of some size are declared `GLUINO_FUNC`, and their bodies kept in a
/// `#if GLUINO_FUNCTION_BODIES` block.  Header-only, GLUINO_FUNC is `inline` and the bodies are
/// compiled where used.  Precompiled, they are ordinary functions compiled once, in the one
/// source of the library that defines GLUINO_DEFINE_FUNCTIONS (src/functions.cpp); every other
/// translation unit sees their declarations only.  Template bodies that need a heavy
/// dependency (Eigen, nlohmann-json, <regex>) sit in `#if !GLUINO_EXTERN_TEMPLATES` blocks:
/// their float and double instantiations are in the library.
#if defined(GLUINO_PRECOMPILED)
#define GLUINO_FUNC
#if defined(GLUINO_DEFINE_FUNCTIONS)
#define GLUINO_FUNCTION_BODIES 1
#else
#define GLUINO_FUNCTION_BODIES 0
#endif
#else
#define GLUINO_FUNC inline
#define GLUINO_FUNCTION_BODIES 1
#endif

/// The data set readers (gluino/data/idx.hpp, sha256.hpp, vision/datasets.hpp), which need zlib
/// and OpenSSL, are in the library only when it was built with them; the CMake target then
/// defines GLUINO_PRECOMPILED_DATA, and their bodies are compiled once in src/data_files.cpp
/// (GLUINO_DEFINE_DATA_FUNCTIONS).  Without it these headers stay header-only.
#if defined(GLUINO_PRECOMPILED) && defined(GLUINO_PRECOMPILED_DATA)
#define GLUINO_DATA_FUNC
#if defined(GLUINO_DEFINE_DATA_FUNCTIONS)
#define GLUINO_DATA_FUNCTION_BODIES 1
#else
#define GLUINO_DATA_FUNCTION_BODIES 0
#endif
#define GLUINO_DATA_EXTERN_INSTANTIATIONS(LIST) GLUINO_EXTERN_INSTANTIATIONS(LIST)
#else
#define GLUINO_DATA_FUNC inline
#define GLUINO_DATA_FUNCTION_BODIES 1
#define GLUINO_DATA_EXTERN_INSTANTIATIONS(LIST)
#endif

/// The explicit instantiation definitions of a list, for float and double (src/ only).
#define GLUINO_INSTANTIATIONS(LIST) LIST(template, float) LIST(template, double)
