"""Export: ONNX parity with PyTorch within the stated tolerance, manifest hashes, refusal on mismatch,
immutable publishing, and the D1 registration statements against the real migration."""
import copy
import json
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training import export, manifest, publish
from training.model import MetaModel, ModelConfig
from training.tests.standin import TinyStaticEncoder

torch.set_num_threads(2)
REPO = Path(__file__).resolve().parents[2]


def trained_like(head_init="prototypes", seed=0):
    torch.manual_seed(seed)
    m = MetaModel(ModelConfig(dim=16, features=8, hidden=12, head_init=head_init, steps=3, learn_step_sizes=True))
    with torch.no_grad():  # as if meta-trained: nothing left at its identity/zero initialisation
        for p in m.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return m


@pytest.mark.parametrize("head_init", ["prototypes", "learned"])
def test_artifact_parity_and_manifest(tmp_path, head_init):
    m = trained_like(head_init)
    man = export.build_artifact(m, TinyStaticEncoder(), tmp_path, "meta_sgd", {"x": 1}, {"acc": 0.5})
    assert re.fullmatch(r"\d{8}-\d{6}-meta_sgd-static", man["version"])
    assert man["parity"]["max_abs_diff"] <= man["tolerance"]["atol"]
    names = {f["name"] for f in man["files"]}
    assert {"adapter.onnx", "adapt.onnx", "head.onnx", "tokenizer.json", "golden.json", "static_table.i8"} <= names
    for f in man["files"]:  # the hashes and sizes are those of the files on disk
        assert manifest.sha256_file(tmp_path / f["name"]) == f["sha256"]
        assert (tmp_path / f["name"]).stat().st_size == f["bytes"]
    adapt = next(f for f in man["files"] if f["name"] == "adapt.onnx")
    assert adapt["inputs"][1] == {"name": "support_labels", "dtype": "float32", "shape": ["support", "ways"]}
    assert manifest.verify_artifact(tmp_path)["version"] == man["version"]
    adapter = next(f for f in man["files"] if f["name"] == "adapter.onnx")
    assert adapter["outputs"] == [{"name": "features", "dtype": "float32", "shape": ["batch", 8]}]

    # golden.json reproduces through onnxruntime for a Worker-style consumer
    golden = json.loads((tmp_path / "golden.json").read_text())
    sess = ort.InferenceSession(str(tmp_path / "adapt.onnx"))
    out = sess.run(None, {"support_features": np.array(golden["adapt"]["support_features"], np.float32),
                          "support_labels": np.array(golden["adapt"]["support_labels"], np.float32)})
    np.testing.assert_allclose(out[0], golden["adapt"]["weight"], atol=1e-4, rtol=1e-3)
    assert golden["input_ids"][6] == [101, 102] and np.all(np.array(golden["embedding"][6]) == 0)
    assert len(golden["input_ids"][7]) == 128  # truncated to encoder.max_tokens

    # a new number of ways and a new support size go through the same graph (dynamic axes)
    sf = np.random.default_rng(1).normal(size=(19, 8)).astype(np.float32)
    labels = np.eye(7, dtype=np.float32)[np.r_[np.arange(7), np.arange(12) % 7]]
    w, b, lb, la, ab, aa = sess.run(None, {"support_features": sf, "support_labels": labels})
    assert w.shape == (7, 8) and b.shape == (7,) and la < lb


def test_refuses_to_publish_a_mismatch(tmp_path, monkeypatch):
    m = trained_like()
    real = export.export_meta_model

    def export_a_different_model(model, out):
        other = copy.deepcopy(model)
        with torch.no_grad():
            other.log_step_w.mul_(1.5)  # what a stale or mis-traced graph would look like
        real(other, out)

    monkeypatch.setattr(export, "export_meta_model", export_a_different_model)
    with pytest.raises(export.ExportMismatch):
        export.build_artifact(m, TinyStaticEncoder(), tmp_path, "meta_sgd", {})
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(manifest.ManifestError):
        manifest.verify_artifact(tmp_path)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact")
    export.build_artifact(trained_like(), TinyStaticEncoder(), out, "proto_maml", {})
    return out


