# SPDX-License-Identifier: Apache-2.0
"""Makes the PyTorch-exported fixtures of a flatten by x.view(x.size(0), -1) in tests/data/onnx/.

    /usr/bin/python3 scripts/make_torch_view_onnx.py [OUT_DIR]

Builds a small LeNet in PyTorch (torch.manual_seed(0), PyTorch's default init) whose forward
flattens with x.view(x.size(0), -1), as much PyTorch code does, instead of nn.Flatten.
torch.onnx.export writes that flatten as int64 ops on the runtime shape: Shape, Gather (a
Constant 0), Unsqueeze, Concat (with a Constant [-1]), then Reshape; the values depend on the
batch, which is dynamic.  Exports it at opset 13 and at opset 17, nothing folded, and writes
into OUT_DIR (default tests/data/onnx):
  torch_view13.onnx, torch_view17.onnx   the models: input "data" (N, 1, 28, 28), output
                                         "logits" (N, 10)
  torch_view_io.json                     3 inputs from torch.rand and PyTorch's logits for them,
                                         in the IO.json format of tools/onnx/ort_compare.mjs
  torch_view.md                          how they were made, the graphs' nodes, sha256
It prints the graphs' nodes.  Each export is checked with onnx.checker.check_model.

Needs Debian's python3-torch, python3-onnx and python3-numpy: run it with /usr/bin/python3,
not a python3 on PATH that cannot see them.  Nothing is downloaded.
"""

import hashlib
import platform
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from make_torch_lenet_onnx import (BATCH, INPUT_SEED, MODEL_SEED, debian_versions, describe_graph, fixture_dir,
                                   io_json, seeded_run, value_info_text)

OPSETS = (13, 17)


class ViewLeNet(nn.Module):
    # (N,1,28,28) -> conv5 (N,6,24,24) -> pool (N,6,12,12) -> conv5 (N,16,8,8) -> pool (N,16,4,4)
    # -> x.view(x.size(0), -1) (N,256) -> (N,32) -> (N,10)
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(256, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.fc2(torch.relu(self.fc1(x)))


def describe(model: onnx.ModelProto) -> list:
    """describe_graph's lines, with the values of the int64 Constants (the view's -1 and 0)."""
    lines = describe_graph(model)
    for i, n in enumerate(model.graph.node):
        if n.op_type == "Constant" and n.attribute[0].t.data_type == onnx.TensorProto.INT64:
            v = numpy_helper.to_array(n.attribute[0].t)
            lines[i] = "Constant() -> %s; attributes: value=tensor INT64 %s %s" % (
                n.output[0], list(v.shape), v.tolist())
    return lines


def readme(files: dict, graphs: dict, n_params: int) -> str:
    rows = "\n".join("| `%s` | %d bytes, sha256 `%s` |" % (name, len(b), hashlib.sha256(b).hexdigest())
                     for name, b in files.items())
    sections = []
    for name, (model, lines) in graphs.items():
        nodes = "\n".join("%d. `%s`" % (i + 1, l) for i, l in enumerate(lines))
        ops = ", ".join(sorted({n.op_type for n in model.graph.node}))
        opsets = ", ".join("%s %d" % (o.domain or "ai.onnx", o.version) for o in model.opset_import)
        sections.append(f"""### {name}

ir_version {model.ir_version}, opset {opsets},
producer {model.producer_name} {model.producer_version}.
Inputs: {", ".join(value_info_text(v) for v in model.graph.input)}.
Outputs: {", ".join(value_info_text(v) for v in model.graph.output)}.
Ops: {ops}.

{nodes}
""")
    body = "\n".join(sections)
    return f"""# PyTorch exports of x.view(x.size(0), -1)

Made by `scripts/make_torch_view_onnx.py`, which also wrote this file; rerun it rather than
editing by hand:

    /usr/bin/python3 scripts/make_torch_view_onnx.py

| file | |
| --- | --- |
{rows}

Network (`torch.manual_seed({MODEL_SEED})`, PyTorch's default init, eval mode, {n_params} parameters):
Conv2d(1, 6, 5) ReLU max_pool2d(2) Conv2d(6, 16, 5) ReLU max_pool2d(2), then
`x.view(x.size(0), -1)`, Linear(256, 32) ReLU Linear(32, 10); input "data" (N, 1, 28, 28), output
"logits" (N, 10), batch axis dynamic.  PyTorch writes the view as int64 ops on the runtime shape
(Shape, Gather, Unsqueeze, Concat, Reshape), kept as exported (nothing folded).
`torch_view_io.json`: {BATCH} inputs from `torch.rand` (`torch.Generator().manual_seed({INPUT_SEED})`)
and PyTorch's logits for them.  Exported at opsets {" and ".join(str(o) for o in OPSETS)} by
`torch.onnx.export`, each checked with `onnx.checker.check_model`.  To check that ONNX Runtime
reproduces PyTorch's logits:

    node tools/onnx/ort_compare.mjs tests/data/onnx/torch_view13.onnx tests/data/onnx/torch_view_io.json

Made with torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}, Python
{platform.python_version()} (Debian packages: {debian_versions()}).

## Graphs

Nodes in order (initializers with their shapes; an attribute not shown takes the ONNX default).

{body}"""


def main() -> int:
    out = fixture_dir()
    net, x, y = seeded_run(ViewLeNet, (1, 28, 28))
    files, graphs = {}, {}
    for opset in OPSETS:
        name = "torch_view%d.onnx" % opset
        path = out / name
        torch.onnx.export(net, x, str(path), opset_version=opset, input_names=["data"], output_names=["logits"],
                          dynamic_axes={"data": {0: "batch"}, "logits": {0: "batch"}})
        files[name] = path.read_bytes()
        model = onnx.load_from_string(files[name])
        onnx.checker.check_model(model)
        ops = {n.op_type for n in model.graph.node}
        assert {"Shape", "Gather", "Concat", "Reshape"} <= ops, "the view is not exported as int64 ops: %s" % ops
        graphs[name] = (model, describe(model))
        print("wrote %s: %s -> %s" % (path, ", ".join(value_info_text(v) for v in model.graph.input),
                                      ", ".join(value_info_text(v) for v in model.graph.output)))
        for line in graphs[name][1]:
            print("  " + line)
    io = out / "torch_view_io.json"
    io.write_text(io_json(x.numpy(), y.numpy()))
    files[io.name] = io.read_bytes()
    n_params = sum(p.numel() for p in net.parameters())
    (out / "torch_view.md").write_text(readme(files, graphs, n_params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
