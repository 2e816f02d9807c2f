# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/losses.json: PyTorch's values and input gradients of the Gluon
losses, which the loss tests (tests/loss/test_*.cpp) compare gluino's with.

    /usr/bin/python3 scripts/make_loss_references.py [OUT_FILE]

Needs Debian's python3-torch (1.13): run it with /usr/bin/python3, not a python3 on PATH that
cannot see it.  CI has no PyTorch: the JSON is committed; rerun this script rather than editing
it.  Nothing is downloaded.

For each case: random float32 inputs (a torch.Generator with a fixed seed per case), the loss
computed in float64 the way Gluon 1.x defines it (python/mxnet/gluon/loss.py): with torch's
functional loss where it is the same function (smooth_l1_loss for HuberLoss,
binary_cross_entropy_with_logits for LogisticLoss, kl_div for KLDivLoss,
cosine_embedding_loss, poisson_nll_loss), otherwise with torch's element-wise ops; then
Gluon's weighting and mean (Loss._apply_weighting, mean over every axis but batch_axis).  The
output's gradient `head` is random too; `grad` holds each differentiable input's gradient
(torch.autograd) for out.backward(head).

Format: {"made_with": ..., "cases": [{"loss", "options", "inputs": [{"name", "shape", "data"}],
"sample_weight" (optional), "head", "output", "grad": {name: {"shape", "data"}}}]}.  Inputs
are float32 values (their exact decimal, so that they read back to the same float32);
outputs and gradients are float64.
"""

import json
import math
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


class Case:
    """Random values of one case (inputs, sample weight, head), drawn in float32 from a
    generator seeded with `seed`."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def uniform(self, shape, lo=-1.0, hi=1.0):
        x = torch.rand(shape, generator=self.gen, dtype=torch.float32) * (hi - lo) + lo
        return x.double()

    def signs(self, shape):
        return torch.where(self.uniform(shape) < 0, -1.0, 1.0)

    def bits(self, shape):
        return torch.where(self.uniform(shape) < 0, 0.0, 1.0)

    def counts(self, shape, n):
        return torch.floor(self.uniform(shape, 0, n))


def weighted_mean(loss, options, sample_weight):
    """Gluon's _apply_weighting, then mean over every axis but batch_axis (gluino: a 1-D
    sample weight of length N is per sample, along batch_axis; other shapes broadcast)."""
    b = options.get("batch_axis", 0) % loss.dim()
    if sample_weight is not None:
        w = sample_weight
        if w.dim() == 1 and loss.dim() > 1 and w.shape[0] == loss.shape[b] != 1:
            # gluino refuses a weight that the last axis (NumPy's reading) would also fit.
            assert b == loss.dim() - 1 or loss.shape[-1] != loss.shape[b], "ambiguous sample weight"
            w = w.reshape([loss.shape[b] if d == b else 1 for d in range(loss.dim())])
        loss = loss * w
    loss = loss * options.get("weight", 1.0)
    axes = [d for d in range(loss.dim()) if d != b]
    return loss.mean(dim=axes) if axes else loss


def huber(o, pred, label):
    # Gluon: where(|label - pred| > rho, |d| - rho/2, d^2 / (2 rho)) = PyTorch's SmoothL1(beta=rho).
    return F.smooth_l1_loss(pred, label.reshape(pred.shape), reduction="none", beta=o.get("rho", 1.0))


def hinge(o, pred, label):
    return torch.relu(o.get("margin", 1.0) - pred * label.reshape(pred.shape))


def squared_hinge(o, pred, label):
    return torch.relu(o.get("margin", 1.0) - pred * label.reshape(pred.shape)) ** 2


def logistic(o, pred, label):
    z = label.reshape(pred.shape)
    if o.get("label_format", "signed") == "signed":
        z = (z + 1) / 2
    return F.binary_cross_entropy_with_logits(pred, z, reduction="none")


def kl_div(o, pred, label):
    # Gluon: label * (log(label + 1e-12) - logp); kl_div takes label * log(label) (xlogy).
    logp = pred if o.get("from_logits", True) else F.log_softmax(pred, dim=o.get("axis", -1))
    return F.kl_div(logp, label.reshape(pred.shape), reduction="none")


