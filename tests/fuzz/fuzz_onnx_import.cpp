// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: nn::SymbolBlock::from_model of the input parsed as an ONNX ModelProto, then,
// for a model small enough to run quickly (input dimensions <= 16, a symbolic one taken as 2;
// initializer dimensions <= 64; attribute values and Pad's pads <= 8), one forward pass in
// predict mode.  An
// import or a forward may only fail with a gluino::Error; anything else is a crash.
#include <gluino/onnx/symbol_block.hpp>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include <gluino/nd/creation.hpp>

namespace {
bool small_enough(const onnx::ModelProto& m) {
  std::set<std::string> pads;  // Pad's pads: int64 tensors whose values size the output
  for (const auto& n : m.graph().node())
    if (n.op_type() == "Pad" && n.input_size() > 1) pads.insert(n.input(1));
  for (const auto& t : m.graph().initializer()) {
    for (auto d : t.dims())
      if (d > 64) return false;
    if (pads.count(t.name())) {
      if (t.has_raw_data()) return false;
      for (auto v : t.int64_data())
        if (v > 8 || v < -8) return false;
    }
  }
  for (const auto& n : m.graph().node())
    for (const auto& a : n.attribute()) {
      if (n.op_type() == "Constant" && n.output_size() && pads.count(n.output(0))) {
        if (a.t().has_raw_data()) return false;
        for (auto v : a.t().int64_data())
          if (v > 8 || v < -8) return false;
      }
      if (a.i() > 8 || a.i() < -8) return false;
      for (auto v : a.ints())
        if (v > 8 || v < -8) return false;
    }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  onnx::ModelProto m;
  if (!m.ParseFromArray(data, static_cast<int>(size))) return 0;
  std::shared_ptr<gluino::nn::SymbolBlock> net;
  try {
    net = gluino::nn::SymbolBlock::from_model(m, "fuzz.onnx");
  } catch (const gluino::Error&) {
    return 0;
  }
  gluino::Shape in;
  for (auto d : net->input_shape()) {
    if (d > 16) return 0;
    in.push_back(d <= 0 ? 2 : static_cast<std::size_t>(d));
  }
  if (in.ndim() > 5 || !small_enough(m)) return 0;
  try {
    gluino::autograd::predict_mode predict;
    (void)(*net)(gluino::nd::ones<float>(in));
  } catch (const gluino::Error&) {
  }
  return 0;
}
