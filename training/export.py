"""ONNX export of everything the edge runs, golden vectors, and the parity check that gates publishing.

Files (docs/model-artifact.md): adapter.onnx, adapt.onnx, head.onnx always; the encoder as
static_* files (training/static_encoder.py's StaticEncoder.save) or encoder.onnx + encoder.int8.onnx; tokenizer.json;
golden.json; manifest.json (training/manifest.py). adapt.onnx traces the very `algorithms.adapt` that
meta-training used, with the step count and meta-learned step sizes baked in; refine.onnx, when the
cg solver has refinement rounds, one round of further steps (the Worker runs as many as
algorithms.refine_rounds allows the task's size).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from training import algorithms
from training.model import MetaModel

OPSET = 17
TOLERANCE = {"atol": 1e-4, "rtol": 1e-3}
ADAPT_OUTPUTS = ["weight", "bias", "loss_before", "loss_after", "acc_before", "acc_after"]
REFINE_OUTPUTS = ["weight", "bias", "loss_after", "acc_after"]
GOLDEN_TEXTS = [
    "what is my account balance",
    "i lost my card, please block it right away",
    "set an alarm for 7 am tomorrow",
    "play some jazz music in the kitchen",
    "how do i say thank you in french",
    "book a table for two at an italian restaurant tonight",
    "\u200b\u200b",  # normalises to no token at all: the static encoder's zero-vector case
    " ".join(["please transfer one hundred dollars from my savings to my checking account"] * 30),  # truncated
]


class ExportMismatch(RuntimeError):
    """ONNX outputs differ from the PyTorch forward beyond the stated tolerance: never publish."""


class _Adapter(nn.Module):
    def __init__(self, model: MetaModel):
        super().__init__(); self.model = model

    def forward(self, embedding):
        return self.model.features(embedding)


class _Adapt(nn.Module):
    def __init__(self, model: MetaModel):
        super().__init__(); self.model = model

    def forward(self, support_features, support_labels):
        w, b, s = algorithms.adapt(self.model, support_features, support_labels, refine=False)
        return w, b, s["loss_before"], s["loss_after"], s["acc_before"], s["acc_after"]


class _Refine(nn.Module):
    """One refinement round of the cg solver (algorithms.refine_rounds): `refine_steps` more steps from a head."""

    def __init__(self, model: MetaModel):
        super().__init__(); self.model = model

    def forward(self, support_features, support_labels, weight, bias):
        w, b, s = algorithms.adapt_cg(self.model, support_features, support_labels, self.model.cfg.refine_steps,
                                      (weight, bias))
        return w, b, s["loss_after"], s["acc_after"]


class _Head(nn.Module):
    def __init__(self, model: MetaModel):
        super().__init__(); self.model = model

    def forward(self, features, weight, bias):
        return algorithms.logits(self.model, features, weight, bias)


class _Transformer(nn.Module):
    """Teacher body + mean pooling + L2 normalisation, as TeacherEncoder.encode computes it."""

    def __init__(self, hf_model):
        super().__init__(); self.hf = hf_model

    def forward(self, input_ids, attention_mask):
        hidden = self.hf(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), p=2, dim=1)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    module.eval()
    with torch.no_grad():
        # The TorchScript exporter (dynamo=False) keeps symbolic dims for data-dependent shapes like
        # `ways`, which the inner loop needs; opset 17 stays inside what onnxruntime-web's WASM build runs.
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def _fix_width(path: Path, width: int) -> None:
    """The exporter leaves a normalised output's width symbolic; the contract says [batch, width]."""
    graph_model = onnx.load(str(path))
    graph_model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = width
    onnx.save(graph_model, str(path))
    onnx.checker.check_model(str(path), full_check=True)


