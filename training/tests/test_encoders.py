"""Teacher encoder and the on-disk embedding cache."""
import numpy as np
import pytest

from training.encoders import TeacherEncoder, embed, teacher_path
from training.students import get_encoder


class CountingEncoder:
    """A deterministic stand-in whose only job is to count what the cache asks it to encode."""

    def __init__(self, tag="counting", dim=3):
        self.tag, self.dim, self.calls = tag, dim, []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), t.count("a"), hash(t) % 7] for t in texts], np.float32)


def test_embed_computes_each_text_once_and_keeps_order(tmp_path):
    enc = CountingEncoder()
    first = embed(enc, ["b", "a", "aa"], cache_dir=tmp_path)
    again = embed(enc, ["aa", "new", "b", "b"], cache_dir=tmp_path)
    assert enc.calls == [["b", "a", "aa"], ["new"]]
    np.testing.assert_array_equal(again[0], first[2])
    np.testing.assert_array_equal(again[2], again[3])
    assert again.dtype == np.float32 and again.shape == (4, 3)


def test_embed_cache_is_per_tag_and_survives_a_new_process_view(tmp_path):
    import training.encoders as encoders

    embed(CountingEncoder("one"), ["x"], cache_dir=tmp_path)
    other = CountingEncoder("two")
    embed(other, ["x"], cache_dir=tmp_path)
    assert other.calls == [["x"]]  # another tag is another space
    encoders._BANKS.clear()  # what a fresh process sees: only the files
    fresh = CountingEncoder("one")
    embed(fresh, ["x"], cache_dir=tmp_path)
    assert fresh.calls == []


def test_embed_rejects_a_wrong_shape(tmp_path):
    enc = CountingEncoder(dim=4)
    with pytest.raises(ValueError, match="expected"):
        embed(enc, ["x"], cache_dir=tmp_path)


def test_teacher_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    texts = ["how do i activate my new card", "set an alarm for 7 am tomorrow", "?"]
    ours = TeacherEncoder().encode(texts)
    reference = SentenceTransformer(str(teacher_path()), device="cpu").encode(texts)
    assert ours.shape == (3, 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_get_encoder_names():
    assert get_encoder("teacher").tag == "minilm-l6"
    with pytest.raises(ValueError, match="unknown encoder"):
        get_encoder("bert-large")