def triplet(o, pred, positive, negative):
    # Gluon: relu(sum((positive - pred)^2 - (negative - pred)^2 over all but batch_axis) + margin),
    # kept as (N, 1)-like so that the weighted mean is the identity.
    d = (positive.reshape(pred.shape) - pred) ** 2 - (negative.reshape(pred.shape) - pred) ** 2
    b = o.get("batch_axis", 0) % pred.dim()
    axes = [a for a in range(pred.dim()) if a != b]
    return torch.relu(d.sum(dim=axes, keepdim=True) + o.get("margin", 1.0))


def cosine_embedding(o, input1, input2, label):
    # (N, D) inputs: one loss per row, as Gluon's (N, 1).
    return F.cosine_embedding_loss(input1.reshape(input2.shape), input2, label, margin=o.get("margin", 0.0),
                                   reduction="none").reshape(-1, 1)


def poisson_nll(o, pred, target):
    return F.poisson_nll_loss(pred, target.reshape(pred.shape), log_input=o.get("from_logits", True),
                              full=o.get("compute_full", False), eps=1e-8, reduction="none")


def l1(o, pred, label):
    return torch.abs(label.reshape(pred.shape) - pred)


def l2(o, pred, label):
    return 0.5 * (label.reshape(pred.shape) - pred) ** 2


def sigmoid_bce(o, pred, label):
    z = label.reshape(pred.shape)
    if o.get("from_sigmoid", False):
        return F.binary_cross_entropy(pred, z, reduction="none")
    return F.binary_cross_entropy_with_logits(pred, z, reduction="none")


def softmax_ce(o, pred, label):
    axis = o.get("axis", -1) % pred.dim()
    logp = pred if o.get("from_logits", False) else F.log_softmax(pred, dim=axis)
    if o.get("sparse_label", True):
        # Gluon: -pick(logp, label, axis, keepdims=True); label: pred's shape without `axis`.
        return -torch.gather(logp, axis, label.long().unsqueeze(axis))
    return -(logp * label.reshape(pred.shape)).sum(dim=axis, keepdim=True)


