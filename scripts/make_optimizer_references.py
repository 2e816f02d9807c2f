# SPDX-License-Identifier: Apache-2.0
"""Makes tests/data/reference/optimizers.json: reference steps of gluino's optimizers.

    /usr/bin/python3 scripts/make_optimizer_references.py [OUT_FILE]

Each case runs one optimizer for 5 steps on a small seeded weight of shape (2, 3) with seeded
gradients, and records the inputs (options as optim::create takes them, lr_mult, wd_mult, the
weight, the gradients), the weight after every step and the states after the last one.
tests/optim/test_<optimizer>.cpp replay the cases through optim::create and compare.

The reference of a case is either
  torch  torch.optim (PyTorch 1.13, Debian's python3-torch), used only where its rule is
         MXNet's exactly for the options of the case (AdaDelta with wd = 0; Adamax with eps = 0
         and no clipping; SGD, whose momentum buffer is MXNet's mom / -lr at a constant rate;
         NAG as SGD with nesterov = True).  rescale_grad and clip_gradient are applied to the gradient given to
         torch, as MXNet applies them first.  The NumPy rule of the same case must agree to 1e-12.
  numpy  a plain NumPy transcription (float64) of MXNet 1.x's rule, written below from
         python/mxnet/optimizer/optimizer.py and src/operator/optimizer_op-inl.h of MXNet 1.9.1
         (AdamW: src/operator/contrib/adamw-inl.h, driven as MXNet 2.0's optimizer/adamW.py
         does), for the optimizers PyTorch lacks (Signum, FTML, LAMB) or whose PyTorch rule
         differs (AdaGrad, Nadam, AdamW, Adam and RMSProp, whose epsilon PyTorch adds elsewhere;
         AdaDelta with wd; Adamax with clipping).

Defaults are Gluon's and are written here again on purpose: a case that leaves an option out
checks gluino's default against this table.  Inputs are rounded to float32 so that the float and
double C++ runs start from the same numbers.  Needs python3-numpy and python3-torch: run it with
/usr/bin/python3.  Nothing is downloaded.
"""

import json
import math
import platform
import sys
from pathlib import Path

import numpy as np
import torch

STEPS = 5
SHAPE = (2, 3)

# Gluon's defaults (MXNet 1.x's optimizer.py; AdamW: MXNet 2.0's adamW.py), by gluino's option names.
COMMON = {"learning_rate": 0.01, "wd": 0.0, "rescale_grad": 1.0, "clip_gradient": -1.0}
DEFAULTS = {
    "sgd": {"momentum": 0.0},
    "nag": {"momentum": 0.0},
    "adam": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    "rmsprop": {"learning_rate": 0.001, "gamma1": 0.9, "gamma2": 0.9, "epsilon": 1e-8, "centered": 0,
                "clip_weights": -1.0},
    "adagrad": {"eps": 1e-7},
    "adadelta": {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-5},
    "adamax": {"learning_rate": 0.002, "beta1": 0.9, "beta2": 0.999},
    "nadam": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "schedule_decay": 0.004},
    "signum": {"learning_rate": 0.01, "momentum": 0.9, "wd_lh": 0.0},
    "ftml": {"beta1": 0.6, "beta2": 0.999, "epsilon": 1e-8},
    "lamb": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-6, "lower_bound": -1.0,
             "upper_bound": -1.0, "bias_correction": 1},
    "adamw": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-6, "correct_bias": 1},
}
STATE_NAMES = {
    "sgd": ["mom"],
    "nag": ["mom"],
    "adam": ["mean", "var"],
    "rmsprop": ["n"],
    "adagrad": ["history"],
    "adadelta": ["acc_g", "acc_delta"],
    "adamax": ["mean", "u"],
    "nadam": ["mean", "var"],
    "signum": ["mom"],
    "ftml": ["d", "v", "z"],
    "lamb": ["mean", "var"],
    "adamw": ["mean", "var"],
}


def clip(x, c):
    return x if c < 0 else np.clip(x, -c, c)


# Each rule: (o, st, w, grad, t) -> new w, with o the options (lr and wd include the multipliers),
# st the states by name (updated in place), t the update count (1 at the first step).
def sgd(o, st, w, grad, t):
    g = clip(o["rescale_grad"] * grad, o["clip_gradient"])
    if o["momentum"] == 0:  # sgd_update
        return (1 - o["lr"] * o["wd"]) * w - o["lr"] * g
    st["mom"][:] = o["momentum"] * st["mom"] - o["lr"] * o["wd"] * w - o["lr"] * g  # sgd_mom_update
    return w + st["mom"]


