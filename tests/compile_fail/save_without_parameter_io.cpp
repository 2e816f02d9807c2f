// SPDX-License-Identifier: Apache-2.0
// nn/ knows no file format: Block::save_parameters is defined in nn/parameter_io.hpp, and calling
// it without that header is a compile error that names it.
// expect: Block::save_parameters needs #include <gluino/nn/parameter_io.hpp>
#include <gluino/nn/dense.hpp>
#ifdef GLUINO_COMPILE_FAIL_CONTROL
#include <gluino/nn/parameter_io.hpp>
#endif

void save(const gluino::nn::Dense& dense) { dense.save_parameters("dense.safetensors"); }
