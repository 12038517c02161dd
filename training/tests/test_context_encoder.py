"""The context net over static rows: contract semantics, ONNX parity, files, and that training helps."""
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from training.context_encoder import (CONTEXT_FILE, META_FILE, SMOKE_CONTEXT, ContextConfig, ContextEncoder, _net,
                                      train_context)
from training.distill import SHIPPED, _tokenizer, distill, special_ids, teacher_tokenizer_json
from training.encoders import TeacherEncoder, embed
from training.static_encoder import StaticEncoder, quantize_rows
from training.tests.test_distill import _similarity_agreement, _tiny_corpus

TEXTS = ["my card has not arrived", "my card is not working", "play some jazz", "", "日本語"]


def _static(dim=16, seed=0):
    rng = np.random.default_rng(seed)
    q, s = quantize_rows(rng.normal(size=(_tokenizer().get_vocab_size(), dim)).astype(np.float32))
    return StaticEncoder(q, s, teacher_tokenizer_json(), special_ids(), 32, None, "test")


def _random_state(static, cfg, seed=1):
    import torch

    torch.manual_seed(seed)
    net = _net(static.dim, cfg)
    for p in net.parameters():  # random everywhere, including the zero-initialised output projection
        torch.nn.init.normal_(p, std=0.2)
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


