# SPDX-License-Identifier: Apache-2.0
"""Makes the PyTorch-exported LeNet fixture of tests/data/onnx/.

    /usr/bin/python3 scripts/make_torch_lenet_onnx.py [OUT_DIR]

Builds a LeNet in PyTorch (torch.manual_seed(0), PyTorch's default init), exports it
to ONNX (opset 13, batch axis dynamic), checks it with onnx.checker, and writes into
OUT_DIR (default: tests/data/onnx beside this script's repository):
  torch_lenet.onnx     the exported model: input "data" (N, 1, 28, 28), output "logits" (N, 10)
  torch_lenet_io.json  3 inputs from torch.rand and torch's logits for them, in the IO.json
                       format of tools/onnx/ort_compare.mjs
  README.md            what the files are, how they were made, versions, sha256, the graph's ops
It prints the graph's nodes (op_type, inputs, attributes), which the C++ importer must read.

Needs Debian's python3-torch, python3-onnx and python3-numpy: run it with /usr/bin/python3,
not a python3 on PATH that cannot see them.  Nothing is downloaded.
"""

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

MODEL_SEED = 0
INPUT_SEED = 1  # own generator, so the inputs do not depend on how many draws the init made
BATCH = 3
OPSET = 13


def lenet() -> nn.Sequential:
    # (N,1,28,28) -> conv5 (N,20,24,24) -> pool (N,20,12,12) -> conv3 (N,50,10,10)
    # -> pool (N,50,5,5) -> flatten (N,1250) -> (N,128) -> (N,10)
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(1250, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def io_json(x: np.ndarray, y: np.ndarray) -> str:
    # One array per line.  float32 -> Python float is exact, and json writes its repr,
    # which reads back to the same float32.
    def tensor(name, a):
        data = json.dumps([float(v) for v in a.astype(np.float32).ravel()])
        return ('    {"name": %s, "shape": %s,\n     "data": %s}'
                % (json.dumps(name), json.dumps(list(a.shape)), data))
    return ('{\n  "inputs": [\n' + tensor("data", x) + '\n  ],\n'
            '  "outputs": [\n' + tensor("logits", y) + '\n  ]\n}\n')


def attr_text(a: onnx.AttributeProto) -> str:
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        v = v.decode()
    elif isinstance(v, onnx.TensorProto):
        v = "tensor %s %s" % (onnx.TensorProto.DataType.Name(v.data_type), list(v.dims))
    return "%s=%s" % (a.name, v)


def describe_graph(model: onnx.ModelProto) -> list:
    """One line per node: op_type, inputs (initializers with their shapes), attributes."""
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    lines = []
    for n in model.graph.node:
        ins = ["%s %s" % (i, inits[i]) if i in inits else i for i in n.input]
        attrs = ", ".join(attr_text(a) for a in n.attribute) or "none"
        lines.append("%s(%s) -> %s; attributes: %s"
                     % (n.op_type, ", ".join(ins), ", ".join(n.output), attrs))
    return lines


def value_info_text(v: onnx.ValueInfoProto) -> str:
    t = v.type.tensor_type
    dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
    return "%s: %s %s" % (v.name, onnx.TensorProto.DataType.Name(t.elem_type), dims)


def debian_versions() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version}\n",
             "python3-torch", "python3-onnx", "python3-numpy"],
            capture_output=True, text=True, check=True).stdout
        return ", ".join(out.split("\n")[:-1])
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not installed with dpkg)"


