// SPDX-License-Identifier: Apache-2.0
// gluino::precompiled: the bodies of the non-template functions declared GLUINO_FUNC, compiled
// here once (detail/precompiled.hpp); every other translation unit sees their declarations.
#define GLUINO_DEFINE_FUNCTIONS
#include "gluino/gluino.hpp"
