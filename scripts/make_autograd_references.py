# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/autograd.json: PyTorch's higher-order gradients
(torch.autograd.grad with create_graph=True), which tests/autograd/test_grad.cpp compares
gluino's autograd::grad with (in double).

    /usr/bin/python3 scripts/make_autograd_references.py [OUT_FILE]

Needs Debian's python3-torch: run it with /usr/bin/python3.  CI has no PyTorch: the JSON is
committed; rerun this script rather than editing it.  Nothing is downloaded.

Cases (float64 throughout; inputs are float32 values from a seeded torch.Generator):
- "gradient_penalty": a tiny MLP out = fc(tanh(fc(x, W1, b1)), W2, b2) (fc(x, W, b) = x W^T + b,
  gluino's fully_connected), loss = sum of L2Loss(out, y) per sample (Gluon's 0.5 (out - y)^2
  averaged over the features), g = dloss/dx with create_graph, and the penalized loss
  total = loss + lam * sum(g^2); recorded: loss, g, total and dtotal/d(W1, b1, W2, b2, x).
- "second_derivative": y = sum(w * sigmoid(x)^2 * exp(-x) / (1 + x^2)); recorded dy/dx and
  d/dx sum(dy/dx * v), a Hessian-vector product, for fixed w and v.
- "cnn_gradient_penalty": a small CNN h = relu(conv2d(x, Wc, bc, pad 1)), max_pool2d 2x2 stride 2,
  batch_norm in training mode (batch statistics, eps 1e-5; running statistics play no part in
  the gradient), out = fc(flatten(h), Wf, bf), loss = sum over samples of the softmax cross
  entropy with class labels, g = dloss/dx with create_graph, total = loss + lam * sum(g^2);
  recorded: loss, g, total and dtotal/d(x, Wc, bc, gamma, beta, Wf, bf).
