"""Episodes from real data: JSONL loading, the two meta-test protocols of splits.json, episode sampling.

Two protocols (../shared/data/splits.json):
- `label_splits`: within one dataset, labels are partitioned meta_train / meta_valid / meta_test.
- `cross_dataset`: meta-train on two datasets, meta-test on the third (its train_5/train_10 as support,
  its whole test set as query, all ways).
Labels are namespaced `<set>/<label>` as soon as two sets are mixed, so equal names never merge.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SETS = ("clinc150", "banking77", "hwu64")


class DataError(ValueError):
    """Missing or malformed data: raised with a message that names the file and the fix."""


def data_dir() -> Path:
    return Path(os.environ.get("ADAPTAGENT_DATA_DIR", REPO_ROOT.parent / "shared" / "data")).resolve()


@dataclass(frozen=True)
class Utterance:
    text: str
    label: str


@dataclass
class LabeledEmbeddings:
    """Embedded utterances: x float32 [n, d], y int64 [n] indexing `labels`, texts aligned with x."""
    x: np.ndarray
    y: np.ndarray
    labels: list[str]
    texts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.x.ndim != 2 or len(self.x) != len(self.y):
            raise DataError(f"x {self.x.shape} and y {self.y.shape} do not align")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.labels)):
            raise DataError("y indexes outside labels")

    def subset(self, labels: list[str]) -> "LabeledEmbeddings":
        """Only the rows whose label is in `labels` (re-indexed in that order)."""
        index = {name: i for i, name in enumerate(self.labels)}
        keep_old = np.array([index[n] for n in labels if n in index], dtype=np.int64)
        remap = np.full(len(self.labels), -1, dtype=np.int64)
        remap[keep_old] = np.arange(len(keep_old))
        mask = remap[self.y] >= 0
        return LabeledEmbeddings(self.x[mask], remap[self.y[mask]], [self.labels[i] for i in keep_old],
                                 [t for t, m in zip(self.texts, mask) if m] if self.texts else [])


def load_jsonl(set_name: str, split: str) -> list[Utterance]:
    """`split` like "train", "train_5", "valid", "test", "oos_test"."""
    path = data_dir() / set_name / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found: set ADAPTAGENT_DATA_DIR to the folder holding {set_name}/")
    return list(_jsonl(path, lambda row: Utterance(str(row["text"]), str(row["label"])),
                       'expected {"text", "label"} JSON'))


def _jsonl(path: Path, convert, expected: str):
    """convert(row) for each non-blank line; a malformed line is a DataError naming file, line and `expected`."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield convert(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DataError(f"{path}:{n}: {expected} ({err})") from err


@lru_cache(maxsize=1)
def _splits_cached(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_splits() -> dict:
    path = data_dir() / "splits.json"
    if not path.is_file():
        raise DataError(f"{path} not found: set ADAPTAGENT_DATA_DIR")
    return _splits_cached(str(path))


def load_texts(rel: str) -> list[str]:
    """The texts of one JSONL file, labelled or not (e.g. "sgd/utterances_train")."""
    path = data_dir() / f"{rel.removesuffix('.jsonl')}.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found: set ADAPTAGENT_DATA_DIR to the folder holding {rel.split('/')[0]}/")
    return list(_jsonl(path, lambda row: str(row["text"]), 'expected {"text"} JSON'))


def set_texts(set_name: str, skip: tuple[str, ...] = ()) -> set[str]:
    """Every text of a set, whatever its split (but the files named in `skip`): what a cross-clean corpus
    for that target must not contain."""
    return {text for path in sorted((data_dir() / set_name).glob("*.jsonl")) if path.stem not in skip
            for text in load_texts(f"{set_name}/{path.stem}")}


def _file(rel: str) -> list[Utterance]:
    set_name, split = rel.removesuffix(".jsonl").split("/")
    return [Utterance(u.text, f"{set_name}/{u.label}") for u in load_jsonl(set_name, split)]


@dataclass
class Partition:
    """Utterances of one protocol: meta_train / meta_valid for learning, meta_test never seen by it."""
    meta_train: list[Utterance]
    meta_valid: list[Utterance]
    meta_test: dict[str, list[Utterance]]  # "query" plus supports ("support_5", ...) or just "query"