def nag(o, st, w, grad, t):
    g = clip(o["rescale_grad"] * grad, o["clip_gradient"]) + o["wd"] * w
    if o["momentum"] == 0:
        return w - o["lr"] * g
    st["mom"][:] = o["momentum"] * st["mom"] - o["lr"] * g
    return w + o["momentum"] * st["mom"] - o["lr"] * g


def adam(o, st, w, grad, t):
    b1, b2 = o["beta1"], o["beta2"]
    g = clip(o["rescale_grad"] * grad + o["wd"] * w, o["clip_gradient"])
    st["mean"][:] = b1 * st["mean"] + (1 - b1) * g
    st["var"][:] = b2 * st["var"] + (1 - b2) * g * g
    lr_t = o["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
    return w - lr_t * st["mean"] / (np.sqrt(st["var"]) + o["epsilon"])


def rmsprop(o, st, w, grad, t):
    g1, g2, eps = o["gamma1"], o["gamma2"], o["epsilon"]
    g = clip(o["rescale_grad"] * grad + o["wd"] * w, o["clip_gradient"])
    st["n"][:] = (1 - g1) * g * g + g1 * st["n"]
    if o["centered"]:  # rmspropalex_update
        st["g"][:] = (1 - g1) * g + g1 * st["g"]
        st["delta"][:] = g2 * st["delta"] - o["lr"] * g / np.sqrt(st["n"] - st["g"] ** 2 + eps)
        w = w + st["delta"]
    else:
        w = w - o["lr"] * g / np.sqrt(st["n"] + eps)
    return w if o["clip_weights"] < 0 else np.clip(w, -o["clip_weights"], o["clip_weights"])


def adagrad(o, st, w, grad, t):
    g = clip(o["rescale_grad"] * grad, o["clip_gradient"])
    st["history"] += g * g
    return w - o["lr"] * (g / np.sqrt(st["history"] + o["eps"]) + o["wd"] * w)


def adadelta(o, st, w, grad, t):
    g = clip(o["rescale_grad"] * grad, o["clip_gradient"])
    rho, eps = o["rho"], o["epsilon"]
    st["acc_g"][:] = rho * st["acc_g"] + (1 - rho) * g * g
    delta = np.sqrt(st["acc_delta"] + eps) / np.sqrt(st["acc_g"] + eps) * g
    st["acc_delta"][:] = rho * st["acc_delta"] + (1 - rho) * delta * delta
    return w - (o["lr"] * delta + o["wd"] * w)


def adamax(o, st, w, grad, t):
    b1, b2 = o["beta1"], o["beta2"]
    g = clip(o["rescale_grad"] * grad + o["wd"] * w, o["clip_gradient"])
    st["mean"][:] = b1 * st["mean"] + (1 - b1) * g
    st["u"][:] = np.maximum(b2 * st["u"], np.abs(g))
    return w - o["lr"] / (1 - b1**t) * st["mean"] / st["u"]


def nadam(o, st, w, grad, t):
    b1, b2, sd = o["beta1"], o["beta2"], o["schedule_decay"]
    g = clip(o["rescale_grad"] * grad + o["wd"] * w, o["clip_gradient"])
    mu_t = b1 * (1 - 0.5 * 0.96 ** (t * sd))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
    o["m_schedule"] = o.get("m_schedule", 1.0) * mu_t  # one parameter: MXNet's optimizer-wide product
    sched_next = o["m_schedule"] * mu_next
    st["mean"][:] = b1 * st["mean"] + (1 - b1) * g
    st["var"][:] = b2 * st["var"] + (1 - b2) * g * g
    g_prime = g / (1 - o["m_schedule"])
    m_prime = st["mean"] / (1 - sched_next)
    v_prime = st["var"] / (1 - b2**t)
    m_bar = (1 - mu_t) * g_prime + mu_next * m_prime
    return w - o["lr"] * m_bar / (np.sqrt(v_prime) + o["epsilon"])


def signum(o, st, w, grad, t):
    m, lr = o["momentum"], o["lr"]
    if m == 0:  # signsgd_update
        return (1 - lr * o["wd"]) * w - lr * np.sign(grad)
    c = clip(o["rescale_grad"] * grad, o["clip_gradient"])
    st["mom"][:] = m * st["mom"] - (1 - m) * o["wd"] * w - (1 - m) * c
    assert np.abs(st["mom"]).min() > 1e-4, "a momentum near 0: its sign could differ in float"
    return (1 - lr * o["wd_lh"]) * w + lr * np.sign(st["mom"])


def ftml(o, st, w, grad, t):
    b1, b2 = o["beta1"], o["beta2"]
    g = clip(o["rescale_grad"] * grad + o["wd"] * w, o["clip_gradient"])
    st["v"][:] = b2 * st["v"] + (1 - b2) * g * g
    d_t = (1 - b1**t) / o["lr"] * (np.sqrt(st["v"] / (1 - b2**t)) + o["epsilon"])
    st["z"][:] = b1 * st["z"] + (1 - b1) * g - (d_t - b1 * st["d"]) * w
    st["d"][:] = d_t
    return -st["z"] / d_t


def lamb(o, st, w, grad, t):
    b1, b2, eps = o["beta1"], o["beta2"], o["epsilon"]
    g = clip(o["rescale_grad"] * grad, o["clip_gradient"])
    st["mean"][:] = b1 * st["mean"] + (1 - b1) * g
    st["var"][:] = b2 * st["var"] + (1 - b2) * g * g
    if o["bias_correction"]:
        u = (st["mean"] / (1 - b1**t)) / (np.sqrt(st["var"] / (1 - b2**t)) + eps) + o["wd"] * w
    else:
        u = st["mean"] / (np.sqrt(st["var"]) + eps) + o["wd"] * w
    r1, r2 = np.linalg.norm(w), np.linalg.norm(u)
    if o["lower_bound"] > 0:
        r1 = max(r1, o["lower_bound"])
    if o["upper_bound"] > 0:
        r1 = min(r1, o["upper_bound"])
    ratio = 1.0 if r1 == 0 or r2 == 0 else r1 / r2
    return w - o["lr"] * ratio * u


def adamw(o, st, w, grad, t):
    b1, b2 = o["beta1"], o["beta2"]
    eta = o["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t) if o["correct_bias"] else o["lr"]
    g = clip(o["rescale_grad"] * grad, o["clip_gradient"])
    st["mean"][:] = b1 * st["mean"] + (1 - b1) * g
    st["var"][:] = b2 * st["var"] + (1 - b2) * g * g
    return w - eta * (st["mean"] / (np.sqrt(st["var"]) + o["epsilon"]) + o["wd"] * w)


RULES = {f.__name__: f for f in (sgd, nag, adam, rmsprop, adagrad, adadelta, adamax, nadam, signum, ftml, lamb, adamw)}


def effective(case):
    o = dict(COMMON)
    o.update(DEFAULTS[case["optimizer"]])
    o.update(case["options"])
    o["lr"] = o["learning_rate"] * case["lr_mult"]
    o["wd"] = o["wd"] * case["wd_mult"]
    return o


def run_numpy(case, w0, grads):
    o = effective(case)
    names = STATE_NAMES[case["optimizer"]]
    if case["optimizer"] in ("sgd", "nag", "signum") and o["momentum"] == 0:
        names = []
    if case["optimizer"] == "rmsprop" and o["centered"]:
        names = ["n", "g", "delta"]
    st = {n: np.zeros(SHAPE) for n in names}
    w, weights = w0.copy(), []
    for t, g in enumerate(grads, start=1):
        w = RULES[case["optimizer"]](o, st, w, g, t)
        weights.append(w.copy())
    return weights, st


def run_torch(case, w0, grads):
    o = effective(case)
    p = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    same = lambda s: s  # noqa: E731
    if case["optimizer"] in ("sgd", "nag"):
        nesterov = case["optimizer"] == "nag" and o["momentum"] > 0
        opt = torch.optim.SGD([p], lr=o["lr"], momentum=o["momentum"], weight_decay=o["wd"], nesterov=nesterov,
                              foreach=False)
        # torch: buf = momentum * buf + g + wd * w, w -= lr * buf (nesterov: lr * (g + wd * w + momentum * buf));
        # MXNet's mom is -lr * buf at a constant rate.
        names = {"mom": ("momentum_buffer", lambda s: -o["lr"] * s)} if o["momentum"] > 0 else {}
    elif case["optimizer"] == "adadelta":
        assert o["wd"] == 0, "torch's Adadelta adds wd to the gradient: not MXNet's rule"
        opt = torch.optim.Adadelta([p], lr=o["lr"], rho=o["rho"], eps=o["epsilon"], weight_decay=0, foreach=False)
        names = {"acc_g": ("square_avg", same), "acc_delta": ("acc_delta", same)}
    elif case["optimizer"] == "adamax":
        assert o["clip_gradient"] < 0, "torch's Adamax adds wd after MXNet would clip"
        opt = torch.optim.Adamax([p], lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=0.0, weight_decay=o["wd"],
                                 foreach=False)
        names = {"mean": ("exp_avg", same), "u": ("exp_inf", same)}
    else:
        raise ValueError(case["optimizer"])
    weights = []
    for g in grads:
        pre = clip(o["rescale_grad"] * g, o["clip_gradient"])  # MXNet's first step, before the rule
        p.grad = torch.tensor(pre, dtype=torch.float64)
        opt.step()
        weights.append(p.detach().numpy().copy())
    state = opt.state[p]
    return weights, {ours: conv(state[theirs].numpy().copy()) for ours, (theirs, conv) in names.items()}


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


# (optimizer, reference, options, lr_mult, wd_mult, gradient scale, what the case covers)
CASES = [
    ("adagrad", "numpy", {}, 1, 1, 1.0, "Gluon's defaults"),
    ("adagrad", "numpy", {"learning_rate": 0.1, "wd": 0.05, "rescale_grad": 0.5, "clip_gradient": 0.6}, 2, 0.5, 1.5,
     "wd (decoupled), rescale_grad, clip_gradient, lr_mult, wd_mult"),
    ("adadelta", "torch", {"learning_rate": 0.5, "rescale_grad": 0.5, "clip_gradient": 0.6}, 1, 1, 1.5,
     "torch.optim.Adadelta (wd = 0), rescale_grad and clipping applied before"),
    ("adadelta", "numpy", {"wd": 0.1, "rescale_grad": 2.0, "clip_gradient": 1.0}, 1, 1, 1.0,
     "wd outside the rule (w -= lr * delta + wd * w): not torch's"),
    ("adamax", "torch", {"learning_rate": 0.05, "wd": 0.1, "rescale_grad": 0.5}, 1, 1, 1.0,
     "torch.optim.Adamax with eps = 0 (no clipping)"),
    ("adamax", "numpy", {"wd": 0.2, "rescale_grad": 2.0, "clip_gradient": 0.8}, 3, 1, 1.0,
     "wd inside the clip, lr_mult"),
    ("nadam", "numpy", {}, 1, 1, 1.0, "Gluon's defaults"),
    ("nadam", "numpy", {"learning_rate": 0.01, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6,
                        "schedule_decay": 0.05}, 1, 2, 1.5,
     "wd inside the clip, rescale_grad, wd_mult; torch 1.13's NAdam differs (mu_t twice in the next schedule)"),
    ("signum", "numpy", {"learning_rate": 0.05, "wd": 0.1, "wd_lh": 0.2, "rescale_grad": 0.5, "clip_gradient": 0.4}, 1,
     1, 1.0, "momentum 0.9, wd in the momentum, wd_lh outside the sign"),
    ("signum", "numpy", {"learning_rate": 0.05, "momentum": 0, "wd": 0.1}, 2, 1, 1.0, "signSGD (momentum 0)"),
    ("ftml", "numpy", {}, 1, 1, 1.0, "Gluon's defaults"),
    ("ftml", "numpy", {"learning_rate": 0.05, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6}, 1, 1, 1.5,
     "wd inside the clip, rescale_grad"),
    ("lamb", "numpy", {"learning_rate": 0.01, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6}, 1, 1, 1.5,
     "bias correction, wd in the direction, rescale_grad, clipping"),
    ("lamb", "numpy", {"learning_rate": 0.01, "bias_correction": 0, "upper_bound": 0.5, "wd": 0.01}, 1, 1, 1.0,
     "no bias correction, ||w|| bounded above"),
    ("adamw", "numpy", {"learning_rate": 0.01, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6}, 1, 1, 1.5,
     "bias-corrected eta on the decay too; epsilon on sqrt(var): not torch's AdamW"),
    ("adamw", "numpy", {"learning_rate": 0.01, "wd": 0.05, "correct_bias": 0}, 1, 2, 1.0, "correct_bias off, wd_mult"),
    # SGD, NAG, Adam and RMSProp, with options at their edges (added after the others, so that
    # the seeded inputs of the cases above stay as they were).
    ("sgd", "torch", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6}, 2,
     0.5, 1.5, "momentum, wd (outside the clip), rescale_grad, clip_gradient, lr_mult, wd_mult"),
    ("sgd", "torch", {"wd": 0.05}, 1, 1, 1.0, "Gluon's defaults (momentum 0: no state) with wd"),
    ("sgd", "torch", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.1}, 0, 1, 1.0,
     "lr_mult 0 with wd: no decay either (MXNet scales wd by the rate), the momentum stays 0"),
    ("sgd", "torch", {"learning_rate": 0.1, "momentum": 0.5, "wd": 0.2, "clip_gradient": 0.0}, 1, 1, 1.0,
     "clip_gradient 0: every gradient clipped to 0, only wd moves the weight"),
    ("sgd", "numpy", {"learning_rate": 0.01, "rescale_grad": 1e6, "clip_gradient": 1.0}, 1, 3, 1.0,
     "a huge rescale_grad clipped to +-1 (signSGD-like), momentum 0"),
    ("nag", "torch", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6}, 2,
     0.5, 1.5, "torch's SGD with nesterov: momentum, wd added after the clip, rescale_grad, multipliers"),
    ("nag", "torch", {"learning_rate": 0.1, "wd": 0.1}, 1, 1, 1.0, "Gluon's default momentum 0: an SGD step, no state"),
    ("nag", "numpy", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.1}, 0, 1, 1.0, "lr_mult 0 with wd: nothing moves"),
    ("adam", "numpy", {}, 1, 1, 1.0, "Gluon's defaults"),
    ("adam", "numpy", {"learning_rate": 0.01, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6}, 2, 0.5, 1.5,
     "wd inside the clip, bias-corrected rate, rescale_grad, multipliers; torch adds epsilon after the correction"),
    ("adam", "numpy", {"learning_rate": 0.01, "beta1": 0.0, "beta2": 0.5, "epsilon": 1e-3}, 1, 1, 1.0,
     "beta1 0 (no momentum), a short beta2, a large epsilon"),
    ("rmsprop", "numpy", {}, 1, 1, 1.0, "Gluon's defaults (plain); torch adds epsilon outside the root"),
    ("rmsprop", "numpy", {"learning_rate": 0.01, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.6,
                          "clip_weights": 0.5}, 2, 0.5, 1.5,
     "plain: wd inside the clip, rescale_grad, multipliers, clip_weights"),
    ("rmsprop", "numpy", {"learning_rate": 0.01, "centered": 1, "gamma1": 0.95, "gamma2": 0.8, "epsilon": 1e-4,
                          "wd": 0.05, "clip_gradient": 0.6}, 1, 2, 1.5, "centered (Graves): n, g and delta, wd_mult"),
]