def test_untrained_net_is_the_static_mean():
    static = _static()
    cfg = ContextConfig(layers=1, ffn=32)
    enc = ContextEncoder(static, cfg, _net(static.dim, cfg).state_dict())
    np.testing.assert_allclose(enc.encode_fp32(TEXTS), static.encode(TEXTS), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(enc.encode(TEXTS), static.encode(TEXTS), rtol=1e-5, atol=1e-5)  # the int8 graph
    assert enc.tag.startswith(static.tag + "-ctx1u8-")


def test_word_order_changes_the_embedding_and_empty_text_is_zero():
    static = _static()
    enc = ContextEncoder(static, ContextConfig(layers=1, ffn=32), _random_state(static, ContextConfig(layers=1, ffn=32)))
    a, b, c = enc.encode(["card not working", "working not card", ""])
    assert not c.any()  # no kept token: the zero vector, as for the static encoder
    np.testing.assert_allclose(static.encode(["card not working"])[0], static.encode(["working not card"])[0], rtol=1e-5, atol=1e-7)
    assert np.abs(a - b).max() > 1e-3  # a bag of rows cannot tell these apart; the context net must


def test_padding_does_not_change_a_text_in_the_float32_net():
    """Training batches pad texts; a text's embedding must not depend on its neighbours' lengths."""
    static = _static()
    cfg = ContextConfig(layers=2, ffn=32)
    enc = ContextEncoder(static, cfg, _random_state(static, cfg))
    texts = TEXTS + ["word " * 50]
    together = enc.encode_fp32(texts, batch=3)
    alone = np.concatenate([enc.encode_fp32([t]) for t in texts])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_int8_graph_stays_close_to_the_float32_net():
    static = _static()
    cfg = ContextConfig(layers=2, ffn=32)
    enc = ContextEncoder(static, cfg, _random_state(static, cfg))
    texts = TEXTS[:3] + ["a much longer text about a card that never arrived at my home"]
    a, b = enc.encode(texts), enc.encode_fp32(texts)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.99, cos
    assert np.abs(a - b).max() > 0  # it really is the quantised graph, not the torch net


def test_saved_context_onnx_is_what_encode_runs_and_follows_the_contract(tmp_path):
    static = _static()
    cfg = ContextConfig(layers=2, ffn=32)
    enc = ContextEncoder(static, cfg, _random_state(static, cfg))
    section = enc.save(tmp_path, provenance={"test": True})
    assert section["kind"] == "static" and section["files"]["context"] == CONTEXT_FILE
    assert section["tag"] == enc.tag and section["context"]["static_tag"] == static.tag
    ops = {n.op_type for n in onnx.load(str(tmp_path / CONTEXT_FILE)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops  # the int8 graph, as shipped
    sess = ort.InferenceSession(str(tmp_path / CONTEXT_FILE), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["tokens", "mask"]
    assert sess.get_outputs()[0].name == "embedding" and sess.get_outputs()[0].shape[1] == static.dim
    text = "a much longer text about a card that never arrived at my home"
    rows = enc.kept_rows([text])[0]
    got = sess.run(None, {"tokens": static._dense[rows][None], "mask": np.ones((1, len(rows)), np.float32)})[0]
    np.testing.assert_allclose(got, enc.encode([text]), rtol=1e-6, atol=1e-7)
    back = ContextEncoder.load(tmp_path)
    assert back.tag == enc.tag
    np.testing.assert_array_equal(back.encode(TEXTS), enc.encode(TEXTS))
    meta = (tmp_path / META_FILE).read_text()
    (tmp_path / META_FILE).write_text(meta.replace(enc.tag, enc.tag[:-8] + "00000000"))
    with pytest.raises(ValueError, match="hash"):
        ContextEncoder.load(tmp_path)


def test_training_brings_the_student_closer_to_the_teacher():
    """On a tiny vocabulary: the context net must improve the cosine to the teacher over the static
    student it starts from (on the texts it tunes on, and not get worse on held-out ones)."""
    tune, held_out = _tiny_corpus()
    teacher = TeacherEncoder()
    vocab = sorted({i for ids in (e.ids for e in _tokenizer().encode_batch(tune)) for i in ids})
    static, _ = distill(replace(SHIPPED, dim=32, epochs=40, patience=40, lr=1e-2), tune, held_out, teacher, token_ids=vocab)
    cfg = replace(SMOKE_CONTEXT, epochs=30, max_texts=None, batch_size=16, lr=3e-3, dropout=0.0)
    enc, report = train_context(static, cfg, tune, held_out, teacher=teacher)
    log = report["log"]
    assert log[0]["epoch"] == 0 and report["best_valid_cos"] >= log[0]["valid_cos"]
    assert log[-1]["train_loss"] < log[1]["train_loss"]
    target = embed(teacher, tune)
    err_static, r_static = _similarity_agreement(target, static.encode(tune))
    err_ctx, r_ctx = _similarity_agreement(target, enc.encode(tune))  # through the shipped int8 graph
    assert r_ctx > r_static, (r_ctx, r_static)


def test_an_artifacts_encoder_read_back_encodes_what_it_shipped_and_rebuilds(tmp_path):
    """ArtifactContextEncoder: the encoder of a built artifact, from its files alone, gives the embeddings
    the artifact was built with, and a model rebuilt on it ships the same encoder files and tag."""
    import json

    from training import algorithms, export
    from training.context_encoder import ArtifactContextEncoder

    static = _static()
    cfg = ContextConfig(layers=1, ffn=32)
    enc = ContextEncoder(static, cfg, _random_state(static, cfg))
    first = tmp_path / "first"
    export.build_artifact(algorithms.edge_no_meta_model(static.dim), enc, first, algorithms.NO_META, {})
    back = ArtifactContextEncoder(first)
    assert back.tag == enc.tag and back.dim == enc.dim
    np.testing.assert_array_equal(back.encode(TEXTS), enc.encode(TEXTS))
    with pytest.raises(NotImplementedError):
        back.encode_fp32(TEXTS)

    again = tmp_path / "again"
    man = export.build_artifact(algorithms.edge_no_meta_model(static.dim, steps=2), back, again, algorithms.NO_META, {})
    before = json.loads((first / "manifest.json").read_text())
    assert man["encoder"] == before["encoder"]
    for name in ("static_table.i8", "static_scales.f32", "context.onnx"):
        assert (again / name).read_bytes() == (first / name).read_bytes()
    # no float32 net to compare the int8 graph with: the figures measured at the first build, said so
    assert man["metrics"]["context_int8_vs_fp32_cosine_min"] == before["metrics"]["context_int8_vs_fp32_cosine_min"]
    assert man["metrics"]["context_int8_measured_in"] == str(first)


def test_an_artifacts_encoder_is_read_back_in_its_own_shape(tmp_path):
    """students.artifact_encoder: a static artifact reads back as its static student (what the Worker
    encodes with), one with a context net as ArtifactContextEncoder."""
    from training import algorithms, export
    from training.context_encoder import ArtifactContextEncoder
    from training.students import artifact_encoder

    static = _static()
    plain = tmp_path / "static"
    export.build_artifact(algorithms.edge_no_meta_model(static.dim), static, plain, algorithms.NO_META, {})
    back = artifact_encoder(plain)
    assert isinstance(back, StaticEncoder) and back.tag == static.tag
    np.testing.assert_array_equal(back.encode(TEXTS), static.encode(TEXTS))
    cfg = ContextConfig(layers=1, ffn=32)
    ctx = tmp_path / "ctx"
    export.build_artifact(algorithms.edge_no_meta_model(static.dim), ContextEncoder(static, cfg, _random_state(static, cfg)),
                          ctx, algorithms.NO_META, {})
    assert isinstance(artifact_encoder(ctx), ArtifactContextEncoder)
