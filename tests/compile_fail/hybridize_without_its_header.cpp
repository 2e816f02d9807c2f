// SPDX-License-Identifier: Apache-2.0
// Graphs live above nn's blocks: Block::hybridize is carried out by nn/hybrid_block.hpp, and
// calling it without that header is a compile error that names it.
// expect: Block::hybridize needs #include <gluino/nn/hybrid_block.hpp>
#include <gluino/nn/sequential.hpp>
#ifdef GLUINO_COMPILE_FAIL_CONTROL
#include <gluino/nn/hybrid_block.hpp>
#endif

void hybrid(gluino::nn::Sequential& net) { net.hybridize(); }