def test_tampered_file_is_detected(artifact, tmp_path):
    copy_dir = tmp_path / "a"
    copy_dir.mkdir()
    for p in artifact.iterdir():
        (copy_dir / p.name).write_bytes(p.read_bytes())
    data = bytearray((copy_dir / "head.onnx").read_bytes()); data[-1] ^= 1
    (copy_dir / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(manifest.ManifestError):
        manifest.verify_artifact(copy_dir)


def test_publish_local_never_overwrites(artifact, tmp_path):
    dest = publish.publish_local(artifact, tmp_path)
    assert manifest.verify_artifact(dest)
    with pytest.raises(publish.AlreadyPublished):
        publish.publish_local(artifact, tmp_path)


def test_transformer_encoder_export_parity_and_int8(tmp_path):
    """The teacher as encoder.onnx matches TeacherEncoder within tolerance; int8 stays close (cosine)."""
    from training.encoders import TeacherEncoder
    torch.manual_seed(0)
    m = MetaModel(ModelConfig(dim=384, features=32, hidden=0, steps=2))
    man = export.build_artifact(m, TeacherEncoder(), tmp_path, "protonet", {})
    assert man["encoder"]["kind"] == "transformer" and man["version"].endswith("-protonet-transformer")
    assert {"encoder.onnx", "encoder.int8.onnx"} <= {f["name"] for f in man["files"]}
    assert man["parity"]["max_abs_diff"] <= man["tolerance"]["atol"]
    assert man["metrics"]["int8_vs_fp32_cosine_min"] > 0.9
    enc = next(f for f in man["files"] if f["name"] == "encoder.onnx")
    assert [i["name"] for i in enc["inputs"]] == ["input_ids", "attention_mask"]
    assert enc["outputs"][0]["shape"] == ["batch", 384]


def test_refine_rounds_export_and_parity(tmp_path):
    """A cg model with refinement rounds ships refine.onnx, named in the manifest; golden.json's head is
    adapt.onnx's followed by the rounds of refine.onnx (the Worker's path), not adapt.onnx's alone."""
    from training import algorithms

    m = MetaModel(ModelConfig(dim=16, features=16, hidden=0, steps=2, solver="cg", prior=1.0, learn_step_sizes=False,
                              refine_steps=2, refine_max_rounds=2, refine_budget=10**6)).eval()
    man = export.build_artifact(m, TinyStaticEncoder(), tmp_path, "edge_no_meta", {"x": 1})
    assert man["adaptation"]["refine"] == {"file": "refine.onnx", "steps": 2, "max_rounds": 2, "budget": 10**6}
    assert next(f for f in man["files"] if f["name"] == "refine.onnx")["role"] == "refine"
    assert man["parity"]["max_abs_diff"] <= man["tolerance"]["atol"]
    golden = json.loads((tmp_path / "golden.json").read_text())["adapt"]
    sf, sl = (np.array(golden[k], np.float32) for k in ("support_features", "support_labels"))
    run = lambda name, feed: ort.InferenceSession(str(tmp_path / name)).run(None, feed)  # noqa: E731
    w, b, *_ = run("adapt.onnx", {"support_features": sf, "support_labels": sl})
    assert np.abs(w - np.array(golden["weight"])).max() > 1e-3  # the rounds move the head
    for _ in range(algorithms.refine_rounds(2, 2, 10**6, *sl.shape)):
        w, b, loss_after, acc_after = run("refine.onnx", {"support_features": sf, "support_labels": sl,
                                                          "start_weight": w, "start_bias": b})
    np.testing.assert_allclose(w, golden["weight"], atol=1e-4, rtol=1e-3)
    np.testing.assert_allclose(b, golden["bias"], atol=1e-4, rtol=1e-3)
    assert float(loss_after) == pytest.approx(golden["loss_after"], abs=1e-4)
    (tmp_path / "refine.onnx").unlink()  # a manifest naming a missing refine graph does not verify
    with pytest.raises(manifest.ManifestError):
        manifest.verify_artifact(tmp_path)
