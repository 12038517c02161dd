"""The encoder trained on source episodes: the losses, the draws, the cross-clean sources, and that a
few steps train only the top layers and are kept (its accuracy is measured by evaluate.py)."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training import data
from training.encoders import TeacherEncoder
from training.meta_encoder import (MetaEncoderConfig, build_meta_encoder, draw, episodic_loss, pseudo_tasks, source_tasks,
                                   supcon_loss, unlabelled_pools)


def test_the_losses_are_low_for_separated_labels_and_high_for_mixed_ones():
    centres = F.normalize(torch.randn(4, 16), dim=1)
    separated = F.normalize(centres.repeat_interleave(5, 0) + 0.01 * torch.randn(20, 16), dim=1)
    mixed = F.normalize(torch.randn(20, 16), dim=1)
    y = torch.arange(4).repeat_interleave(5)
    assert episodic_loss(separated, 4, 3, 2, 20.0) < 0.05 < episodic_loss(mixed, 4, 3, 2, 20.0)
    assert supcon_loss(separated, y, 20.0) < supcon_loss(mixed, y, 20.0)


def test_a_draw_takes_one_source_task_label_major():
    tasks = {"a": {f"a/{i}": [f"a{i}-{j}" for j in range(9)] for i in range(5)},
             "b": {f"b/{i}": [f"b{i}-{j}" for j in range(9)] for i in range(3)}}
    cfg = MetaEncoderConfig(ways=4, shots=2, queries=2)
    texts, y = draw(tasks, cfg, np.random.default_rng(0))
    assert len({t[0] for t in texts}) == 1  # one source
    ways = int(y.max()) + 1
    assert len(texts) == ways * 4 and ways <= 4
    for w in range(ways):  # label-major: each block of shots + queries is one label
        assert len({t.split("-")[0] for t in texts[4 * w : 4 * w + 4]}) == 1


def test_the_sources_hold_no_text_of_the_target():
    tasks = source_tasks("banking77")
    assert "banking77" not in tasks and {"clinc150", "hwu64", "sgd"} <= set(tasks)
    texts = {t for labels in tasks.values() for pool in labels.values() for t in pool}
    assert not texts & data.set_texts("banking77")


def test_the_unlabelled_pools_hold_no_target_text_but_its_train_texts_when_asked():
    target = data.set_texts("banking77")
    clean = unlabelled_pools("banking77", "sgd")
    assert list(clean) == ["sgd"] and clean["sgd"] and not set(clean["sgd"]) & target
    pools = unlabelled_pools("banking77", "sgd+target")
    assert pools["sgd"] == clean["sgd"]
    held = {u.text for split in ("valid", "test") for u in data.load_jsonl("banking77", split)}
    own = set(pools["banking77"])
    assert own and own <= {u.text for u in data.load_jsonl("banking77", "train")} and not own & held
    with pytest.raises(ValueError):
        unlabelled_pools("banking77", "everything")


def test_pseudo_tasks_label_each_pool_by_its_clusters():
    centres = np.eye(8)[:3]
    texts = [f"t{c}-{j}" for c in range(3) for j in range(10)]
    vectors = {t: centres[int(t[1])] + 0.01 * np.random.default_rng(j).normal(size=8) for j, t in enumerate(texts)}
    cfg = MetaEncoderConfig(pseudo=3, pseudo_texts=25)
    tasks = pseudo_tasks({"pool": texts}, cfg, lambda ts: np.stack([vectors[t] for t in ts]))
    labels = tasks["unlabelled-pool"]
    assert len(labels) == 3 and sum(map(len, labels.values())) == 25  # a sample of pseudo_texts
    for group in labels.values():  # each cluster is one true group
        assert len({t[1] for t in group}) == 1


@pytest.mark.parametrize("mode", ["episodic", "supcon", "episodic+pseudo"])
def test_a_few_steps_move_only_the_top_layers_and_are_kept(mode, tmp_path):
    tasks = {"a": {f"a/{i}": [f"please {w} number {i} {j}" for j in range(6)] for i, w in enumerate(["book", "cancel", "pay", "track"])}}
    pseudo = mode.endswith("+pseudo")
    cfg = MetaEncoderConfig(mode=mode.removesuffix("+pseudo"), train_layers=1, steps=2, ways=3, shots=2, queries=2, lr=1e-3,
                            pseudo=2 if pseudo else 0)
    pools = {"calls": [f"{w} please, {i}" for w in ("where is my parcel", "play some jazz") for i in range(8)]}
    encoder = build_meta_encoder(cfg, holdout=None, tasks=tasks, folder=tmp_path / mode, log=lambda m: None, pools=pools)
    teacher = TeacherEncoder()
    before, after = teacher.model.state_dict(), encoder.model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("encoder.layer.5.") for k in moved)
    again = build_meta_encoder(cfg, holdout=None, tasks={}, folder=tmp_path / mode)  # loaded, not retrained
    texts = ["my card has not arrived", "what is the weather tomorrow"]
    np.testing.assert_allclose(again.encode(texts), encoder.encode(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(encoder.encode(texts), axis=1), 1, atol=1e-5)
    assert encoder.tag.startswith(f"meta-{cfg.mode}-") and encoder.tag.endswith("-all")
    kept = json.loads((tmp_path / mode / "config.json").read_text())
    assert kept["pseudo"] == cfg.pseudo and ("unlabelled-calls" in kept["source_labels"]) == pseudo


def test_the_recipe_key_of_earlier_encoders_is_unchanged_by_the_added_fields():
    assert MetaEncoderConfig().key() == "562933e0f8"  # the tag of the rows in docs/results/evaluation.json
    assert MetaEncoderConfig(pseudo=100).key() != MetaEncoderConfig().key()


def test_a_stopped_run_resumes_from_its_checkpoint_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from training import meta_encoder

    tasks = {"a": {f"a/{i}": [f"please {w} number {i} {j}" for j in range(6)] for i, w in enumerate(["book", "cancel", "pay", "track"])}}
    cfg = MetaEncoderConfig(train_layers=1, steps=5, ways=3, shots=2, queries=2, lr=1e-3)
    whole = build_meta_encoder(cfg, None, tasks=tasks, folder=tmp_path / "whole", log=lambda m: None, checkpoint_every=2)
    assert not (tmp_path / "whole" / "checkpoint.pt").exists()  # removed once the weights are kept

    real, calls = meta_encoder.episodic_loss, []

    def failing_at_step_4(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt("stopped")
        return real(*args)

    monkeypatch.setattr(meta_encoder, "episodic_loss", failing_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        build_meta_encoder(cfg, None, tasks=tasks, folder=tmp_path / "cut", log=lambda m: None, checkpoint_every=2)
    assert (tmp_path / "cut" / "checkpoint.pt").is_file() and not (tmp_path / "cut" / "state.pt").exists()
    monkeypatch.setattr(meta_encoder, "episodic_loss", real)
    said: list[str] = []
    resumed = build_meta_encoder(cfg, None, tasks=tasks, folder=tmp_path / "cut", log=said.append, checkpoint_every=2)
    assert any("resumed after step 2" in m for m in said)
    texts = ["my card has not arrived", "what is the weather tomorrow"]
    np.testing.assert_allclose(resumed.encode(texts), whole.encode(texts), atol=1e-6)
    kept = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert kept["loss_first_50"] == json.loads((tmp_path / "whole" / "config.json").read_text())["loss_first_50"]
