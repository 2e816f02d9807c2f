# SPDX-License-Identifier: Apache-2.0
"""Makes the PyTorch-exported fixtures of the newer layers in tests/data/onnx/.

    /usr/bin/python3 scripts/make_torch_layers_onnx.py [OUT_DIR]

Builds, in PyTorch (torch.manual_seed(0), PyTorch's default init), a network of the layers
whose ONNX import nn::SymbolBlock gained with them: ConvTranspose2d (groups, stride, padding,
output_padding), InstanceNorm2d, GroupNorm, ReflectionPad2d, Conv1d, MaxPool1d, LayerNorm, Conv3d; and
exports it twice with a dynamic batch axis: at opset 13 (LayerNorm composed of ReduceMean, Sub,
Pow, Sqrt, Div, Mul, Add) and at opset 17 (LayerNormalization).  Writes into OUT_DIR (default
tests/data/onnx):
  torch_layers13.onnx, torch_layers17.onnx   the models: input "data" (N, 2, 3, 3), output
                                             "logits" (N, 2, 4, 3, 6)
  torch_layers_io.json                       3 inputs from torch.rand and PyTorch's outputs
  torch_layers.md                            how they were made, the graphs' nodes, sha256
PyTorch writes ReflectionPad2d's pads as a subgraph of int64 ops on constants (ConstantOfShape,
Concat, Reshape, Slice, Transpose, Cast); SymbolBlock reads pads only as a constant int64
tensor, so this script folds such subgraphs (nodes whose inputs are all constants) into
initializers with numpy before saving, and says so in torch_layers.md.  GroupNorm (one scale per
channel, unlike MXNet 1.x's one per group) is exported as Reshape, InstanceNormalization, a
Reshape back to the runtime Shape of its input (kept: it is not constant), Mul and Add; its
weight and bias are drawn, not PyTorch's ones and zeros, so that the fixture checks them.

Needs Debian's python3-torch, python3-onnx and python3-numpy: run it with /usr/bin/python3.
"""

import hashlib
import platform
import sys

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from make_torch_lenet_onnx import (BATCH, INPUT_SEED, MODEL_SEED, debian_versions, describe_graph, fixture_dir,
                                   io_json, seeded_run, value_info_text)


class Layers(nn.Module):
    # (N,2,3,3) -> up (N,4,6,6) -> inorm -> gn -> pad (N,4,8,8) -> conv (N,6,6,6) -> (N,6,36)
    # -> conv1 (N,4,36) -> pool1 (N,4,18) -> ln -> (N,1,4,3,6) -> conv3 (N,2,4,3,6)
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.gn = nn.GroupNorm(2, 4)
        with torch.no_grad():
            self.gn.weight.uniform_(0.5, 1.5)
            self.gn.bias.uniform_(-0.5, 0.5)
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(4, 6, 3)
        self.conv1 = nn.Conv1d(6, 4, 3, padding=1)
        self.pool1 = nn.MaxPool1d(2)
        self.ln = nn.LayerNorm(18)
        self.conv3 = nn.Conv3d(1, 2, 3, padding=1)

    def forward(self, x):
        x = self.conv(self.pad(self.gn(self.inorm(self.up(x))))).reshape(-1, 6, 36)
        x = self.ln(self.pool1(self.conv1(x)))
        return self.conv3(x.reshape(-1, 1, 4, 3, 6))


