// SPDX-License-Identifier: Apache-2.0
#pragma once
/// NDArray<T>: a handle to a contiguous, row-major, reference-counted array (see
/// detail/ndarray_class.hpp for the class), together with the ops its methods call, its
/// printing and the autograd engine behind backward().
#include "gluino/detail/ndarray_class.hpp"
#include "gluino/autograd/engine.hpp"
#include "gluino/core/print.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"
