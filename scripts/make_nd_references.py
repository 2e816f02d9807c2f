# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/nd.json: PyTorch's outputs and gradients of gluino's nd ops that no
other reference file covers (broadcasting arithmetic, element-wise functions, reductions and
argmax, shape ops, dot / batch_dot / fully_connected, pick, pad, embedding, softmax and
log_softmax, 2-D pooling), which tests/nd/test_torch_reference.cpp compares gluino's with.

    /usr/bin/python3 scripts/make_nd_references.py [OUT_FILE]

Needs Debian's python3-torch (1.13): run it with /usr/bin/python3.  CI has no PyTorch: the JSON
is committed; rerun this script rather than editing it.  Nothing is downloaded.

For each case: random float32 inputs (a torch.Generator seeded per case: the shapes, options and
values follow from the seed), the op in float64, a random head (the output's gradient) in
[0.5, 1.5) and the gradients torch.autograd gives for out.backward(head).  Index inputs (pick,
embedding) are integers stored as floats, as Gluon stores them, and get no gradient.  Where
gluino follows Gluon / NumPy and PyTorch does not, the torch function is wrapped to compute
Gluon's definition (each such place says so): dot's transposes of N-D operands (MXNet views them
as matrices), softmax_cross_entropy (per sample here, Gluon sums), pooling's "full" convention
(MXNet keeps a last window that starts in the right padding: the cases avoid such windows).

Format: {"made_with", "cases": [{"op", "options", "inputs": [{"name", "shape", "data"[, "nograd"]}],
"head", "output", "grad": {name: {"shape", "data"}}}]}, read with tests/support/reference.hpp.
"""

import json
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from make_activation_references import tensor_json, uniform  # same inputs and format

torch.set_default_dtype(torch.float64)


def make_case(seed, op, options, specs, fn):
    """specs: [(name, tensor maker taking the generator, differentiable)]; fn takes the tensors."""
    gen = torch.Generator().manual_seed(seed)
    inputs = []
    for name, maker, diff in specs:
        t = maker(gen)
        if diff:
            t.requires_grad_()
        inputs.append((name, t, diff))
    out = fn(*[t for _, t, _ in inputs])
    head = uniform(gen, tuple(out.shape), 0.5, 1.5)
    if out.requires_grad:
        out.backward(head)
    case = {
        "op": op,
        "options": options,
        "inputs": [dict(tensor_json(n, t), **({} if d else {"nograd": True})) for n, t, d in inputs],
        "head": tensor_json(None, head),
        "output": tensor_json(None, out),
        "grad": {},
    }
    for n, t, d in inputs:
        if d:
            g = t.grad if t.grad is not None else torch.zeros_like(t)
            case["grad"][n] = tensor_json(None, g)
    return case


def rand(shape, lo=-1.0, hi=1.0):
    return lambda gen: uniform(gen, tuple(shape), lo, hi)


def integers(shape, n):
    return lambda gen: torch.randint(0, n, tuple(shape), generator=gen).double()


BINARY = {
    "add": (torch.add, (-1, 1)),
    "subtract": (torch.sub, (-1, 1)),
    "multiply": (torch.mul, (-1, 1)),
    "divide": (torch.div, (0.5, 1.5)),
    "power": (torch.pow, (0.5, 1.5)),
    "maximum": (torch.maximum, (-1, 1)),
    "minimum": (torch.minimum, (-1, 1)),
}
# NumPy broadcasting: scalars (0-d), (1,), zero-size axes, both sides stretched.
BINARY_SHAPES = [((2, 3, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 3)), ((4, 1, 3), (1, 5, 1)),
                 ((2, 0, 3), (1, 3)), ((3,), (3,)), ((2, 3), ()), ((), ()), ((0,), (1,)), ((2, 0), (2, 1)),
                 ((1, 3, 1, 2), (4, 1, 1, 5, 1))]

UNARY = {
    "negative": (torch.neg, (-1, 1)),
    "exp": (torch.exp, (-3, 3)),
    "log": (torch.log, (0.1, 3)),
    "sqrt": (torch.sqrt, (0.1, 3)),
    "square": (torch.square, (-2, 2)),
    "abs": (torch.abs, (-1, 1)),
    "relu": (torch.relu, (-1, 1)),
    "sigmoid": (torch.sigmoid, (-6, 6)),
    "tanh": (torch.tanh, (-3, 3)),
    "softrelu": (F.softplus, (-6, 6)),
    "softsign": (F.softsign, (-3, 3)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.25), (-1, 1)),  # gluino's default slope
    "clip": (lambda x: torch.clamp(x, -0.5, 0.5), (-1, 1)),
    "pow_scalar": (lambda x: torch.pow(x, 2.5), (0.1, 2)),
    "rpow_scalar": (lambda x: torch.pow(1.7, x), (-2, 2)),
}


def reduce_fn(kind, axes, keepdims):
    def f(x):
        dims = axes if axes else list(range(x.dim()))
        if x.dim() == 0 or not dims:
            return x.clone()
        if kind == "sum":
            return torch.sum(x, dim=dims, keepdim=keepdims)
        if kind == "mean":
            return torch.mean(x, dim=dims, keepdim=keepdims)
        # amax / amin: gradient shared among ties; the random inputs hold none
        return (torch.amax if kind == "max" else torch.amin)(x, dim=dims, keepdim=keepdims)
    return f


def gluon_dot(a, b, ta, tb):
    """MXNet's dot: an N-D operand viewed as a matrix (rows, cols) and transposed as one."""
    if ta:
        a = a.reshape(a.shape[0], -1).t().reshape(*a.shape[1:], a.shape[0]) if a.dim() > 1 else a
    if tb:
        b = b.reshape(-1, b.shape[-1]).t().reshape(b.shape[-1], *b.shape[:-1]) if b.dim() > 1 else b
    if a.dim() == 1 and b.dim() == 1:
        return torch.dot(a, b).reshape(1)  # MXNet: shape (1,)
    return torch.tensordot(a, b, dims=1)


def pool2d(x, kind, k, s, p, ceil, include_pad):
    if kind == "max":
        return F.max_pool2d(x, k, s, p, ceil_mode=ceil)
    return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=include_pad)


