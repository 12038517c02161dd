"""The candidate student cut from the teacher: the cut itself, untrained (its tuning is measured by evaluate.py)."""
import numpy as np

from training.encoders import TeacherEncoder
from training.truncated_student import TruncatedConfig, build_truncated


def test_the_cut_keeps_the_first_layers_and_all_six_reproduce_the_teacher():
    texts = ["my card has not arrived", "what is the weather tomorrow"]
    cut = build_truncated(TruncatedConfig(layers=1, epochs=0), holdout="banking77")
    assert len(cut.model.encoder.layer) == 1 and cut.model.config.num_hidden_layers == 1
    x = cut.encode(texts)
    assert x.shape == (2, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    # With every layer kept and the map at its identity start, the student is the teacher: the cut is
    # the only difference, so pooling and normalisation are the teacher's own.
    whole = build_truncated(TruncatedConfig(layers=6, epochs=0), holdout="banking77")
    np.testing.assert_allclose(whole.encode(texts), TeacherEncoder().encode(texts), atol=1e-5)
    assert np.abs(x - whole.encode(texts)).max() > 0.05


def test_each_recipe_gets_its_own_tag_and_holdout():
    a = TruncatedConfig(layers=2)
    assert a.key() != TruncatedConfig(layers=2, lr=1e-4).key()
    cut = build_truncated(TruncatedConfig(layers=2, epochs=0), holdout="hwu64")
    assert cut.tag.startswith("trunc2-") and cut.tag.endswith("-hwu64")