def _drop_texts(rows: list[Utterance], banned: set[str]) -> list[Utterance]:
    # Duplicated texts across splits exist (data README): a meta-test text must not train the model.
    return [u for u in rows if u.text not in banned]


def cross_dataset_partition(target: str) -> Partition:
    spec = load_splits()["cross_dataset"][target]
    test = {k: _file(v) for k, v in spec["meta_test"].items()}
    banned = {u.text for rows in test.values() for u in rows}
    train = _drop_texts([u for f in spec["meta_train"] for u in _file(f)], banned)
    valid = _drop_texts([u for f in spec["meta_valid"] for u in _file(f)], banned)
    return Partition(train, valid, test)


def label_split_partition(set_name: str) -> Partition:
    """Labels partitioned 60/20/20. Train/valid rows come from train.jsonl, meta-test rows from test.jsonl."""
    spec = load_splits()["label_splits"][set_name]
    parts = {k: {f"{set_name}/{lab}" for lab in v} for k, v in spec.items()}
    rows = _file(f"{set_name}/train") + _file(f"{set_name}/valid")
    test = [u for u in _file(f"{set_name}/test") if u.label in parts["meta_test"]]
    banned = {u.text for u in test} | {u.text for u in rows if u.label in parts["meta_test"]}
    train = _drop_texts([u for u in rows if u.label in parts["meta_train"]], banned)
    valid = _drop_texts([u for u in rows if u.label in parts["meta_valid"]], banned)
    return Partition(train, valid, {"query": test})


def all_sets_partition(feedback: bool = False) -> Partition:
    """Every set's train split for meta_train, valid splits for meta_valid: what the default artifact learns.

    `feedback=True` (the scheduled job) also folds the service's exported corrections into meta_train
    (`load_feedback`); meta_valid stays the public sets, so runs remain comparable.
    """
    train = [u for s in SETS for u in _file(f"{s}/train")]
    valid = [u for s in SETS for u in _file(f"{s}/valid")]
    if feedback:
        banned = {u.text for u in valid}
        train += _drop_texts(load_feedback(), banned)
    return Partition(train, valid, {})


FEEDBACK_PREFIX = "feedback-"


def load_feedback(folder: Path | None = None) -> list[Utterance]:
    """Labelled utterances from the service's feedback export (`feedback/*.jsonl`, format in
    docs/architecture.md), as pulled by training/job.sh into `<data dir>/feedback/`.

    A row counts when it names the right label: `correctedLabel`, or `predictedLabel` confirmed by
    `rating == 1`; a thumbs-down without a correction says only what the label is not, so it is skipped.
    Each task is its own label group, `feedback-<taskId>/<label>`, so same-group episodes are drawn
    within one customer's task, like the edge adapts. Rows repeat across exports: the newest per
    `feedbackId` wins. Labels with fewer rows than an episode needs are simply not sampled.
    """
    folder = folder or data_dir() / "feedback"
    latest: dict[str, tuple[str, Utterance]] = {}

    def parse(row: dict) -> tuple[str, str, str, str, object]:
        label = row.get("correctedLabel") or (row.get("predictedLabel") if row.get("rating") == 1 else None)
        return str(row["feedbackId"]), str(row.get("createdAt") or ""), str(row["taskId"]), str(row["text"]), label

    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for fid, created, task, text, label in _jsonl(path, parse, "not a feedback export row (docs/architecture.md)"):
            if label and text.strip() and (fid not in latest or created >= latest[fid][0]):
                latest[fid] = (created, Utterance(text, f"{FEEDBACK_PREFIX}{task}/{label}"))
    return [u for _, u in latest.values()]


def label_index(rows: list[Utterance]) -> tuple[np.ndarray, list[str]]:
    labels = sorted({u.label for u in rows})
    index = {n: i for i, n in enumerate(labels)}
    return np.array([index[u.label] for u in rows], dtype=np.int64), labels


@dataclass
class Episode:
    """One task: support/query rows (indices into a LabeledEmbeddings) and their episode-local labels."""
    support: np.ndarray
    support_y: np.ndarray
    query: np.ndarray
    query_y: np.ndarray
    classes: np.ndarray  # global label ids, position = episode-local label