def pool_case(seed, kind, shape, k, s, p, ceil=False, include_pad=True):
    if ceil:  # MXNet's full convention keeps a last window starting in the right padding; PyTorch drops it
        for a in range(2):
            span = shape[2 + a] + 2 * p[a] - k[a]
            out = -(-span // s[a]) + 1
            assert (out - 1) * s[a] < shape[2 + a] + p[a], "a case where PyTorch's ceil mode differs from MXNet's"
    opts = {"kernel": list(k), "stride": list(s), "pad": list(p), "type": kind, "full": ceil,
            "count_include_pad": include_pad}
    return make_case(seed, "pooling", opts, [("x", rand(shape), True)],
                     lambda x: pool2d(x, kind, k, s, p, ceil, include_pad))


def main():
    out_file = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "tests/data/reference/nd.json"
    cases = []
    seed = 1000
    for op, (fn, (lo, hi)) in BINARY.items():
        for sa, sb in BINARY_SHAPES:
            seed += 1
            alo = 0.5 if op == "power" else -1.0
            cases.append(make_case(seed, op, {}, [("a", rand(sa, alo, 1.5), True), ("b", rand(sb, lo, hi), True)],
                                   fn))
    for op, (fn, (lo, hi)) in UNARY.items():
        seed += 1
        cases.append(make_case(seed, op, {}, [("x", rand((3, 4), lo, hi), True)], fn))
    reductions = [((2, 3, 4), [], False), ((2, 3, 4), [0], False), ((2, 3, 4), [-1], True),
                  ((2, 3, 4), [0, 2], False), ((2, 3, 4), [-3, -1], True), ((2, 3, 4, 2), [1, 3], False),
                  ((5,), [0], True), ((2, 0, 3), [1], False), ((0, 3), [0], True), ((2, 0, 3), [2], False)]
    for kind in ["sum", "mean", "max", "min"]:
        for shape, axes, keep in reductions:
            if 0 in shape and kind != "sum":
                # mean of nothing is NaN, max / min of nothing an error: tested by hand; an empty
                # output of a non-empty reduction (0, 3) over axis 1 is fine
                if not (kind in ("max", "min") and shape == (2, 0, 3) and axes == [2]):
                    continue
            seed += 1
            cases.append(make_case(seed, kind, {"axes": axes, "keepdims": keep}, [("x", rand(shape), True)],
                                   reduce_fn(kind, axes, keep)))
    for shape, axis, keep in [((3, 5), -1, False), ((3, 5), 0, False), ((2, 3, 4), 1, True), ((7,), 0, False)]:
        seed += 1
        cases.append(make_case(seed, "argmax", {"axis": axis, "keepdims": keep}, [("x", rand(shape), False)],
                               lambda x, a=axis, k=keep: torch.argmax(x, dim=a, keepdim=k).double()))
    # shape ops
    for shape, to in [((2, 3, 4), [4, -1]), ((2, 3, 4), [-1]), ((6,), [1, 2, 1, 3]), ((2, 0, 3), [4, 0]),
                      ((2, 0, 3), [3, 0, 5])]:
        seed += 1
        cases.append(make_case(seed, "reshape", {"shape": to}, [("x", rand(shape), True)],
                               lambda x, t=to: x.reshape(t)))
    for shape, perm in [((2, 3, 4), [2, 0, 1]), ((2, 3, 4), []), ((2, 3), [1, 0]), ((2, 1, 3, 2), [3, 1, 0, 2])]:
        seed += 1
        cases.append(make_case(seed, "transpose", {"axes": perm}, [("x", rand(shape), True)],
                               lambda x, p=perm: x.permute(p if p else list(reversed(range(x.dim())))).contiguous()))
    for shape, axis in [((2, 3), 0), ((2, 3), -1), ((2, 3), 1), ((4,), -2)]:
        seed += 1
        cases.append(make_case(seed, "expand_dims", {"axis": axis}, [("x", rand(shape), True)],
                               lambda x, a=axis: x.unsqueeze(a)))
    for shape, to in [((3, 1), [2, 3, 4]), ((1,), [2, 2]), ((), [3]), ((2, 1, 3), [2, 4, 3])]:
        seed += 1
        cases.append(make_case(seed, "broadcast_to", {"shape": to}, [("x", rand(shape), True)],
                               lambda x, t=to: x.expand(t).contiguous()))
    for shape, b, e in [((5, 2), 1, 4), ((4, 3, 2), 0, 4), ((3,), 2, 2)]:
        seed += 1
        cases.append(make_case(seed, "slice_axis0", {"begin": b, "end": e}, [("x", rand(shape), True)],
                               lambda x, b=b, e=e: x[b:e].contiguous()))
    for op, shapes, axis in [("concat", [(2, 3), (2, 1), (2, 4)], 1), ("concat", [(1, 3, 2), (2, 3, 2)], 0),
                             ("concat", [(2, 2, 1), (2, 2, 3)], -1), ("concat", [(2, 0), (2, 3)], 1),
                             ("stack", [(2, 3), (2, 3), (2, 3)], 0), ("stack", [(2, 3), (2, 3)], -1),
                             ("stack", [(4,), (4,)], 1)]:
        seed += 1
        fn = (lambda *xs, a=axis: torch.cat(xs, dim=a)) if op == "concat" else (
            lambda *xs, a=axis: torch.stack(xs, dim=a))
        cases.append(make_case(seed, op, {"axis": axis},
                               [("x%d" % i, rand(s), True) for i, s in enumerate(shapes)], fn))
    # linalg
    for sa, sb, ta, tb in [((3, 4), (4, 5), False, False), ((4, 3), (4, 5), True, False),
                           ((3, 4), (5, 4), False, True), ((4, 3), (5, 4), True, True), ((4,), (4,), False, False),
                           ((2, 3, 4), (4, 5), False, False), ((3, 4), (4, 2, 3), False, False),
                           ((4, 2, 3), (4, 5), True, False), ((3, 4), (5, 2, 4), False, True),
                           ((3, 4), (4,), False, False), ((4,), (4, 5), False, False), ((4,), (5, 4), True, True),
                           ((0, 3), (3, 2), False, False), ((2, 0), (0, 3), False, False)]:
        seed += 1
        cases.append(make_case(seed, "dot", {"transpose_a": ta, "transpose_b": tb},
                               [("a", rand(sa), True), ("b", rand(sb), True)],
                               lambda a, b, ta=ta, tb=tb: gluon_dot(a, b, ta, tb)))
    for sa, sb, ta, tb in [((2, 3, 4), (2, 4, 5), False, False), ((2, 4, 3), (2, 4, 5), True, False),
                           ((2, 3, 4), (2, 5, 4), False, True), ((3, 4, 2), (3, 5, 4), True, True),
                           ((2, 2, 3, 4), (2, 2, 4, 2), False, False)]:
        seed += 1
        fn = lambda a, b, ta=ta, tb=tb: torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)
        cases.append(make_case(seed, "batch_dot", {"transpose_a": ta, "transpose_b": tb},
                               [("a", rand(sa), True), ("b", rand(sb), True)], fn))
    for sx, units, bias, flatten in [((4, 3), 5, True, True), ((2, 3, 4), 5, True, True), ((2, 3, 4), 5, False, False)]:
        seed += 1
        in_units = sx[-1] if not flatten else int(torch.tensor(sx[1:]).prod())
        specs = [("x", rand(sx), True), ("weight", rand((units, in_units)), True)]
        if bias:
            specs.append(("bias", rand((units,)), True))
        fn = lambda x, w, b=None, fl=flatten: F.linear(x.reshape(x.shape[0], -1) if fl else x, w, b)
        cases.append(make_case(seed, "fully_connected", {"flatten": flatten, "no_bias": not bias}, specs, fn))
    # pick: torch.gather along the axis
    for shape, axis, keep in [((3, 5), -1, False), ((3, 5), 0, False), ((2, 4, 3), 1, True), ((2, 4, 3), -3, False),
                              ((6,), 0, False)]:
        seed += 1
        a = axis % len(shape)
        ishape = tuple(1 if d == a else n for d, n in enumerate(shape))
        fn = lambda x, i, a=a, k=keep: (lambda y: y if k else y.squeeze(a))(torch.gather(x, a, i.long()))
        cases.append(make_case(seed, "pick", {"axis": axis, "keepdims": keep},
                               [("x", rand(shape), True), ("index", integers(ishape, shape[a]), False)], fn))
    # pad: MXNet's pad_width is (before, after) per axis from the first; F.pad lists from the last
    for shape, mode, pw, cv in [((2, 3, 4), "constant", [0, 1, 2, 0, 1, 3], 0.0), ((5,), "constant", [2, 3], -2.5),
                                ((2, 2, 3, 4), "edge", [0, 0, 0, 0, 3, 1, 0, 2], 0.0),
                                ((1, 2, 4, 5), "reflect", [0, 0, 0, 0, 3, 0, 1, 4], 0.0),
                                ((2, 3, 1), "constant", [1, 1, 0, 0, 2, 2], 0.5)]:
        seed += 1
        torch_pad = []
        for d in reversed(range(len(shape))):
            torch_pad += [pw[2 * d], pw[2 * d + 1]]
        tmode = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}[mode]

        def fn(x, tp=torch_pad, m=tmode, v=cv):
            if m == "constant":
                return F.pad(x, tp, mode="constant", value=v)
            # replicate / reflect take the padding of the last axes only (all zeros before them)
            k = max(i // 2 + 1 for i, w in enumerate(tp) if w)
            return F.pad(x, tp[:2 * k], mode=m)
        cases.append(make_case(seed, "pad", {"mode": mode, "pad_width": pw, "constant_value": cv},
                               [("x", rand(shape), True)], fn))
    for ishape, rows, cols in [((4,), 5, 3), ((2, 3), 4, 2), ((0,), 3, 2), ((2, 2, 2), 2, 3)]:
        seed += 1
        cases.append(make_case(seed, "embedding", {}, [("index", integers(ishape, rows), False),
                                                       ("weight", rand((rows, cols)), True)],
                               lambda i, w: F.embedding(i.long(), w)))
    # softmax / log_softmax, with logits up to +-50 and a row shifted by 1000
    for op in ["softmax", "log_softmax"]:
        for shape, axis, scale in [((3, 5), -1, 1.0), ((2, 3, 4), 1, 1.0), ((2, 3, 4), 0, 1.0), ((4, 6), -1, 50.0),
                                   ((2, 3, 4), -2, 20.0), ((1, 1), -1, 1.0)]:
            seed += 1
            tfn = torch.softmax if op == "softmax" else torch.log_softmax
            cases.append(make_case(seed, op, {"axis": axis}, [("x", rand(shape, -scale, scale), True)],
                                   lambda x, a=axis, f=tfn: f(x, dim=a)))
        seed += 1
        # shifted in float32, so that the float test reads the very inputs torch had
        shift = torch.tensor([[1000.0], [-1000.0]]).float()
        shifted = lambda gen, s=shift: (uniform(gen, (2, 4), -1, 1).float() + s).double()
        tfn = torch.softmax if op == "softmax" else torch.log_softmax
        cases.append(make_case(seed, op, {"axis": -1}, [("x", shifted, True)], lambda x, f=tfn: f(x, dim=-1)))
    for shape, classes in [((4, 5), 5), ((3, 2), 2)]:
        seed += 1
        cases.append(make_case(seed, "softmax_cross_entropy", {},  # per sample: Gluon's loss before its sum
                               [("logits", rand(shape, -3, 3), True),
                                ("labels", integers((shape[0],), classes), False)],
                               lambda x, l: F.cross_entropy(x, l.long(), reduction="none")))
    # 2-D pooling
    pools = [("max", (2, 3, 6, 5), (2, 2), (2, 2), (0, 0), False, True),
             ("max", (1, 2, 7, 6), (3, 2), (2, 1), (1, 1), False, True),
             ("max", (2, 2, 7, 7), (3, 3), (2, 2), (1, 1), True, True),
             ("max", (1, 1, 5, 9), (1, 3), (1, 3), (0, 1), True, True),
             ("avg", (2, 3, 6, 5), (2, 2), (2, 2), (0, 0), False, True),
             ("avg", (1, 2, 7, 6), (3, 2), (2, 1), (1, 1), False, True),
             ("avg", (1, 2, 7, 6), (3, 2), (2, 1), (1, 1), False, False),
             ("avg", (2, 2, 7, 7), (3, 3), (2, 2), (1, 1), True, True),
             ("avg", (2, 2, 7, 7), (3, 3), (2, 2), (1, 1), True, False),
             ("avg", (1, 1, 4, 4), (4, 4), (1, 1), (0, 0), False, True),
             ("max", (1, 2, 8, 9), (2, 2), (3, 4), (0, 1), False, True),
             ("avg", (1, 2, 9, 9), (2, 3), (3, 2), (1, 1), True, False),
             ("max", (0, 2, 4, 4), (2, 2), (2, 2), (0, 0), False, True)]
    for kind, shape, k, s, p, ceil, inc in pools:
        seed += 1
        cases.append(pool_case(seed, kind, shape, k, s, p, ceil, inc))
    for kind in ["max", "avg"]:
        seed += 1
        fn = (lambda x: torch.amax(x, dim=(2, 3), keepdim=True)) if kind == "max" else (
            lambda x: torch.mean(x, dim=(2, 3), keepdim=True))
        cases.append(make_case(seed, "pooling", {"type": kind, "global": True}, [("x", rand((2, 3, 4, 5)), True)], fn))
    doc = {
        "made_with": f"PyTorch {torch.__version__}, Python {platform.python_version()}",
        "cases": cases,
    }
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(doc, indent=None, separators=(",", ":"), allow_nan=False) + "\n")
    print(f"wrote {out_file}: {len(cases)} cases, {out_file.stat().st_size} bytes")


if __name__ == "__main__":
    main()