def export_meta_model(model: MetaModel, out: Path) -> None:
    model = model.float().eval()
    d, f = model.cfg.dim, model.cfg.features
    emb = torch.randn(3, d)
    _export(_Adapter(model), (emb,), out / "adapter.onnx", ["embedding"], ["features"],
            {"embedding": {0: "batch"}, "features": {0: "batch"}})
    _fix_width(out / "adapter.onnx", f)
    sf = F.normalize(torch.randn(6, f), dim=-1)
    sl = F.one_hot(torch.tensor([0, 0, 1, 1, 2, 2]), 3).float()
    _export(_Adapt(model), (sf, sl), out / "adapt.onnx", ["support_features", "support_labels"], ADAPT_OUTPUTS,
            {"support_features": {0: "support"}, "support_labels": {0: "support", 1: "ways"},
             "weight": {0: "ways"}, "bias": {0: "ways"}})
    if model.cfg.refines:
        w, b, _ = algorithms.adapt(model, sf, sl, refine=False)
        _export(_Refine(model), (sf, sl, w, b), out / "refine.onnx", ["support_features", "support_labels", "start_weight", "start_bias"],
                REFINE_OUTPUTS, {"support_features": {0: "support"}, "support_labels": {0: "support", 1: "ways"},
                                 "start_weight": {0: "ways"}, "start_bias": {0: "ways"},
                                 "weight": {0: "ways"}, "bias": {0: "ways"}})
    _export(_Head(model), (sf, torch.randn(3, f), torch.randn(3)), out / "head.onnx",
            ["features", "weight", "bias"], ["logits"],
            {"features": {0: "batch"}, "weight": {0: "ways"}, "bias": {0: "ways"}, "logits": {0: "batch", 1: "ways"}})


def export_transformer_encoder(teacher, out: Path) -> dict:
    """encoder.onnx (fp32) and encoder.int8.onnx (dynamic int8 quantisation of the MatMul weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    ids = torch.tensor([[101, 2054, 2003, 102]]); mask = torch.ones_like(ids)
    _export(_Transformer(teacher.model), (ids, mask), out / "encoder.onnx", ["input_ids", "attention_mask"],
            ["embedding"], {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                            "embedding": {0: "batch"}})
    _fix_width(out / "encoder.onnx", teacher.dim)
    quantize_dynamic(str(out / "encoder.onnx"), str(out / "encoder.int8.onnx"), weight_type=QuantType.QInt8)
    return {"kind": "transformer", "tag": teacher.tag, "teacher": "sentence-transformers/all-MiniLM-L6-v2",
            "dim": teacher.dim, "vocab_size": teacher.tokenizer.vocab_size, "max_tokens": teacher.max_tokens,
            "special_ids": sorted(set(teacher.tokenizer.all_special_ids)),
            "files": {"model": "encoder.onnx", "int8": "encoder.int8.onnx"}}


def export_encoder(encoder, out: Path) -> dict:
    """The encoder part of the artifact; returns the manifest's `encoder` section."""
    if hasattr(encoder, "save"):  # the edge encoders (static student, int8 transformer): their own files
        section = dict(encoder.save(out))
        section.setdefault("kind", "static")
        return section
    return export_transformer_encoder(encoder, out)


def copy_tokenizer(out: Path) -> None:
    from training.encoders import teacher_path
    shutil.copyfile(teacher_path() / "tokenizer.json", out / "tokenizer.json")


def tokenize(out: Path, texts: list[str], max_tokens: int) -> list[list[int]]:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    return [e.ids for e in tok.encode_batch(texts)]


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _close(name: str, got: np.ndarray, want: np.ndarray, tol: dict, report: dict) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = float(np.max(np.abs(got - want) - tol["rtol"] * np.abs(want))) if want.size else 0.0
    report[name] = round(float(np.max(np.abs(got - want))) if want.size else 0.0, 9)
    if got.shape != want.shape or err > tol["atol"]:
        raise ExportMismatch(f"{name}: ONNX differs from PyTorch (max |diff| {report[name]}, tolerance {tol}, "
                             f"shapes {got.shape} vs {want.shape}); refusing to publish")


CONTEXT_MIN_COSINE = 0.999  # int8 context.onnx vs its float32 net, every golden text (measured >= 0.9997)