- "attention_penalty": batch_dot (gluino's transpose flags as torch.bmm of transposes), slices,
  concat and stack: o = bmm(softmax(bmm(q, k^T), -1), v), h = cat([o, o^2], 2),
  z = stack([h[1], h[0]], -1), loss = sum(c * tanh(z)) + 0.1 sum((o^T o)^2) (o^T o per batch
  entry), g = dloss/dq with create_graph, total = loss + lam * sum(g^2); recorded: loss, g,
  total and dtotal/d(q, k, v).

Format: {"made_with": ..., "cases": [{"case", "inputs": {name: {"shape", "data"}},
"outputs": {name: {"shape", "data"}}}]}; read with tests/support/reference.hpp.
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


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def gradient_penalty():
    gen = torch.Generator().manual_seed(15)
    x = uniform(gen, (4, 3), -1, 1).requires_grad_()
    w1 = uniform(gen, (5, 3), -1, 1).requires_grad_()
    b1 = uniform(gen, (5,), -0.5, 0.5).requires_grad_()
    w2 = uniform(gen, (2, 5), -1, 1).requires_grad_()
    b2 = uniform(gen, (2,), -0.5, 0.5).requires_grad_()
    y = uniform(gen, (4, 2), -1, 1)
    lam = 0.75
    out = torch.tanh(x @ w1.T + b1) @ w2.T + b2
    loss = (0.5 * (out - y) ** 2).mean(dim=1).sum()
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    total = loss + lam * (g ** 2).sum()
    grads = torch.autograd.grad(total, [w1, b1, w2, b2, x])
    inputs = {"x": x, "W1": w1, "b1": b1, "W2": w2, "b2": b2, "y": y, "lambda": torch.tensor([lam])}
    outputs = {"loss": loss.reshape(1), "dx": g, "total": total.reshape(1)}
    for name, gr in zip(["W1", "b1", "W2", "b2", "x"], grads):
        outputs["dtotal_d" + name] = gr
    return {"case": "gradient_penalty", "inputs": {k: tensor_json(v) for k, v in inputs.items()},
            "outputs": {k: tensor_json(v) for k, v in outputs.items()}}


def second_derivative():
    gen = torch.Generator().manual_seed(16)
    x = uniform(gen, (2, 3), -2, 2).requires_grad_()
    w = uniform(gen, (2, 3), 0.5, 1.5)
    v = uniform(gen, (2, 3), -1, 1)
    y = (w * torch.sigmoid(x) ** 2 * torch.exp(-x) / (1 + x ** 2)).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    (hv,) = torch.autograd.grad((g * v).sum(), x)
    return {"case": "second_derivative", "inputs": {"x": tensor_json(x), "w": tensor_json(w), "v": tensor_json(v)},
            "outputs": {"dx": tensor_json(g), "hv": tensor_json(hv)}}


def penalty_case(case, loss, wrt, params, extra, lam):
    """total = loss + lam * sum(d loss / d params[wrt] ^ 2) and its gradients over params."""
    (g,) = torch.autograd.grad(loss, params[wrt], create_graph=True)
    total = loss + lam * (g ** 2).sum()
    grads = torch.autograd.grad(total, list(params.values()))
    inputs = dict(params, **extra, **{"lambda": torch.tensor([lam])})
    outputs = {"loss": loss.reshape(1), "d" + wrt: g, "total": total.reshape(1)}
    for name, gr in zip(params, grads):
        outputs["dtotal_d" + name] = gr
    return {"case": case, "inputs": {k: tensor_json(v) for k, v in inputs.items()},
            "outputs": {k: tensor_json(v) for k, v in outputs.items()}}


def cnn_gradient_penalty():
    gen = torch.Generator().manual_seed(17)
    x = uniform(gen, (3, 2, 6, 6), -1, 1).requires_grad_()
    wc = uniform(gen, (4, 2, 3, 3), -0.5, 0.5).requires_grad_()
    bc = uniform(gen, (4,), -0.2, 0.2).requires_grad_()
    gamma = uniform(gen, (4,), 0.5, 1.5).requires_grad_()
    beta = uniform(gen, (4,), -0.5, 0.5).requires_grad_()
    wf = uniform(gen, (5, 36), -0.3, 0.3).requires_grad_()
    bf = uniform(gen, (5,), -0.2, 0.2).requires_grad_()
    label = torch.tensor([1.0, 4.0, 0.0])
    lam = 0.5
    h = F.max_pool2d(F.relu(F.conv2d(x, wc, bc, padding=1)), 2, 2)
    h = F.batch_norm(h, torch.zeros(4), torch.ones(4), gamma, beta, training=True, eps=1e-5)
    out = F.linear(h.reshape(3, -1), wf, bf)
    loss = F.cross_entropy(out, label.long(), reduction="sum")
    params = {"x": x, "Wc": wc, "bc": bc, "gamma": gamma, "beta": beta, "Wf": wf, "bf": bf}
    return penalty_case("cnn_gradient_penalty", loss, "x", params, {"label": label}, lam)


def attention_penalty():
    gen = torch.Generator().manual_seed(18)
    q = uniform(gen, (2, 3, 4), -1, 1).requires_grad_()
    k = uniform(gen, (2, 5, 4), -1, 1).requires_grad_()
    v = uniform(gen, (2, 5, 3), -1, 1).requires_grad_()
    c = uniform(gen, (3, 6, 2), -1, 1)
    lam = 0.5
    o = torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)), -1), v)
    h = torch.cat([o, o * o], 2)
    z = torch.stack([h[1], h[0]], -1)
    loss = (c * torch.tanh(z)).sum() + 0.1 * (torch.bmm(o.transpose(1, 2), o) ** 2).sum()
    return penalty_case("attention_penalty", loss, "q", {"q": q, "k": k, "v": v}, {"c": c}, lam)


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/reference/autograd.json"
    doc = {"made_with": f"PyTorch {torch.__version__}, Python {platform.python_version()}",
           "cases": [gradient_penalty(), second_derivative(), cnn_gradient_penalty(), attention_penalty()]}
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
