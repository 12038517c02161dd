"""An account's own edge encoder: the base table re-tuned on the account's texts only where they need it,
and the artifact that ships it (the base's files byte for byte but the table, its golden vectors redone)."""
import json
from dataclasses import replace

import numpy as np
import pytest

from training import data
from training.account_encoder import AccountTuneConfig, build_account_artifact, read_account_texts, tune_for_account
from training.distill import SHIPPED, _bags, _tokenizer, distill, projection_basis
from training.encoders import REPO_ROOT, TeacherEncoder, embed

DEFAULT = REPO_ROOT / "models" / "static"  # the static artifact: the transformer default is not re-tuned


def _cos(a, b):
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float((a * b).sum(1).mean())


def test_re_tuning_fits_the_account_s_domain_and_moves_only_its_rows():
    # A tiny base student of clinc150 texts; the "account" speaks banking77, a domain the base never read.
    clinc = [u.text for u in data.load_jsonl("clinc150", "train")][:300]
    bank = [u.text for u in data.load_jsonl("banking77", "train")]
    account, held_out = bank[:240], bank[240:300]
    teacher = TeacherEncoder()
    vocab = sorted({i for e in _tokenizer().encode_batch(clinc + bank[:300]) for i in e.ids})
    cfg = replace(SHIPPED, dim=32, epochs=20, patience=20, lr=1e-2, shared_map=False)
    base, _ = distill(cfg, clinc[:250], clinc[250:], teacher, token_ids=vocab)
    basis, _ = projection_basis(embed(teacher, clinc[:250]), cfg.dim)

    tuned, report = tune_for_account(base, basis, teacher, account, clinc[:250], clinc[250:],
                                     AccountTuneConfig(epochs=20, patience=20, lr=1e-2))
    target = embed(teacher, held_out) @ basis
    assert _cos(tuned.encode(held_out), target) > _cos(base.encode(held_out), target) + 0.02, report
    assert report["after"]["account_valid_cos"] > report["before"]["account_valid_cos"]
    assert tuned.tag != base.tag and tuned.table.shape == base.table.shape
    # Rows no tuning text uses are exactly the base's (same int8 values and scales).
    used = set(np.concatenate(_bags(account + clinc[:250], base.max_tokens, list(base.special_ids), base.rows)).tolist())
    untouched = [r for r in range(len(base.table)) if r not in used]
    assert untouched, "the tiny vocabulary has rows only the held-out texts use"
    np.testing.assert_array_equal(tuned.table[untouched], base.table[untouched])
    np.testing.assert_array_equal(tuned.scales[untouched], base.scales[untouched])
    assert 0 < report["rows_moved"] <= len(used)


def test_too_few_texts_are_refused():
    from training.account_encoder import base_student

    student, _ = base_student(DEFAULT)
    with pytest.raises(ValueError, match="at least 10 distinct texts"):
        tune_for_account(student, np.zeros((384, 256), np.float32), None, ["hi"] * 50, [], [])


def test_account_artifact_keeps_the_base_s_graphs_and_names_its_account(tmp_path):
    texts_file = tmp_path / "texts.jsonl"
    bank = [u.text for u in data.load_jsonl("banking77", "train")][:200]
    texts_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in bank))
    (tmp_path / "bad.jsonl").write_text('{"no_text": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_account_texts([tmp_path / "bad.jsonl"])
    teacher = TeacherEncoder()
    sample = [u.text for u in data.load_jsonl("clinc150", "train")][:400] + bank
    basis, _ = projection_basis(embed(teacher, sample), 256)  # a stand-in basis: the test checks the plumbing
    out = tmp_path / "artifact"
    manifest = build_account_artifact(DEFAULT, read_account_texts([texts_file]), "acct-123", out,
                                      AccountTuneConfig(epochs=1, patience=1), basis=basis, teacher=teacher)
    base = json.loads((DEFAULT / "manifest.json").read_text())
    assert manifest["account"]["id"] == "acct-123" and manifest["account"]["base_version"] == base["version"]
    assert manifest["version"].endswith("-acct-acct-123") and manifest["version"] != base["version"]
    ours = {f["name"]: f["sha256"] for f in manifest["files"]}
    theirs = {f["name"]: f["sha256"] for f in base["files"]}
    assert ours.keys() == theirs.keys()
    changed = {n for n in ours if ours[n] != theirs[n]}
    assert changed == {"static_table.i8", "static_scales.f32", "golden.json"}  # graphs, tokenizer, rows map shared
    assert "cross_dataset" not in manifest["metrics"]  # the gate judges it on the account's tasks, not the base's cells
    assert manifest["encoder"]["tag"] != base["encoder"]["tag"]
    if "context" in base["encoder"]["files"]:
        assert manifest["encoder"]["tag"].endswith(base["encoder"]["tag"].rsplit("-", 1)[1])  # same context graph
    # The golden vectors are what this artifact's own files compute.
    from training.students import artifact_encoder

    golden = json.loads((out / "golden.json").read_text())
    enc = artifact_encoder(out)
    np.testing.assert_allclose(np.array(golden["embedding"]), enc.encode(golden["texts"]), atol=1e-6)
    assert not np.allclose(np.array(golden["embedding"]),
                           np.array(json.loads((DEFAULT / "golden.json").read_text())["embedding"]), atol=1e-4)
    with pytest.raises(FileExistsError):
        build_account_artifact(DEFAULT, bank, "acct-123", out, basis=basis, teacher=teacher)
