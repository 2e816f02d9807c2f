# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/activations.json: PyTorch's values and gradients of the
activations of gluino's nd/activations.hpp, which tests/nd/test_activations.cpp compares
gluino's with (in float and in double).

    /usr/bin/python3 scripts/make_activation_references.py [OUT_FILE]

Needs Debian's python3-torch (1.13): run it with /usr/bin/python3.  CI has no PyTorch: the JSON
is committed; rerun this script rather than editing it.  Nothing is downloaded.

For each case: random float32 inputs in [-4, 4) (a torch.Generator with a fixed seed per
case), the activation in float64 with torch.nn.functional: elu(alpha), selu, gelu
(approximate='none', the erf form), silu for swish with beta = 1 and x * sigmoid(beta x)
otherwise, prelu(x, weight) (weight float32 values too); a random head (the output's gradient)
and the gradients torch.autograd gives for out.backward(head).

Format: {"made_with": ..., "cases": [{"op", "options", "inputs": [{"name", "shape", "data"}],
"head", "output", "grad": {name: {"shape", "data"}}}]}: the format of losses.json, so the
tests read it with tests/support/loss_reference.hpp's reference_array and
check_reference_close.  Inputs are float32 values (exact decimals); the rest float64.
"""

import json
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def uniform(gen, shape, lo, hi):
    return (torch.rand(shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo).double()


def tensor_json(name, t):
    d = {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}
    if name is not None:
        d = {"name": name, **d}
    return d


def make_case(seed, op, options, shape, fn, alpha_shape=None):
    gen = torch.Generator().manual_seed(seed)
    x = uniform(gen, shape, -4.0, 4.0).requires_grad_()
    inputs = [("x", x)]
    if alpha_shape is not None:
        alpha = uniform(gen, alpha_shape, 0.0, 0.5).requires_grad_()
        inputs.append(("alpha", alpha))
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


def main():
    out_file = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "tests/data/reference/activations.json"
    cases = [
        make_case(1, "elu", {"alpha": 1.0}, (3, 5), lambda x: F.elu(x, alpha=1.0)),
        make_case(2, "elu", {"alpha": 0.5}, (2, 3, 4), lambda x: F.elu(x, alpha=0.5)),
        make_case(3, "selu", {}, (3, 5), F.selu),
        make_case(4, "gelu", {}, (3, 5), lambda x: F.gelu(x, approximate="none")),
        make_case(5, "swish", {"beta": 1.0}, (3, 5), F.silu),
        make_case(6, "swish", {"beta": 1.5}, (3, 5), lambda x: x * torch.sigmoid(1.5 * x)),
        make_case(7, "prelu", {}, (2, 3, 2, 2), F.prelu, alpha_shape=(1,)),
        make_case(8, "prelu", {}, (2, 3, 2, 2), F.prelu, alpha_shape=(3,)),
        make_case(9, "prelu", {}, (4, 3), F.prelu, alpha_shape=(3,)),
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
