# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/norms.json: PyTorch's values and gradients of gluino's
nd::embedding, nd::layer_norm, nd::instance_norm, nd::group_norm and nd::pad, which
tests/nd/test_layer_norm.cpp, test_embedding.cpp and test_pad.cpp compare gluino's with (in
float and in double).

    /usr/bin/python3 scripts/make_norm_references.py [OUT_FILE]

Needs Debian's python3-torch (1.13): run it with /usr/bin/python3.  CI has no PyTorch: the JSON
is committed; rerun this script rather than editing it.  Nothing is downloaded.

For each case: random float32 inputs (a torch.Generator with a fixed seed per case), the op in
float64 with torch.nn.functional, a random head (the output's gradient) and the gradients
torch.autograd gives for out.backward(head).  Where MXNet's convention is not PyTorch's, the
case computes MXNet's with PyTorch's functions:
  - layer_norm over an axis that is not the last: moved last, F.layer_norm, moved back;
  - instance_norm with the channel axis not 1: moved to 1, F.instance_norm, moved back;
  - group_norm with MXNet 1.x's gamma and beta of shape (num_groups,): each expanded to one value
    per channel (repeat_interleave) before F.group_norm, so their gradients are the sums over
    the channels of each group;
  - pad in MXNet's pad_width order (before, after per axis, first axis first): F.pad takes
    pairs from the last axis; "edge" is F.pad's "replicate".
Indices of embedding are float32 values holding integers; they get no gradient.

Format: {"made_with": ..., "cases": [{"op", "options", "inputs": [{"name", "shape", "data"}],
"head", "output", "grad": {name: {"shape", "data"}}}]}, as activations.json: read with
tests/support/reference.hpp.  Inputs are float32 values (exact decimals); the rest float64.
"""

import json
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from make_activation_references import tensor_json, uniform  # same draws and JSON arrays

torch.set_default_dtype(torch.float64)


def make_case(seed, op, options, inputs, fn):
    """inputs: (name, shape, lo, hi, differentiable), drawn in order; integers when lo, hi are ints."""
    gen = torch.Generator().manual_seed(seed)
    tensors = []
    for name, shape, lo, hi, diff in inputs:
        if isinstance(lo, int):
            t = torch.randint(lo, hi, shape, generator=gen).double()
        else:
            t = uniform(gen, shape, lo, hi)
        tensors.append((name, t.requires_grad_(diff), diff))
    out = fn(*[t for _, t, _ in tensors])
    head = uniform(gen, tuple(out.shape), 0.5, 1.5)
    out.backward(head)
    return {
        "op": op,
        "options": options,
        "inputs": [tensor_json(n, t) for n, t, _ in tensors],
        "head": tensor_json(None, head),
        "output": tensor_json(None, out),
        "grad": {n: tensor_json(None, t.grad) for n, t, diff in tensors if diff},
    }


def layer_norm(axis, eps):
    def fn(x, g, b):
        moved = x.movedim(axis, -1)
        return F.layer_norm(moved, (moved.shape[-1],), g, b, eps).movedim(-1, axis)
    return fn


def instance_norm(axis, eps):
    def fn(x, g, b):
        return F.instance_norm(x.movedim(axis, 1), weight=g, bias=b, eps=eps).movedim(1, axis)
    return fn


def group_norm(groups, eps):
    def fn(x, g, b):
        per = x.shape[1] // groups
        return F.group_norm(x, groups, g.repeat_interleave(per), b.repeat_interleave(per), eps)
    return fn


def pad(mode, pad_width, value=0.0):
    pairs = [pad_width[i:i + 2] for i in range(0, len(pad_width), 2)]
    torch_pad = [p for pair in reversed(pairs) for p in pair]
    torch_mode = {"edge": "replicate"}.get(mode, mode)
    if torch_mode == "constant":
        return lambda x: F.pad(x, torch_pad, mode="constant", value=value)
    # replicate / reflect pad the trailing axes only: drop the unpadded leading pairs.
    while torch_pad[-2:] == [0, 0]:
        torch_pad = torch_pad[:-2]
    return lambda x: F.pad(x, torch_pad, mode=torch_mode)


def norm_inputs(x_shape, params, lo=-3.0, hi=3.0):
    return [("x", x_shape, lo, hi, True), ("gamma", (params,), 0.5, 1.5, True), ("beta", (params,), -0.5, 0.5, True)]


def main():
    out_file = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "tests/data/reference/norms.json"
    cases = [
        make_case(1, "embedding", {}, [("index", (2, 3), 0, 5, False), ("weight", (5, 4), -1.0, 1.0, True)],
                  lambda i, w: F.embedding(i.long(), w)),
        make_case(2, "embedding", {}, [("index", (7,), 0, 3, False), ("weight", (3, 2), -1.0, 1.0, True)],
                  lambda i, w: F.embedding(i.long(), w)),
        make_case(3, "layer_norm", {"axis": -1, "eps": 1e-5}, norm_inputs((3, 5), 5), layer_norm(-1, 1e-5)),
        make_case(4, "layer_norm", {"axis": 1, "eps": 0.5}, norm_inputs((2, 3, 4), 3), layer_norm(1, 0.5)),
        make_case(5, "layer_norm", {"axis": 0, "eps": 1e-5}, norm_inputs((4, 3), 4, 10.0, 12.0), layer_norm(0, 1e-5)),
        make_case(6, "instance_norm", {"axis": 1, "eps": 1e-5}, norm_inputs((2, 3, 4), 3), instance_norm(1, 1e-5)),
        make_case(7, "instance_norm", {"axis": 1, "eps": 0.5}, norm_inputs((2, 3, 2, 3), 3), instance_norm(1, 0.5)),
        make_case(8, "instance_norm", {"axis": -1, "eps": 1e-3}, norm_inputs((2, 2, 3, 3), 3), instance_norm(3, 1e-3)),
        make_case(9, "instance_norm", {"axis": 2, "eps": 1e-5}, norm_inputs((2, 3, 4, 2), 4), instance_norm(2, 1e-5)),
        make_case(10, "group_norm", {"num_groups": 3, "eps": 1e-5}, norm_inputs((2, 6, 2, 2), 3), group_norm(3, 1e-5)),
        make_case(11, "group_norm", {"num_groups": 1, "eps": 0.5}, norm_inputs((3, 4, 3), 1), group_norm(1, 0.5)),
        make_case(12, "group_norm", {"num_groups": 2, "eps": 1e-5}, norm_inputs((2, 4), 2), group_norm(2, 1e-5)),
        make_case(13, "pad", {"mode": "reflect", "pad_width": [0, 0, 0, 0, 1, 2, 2, 1]},
                  [("x", (2, 2, 3, 4), -2.0, 2.0, True)], pad("reflect", [0, 0, 0, 0, 1, 2, 2, 1])),
        make_case(14, "pad", {"mode": "reflect", "pad_width": [0, 0, 0, 0, 2, 2, 2, 2]},
                  [("x", (1, 1, 3, 3), -2.0, 2.0, True)], pad("reflect", [0, 0, 0, 0, 2, 2, 2, 2])),
        make_case(15, "pad", {"mode": "edge", "pad_width": [0, 0, 0, 0, 2, 1, 0, 3]},
                  [("x", (1, 2, 2, 3), -2.0, 2.0, True)], pad("edge", [0, 0, 0, 0, 2, 1, 0, 3])),
        make_case(16, "pad", {"mode": "constant", "pad_width": [1, 0, 0, 2, 1, 1], "constant_value": 1.5},
                  [("x", (2, 3, 2), -2.0, 2.0, True)], pad("constant", [1, 0, 0, 2, 1, 1], 1.5)),
    ]
    doc = {
        "made_with": f"PyTorch {torch.__version__}, Python {platform.python_version()}",
        "cases": cases,
    }
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {out_file}: {len(cases)} cases")


if __name__ == "__main__":
    main()