def make_cases():
    cases = []

    def add(loss, fn, options, case, inputs, sample_weight=None, no_grad=(), final_mean=False):
        inputs = [(name, x.float().double()) for name, x in inputs]  # float32 values, as the C++ tests read them
        cases.append(dict(loss=loss, fn=fn, options=options, case=case, inputs=inputs,
                          sample_weight=sample_weight, no_grad=no_grad, final_mean=final_mean))

    c = Case(1)
    add("HuberLoss", huber, {}, c, [("pred", c.uniform((2, 3), -2, 2)), ("label", c.uniform((2, 3), -2, 2))])
    c = Case(2)
    add("HuberLoss", huber, {"rho": 0.5, "weight": 2.0, "batch_axis": 1}, c,
        [("pred", c.uniform((2, 3, 2))), ("label", c.uniform((12,)))], c.uniform((1, 3, 1), 0, 2))

    c = Case(3)
    add("HingeLoss", hinge, {}, c, [("pred", c.uniform((2, 3), -2, 2)), ("label", c.signs((2, 3)))])
    c = Case(4)
    add("HingeLoss", hinge, {"margin": 0.5, "weight": 0.5}, c,
        [("pred", c.uniform((2, 3, 2))), ("label", c.signs((2, 6)))], c.uniform((2, 1, 1), 0, 2))

    c = Case(5)
    add("SquaredHingeLoss", squared_hinge, {}, c, [("pred", c.uniform((2, 3), -2, 2)), ("label", c.signs((2, 3)))])
    c = Case(6)
    add("SquaredHingeLoss", squared_hinge, {"margin": 2.0, "weight": 1.5, "batch_axis": 1}, c,
        [("pred", c.uniform((2, 3, 2))), ("label", c.signs((2, 3, 2)))], c.uniform((3,), 0, 2))

    c = Case(7)
    add("LogisticLoss", logistic, {}, c, [("pred", c.uniform((2, 3), -3, 3)), ("label", c.signs((2, 3)))])
    c = Case(8)
    add("LogisticLoss", logistic, {"weight": 1.5, "label_format": "binary"}, c,
        [("pred", c.uniform((2, 3, 2), -3, 3)), ("label", c.bits((2, 3, 2)))], c.uniform((2, 1, 2), 0, 2))

    c = Case(9)
    add("KLDivLoss", kl_div, {}, c,
        [("pred", F.log_softmax(c.uniform((2, 3), -2, 2), dim=-1)),
         ("label", F.softmax(c.uniform((2, 3), -2, 2), dim=-1))])
    c = Case(10)
    add("KLDivLoss", kl_div, {"from_logits": False, "axis": 1, "weight": 2.0}, c,
        [("pred", c.uniform((2, 3, 2), -2, 2)), ("label", F.softmax(c.uniform((2, 3, 2), -2, 2), dim=1))],
        c.uniform((2, 1, 1), 0, 2))  # (2,) would be ambiguous: the last axis has length 2 too

    c = Case(11)
    add("TripletLoss", triplet, {}, c,
        [("pred", c.uniform((2, 3))), ("positive", c.uniform((2, 3))), ("negative", c.uniform((2, 3)))])
    c = Case(12)
    add("TripletLoss", triplet, {"margin": 0.5, "weight": 2.0, "batch_axis": 1}, c,
        [("pred", c.uniform((2, 3, 2))), ("positive", c.uniform((2, 3, 2))), ("negative", c.uniform((2, 3, 2)))],
        c.uniform((3,), 0, 2))

    c = Case(13)
    add("CosineEmbeddingLoss", cosine_embedding, {}, c,
        [("input1", c.uniform((4, 3))), ("input2", c.uniform((4, 3))), ("label", c.signs((4,)))], no_grad=("label",))
    c = Case(14)
    add("CosineEmbeddingLoss", cosine_embedding, {"weight": 2.0, "margin": 0.2}, c,
        [("input1", c.uniform((12,))), ("input2", c.uniform((4, 3))), ("label", c.signs((4,)))],
        c.uniform((4,), 0, 2), no_grad=("label",))

    c = Case(15)
    add("PoissonNLLLoss", poisson_nll, {}, c, [("pred", c.uniform((2, 3))), ("target", c.counts((2, 3), 5))],
        final_mean=True)
    c = Case(16)
    add("PoissonNLLLoss", poisson_nll, {"weight": 0.5, "from_logits": False, "compute_full": True}, c,
        [("pred", c.uniform((2, 3, 2), 0.5, 3)), ("target", c.uniform((2, 3, 2), 0.2, 4))],
        c.uniform((2, 1, 1), 0, 2), final_mean=True)

    # Every sample-weight layout that broadcasts (scalar-like, per sample, per position, full),
    # and batch axes other than 0.
    c = Case(17)
    add("L1Loss", l1, {}, c, [("pred", c.uniform((3, 4), -2, 2)), ("label", c.uniform((3, 4), -2, 2))])
    c = Case(18)
    add("L1Loss", l1, {"weight": 0.5, "batch_axis": 1}, c,
        [("pred", c.uniform((2, 3, 4))), ("label", c.uniform((24,)))], c.uniform((2, 1, 4), 0, 2))
    c = Case(19)
    add("L2Loss", l2, {}, c, [("pred", c.uniform((3, 4), -2, 2)), ("label", c.uniform((3, 4), -2, 2))],
        c.uniform((1,), 0, 2))
    c = Case(20)
    add("L2Loss", l2, {"weight": 2.0, "batch_axis": -1}, c,
        [("pred", c.uniform((2, 3, 4))), ("label", c.uniform((2, 3, 4)))], c.uniform((4,), 0, 2))
    c = Case(21)
    add("L2Loss", l2, {"batch_axis": 1}, c,
        [("pred", c.uniform((2, 3, 4))), ("label", c.uniform((2, 3, 4)))], c.uniform((2, 3, 4), 0, 2))
    c = Case(22)
    add("L2Loss", l2, {}, c, [("pred", c.uniform((3, 4))), ("label", c.uniform((3, 4)))], c.uniform((3, 1), 0, 2))
    c = Case(23)
    add("SigmoidBinaryCrossEntropyLoss", sigmoid_bce, {}, c,
        [("pred", c.uniform((3, 4), -4, 4)), ("label", c.bits((3, 4)))], c.uniform((1, 4), 0, 2))
    c = Case(24)
    add("SigmoidBinaryCrossEntropyLoss", sigmoid_bce, {"from_sigmoid": True, "weight": 1.5, "batch_axis": 1}, c,
        [("pred", c.uniform((2, 3, 2), 0.05, 0.95)), ("label", c.uniform((2, 3, 2), 0, 1))], c.uniform((3,), 0, 2))
    c = Case(25)
    add("SoftmaxCrossEntropyLoss", softmax_ce, {}, c,
        [("pred", c.uniform((4, 5), -3, 3)), ("label", c.counts((4,), 5))], c.uniform((4,), 0, 2), no_grad=("label",))
    c = Case(26)
    add("SoftmaxCrossEntropyLoss", softmax_ce, {"axis": 1, "batch_axis": 0, "weight": 2.0}, c,
        [("pred", c.uniform((2, 4, 3), -3, 3)), ("label", c.counts((2, 3), 4))], c.uniform((2, 1, 3), 0, 2),
        no_grad=("label",))
    c = Case(27)
    add("SoftmaxCrossEntropyLoss", softmax_ce, {"axis": 0, "batch_axis": 1, "from_logits": True}, c,
        [("pred", F.log_softmax(c.uniform((4, 3), -3, 3), dim=0)), ("label", c.counts((3,), 4))],
        c.uniform((3,), 0, 2), no_grad=("label",))
    c = Case(28)
    add("SoftmaxCrossEntropyLoss", softmax_ce, {"sparse_label": False, "batch_axis": 1}, c,
        [("pred", c.uniform((3, 2, 4), -3, 3)), ("label", F.softmax(c.uniform((3, 2, 4), -3, 3), dim=-1))],
        c.uniform((1, 2, 1), 0, 2))
    return cases


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def run(case):
    inputs = [(name, x.clone().requires_grad_(name not in case["no_grad"])) for name, x in case["inputs"]]
    out = weighted_mean(case["fn"](case["options"], *[x for _, x in inputs]), case["options"], case["sample_weight"])
    if case["final_mean"]:  # PoissonNLLLoss: Gluon's F.mean(loss), shape (1,) in MXNet 1.x
        out = out.mean().reshape(1)
    head = case["case"].uniform(tuple(out.shape), 0.5, 1.5)
    out.backward(head)
    result = {"loss": case["loss"], "options": case["options"],
              "inputs": [dict(name=name, **tensor_json(x)) for name, x in inputs]}
    if case["sample_weight"] is not None:
        result["sample_weight"] = tensor_json(case["sample_weight"])
    result["head"] = tensor_json(head)
    result["output"] = tensor_json(out)
    result["grad"] = {name: tensor_json(x.grad) for name, x in inputs if x.requires_grad}
    return result


def dump(doc):
    """JSON with one array per line."""
    def value(v, indent):
        if isinstance(v, dict) and any(isinstance(x, (dict, list)) for x in v.values()) and "data" not in v:
            pad = " " * (indent + 2)
            items = [f"{pad}{json.dumps(k)}: {value(x, indent + 2)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
        if isinstance(v, list) and v and isinstance(v[0], dict):
            pad = " " * (indent + 2)
            return "[\n" + ",\n".join(pad + value(x, indent + 2) for x in v) + "\n" + " " * indent + "]"
        return json.dumps(v)
    return value(doc, 0) + "\n"


def main():
    repo = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else repo / "tests" / "data" / "reference" / "losses.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "made_with": f"/usr/bin/python3 scripts/make_loss_references.py (torch {torch.__version__}, "
                     f"Python {platform.python_version()})",
        "cases": [run(c) for c in make_cases()],
    }
    for c in doc["cases"]:
        assert all(math.isfinite(v) for v in c["output"]["data"]), c["loss"]
    out.write_text(dump(doc))
    print(f"{out}: {len(doc['cases'])} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
