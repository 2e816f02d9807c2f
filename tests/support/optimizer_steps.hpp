// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support for the optimizers' hand-computed steps: three gradients of a 3-element weight,
/// and MXNet's clip_gradient (a negative bound means no clipping).
#include <algorithm>
#include <vector>

namespace gluino::test {
inline const std::vector<std::vector<double>> grads = {{0.5, -2.0, 3.0}, {1.0, 0.25, -4.0}, {-0.75, 1.5, 0.1}};
inline double clip(double v, double c) { return c < 0 ? v : std::clamp(v, -c, c); }
}  // namespace gluino::test
