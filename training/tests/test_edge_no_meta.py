"""edge_no_meta, the default artifact's method: the model evaluate.py measures is the model export ships,
and the exported ONNX graphs predict what evaluate.py's edge path predicts (fast: synthetic, 16-d)."""
import json
import re

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training import algorithms, evaluate, export
from training.config import PRESETS, load_config
from training.tests.standin import TinyStaticEncoder
from training.tests.synthetic import separable

torch.set_num_threads(1)


def _evaluated_classifier(train_set):
    """evaluate.py's own edge_no_meta classifier (the code behind the benchmark rows)."""
    clfs, info = evaluate._classifiers(evaluate.NO_META, "cross:banking77", "static", None, train_set, None,
                                       {5: []}, evaluate.EvalConfig())
    return clfs[5], info["model"]


def test_one_name_and_one_model():
    assert evaluate.NO_META == algorithms.NO_META and algorithms.NO_META in algorithms.BUILDABLE
    data = separable(n_labels=5, per_label=4, dim=16)
    _, evaluated = _evaluated_classifier(data)
    assert evaluated == algorithms.edge_no_meta_model(16).constructor_args()
    # ...and the one every published edge_no_meta row was measured with (read from the results, not typed)
    rows = [r for r in json.loads(evaluate.EVALUATION_JSON.read_text())["results"] if r["method"] == "edge_no_meta"]
    assert rows and all(r["model"] == algorithms.edge_no_meta_model(r["model"]["dim"]).constructor_args() for r in rows)


def test_exported_graphs_predict_like_evaluate(tmp_path):
    data = separable(n_labels=7, per_label=12, dim=16, noise=0.6, seed=3)
    sel = np.concatenate([np.flatnonzero(data.y == c)[:3] for c in range(7)])
    rest = np.setdiff1d(np.arange(len(data.y)), sel)
    sx, sy, qx, qy = data.x[sel], data.y[sel], data.x[rest], data.y[rest]
    clf, _ = _evaluated_classifier(data)
    want = clf(sx, sy, qx)

    man = export.build_artifact(algorithms.edge_no_meta_model(16), TinyStaticEncoder(), tmp_path,
                                algorithms.NO_META, {"algorithm": algorithms.NO_META})
    assert man["algorithm"] == "edge_no_meta" and re.fullmatch(r"\d{8}-\d{6}-edge_no_meta-static", man["version"])
    assert man["adaptation"]["steps"] == algorithms.NO_META_MODEL["steps"]
    assert man["adaptation"]["solver"] == algorithms.NO_META_MODEL["solver"] == "cg" and man["adaptation"]["prior"] == algorithms.NO_META_MODEL["prior"]
    assert man["adaptation"]["temperature"] == pytest.approx(10.0)
    assert man["parity"]["max_abs_diff"] <= man["tolerance"]["atol"]

    run = lambda name, feed: ort.InferenceSession(str(tmp_path / name)).run(None, feed)  # noqa: E731
    sf = run("adapter.onnx", {"embedding": sx.astype(np.float32)})[0]
    qf = run("adapter.onnx", {"embedding": qx.astype(np.float32)})[0]
    onehot = np.eye(7, dtype=np.float32)[sy]
    weight, bias, loss_before, loss_after, *_ = run("adapt.onnx", {"support_features": sf, "support_labels": onehot})
    refine = man["adaptation"]["refine"]
    assert refine["file"] == "refine.onnx" and refine["steps"] == algorithms.NO_META_MODEL["refine_steps"]
    rounds = algorithms.refine_rounds(refine["steps"], refine["max_rounds"], refine["budget"], *onehot.shape)
    assert rounds >= 1  # a task this small gets its rounds: the Worker's path runs refine.onnx too
    for _ in range(rounds):
        weight, bias, refined_loss, _ = run("refine.onnx", {"support_features": sf, "support_labels": onehot,
                                                            "start_weight": weight, "start_bias": bias})
        assert refined_loss <= loss_after + 1e-6
        loss_after = refined_loss
    got = run("head.onnx", {"features": qf, "weight": weight, "bias": bias})[0].argmax(-1)
    assert loss_after < loss_before
    np.testing.assert_array_equal(got, want)
    assert (got == qy).mean() > 0.5  # a real episode, not a degenerate one


def test_default_preset_ships_edge_no_meta_and_overrides_still_work():
    assert load_config("default").algorithm == "edge_no_meta"
    assert load_config("default", algorithm="meta_sgd").algorithm == "meta_sgd"
    assert load_config("smoke").algorithm == "meta_sgd" and "algorithm" not in PRESETS["smoke"]
    with pytest.raises(ValueError):  # nothing to meta-train: meta_train refuses it instead of guessing
        from training.train import meta_train
        data = separable(n_labels=5, per_label=10, dim=16)
        meta_train(load_config("default"), data, data)


def test_manifest_cites_the_measured_rows():
    m = evaluate.measured_cross_dataset("edge_no_meta", "static-meta",
                                        model_args=algorithms.edge_no_meta_model(256).constructor_args())
    rows = [r for r in json.loads(evaluate.EVALUATION_JSON.read_text())["results"]
            if (r["split"], r["method"], r["encoder"]) == ("cross", "edge_no_meta", "static-meta")]
    assert m["source"] == "docs/results/evaluation.json" and m["cells"] == len(rows) == 6
    assert m["same_model_as_evaluated"] is True
    assert m["mean_pct"] == round(100 * float(np.mean([r["accuracy"] for r in rows])), 2)
    assert {t: set(v) for t, v in m["accuracy_pct"].items()} == {t: {"5", "10"} for t in ("banking77", "clinc150", "hwu64")}
    assert "error" in evaluate.measured_cross_dataset("edge_no_meta", "no-such-encoder")


def test_shipped_step_is_the_one_selected_on_meta_valid():
    """The default's solver, steps and prior are what tune_edge_no_meta selected on meta-valid among the
    configurations within the latency budget (read, not typed)."""
    from training import tune_edge_no_meta as tune

    selection = json.loads((evaluate.EVALUATION_JSON.parent / "edge_no_meta_selection.json").read_text())
    shipped = algorithms.NO_META_MODEL
    assert selection["selected"] == {"solver": shipped["solver"], "steps": shipped["steps"], "prior": shipped["prior"],
                                     "rounds": shipped["refine_max_rounds"]}
    assert selection["selected"] == selection["shipped"]
    # the shipped refinement is the grid's: rounds of REFINE_STEPS for tasks up to REFINE_UNITS
    assert {k: shipped[k] for k in ("refine_steps", "refine_max_rounds", "refine_budget")} == {
        k: v for k, v in tune.model_overrides(selection["selected"]).items() if k.startswith("refine_")}
    assert (selection["refine_steps"], selection["refine_units"]) == (tune.REFINE_STEPS, tune.REFINE_UNITS)
    # the most steps the latency budget affords, and at those steps the prior with the best meta-valid mean
    steps = max(r["total_steps"] for r in selection["rows"] if r["total_steps"] <= selection["max_steps"])
    at_budget = [r for r in selection["rows"] if r["total_steps"] == steps]
    chosen = next(r for r in at_budget if {k: r.get(k) for k in selection["selected"]} == selection["selected"])
    assert chosen["meta_valid_mean"] == max(r["meta_valid_mean"] for r in at_budget)
    assert any(r["total_steps"] > selection["max_steps"] for r in selection["rows"])  # larger ones were scored, not chosen