def context_int8_cost(encoder) -> dict:
    """Cosine between the shipped (int8) context graph and the float32 net it was quantised from, on the
    golden texts; raises ExportMismatch below CONTEXT_MIN_COSINE (the manifest records the figures).
    An encoder read back from an artifact has no float32 net: the figures measured when it was built."""
    if getattr(encoder, "net", True) is None:
        return {**encoder.recorded_int8_cost, "context_int8_measured_in": str(encoder.source)}
    a, b = encoder.encode(GOLDEN_TEXTS), encoder.encode_fp32(GOLDEN_TEXTS)
    live = np.linalg.norm(b, axis=1) > 0
    cos = (a[live] * b[live]).sum(1) / (np.linalg.norm(a[live], axis=1) * np.linalg.norm(b[live], axis=1))
    cost = {"context_int8_vs_fp32_cosine_min": float(cos.min()), "context_int8_vs_fp32_cosine_mean": float(cos.mean())}
    if cost["context_int8_vs_fp32_cosine_min"] < CONTEXT_MIN_COSINE:
        raise ExportMismatch(f"int8 context.onnx drifts from its float32 net: {cost}; refusing to publish")
    return cost


def _context_parity(encoder, path: Path, embedding: np.ndarray, tol: dict, report: dict) -> None:
    """context.onnx as written, one text per run (the contract), vs the encoder's embeddings."""
    sess, dense = _session(path), encoder.static._dense
    for i, rows in enumerate(encoder.kept_rows(GOLDEN_TEXTS)):
        if len(rows):
            got = sess.run(None, {"tokens": dense[rows][None], "mask": np.ones((1, len(rows)), np.float32)})[0]
            _close(f"context[{i}]", got, embedding[i:i + 1], tol, report)


@torch.no_grad()
def golden_and_parity(model: MetaModel, encoder, section: dict, out: Path, tol: dict = TOLERANCE) -> dict:
    """Writes golden.json and checks every ONNX file against PyTorch on it and on random episodes of
    several sizes (dynamic axes). Raises ExportMismatch; returns the max differences seen."""
    model = model.float().eval()
    report: dict = {}
    ids = tokenize(out, GOLDEN_TEXTS, section["max_tokens"])
    embedding = np.asarray(encoder.encode(GOLDEN_TEXTS), np.float32)
    feats = model.features(torch.from_numpy(embedding))
    adapter, adapt_s, head = _session(out / "adapter.onnx"), _session(out / "adapt.onnx"), _session(out / "head.onnx")
    refine_s = _session(out / "refine.onnx") if model.cfg.refines else None
    _close("adapter", adapter.run(None, {"embedding": embedding})[0], feats.numpy(), tol, report)

    if "context" in section.get("files", {}):
        _context_parity(encoder, out / section["files"]["context"], embedding, tol, report)
    if section["kind"] == "transformer" and "graph" in section["files"]:
        # transformer.int8.onnx as written, one text per run (the contract), vs the encoder's embeddings
        enc = _session(out / section["files"]["graph"])
        for i, row in enumerate(ids):
            got = enc.run(None, {"hidden": encoder.hidden(row)[None], "attention_mask": np.ones((1, len(row)), np.int64)})[0]
            _close(f"transformer[{i}]", got, embedding[i:i + 1], tol, report)

    rng = np.random.default_rng(0)
    cases = [(feats[:6], [0, 0, 1, 1, 2, 2])]
    for ways, n in ((2, 2), (5, 13), (11, 40)):
        y = np.concatenate([np.arange(ways), rng.integers(0, ways, n - ways)])
        cases.append((F.normalize(torch.from_numpy(rng.normal(size=(n, model.cfg.features)).astype(np.float32)), dim=-1), y))
    golden_adapt = None
    for c, (sf, y) in enumerate(cases):
        sl = F.one_hot(torch.as_tensor(y), int(max(y)) + 1).float()
        w, b, stats = algorithms.adapt(model, sf, sl, refine=False)
        want = [w, b] + [stats[k] for k in ADAPT_OUTPUTS[2:]]
        got = adapt_s.run(None, {"support_features": sf.numpy(), "support_labels": sl.numpy()})
        for name, g, t in zip(ADAPT_OUTPUTS, got, want):
            _close(f"adapt[{c}].{name}", g, t.numpy(), tol, report)
        rounds = algorithms.model_refine_rounds(model, *sl.shape)
        if rounds:  # the Worker's path: adapt.onnx's head through refine.onnx, round after round
            gw, gb = got[0], got[1]
            for _ in range(rounds):
                gw, gb, *_ = refine_s.run(None, {"support_features": sf.numpy(), "support_labels": sl.numpy(),
                                                 "start_weight": gw, "start_bias": gb})
            w, b, stats = algorithms.adapt(model, sf, sl)
            _close(f"refine[{c}].weight", gw, w.numpy(), tol, report)
            _close(f"refine[{c}].bias", gb, b.numpy(), tol, report)
        lg = algorithms.logits(model, feats, w, b)
        _close(f"head[{c}]", head.run(None, {"features": feats.numpy(), "weight": w.numpy(), "bias": b.numpy()})[0],
               lg.numpy(), tol, report)
        if c == 0:
            golden_adapt = {"support_features": sf.tolist(), "support_labels": sl.tolist(), "weight": w.tolist(),
                            "bias": b.tolist(), **{k: float(stats[k]) for k in ADAPT_OUTPUTS[2:]}}
            golden_head = {"features": feats.tolist(), "logits": lg.tolist()}

    golden = {"texts": GOLDEN_TEXTS, "input_ids": ids, "embedding": embedding.tolist(), "features": feats.tolist(),
              "adapt": golden_adapt, "head": golden_head}
    if section["kind"] == "transformer" and "graph" in section["files"]:  # the TypeScript embedding layer's output
        golden["hidden"] = [encoder.hidden(row).tolist() for row in ids[:2]]
    if hasattr(encoder, "static"):  # a context net: also the plain static mean, so the edge checks both paths
        golden["static_embedding"] = encoder.static.encode(GOLDEN_TEXTS).tolist()
    (out / "golden.json").write_text(json.dumps(golden))
    return report


