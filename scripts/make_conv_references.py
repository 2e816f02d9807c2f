# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/conv.json: PyTorch's outputs and gradients of the 1-D, 3-D and
transposed convolutions and of 1-D pooling, which tests/nd/test_conv1d.cpp,
test_deconvolution.cpp, test_conv3d.cpp and test_pool1d.cpp compare gluino's with.

    /usr/bin/python3 scripts/make_conv_references.py [OUT_FILE]

Needs Debian's python3-torch (1.13): run it with /usr/bin/python3.  CI has no PyTorch: the JSON
is committed; rerun this script rather than editing it.  Nothing is downloaded.

For each case: random float32 inputs in [-1, 1) (a torch.Generator with a fixed seed per case),
the op in float64 with torch.nn.functional (conv1d, conv_transpose2d, conv3d, max_pool1d,
avg_pool1d), a random head (the output's gradient) in [0.5, 1.5) and the gradients
torch.autograd gives for out.backward(head).  PyTorch's conv_transpose2d weight is
(C_in, C_out / groups, kh, kw), as MXNet's Deconvolution; its output_padding is MXNet's adj.
The pooling cases avoid PyTorch's one difference from MXNet's ceil mode (PyTorch drops a last
window that would start in the right padding; MXNet keeps it): the script checks that none of
its ceil-mode cases has such a window.

Format: {"made_with", "cases": [{"op", "options", "inputs": [{"name", "shape", "data"}], "head",
"output", "grad": {name: {"shape", "data"}}}]}, read with tests/support/reference.hpp.
"""

import json
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from make_activation_references import tensor_json, uniform  # same inputs and format

torch.set_default_dtype(torch.float64)


def make_case(seed, op, options, shapes, fn):
    """shapes: [(name, shape)]; fn takes the tensors in that order."""
    gen = torch.Generator().manual_seed(seed)
    inputs = [(n, uniform(gen, s, -1.0, 1.0).requires_grad_()) for n, s in shapes]
    out = fn(*[t for _, t in inputs])
    head = uniform(gen, tuple(out.shape), 0.5, 1.5)
    out.backward(head)
    return {
        "op": op,
        "options": options,
        "inputs": [tensor_json(n, t) for n, t in inputs],
        "head": tensor_json(None, head),
        "output": tensor_json(None, out),
        "grad": {n: tensor_json(None, t.grad) for n, t in inputs},
    }


def conv1d_case(seed, n, c, w, o, k, stride=1, pad=0, dilate=1, groups=1, bias=True):
    shapes = [("x", (n, c, w)), ("weight", (o, c // groups, k))] + ([("bias", (o,))] if bias else [])
    opts = {"stride": stride, "pad": pad, "dilate": dilate, "num_group": groups}
    return make_case(seed, "conv1d", opts, shapes,
                     lambda x, wt, b=None: F.conv1d(x, wt, b, stride=stride, padding=pad, dilation=dilate, groups=groups))


def deconv_case(seed, n, c, hw, o, k, stride=(1, 1), pad=(0, 0), adj=(0, 0), dilate=(1, 1), groups=1, bias=True):
    shapes = [("x", (n, c) + hw), ("weight", (c, o // groups) + k)] + ([("bias", (o,))] if bias else [])
    opts = {"stride": list(stride), "pad": list(pad), "adj": list(adj), "dilate": list(dilate), "num_group": groups}
    return make_case(seed, "deconvolution", opts, shapes,
                     lambda x, wt, b=None: F.conv_transpose2d(x, wt, b, stride=stride, padding=pad,
                                                              output_padding=adj, groups=groups, dilation=dilate))


def conv3d_case(seed, n, c, dhw, o, k, stride=(1, 1, 1), pad=(0, 0, 0), dilate=(1, 1, 1), groups=1, bias=True):
    shapes = [("x", (n, c) + dhw), ("weight", (o, c // groups) + k)] + ([("bias", (o,))] if bias else [])
    opts = {"stride": list(stride), "pad": list(pad), "dilate": list(dilate), "num_group": groups}
    return make_case(seed, "conv3d", opts, shapes,
                     lambda x, wt, b=None: F.conv3d(x, wt, b, stride=stride, padding=pad, dilation=dilate, groups=groups))


def pool1d_case(seed, kind, shape, k, stride, pad=0, ceil=False, include_pad=True):
    w = shape[2]
    if ceil:  # MXNet's ceil mode keeps a last window starting in the right padding; PyTorch drops it
        span = w + 2 * pad - k
        out = -(-span // stride) + 1
        assert (out - 1) * stride < w + pad, "a case where PyTorch's ceil mode differs from MXNet's"
    opts = {"kernel": k, "stride": stride, "pad": pad, "ceil_mode": ceil, "count_include_pad": include_pad}
    if kind == "max":
        fn = lambda x: F.max_pool1d(x, k, stride, pad, ceil_mode=ceil)
    else:
        fn = lambda x: F.avg_pool1d(x, k, stride, pad, ceil_mode=ceil, count_include_pad=include_pad)
    return make_case(seed, kind + "_pool1d", opts, [("x", shape)], fn)


def main():
    out_file = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "tests/data/reference/conv.json"
    cases = [
        conv1d_case(1, 2, 3, 9, 4, 3),
        conv1d_case(2, 2, 4, 10, 6, 3, stride=2, pad=1, dilate=2, groups=2),
        conv1d_case(3, 1, 2, 7, 3, 1, bias=False),
        conv1d_case(4, 2, 4, 8, 4, 4, stride=3, pad=2, groups=4),
        deconv_case(11, 2, 3, (3, 4), 4, (3, 3)),
        deconv_case(12, 1, 4, (3, 3), 6, (3, 2), stride=(2, 3), pad=(1, 0), adj=(1, 2), groups=2),
        deconv_case(13, 2, 2, (4, 3), 3, (2, 3), stride=(2, 2), pad=(1, 1), adj=(1, 0), dilate=(2, 1), bias=False),
        deconv_case(14, 1, 1, (3, 3), 1, (3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 1)),
        conv3d_case(21, 2, 2, (4, 5, 4), 3, (2, 3, 2)),
        conv3d_case(22, 1, 4, (5, 4, 6), 4, (3, 2, 3), stride=(2, 1, 2), pad=(1, 0, 1), dilate=(1, 2, 1), groups=2),
        conv3d_case(23, 1, 1, (3, 3, 3), 2, (1, 1, 1), bias=False),
        pool1d_case(31, "max", (2, 3, 9), 2, 2),
        pool1d_case(32, "max", (2, 2, 10), 3, 2, pad=1, ceil=True),
        pool1d_case(33, "avg", (2, 3, 9), 3, 2),
        pool1d_case(34, "avg", (2, 2, 10), 3, 2, pad=1, ceil=True, include_pad=True),
        pool1d_case(35, "avg", (2, 2, 10), 3, 2, pad=1, ceil=True, include_pad=False),
        pool1d_case(36, "avg", (1, 2, 8), 4, 3, pad=2, include_pad=False),
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
