// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The array layer at once: NDArray with every method (core, autograd, nd), printing, random
/// numbers and every nd op.  Gluon: mx.nd with mx.autograd.  (gluino/gluino.hpp has it all.)
#include "gluino/autograd/anomaly.hpp"
#include "gluino/autograd/engine.hpp"
#include "gluino/autograd/grad.hpp"
#include "gluino/autograd/mode.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/print.hpp"
#include "gluino/core/random.hpp"
#include "gluino/nd/activations.hpp"
#include "gluino/nd/batch_norm.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/creation.hpp"
#include "gluino/nd/dropout.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/linalg.hpp"
#include "gluino/nd/pick.hpp"
#include "gluino/nd/pool.hpp"
#include "gluino/nd/random.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"
#include "gluino/nd/softmax.hpp"