def readme(onnx_bytes: bytes, model: onnx.ModelProto, graph_lines: list, n_params: int) -> str:
    sha = hashlib.sha256(onnx_bytes).hexdigest()
    nodes = "\n".join("%d. `%s`" % (i + 1, l) for i, l in enumerate(graph_lines))
    ops = ", ".join(sorted({n.op_type for n in model.graph.node}))
    raw = all(t.raw_data and t.data_location == onnx.TensorProto.DEFAULT
              for t in model.graph.initializer)
    storage = ("all in raw_data (little-endian), none external" if raw
               else "not all in raw_data: see each initializer")
    types = ", ".join(sorted({onnx.TensorProto.DataType.Name(t.data_type)
                              for t in model.graph.initializer}))
    listed = {i.name for i in model.graph.input} & {t.name for t in model.graph.initializer}
    return f"""# ONNX fixtures

Made by `scripts/make_torch_lenet_onnx.py`, which also wrote this file; rerun it rather
than editing by hand:

    /usr/bin/python3 scripts/make_torch_lenet_onnx.py

Other fixtures here, each described by the file its script writes beside it:
`torch_layers13.onnx`, `torch_layers17.onnx`, `torch_layers_io.json` (the newer layers:
`scripts/make_torch_layers_onnx.py`, `torch_layers.md`) and `torch_view13.onnx`,
`torch_view17.onnx`, `torch_view_io.json` (a small LeNet flattened by `x.view(x.size(0), -1)`,
its int64 shape subgraph kept: `scripts/make_torch_view_onnx.py`, `torch_view.md`) and
`torch_cnn13.onnx` to `torch_cnn17.onnx`, `torch_cnn_io.json` (an ordinary small CNN at opsets 13 to 17:
`scripts/make_torch_cnn_onnx.py`, `torch_cnn.md`).

| file | what it is |
| --- | --- |
| `torch_lenet.onnx` | A LeNet built in PyTorch (`torch.manual_seed({MODEL_SEED})`, PyTorch's default init, {n_params} parameters) and exported by `torch.onnx.export` with `opset_version={OPSET}`, `input_names=["data"]`, `output_names=["logits"]` and a dynamic batch axis on both. {len(onnx_bytes)} bytes, sha256 `{sha}`. |
| `torch_lenet_io.json` | {BATCH} inputs drawn from `torch.rand` (`torch.Generator().manual_seed({INPUT_SEED})`) and PyTorch's logits for them (model in eval mode), in the IO.json format of `tools/onnx/ort_compare.mjs`. |

Network: Conv2d(1, 20, 5) ReLU MaxPool2d(2, 2) Conv2d(20, 50, 3) ReLU MaxPool2d(2, 2)
Flatten Linear(1250, 128) ReLU Linear(128, 10); input (N, 1, 28, 28), output (N, 10).

Made with torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__},
Python {platform.python_version()} (Debian packages: {debian_versions()}).
The export is checked with `onnx.checker.check_model`.  To check that ONNX Runtime
reproduces PyTorch's logits:

    node tools/onnx/ort_compare.mjs tests/data/onnx/torch_lenet.onnx tests/data/onnx/torch_lenet_io.json

## Graph

ir_version {model.ir_version}, opset {", ".join("%s %d" % (o.domain or "ai.onnx", o.version) for o in model.opset_import)},
producer {model.producer_name} {model.producer_version}.
Inputs: {", ".join(value_info_text(v) for v in model.graph.input)}.
Outputs: {", ".join(value_info_text(v) for v in model.graph.output)}.
Initializers: {len(model.graph.initializer)}, {types}, {storage}; {len(listed)} of them
also listed as graph inputs; {len(model.graph.value_info)} value_info entries.
Ops: {ops}.
Nodes in order (initializers with their shapes; an attribute not shown takes the ONNX
default, e.g. Gemm's transA=0):

{nodes}
"""


def fixture_dir() -> Path:
    """The output folder: the command line's argument, or tests/data/onnx (made if missing)."""
    repo = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else repo / "tests" / "data" / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    return out


def seeded_run(make_net, input_shape: tuple):
    """The network make_net() builds after torch.manual_seed(MODEL_SEED), in eval mode; BATCH
    inputs of input_shape from torch.rand with their own generator; the network's outputs."""
    torch.manual_seed(MODEL_SEED)
    net = make_net().eval()
    x = torch.rand(BATCH, *input_shape, generator=torch.Generator().manual_seed(INPUT_SEED))
    with torch.no_grad():
        y = net(x)
    return net, x, y


def main() -> int:
    out = fixture_dir()
    net, x, y = seeded_run(lenet, (1, 28, 28))

    onnx_path = out / "torch_lenet.onnx"
    torch.onnx.export(net, x, str(onnx_path), opset_version=OPSET,
                      input_names=["data"], output_names=["logits"],
                      dynamic_axes={"data": {0: "batch"}, "logits": {0: "batch"}})
    onnx_bytes = onnx_path.read_bytes()
    model = onnx.load_from_string(onnx_bytes)
    onnx.checker.check_model(model)

    (out / "torch_lenet_io.json").write_text(io_json(x.numpy(), y.numpy()))
    graph_lines = describe_graph(model)
    n_params = sum(p.numel() for p in net.parameters())
    (out / "README.md").write_text(readme(onnx_bytes, model, graph_lines, n_params))

    print("wrote %s (%d bytes, sha256 %s)"
          % (onnx_path, len(onnx_bytes), hashlib.sha256(onnx_bytes).hexdigest()))
    print("inputs:", ", ".join(value_info_text(v) for v in model.graph.input))
    print("outputs:", ", ".join(value_info_text(v) for v in model.graph.output))
    print("initializers:", ", ".join("%s %s" % (t.name, list(t.dims))
                                     for t in model.graph.initializer))
    for line in graph_lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