class EpisodeSampler:
    """N-way K-shot (+ query) episodes, or all-way (`ways=None`: every label with enough examples).

    Dynamic task sampling: labels are drawn with probability ∝ weight. Weights start ∝ 1/sqrt(count)
    (rarer labels more often) and `update(classes, per_class_loss)` raises the weight of labels the model
    gets wrong (harder tasks more often), smoothed by `hardness_momentum`. `dynamic=False` = uniform.
    """

    def __init__(self, data: LabeledEmbeddings, ways: int | None, shots: int, query: int,
                 seed: int = 0, dynamic: bool = False, hardness_momentum: float = 0.9,
                 same_group: bool = False):
        self.data, self.ways, self.shots, self.query = data, ways, shots, query
        self.rng = np.random.default_rng(seed)
        need = shots + query
        self.rows = [np.flatnonzero(data.y == c) for c in range(len(data.labels))]
        self.eligible = np.array([c for c, r in enumerate(self.rows) if len(r) >= need], dtype=np.int64)
        if ways is not None and len(self.eligible) < ways:
            raise DataError(f"{ways}-way {shots}-shot {query}-query needs {ways} labels with {need} examples; "
                            f"only {len(self.eligible)} have them")
        if len(self.eligible) < 2:
            raise DataError("episodes need at least 2 labels with enough examples")
        counts = np.array([len(self.rows[c]) for c in self.eligible], dtype=np.float64)
        self.dynamic, self.momentum = dynamic, hardness_momentum
        self.rarity = 1.0 / np.sqrt(counts)
        self.hardness = np.ones(len(self.eligible))
        self._pos = {int(c): i for i, c in enumerate(self.eligible)}
        # same_group: every episode's labels come from one dataset (the `<set>/` prefix), like a real Task;
        # mixed-domain episodes are far easier than anything the service will see.
        self.groups: list[np.ndarray] = []
        if same_group:
            names = np.array([data.labels[c].partition("/")[0] if "/" in data.labels[c] else "" for c in self.eligible])
            need_ways = 2 if ways is None else ways
            self.groups = [np.flatnonzero(names == g) for g in sorted(set(names))]
            self.groups = [g for g in self.groups if len(g) >= need_ways]
            if not self.groups:
                raise DataError(f"no dataset has {need_ways} labels with {need} examples for same-group episodes")

    def probabilities(self) -> np.ndarray:
        if not self.dynamic:
            return np.full(len(self.eligible), 1.0 / len(self.eligible))
        w = self.rarity * self.hardness
        return w / w.sum()

    def update(self, classes: np.ndarray, per_class_loss: np.ndarray) -> None:
        """Feed back per-class query loss of an episode (hardness = smoothed loss, floored)."""
        for c, loss in zip(classes, per_class_loss):
            i = self._pos[int(c)]
            self.hardness[i] = self.momentum * self.hardness[i] + (1 - self.momentum) * max(float(loss), 0.05)

    def sample(self) -> Episode:
        p = self.probabilities()
        pool = np.arange(len(self.eligible))
        if self.groups:
            mass = np.array([p[g].sum() for g in self.groups])
            pool = self.groups[self.rng.choice(len(self.groups), p=mass / mass.sum())]
        ways = len(pool) if self.ways is None else self.ways
        picked = self.rng.choice(pool, size=ways, replace=False, p=p[pool] / p[pool].sum())
        classes = self.eligible[picked]
        s, sy, q, qy = [], [], [], []
        for local, c in enumerate(classes):
            pick = self.rng.choice(self.rows[c], size=self.shots + self.query, replace=False)
            s.append(pick[:self.shots]); q.append(pick[self.shots:])
            sy.append(np.full(self.shots, local)); qy.append(np.full(self.query, local))
        return Episode(np.concatenate(s), np.concatenate(sy), np.concatenate(q), np.concatenate(qy), classes)

    def batch(self, tasks: int) -> dict[str, np.ndarray]:
        """`tasks` episodes stacked (same ways/shots/query, so no padding needed): arrays for vmap."""
        eps = [self.sample() for _ in range(tasks)]
        x = self.data.x
        return {"support_x": np.stack([x[e.support] for e in eps]), "support_y": np.stack([e.support_y for e in eps]),
                "query_x": np.stack([x[e.query] for e in eps]), "query_y": np.stack([e.query_y for e in eps]),
                "classes": np.stack([e.classes for e in eps])}
