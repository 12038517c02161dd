"""The edge transformer's files and encode path (training/transformer_encoder.py) against the float32 model
they were exported from: what the Worker runs must stay within the stated cosine of it."""
import numpy as np
import pytest
import torch

from training.encoders import TeacherEncoder
from training.export import GOLDEN_TEXTS, ExportMismatch
from training.transformer_encoder import MAX_TOKENS, MIN_GOLDEN_COSINE, TransformerEncoder, export_layers


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    teacher = TeacherEncoder(max_tokens=MAX_TOKENS)  # the packaged all-MiniLM-L6-v2, truncating as the edge does
    folder = tmp_path_factory.mktemp("transformer")
    export_layers(teacher.model, folder)
    return teacher, TransformerEncoder(folder, "sentence-transformers/all-MiniLM-L6-v2", fp32=teacher)


def test_int8_path_stays_within_the_bound_of_the_fp32_model(exported):
    teacher, enc = exported
    cost = enc.int8_cost(GOLDEN_TEXTS)
    assert cost["int8_vs_fp32_cosine_min"] >= MIN_GOLDEN_COSINE
    assert cost["int8_vs_fp32_cosine_mean"] > 0.99
    emb = enc.encode(GOLDEN_TEXTS)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)  # normalised inside the graph


def test_embedding_layer_in_numpy_matches_bert_embeddings(exported):
    teacher, enc = exported
    ids = enc.input_ids(GOLDEN_TEXTS[:2])[1]
    with torch.no_grad():
        want = teacher.model.embeddings(input_ids=torch.tensor([ids]), token_type_ids=torch.zeros(1, len(ids), dtype=torch.long))[0].numpy()
    # the word rows are int8 (per-row scale): close, not equal
    assert np.abs(enc.hidden(ids) - want).max() < 0.1
    cos = (enc.hidden(ids) * want).sum(1) / (np.linalg.norm(enc.hidden(ids), axis=1) * np.linalg.norm(want, axis=1))
    assert cos.min() > 0.999


def test_ids_are_truncated_to_the_token_cap_with_specials_kept(exported):
    _, enc = exported
    ids = enc.input_ids([GOLDEN_TEXTS[-1]])[0]
    assert len(ids) == MAX_TOKENS and ids[0] == 101 and ids[-1] == 102
    assert list(enc.kept_rows([GOLDEN_TEXTS[-1]])[0]) == ids[1:-1]


def test_a_drifting_graph_is_refused(exported, tmp_path):
    teacher, enc = exported
    class Elsewhere:  # a "float32 model" that disagrees: the export must not publish against it
        def encode(self, texts):
            rng = np.random.default_rng(0)
            return rng.normal(size=(len(texts), 384)).astype(np.float32)
    enc.fp32, saved = Elsewhere(), enc.fp32
    try:
        with pytest.raises(ExportMismatch):
            enc.int8_cost(GOLDEN_TEXTS)
    finally:
        enc.fp32 = saved


def test_files_read_back_under_the_same_tag(exported, tmp_path):
    _, enc = exported
    section = enc.save(tmp_path)
    again = TransformerEncoder.load(tmp_path, section)
    assert again.tag == enc.tag
    assert np.array_equal(again.encode(GOLDEN_TEXTS[:3]), enc.encode(GOLDEN_TEXTS[:3]))
    with pytest.raises(ValueError):
        TransformerEncoder.load(tmp_path, {**section, "tag": "transformer-minilm-i8-t64-00000000"})
