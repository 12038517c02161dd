"""Baselines and the evaluation plumbing on synthetic, separable data (fast: no encoder, no files)."""
import numpy as np
import pytest

from training import baselines
from training.evaluate import _valid_tasks, ci95, meta_classifier, published_anchors
from training.tests.synthetic import separable


def _task(data, shots=5, seed=0):
    from training.data import EpisodeSampler

    e = EpisodeSampler(data, None, shots, 10, seed=seed).sample()
    return data.x[e.support], e.support_y, data.x[e.query], e.query_y


@pytest.mark.parametrize("name", sorted(baselines.BASELINES))
def test_baselines_beat_chance_by_far_on_separable_data(name):
    data = separable(n_labels=12, per_label=20, dim=16, noise=0.3)
    b = baselines.BASELINES[name]()
    clf = b.make(**b.grid[0])
    sx, sy, qx, qy = _task(data)
    acc = (clf(sx, sy, qx) == qy).mean()
    assert acc > 0.8  # chance is 1/12


def test_baselines_fail_on_noise():
    rng = np.random.default_rng(0)
    sx, qx = rng.normal(size=(50, 8)), rng.normal(size=(500, 8))
    sy, qy = np.repeat(np.arange(10), 5), rng.integers(0, 10, 500)
    assert (baselines.prototypes(sx, sy, qx) == qy).mean() < 0.2


def test_knn_k1_is_the_nearest_example():
    sx = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    sy = np.array([0, 1, 1])
    assert baselines.knn(sx, sy, np.array([[0.95, 0.08]]), k=1).tolist() == [1]
    assert baselines.knn(sx, sy, np.array([[1.0, 0.0]]), k=1).tolist() == [0]


def test_select_picks_the_best_grid_point():
    data = separable(n_labels=8, per_label=20, noise=0.3)
    tasks = _valid_tasks(data, None, 5, 5, 2, seed=1)
    b = baselines.Baseline("toy", lambda bad: (lambda sx, sy, qx: np.zeros(len(qx), int) if bad
                                               else baselines.prototypes(sx, sy, qx)),
                           [{"bad": True}, {"bad": False}])
    assert baselines.select(b, tasks).chosen == {"bad": False}


def test_ci95():
    assert ci95([0.5, 0.5, 0.5]) == 0.0
    v = np.random.default_rng(0).uniform(size=600)
    assert ci95(v) == pytest.approx(1.96 * v.std(ddof=1) / np.sqrt(600))


def test_meta_classifier_runs_the_edge_path_for_any_number_of_ways():
    from training.algorithms import model_config_for
    from training.model import MetaModel

    data = separable(n_labels=30, per_label=20, dim=16, noise=0.3)
    model = MetaModel(model_config_for("meta_sgd", dim=16, features=16, hidden=0)).eval()
    clf = meta_classifier(model)
    for ways_data in (data.subset(data.labels[:3]), data):  # 3-way and 30-way with one model
        sx, sy, qx, qy = _task(ways_data)
        assert (clf(sx, sy, qx) == qy).mean() > 0.7


def test_published_anchors_are_the_readme_table():
    a = published_anchors()
    assert a["CPFT (Zhang et al. 2021)"]["banking77"] == {"5": 80.86, "10": 87.20}
    assert a["USE+ConveRT (Casanueva et al. 2020)"]["hwu64"]["10"] == 85.83


def test_report_tables_come_from_the_rows(tmp_path):
    import json

    from training import report

    rows = [{"split": "cross", "target": s, "encoder": e, "method": "prototypes", "shots": k, "accuracy": acc}
            for s in report.SETS for k in (5, 10) for e, acc in (("teacher", 0.8), ("static", 0.75))]
    assert "| cross | prototypes | -5.00 | -5.00 | 6 |" in report.gap_table(rows)
    assert "| prototypes | teacher | 80.00 |" in report.cross_table(rows, published_anchors())
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for f, part in ((a, rows[:6]), (b, rows[6:])):
        f.write_text(json.dumps({"created": "x", "machine": "m", "settings": {}, "seconds": 1, "results": part}))
    report.merge(str(tmp_path / "m.json"), [str(a), str(b)])
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["results"] == rows and len(merged["runs"]) == 2


def test_static_meta_rows_name_the_recipe_they_were_built_with():
    """Every static-meta* encoder builds the default student's recipe with its own changes (and the cache key
    follows them), and an account encoder re-tunes the base its name says."""
    from dataclasses import replace

    from training import evaluate
    from training.distill import SHIPPED, default_recipe

    for name, changes in evaluate.STATIC_META_VARIANTS.items():
        assert name in evaluate.ENCODERS and name.startswith("static-meta")
        assert (replace(default_recipe("hwu64"), **changes) == default_recipe("hwu64")) == (not changes)
    assert evaluate.STATIC_META_VARIANTS["static-meta-setsstop"] == {"stop_on": "sets-valid"}
    assert default_recipe("hwu64").stop_on == "sgd" and default_recipe("hwu64").corpus == "sets-clean"
    assert evaluate._account_base("static-meta-account", "hwu64") == default_recipe("hwu64")
    assert evaluate._account_base("static-account", "hwu64") == replace(SHIPPED, corpus="sets-clean")


def test_a_run_adds_its_rows_to_the_report_without_losing_the_others():
    from training.evaluate import merge_into

    row = lambda enc, shots, acc: {"split": "cross", "target": "hwu64", "encoder": enc, "method": "logreg",  # noqa: E731
                                   "ways": 64, "shots": shots, "accuracy": acc}
    existing = {"created": "old", "machine": "m", "settings": {}, "seconds": 1, "anchors": {},
                "results": [row("a", 5, 0.5), row("a", 10, 0.6), row("b", 5, 0.7)]}
    new = {"created": "new", "machine": "m2", "settings": {"x": 1}, "seconds": 2, "results": [row("a", 5, 0.55)]}
    merged = merge_into(existing, new)
    assert merged["results"] == [row("a", 10, 0.6), row("b", 5, 0.7), row("a", 5, 0.55)]
    assert merged["created"] == "old" and merged["runs"] == [{"created": "new", "machine": "m2", "settings": {"x": 1}, "seconds": 2}]
    assert len(merge_into(merged, new)["runs"]) == 2 and merge_into(merged, new)["results"] == merged["results"]
