"""The encoder trained on source episodes: the losses, the draws, the cross-clean sources, and that a
few steps train only the top layers and are kept (its accuracy is measured by evaluate.py)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training import data
from training.encoders import TeacherEncoder
from training.meta_encoder import MetaEncoderConfig, build_meta_encoder, draw, episodic_loss, source_tasks, supcon_loss


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


@pytest.mark.parametrize("mode", ["episodic", "supcon"])
def test_a_few_steps_move_only_the_top_layers_and_are_kept(mode, tmp_path):
    tasks = {"a": {f"a/{i}": [f"please {w} number {i} {j}" for j in range(6)] for i, w in enumerate(["book", "cancel", "pay", "track"])}}
    cfg = MetaEncoderConfig(mode=mode, train_layers=1, steps=2, ways=3, shots=2, queries=2, lr=1e-3)
    encoder = build_meta_encoder(cfg, holdout=None, tasks=tasks, folder=tmp_path / mode, log=lambda m: None)
    teacher = TeacherEncoder()
    before, after = teacher.model.state_dict(), encoder.model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("encoder.layer.5.") for k in moved)
    again = build_meta_encoder(cfg, holdout=None, tasks={}, folder=tmp_path / mode)  # loaded, not retrained
    texts = ["my card has not arrived", "what is the weather tomorrow"]
    np.testing.assert_allclose(again.encode(texts), encoder.encode(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(encoder.encode(texts), axis=1), 1, atol=1e-5)
    assert encoder.tag.startswith(f"meta-{mode}-") and encoder.tag.endswith("-all")
