"""The static edge encoder: contract semantics, files, int8 error, and distillation quality."""
from dataclasses import replace

import numpy as np
import pytest

from training import data
from training.distill import SHIPPED, _tokenizer, distill, special_ids, teacher_tokenizer_json
from training.encoders import TeacherEncoder, embed
from training.static_encoder import ROWS_FILE, StaticEncoder, quantize_rows

# Stated tolerance for the tiny-vocabulary distillation (see test_tiny_vocabulary_...):
SIM_MAX_MEAN_ABS_ERROR = 0.12  # mean |cos_teacher - cos_student| over all pairs of texts
SIM_MIN_PEARSON = 0.85  # correlation of the two similarity matrices


def _random_encoder(rows=None, n=None, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    vocab = _tokenizer().get_vocab_size()
    n = n or (vocab if rows is None else int(rows.max()) + 1)
    q, s = quantize_rows(rng.normal(size=(n, dim)).astype(np.float32))
    return StaticEncoder(q, s, teacher_tokenizer_json(), special_ids(), 16, rows, "test")


def test_quantisation_error_is_bounded_by_half_a_step():
    rng = np.random.default_rng(1)
    table = rng.normal(size=(500, 64)).astype(np.float32) * rng.uniform(0.01, 10, size=(500, 1)).astype(np.float32)
    table[3] = 0.0  # an all-zero row must not divide by zero
    q, scales = quantize_rows(table)
    err = np.abs(q.astype(np.float32) * scales[:, None] - table)
    assert q.dtype == np.int8 and scales.dtype == np.float32
    assert np.all(err <= scales[:, None] / 2 + 1e-7)
    assert np.abs(q).max() == 127


def test_encode_follows_the_contract_step_by_step():
    enc = _random_encoder()
    text = "what is my account balance?"
    ids = enc.input_ids([text])[0]
    assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP], no padding
    kept = [i for i in ids if i not in (0, 101, 102)]
    dense = enc.table.astype(np.float32) * enc.scales[:, None]
    np.testing.assert_allclose(enc.encode([text])[0], dense[kept].mean(0), rtol=1e-6, atol=1e-7)


def test_truncation_keeps_cls_and_sep_like_hf_tokenizers():
    enc = _random_encoder()
    ids = enc.input_ids(["word " * 100])[0]
    assert len(ids) == enc.max_tokens == 16 and ids[0] == 101 and ids[-1] == 102


def test_trimmed_rows_skip_tokens_and_empty_means_zero():
    vocab = _tokenizer().get_vocab_size()
    rows = np.full(vocab, -1, np.int32)
    card = _tokenizer().token_to_id("card")
    rows[card] = 0
    enc = _random_encoder(rows=rows, n=1)
    out = enc.encode(["card card blocked", "日本語", ""])
    np.testing.assert_allclose(out[0], enc.table[0] * enc.scales[0], rtol=1e-6)
    assert not out[1].any() and not out[2].any()


def test_save_load_round_trip(tmp_path):
    vocab = _tokenizer().get_vocab_size()
    rows = np.arange(vocab, dtype=np.int32) % 1000
    rows[5] = -1
    enc = _random_encoder(rows=rows)
    section = enc.save(tmp_path)
    assert section["files"] == {"table": "static_table.i8", "scales": "static_scales.f32", "rows": ROWS_FILE}
    assert (tmp_path / "static_table.i8").stat().st_size == section["rows"] * section["dim"]
    assert (tmp_path / ROWS_FILE).stat().st_size == 4 * vocab
    back = StaticEncoder.load(tmp_path, section)
    assert back.tag == enc.tag == section["tag"]
    texts = ["transfer money to my savings", "play some jazz"]
    np.testing.assert_array_equal(back.encode(texts), enc.encode(texts))
    (tmp_path / "static_scales.f32").write_bytes(np.ones(1000, "<f4").tobytes())
    with pytest.raises(ValueError, match="tag"):
        StaticEncoder.load(tmp_path, section)


def _tiny_corpus():
    rows = data.load_jsonl("clinc150", "train")
    labels = sorted({u.label for u in rows})[:16]
    by_label = {lab: [u.text for u in rows if u.label == lab] for lab in labels}
    tune = [t for lab in labels for t in by_label[lab][:8]]
    held_out = [t for lab in labels for t in by_label[lab][8:11]]
    return tune, held_out


def _similarity_agreement(a, b):
    def sims(x):
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        s = x @ x.T
        return s[np.triu_indices(len(x), 1)]
    sa, sb = sims(a), sims(b)
    return float(np.abs(sa - sb).mean()), float(np.corrcoef(sa, sb)[0, 1])