def fold_constants(model: onnx.ModelProto) -> int:
    """Replaces nodes of the ops below whose inputs are all constants by initializers."""
    g = model.graph
    const = {t.name: numpy_helper.to_array(t) for t in g.initializer}

    def run(n, x):
        a = {at.name: helper.get_attribute_value(at) for at in n.attribute}
        if n.op_type == "Constant":
            return numpy_helper.to_array(a["value"])
        if n.op_type == "ConstantOfShape":
            v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            return np.full(tuple(x[0]), v.ravel()[0], dtype=v.dtype)
        if n.op_type == "Concat":
            return np.concatenate(x, axis=a["axis"])
        if n.op_type == "Reshape":
            return x[0].reshape(tuple(x[1]))
        if n.op_type == "Transpose":
            return x[0].transpose(a.get("perm"))
        if n.op_type == "Cast":
            return x[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])
        if n.op_type == "Slice":
            starts, ends = x[1], x[2]
            axes = x[3] if len(x) > 3 else range(len(starts))
            steps = x[4] if len(x) > 4 else [1] * len(starts)
            index = [slice(None)] * x[0].ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                index[ax] = slice(s, e if abs(e) < 2**62 else None, st)
            return x[0][tuple(index)]
        return None

    kept, folded = [], 0
    for n in g.node:
        y = run(n, [const[i] for i in n.input]) if all(i in const for i in n.input) else None
        if y is None:
            kept.append(n)
            continue
        const[n.output[0]] = y
        folded += 1
    used = {i for n in kept for i in n.input} | {o.name for o in g.output}
    del g.node[:]
    g.node.extend(kept)
    known = {t.name for t in g.initializer}
    for name, v in const.items():
        if name in used and name not in known:
            g.initializer.append(numpy_helper.from_array(np.asarray(v), name))
    return folded


def readme(files: dict, folded: dict, graphs: dict) -> str:
    rows = "\n".join("| `%s` | %d bytes, sha256 `%s` |" % (name, len(b), hashlib.sha256(b).hexdigest())
                     for name, b in files.items())
    sections = []
    for name, lines in graphs.items():
        nodes = "\n".join("%d. `%s`" % (i + 1, l) for i, l in enumerate(lines))
        sections.append(f"### {name}\n\n{folded[name]} constant nodes folded into initializers.\n\n{nodes}\n")
    body = "\n".join(sections)
    return f"""# PyTorch exports of the newer layers

Made by `scripts/make_torch_layers_onnx.py`, which also wrote this file; rerun it rather than
editing by hand:

    /usr/bin/python3 scripts/make_torch_layers_onnx.py

| file | |
| --- | --- |
{rows}

Network (`torch.manual_seed({MODEL_SEED})`, PyTorch's default init, eval mode): ConvTranspose2d(2, 4, 3,
stride=2, padding=1, output_padding=1, groups=2), InstanceNorm2d(4, affine=True),
GroupNorm(2, 4) (weight drawn from U(0.5, 1.5), bias from U(-0.5, 0.5)), ReflectionPad2d(1),
Conv2d(4, 6, 3), reshape to (N, 6, 36), Conv1d(6, 4, 3, padding=1),
MaxPool1d(2), LayerNorm(18), reshape to (N, 1, 4, 3, 6), Conv3d(1, 2, 3, padding=1); input
"data" (N, 2, 3, 3), output "logits" (N, 2, 4, 3, 6), batch axis dynamic.  `torch_layers_io.json`:
{BATCH} inputs from `torch.rand` (`torch.Generator().manual_seed({INPUT_SEED})`) and PyTorch's outputs.
Exported at opset 13 and 17 by `torch.onnx.export`; then the nodes computing only on constants
(ReflectionPad2d's pads) were folded into initializers by the script (numpy), and the result
checked with `onnx.checker.check_model`.

Made with torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}, Python
{platform.python_version()} (Debian packages: {debian_versions()}).

## Graphs

{body}"""


def main() -> int:
    out = fixture_dir()
    net, x, y = seeded_run(Layers, (2, 3, 3))
    files, folded, graphs = {}, {}, {}
    for opset in (13, 17):
        name = "torch_layers%d.onnx" % opset
        path = out / name
        torch.onnx.export(net, x, str(path), opset_version=opset, input_names=["data"], output_names=["logits"],
                          dynamic_axes={"data": {0: "batch"}, "logits": {0: "batch"}})
        model = onnx.load(str(path))
        folded[name] = fold_constants(model)
        onnx.checker.check_model(model)
        path.write_bytes(model.SerializeToString())
        files[name] = path.read_bytes()
        graphs[name] = describe_graph(model)
        print("wrote %s: %s -> %s" % (path, ", ".join(value_info_text(v) for v in model.graph.input),
                                      ", ".join(value_info_text(v) for v in model.graph.output)))
        for line in graphs[name]:
            print("  " + line)
    io = out / "torch_layers_io.json"
    io.write_text(io_json(x.numpy(), y.numpy()))
    files[io.name] = io.read_bytes()
    (out / "torch_layers.md").write_text(readme(files, folded, graphs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
