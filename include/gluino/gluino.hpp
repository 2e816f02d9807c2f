// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The umbrella header: includes every public header of gluino.
#include "gluino/autograd/engine.hpp"
#include "gluino/autograd/mode.hpp"
#include "gluino/autograd/node.hpp"
#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/core/print.hpp"
#include "gluino/core/random.hpp"
#include "gluino/core/shape.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/nd/creation.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/random.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"