def test_tiny_vocabulary_distillation_reproduces_teacher_similarities():
    tune, held_out = _tiny_corpus()
    teacher = TeacherEncoder()
    vocab = sorted({i for ids in (e.ids for e in _tokenizer().encode_batch(tune)) for i in ids})
    cfg = replace(SHIPPED, dim=32, epochs=40, patience=40, lr=1e-2)
    student, report = distill(cfg, tune, held_out, teacher, token_ids=vocab)
    raw, _ = distill(replace(cfg, tune=False), tune, held_out, teacher, token_ids=vocab)
    assert report["rows"] == len([i for i in vocab if i not in (0, 101, 102)])
    target = embed(teacher, tune)
    err, r = _similarity_agreement(target, student.encode(tune))
    raw_err, raw_r = _similarity_agreement(target, raw.encode(tune))
    assert err <= SIM_MAX_MEAN_ABS_ERROR and r >= SIM_MIN_PEARSON, (err, r)
    assert err < raw_err and r > raw_r  # tuning must help, or it is not doing its job
    assert report["quant_max_abs_error"] < 0.01


def test_default_student_comes_from_the_default_artifact_only_for_its_own_recipe(monkeypatch):
    from training.distill import (DEFAULT_STUDENT, ENCODERS_CACHE, RECIPE_VERSION, SHIPPED_IN_ARTIFACT,
                                  student_from_default_artifact)

    committed = student_from_default_artifact(DEFAULT_STUDENT, None)
    assert committed is not None and committed.tag == SHIPPED_IN_ARTIFACT["static_tag"]
    assert SHIPPED_IN_ARTIFACT["key"] == f"r{RECIPE_VERSION}-{DEFAULT_STUDENT.key()}"
    # anything else is built: a held-out target, another recipe, or a forced rebuild
    assert student_from_default_artifact(DEFAULT_STUDENT, "banking77") is None
    assert student_from_default_artifact(SHIPPED, None) is None  # the same recipe from all-MiniLM-L6-v2
    assert student_from_default_artifact(replace(DEFAULT_STUDENT, dim=128), None) is None
    monkeypatch.setenv("ADAPTAGENT_REBUILD_STUDENT", "1")
    assert student_from_default_artifact(DEFAULT_STUDENT, None) is None
    # Where this machine has built the default recipe itself, the committed student is that very one.
    built = ENCODERS_CACHE / f"{DEFAULT_STUDENT.name}-r{RECIPE_VERSION}-{DEFAULT_STUDENT.key()}-all"
    if (built / "static_encoder.json").is_file():
        import json

        if "taken_from" not in json.loads((built / "static_encoder.json").read_text())["provenance"]:
            assert StaticEncoder.load(built).tag == committed.tag


def test_a_student_learns_from_a_trained_teacher_in_that_teacher_s_space(tmp_path):
    """The static student distilled from the episodically trained teacher (DistillConfig.teacher):
    its per-token pass and targets come from that teacher, not from all-MiniLM-L6-v2."""
    from training.distill import teacher_for, token_embeddings
    from training.meta_encoder import MetaEncoderConfig, build_meta_encoder

    tasks = {"a": {f"a/{i}": [f"please {w} number {i} {j}" for j in range(6)] for i, w in enumerate(["book", "cancel", "pay"])}}
    trained = build_meta_encoder(MetaEncoderConfig(train_layers=1, steps=3, ways=3, shots=2, queries=2, lr=1e-2),
                                 holdout=None, tasks=tasks, folder=tmp_path / "meta", log=lambda m: None)
    tune, held_out = _tiny_corpus()
    vocab = sorted({i for ids in (e.ids for e in _tokenizer().encode_batch(tune)) for i in ids})
    ids = [i for i in vocab if i not in (0, 101, 102)]
    moved = token_embeddings(trained, ids=ids)
    assert not np.allclose(moved, token_embeddings(TeacherEncoder(), ids=ids), atol=1e-4)
    student, report = distill(replace(SHIPPED, dim=32, epochs=40, patience=40, lr=1e-2, teacher="meta-episodic"),
                              tune, held_out, trained, token_ids=vocab)
    err, r = _similarity_agreement(trained.encode(tune), student.encode(tune))
    assert err <= SIM_MAX_MEAN_ABS_ERROR and r >= SIM_MIN_PEARSON, (err, r)
    assert replace(SHIPPED, teacher="meta-episodic").key() != SHIPPED.key()
    with pytest.raises(ValueError):
        teacher_for(replace(SHIPPED, teacher="gpt"), None)