def dump(doc):
    """JSON with a line per key of each case (arrays kept on their line), for readable diffs."""
    def obj(d, indent):
        pad = " " * indent
        return "{\n" + ",\n".join(f"{pad}{json.dumps(k)}: {json.dumps(v)}" for k, v in d.items()) + "}"
    cases = ",\n".join("  " + obj(c, 3) for c in doc["cases"])
    head = {k: v for k, v in doc.items() if k != "cases"}
    return obj(head, 1)[:-1] + ',\n "cases": [\n' + cases + "\n ]\n}\n"


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parent.parent / "tests" / "data" / "reference" / "optimizers.json"
    rng = np.random.default_rng(20240515)
    cases = []
    for optimizer, reference, options, lr_mult, wd_mult, scale, covers in CASES:
        case = {"optimizer": optimizer, "reference": reference, "covers": covers, "options": options,
                "lr_mult": lr_mult, "wd_mult": wd_mult}
        w0 = f32(rng.normal(size=SHAPE))
        grads = [f32(scale * rng.normal(size=SHAPE)) for _ in range(STEPS)]
        weights, states = run_numpy(case, w0, grads)
        if reference == "torch":
            t_weights, t_states = run_torch(case, w0, grads)
            for a, b in zip(weights + list(states.values()), t_weights + [t_states[n] for n in states]):
                assert np.allclose(a, b, rtol=1e-12, atol=1e-14), (case, a, b)
            weights, states = t_weights, t_states
        o = effective(case)
        if o["clip_gradient"] >= 0:
            assert any(np.abs(o["rescale_grad"] * g).max() > o["clip_gradient"] for g in grads), "clipping never active"
        case.update({"shape": list(SHAPE), "weight": w0.ravel().tolist(), "grads": [g.ravel().tolist() for g in grads],
                     "weights": [w.ravel().tolist() for w in weights],
                     "states": {n: states[n].ravel().tolist() for n in states}})
        cases.append(case)
    doc = {
        "about": "Reference steps of gluino's optimizers (tests/optim/test_<optimizer>.cpp); made by "
                 "scripts/make_optimizer_references.py, which says how.",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__},
        "cases": cases,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump(doc))
    print(f"{out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
