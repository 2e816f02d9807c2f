# SPDX-License-Identifier: Apache-2.0
"""Makes the PyTorch-exported fixtures of an ordinary small CNN in tests/data/onnx/.

    /usr/bin/python3 scripts/make_torch_cnn_onnx.py [OUT_DIR]

Builds, in PyTorch (torch.manual_seed(0), PyTorch's default init, then drawn batch-norm statistics
and affine parameters so that the fixture checks them), a CNN of the layers a user's model is made
of: Conv2d with pads differing per axis and dilation, grouped and strided Conv2d, BatchNorm2d (one
folded into its convolution by the export, one after a broadcasting Mul and Add, kept), MaxPool2d
with ceil_mode, AvgPool2d with count_include_pad true and false (ceil_mode), torch.cat, Dropout (gone from the
eval-mode export),
x.reshape(x.shape[0], -1), torch.flatten, Linear (Gemm, transB), Softmax.  Exports it with a
dynamic batch axis at opsets 13, 14, 15, 16 and 17 and writes into OUT_DIR (default tests/data/onnx):
  torch_cnn13.onnx ... torch_cnn17.onnx   the models: input "data" (N, 3, 13, 11), output
                                          "probs" (N, 10)
  torch_cnn_io.json                       3 inputs from torch.rand and PyTorch's outputs
  torch_cnn.md                            how they were made, the graphs' nodes, sha256
Each export is checked with onnx.checker.check_model.  Constant folding is left on (the default): with
do_constant_folding=False, torch 1.13 wrote the first convolution fused with its batch norm with other
numbers than PyTorch's (0.09 off after the ReLU; the file's own Conv, run in PyTorch, gives them too).

Needs Debian's python3-torch, python3-onnx and python3-numpy: run it with /usr/bin/python3.
Nothing is downloaded.
"""

import hashlib
import platform
import sys

import numpy as np
import onnx
import torch
from torch import nn

from make_torch_lenet_onnx import (BATCH, INPUT_SEED, MODEL_SEED, debian_versions, describe_graph, fixture_dir,
                                   io_json, seeded_run, value_info_text)

OPSETS = (13, 14, 15, 16, 17)


class CNN(nn.Module):
    # (N,3,13,11) -> c1 (N,8,13,11) -> c2 (N,8,7,6) -> mp (N,8,4,4) -> 2 avg pools, cat (N,16,4,4)
    # -> (N,256) -> (N,10)
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=(1, 2), dilation=(1, 2))
        self.bn1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, groups=4, padding=1, stride=2)
        self.scale = nn.Parameter(torch.rand(1, 8, 1, 1))
        self.shift = nn.Parameter(torch.rand(8, 1, 1))
        self.bn2 = nn.BatchNorm2d(8)
        self.mp = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
        self.ap1 = nn.AvgPool2d(3, 1, padding=1, count_include_pad=True)
        self.ap2 = nn.AvgPool2d(3, 1, padding=1, count_include_pad=False, ceil_mode=True)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(16 * 4 * 4, 10)
        with torch.no_grad():
            for bn in (self.bn1, self.bn2):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 1.5)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.c1(x)))
        x = self.mp(self.bn2(self.c2(x) * self.scale + self.shift))
        x = self.drop(torch.cat([self.ap1(x), self.ap2(x)], 1))
        x = torch.flatten(x.reshape(x.shape[0], -1), 1)
        return torch.softmax(self.fc(x), dim=-1)


def main() -> int:
    out = fixture_dir()
    net, x, y = seeded_run(CNN, (3, 13, 11))
    files, sections = {}, []
    for opset in OPSETS:
        name = "torch_cnn%d.onnx" % opset
        path = out / name
        torch.onnx.export(net, x, str(path), opset_version=opset, input_names=["data"], output_names=["probs"],
                          dynamic_axes={"data": {0: "batch"}, "probs": {0: "batch"}})
        files[name] = path.read_bytes()
        model = onnx.load_from_string(files[name])
        onnx.checker.check_model(model)
        ops = ", ".join(n.op_type for n in model.graph.node)
        print("wrote %s: %s" % (path, ops))
        nodes = "\n".join("%d. `%s`" % (i + 1, l) for i, l in enumerate(describe_graph(model)))
        sections.append(f"### {name}\n\nInputs: {', '.join(value_info_text(v) for v in model.graph.input)}.\n"
                        f"Outputs: {', '.join(value_info_text(v) for v in model.graph.output)}.\n\n{nodes}\n")
    io = out / "torch_cnn_io.json"
    io.write_text(io_json(x.numpy(), y.numpy()).replace('"logits"', '"probs"'))
    files[io.name] = io.read_bytes()
    rows = "\n".join("| `%s` | %d bytes, sha256 `%s` |" % (n, len(b), hashlib.sha256(b).hexdigest())
                     for n, b in files.items())
    n_params = sum(p.numel() for p in net.parameters())
    body = "\n".join(sections)
    (out / "torch_cnn.md").write_text(f"""# PyTorch exports of an ordinary small CNN

Made by `scripts/make_torch_cnn_onnx.py`, which also wrote this file; rerun it rather than
editing by hand:

    /usr/bin/python3 scripts/make_torch_cnn_onnx.py

| file | |
| --- | --- |
{rows}

Network (`torch.manual_seed({MODEL_SEED})`, PyTorch's default init, batch norms' statistics and affine
parameters drawn, eval mode, {n_params} parameters): see the script's CNN class.  Input "data"
(N, 3, 13, 11), output "probs" (N, 10), batch axis dynamic.  `torch_cnn_io.json`: {BATCH} inputs from
`torch.rand` (`torch.Generator().manual_seed({INPUT_SEED})`) and PyTorch's outputs for them.

Made with torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}, Python
{platform.python_version()} (Debian packages: {debian_versions()}).

## Graphs

Nodes in order (initializers with their shapes; an attribute not shown takes the ONNX default).

{body}""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
