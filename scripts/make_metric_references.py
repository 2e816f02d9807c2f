#!/usr/bin/python3
"""Writes tests/data/reference/metrics.json: reference values of gluino's metrics.

Independent of gluino and of MXNet: each metric is written here in NumPy from its definition
(scikit-learn is not assumed), with MXNet 1.x's averaging rule over batches.  Every case holds
its inputs (a few random batches, seed fixed), the value get() returns after each update, and
the values of get() and get_global() when reset_local() is called after batch `reset_local_after`
and the remaining batches are fed again.  Run: /usr/bin/python3 scripts/make_metric_references.py
"""
import json
import pathlib

import numpy as np

rng = np.random.default_rng(15)


def arr(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


# --- definitions ------------------------------------------------------------------------------
def binary_counts(label, pred):
    """(tp, fp, fn, tn) of class 1; the predicted class is the arg-max of the scores."""
    p = pred.argmax(axis=1) == 1
    y = label.astype(np.int64) == 1
    return np.array([np.sum(p & y), np.sum(p & ~y), np.sum(~p & y), np.sum(~p & ~y)], dtype=np.float64)


def f1_of(c):
    tp, fp, fn, _ = c
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def mcc_of(c):
    tp, fp, fn, tn = c
    if c.sum() == 0:
        return 0.0
    margins = [m for m in (tp + fp, tp + fn, tn + fp, tn + fn) if m != 0]  # a zero margin counts as 1
    return (tp * tn - fp * fn) / np.sqrt(np.prod(margins))


def pearson_of(label, pred):
    l, p = label.ravel(), pred.ravel()
    lc, pc = l - l.mean(), p - p.mean()
    return float(np.sum(lc * pc) / np.sqrt(np.sum(lc * lc) * np.sum(pc * pc)))


def pick(pred, label, axis):
    """pred's probability of each label along axis; label holds pred's shape without axis."""
    moved = np.moveaxis(pred, axis, -1).reshape(-1, pred.shape[axis])
    idx = label.ravel().astype(np.int64)
    return moved[np.arange(idx.size), np.clip(idx, 0, pred.shape[axis] - 1)]


class Metric:
    """MXNet 1.x bookkeeping: per-batch values (macro/regression) or statistics (micro/sums)."""

    def __init__(self, kind, options):
        self.kind, self.options = kind, options
        self.reset()

    def reset(self):
        self.local, self.glob = [], []

    def reset_local(self):
        self.local = []

    def update(self, label, pred):
        self.local.append((label, pred))
        self.glob.append((label, pred))

    def value(self, batches):
        if not batches:
            return float("nan")
        k, o = self.kind, self.options
        average = o.get("average", "macro")
        if k in ("f1", "mcc"):
            score = f1_of if k == "f1" else mcc_of
            if average == "macro":
                return float(np.mean([score(binary_counts(l, p)) for l, p in batches]))
            return float(score(sum(binary_counts(l, p) for l, p in batches)))
        if k == "mae":
            return float(np.mean([np.mean(np.abs(l - p)) for l, p in batches]))
        if k == "mse":
            return float(np.mean([np.mean((l - p) ** 2) for l, p in batches]))
        if k == "rmse":
            return float(np.mean([np.sqrt(np.mean((l - p) ** 2)) for l, p in batches]))
        if k == "cross-entropy":
            probs = np.concatenate([p[np.arange(l.size), l.astype(np.int64)] for l, p in batches])
            return float(np.mean(-np.log(probs + o.get("eps", 1e-12))))
        if k == "perplexity":
            logs, n = [], 0
            for l, p in batches:
                keep = np.ones(l.size, bool) if o["ignore_label"] is None else l.ravel() != o["ignore_label"]
                logs.append(-np.log(np.maximum(1e-10, pick(p, l, o.get("axis", -1))[keep])))
                n += int(keep.sum())
            return float(np.exp(np.sum(np.concatenate(logs)) / n))
        if k == "pearsonr":
            if average == "macro":
                return float(np.mean([pearson_of(l, p) for l, p in batches]))
            return pearson_of(np.concatenate([l.ravel() for l, _ in batches]),
                              np.concatenate([p.ravel() for _, p in batches]))
        raise ValueError(k)


# --- inputs -----------------------------------------------------------------------------------
def binary_batches(sizes):
    return [(rng.integers(0, 2, n).astype(np.float64), rng.random((n, 2))) for n in sizes]


def regression_batches(sizes, cols):
    out = []
    for n in sizes:
        shape = (n,) if cols == 0 else (n, cols)
        label = rng.normal(size=shape)
        out.append((label, label + rng.normal(scale=0.5, size=shape)))
    return out


def probability_batches(sizes, classes, extra=None):
    out = []
    for n in sizes:
        shape = (n, classes) if extra is None else (n, extra, classes)
        logits = rng.normal(size=shape)
        p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
        out.append((rng.integers(0, classes, shape[:-1]).astype(np.float64), p))
    return out


def case(kind, options, batches, reset_local_after):
    m = Metric(kind, options)
    after_each = []
    for l, p in batches:
        m.update(l, p)
        after_each.append(m.value(m.local))
    m.reset()
    for l, p in batches[:reset_local_after]:
        m.update(l, p)
    m.reset_local()
    for l, p in batches[reset_local_after:]:
        m.update(l, p)
    return {"metric": kind, "options": options,
            "batches": [{"labels": arr(l), "preds": arr(p)} for l, p in batches],
            "after_each": after_each, "reset_local_after": reset_local_after,
            "local": m.value(m.local), "global": m.value(m.glob)}


cases = []
for average in ("macro", "micro"):
    cases.append(case("f1", {"average": average}, binary_batches([6, 9, 4]), 1))
    cases.append(case("mcc", {"average": average}, binary_batches([7, 5, 10]), 2))
    cases.append(case("pearsonr", {"average": average}, regression_batches([5, 8, 3], 2), 1))
for kind in ("mae", "mse", "rmse"):
    cases.append(case(kind, {}, regression_batches([4, 7, 2], 0), 1))
    cases.append(case(kind, {}, regression_batches([3, 5], 3), 1))
cases.append(case("cross-entropy", {"eps": 1e-12}, probability_batches([5, 3, 8], 4), 2))
cases.append(case("perplexity", {"ignore_label": None, "axis": -1}, probability_batches([4, 6], 3), 1))
batches = probability_batches([3, 2, 4], 5, extra=2)
batches[0][0][0, 1] = batches[2][0][1, 0] = -1  # ignored labels
cases.append(case("perplexity", {"ignore_label": -1, "axis": -1}, batches, 1))
batches = [(l, np.moveaxis(p, -1, 1).copy()) for l, p in probability_batches([3, 4], 4, extra=2)]
cases.append(case("perplexity", {"ignore_label": None, "axis": 1}, batches, 1))

out = pathlib.Path(__file__).resolve().parent.parent / "tests/data/reference/metrics.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"generator": "scripts/make_metric_references.py (NumPy " + np.__version__ + ")",
                           "cases": cases}, indent=None, separators=(",", ":")) + "\n")
print(f"{out}: {len(cases)} cases")