def int8_encoder_cost(out: Path, texts: list[str], section: dict) -> dict:
    """Cosine between fp32 and int8 encoder outputs (the accuracy cost is measured by evaluate.py)."""
    fp32, int8 = _session(out / "encoder.onnx"), _session(out / "encoder.int8.onnx")
    cos = []
    for row in tokenize(out, texts, section["max_tokens"]):
        x = np.array([row], np.int64); feed = {"input_ids": x, "attention_mask": np.ones_like(x)}
        a, b = fp32.run(None, feed)[0][0], int8.run(None, feed)[0][0]
        cos.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)))
    return {"int8_vs_fp32_cosine_mean": float(np.mean(cos)), "int8_vs_fp32_cosine_min": float(np.min(cos))}


def build_artifact(model: MetaModel, encoder, out: Path, algorithm: str, hyperparameters: dict,
                   metrics: dict | None = None, tol: dict = TOLERANCE, created=None) -> dict:
    """Exports, verifies (raises ExportMismatch before any manifest exists) and writes manifest.json."""
    from training import manifest
    out.mkdir(parents=True, exist_ok=True)
    if (out / "manifest.json").exists():
        raise FileExistsError(f"{out} already holds an artifact; versions are immutable")
    export_meta_model(model, out)
    section = export_encoder(encoder, out)
    copy_tokenizer(out)
    parity = golden_and_parity(model, encoder, section, out, tol)
    metrics = dict(metrics or {})
    if section["kind"] == "transformer" and hasattr(encoder, "int8_cost"):  # before any manifest exists
        metrics.update(encoder.int8_cost(GOLDEN_TEXTS))
    elif section["kind"] == "transformer":
        metrics.update(int8_encoder_cost(out, GOLDEN_TEXTS[:6], section))
    if "context" in section.get("files", {}):  # before any manifest exists: a drifting graph is never published
        metrics.update(context_int8_cost(encoder))
    return manifest.write_manifest(out, model, section, algorithm, hyperparameters, metrics,
                                   {"max_abs_diff": max(parity.values())}, tol, created)
