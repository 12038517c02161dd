"""Non-meta-learned few-shot classifiers on a frozen encoder: the bar meta-learning has to clear.

Each baseline is `fit_predict(support_x, support_y, query_x) -> predicted labels` on raw encoder
embeddings; all of them L2-normalise first (the teacher's embeddings already are, the static student's
are means of table rows), so they compare directions the way the edge's cosine retrieval does.
Hyperparameters (logistic regression's C, kNN's k) are chosen on meta-valid tasks by `select`, never
on the evaluation target.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def prototypes(sx: np.ndarray, sy: np.ndarray, qx: np.ndarray) -> np.ndarray:
    """Nearest class mean by cosine (Snell et al.'s classifier without any training)."""
    ways = int(sy.max()) + 1
    sx = _unit(sx)
    protos = _unit(np.stack([sx[sy == c].mean(0) for c in range(ways)]))
    return (_unit(qx) @ protos.T).argmax(1)


def logistic_regression(sx: np.ndarray, sy: np.ndarray, qx: np.ndarray, C: float = 10.0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=1000)
    clf.fit(_unit(sx), sy)
    return clf.predict(_unit(qx))


def knn(sx: np.ndarray, sy: np.ndarray, qx: np.ndarray, k: int = 3) -> np.ndarray:
    """Cosine kNN, votes weighted by similarity (k=1 is nearest example)."""
    ways = int(sy.max()) + 1
    sims = _unit(qx) @ _unit(sx).T
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    votes = np.zeros((len(qx), ways))
    rows = np.arange(len(qx))[:, None]
    np.add.at(votes, (np.broadcast_to(rows, top.shape), sy[top]), sims[rows, top])
    return votes.argmax(1)


Classifier = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Baseline:
    name: str
    make: Callable[..., Classifier]
    grid: list[dict] = field(default_factory=lambda: [{}])
    chosen: dict = field(default_factory=dict)

    def classifier(self) -> Classifier:
        return self.make(**self.chosen)


def _with(fn, **kw) -> Classifier:
    return lambda sx, sy, qx: fn(sx, sy, qx, **kw)


BASELINES = {
    "prototypes": lambda: Baseline("prototypes", lambda: prototypes),
    "logreg": lambda: Baseline("logreg", lambda C: _with(logistic_regression, C=C),
                               [{"C": c} for c in (1.0, 10.0, 100.0)]),
    "knn": lambda: Baseline("knn", lambda k: _with(knn, k=k), [{"k": k} for k in (1, 3, 5)]),
}


def select(baseline: Baseline, tasks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Baseline:
    """Picks the grid point with the best mean accuracy on meta-valid tasks (sx, sy, qx, qy)."""
    best, best_acc = baseline.grid[0], -1.0
    for params in baseline.grid:
        clf = baseline.make(**params)
        acc = float(np.mean([(clf(sx, sy, qx) == qy).mean() for sx, sy, qx, qy in tasks]))
        if acc > best_acc:
            best, best_acc = params, acc
    baseline.chosen = dict(best)
    return baseline
