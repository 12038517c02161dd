"""The edge transformer: a trained all-MiniLM-L6-v2 (the episodic teacher) served whole, int8, by the Worker.

This file is the reference implementation of docs/model-artifact.md, "Encoding a text", for
`encoder.kind == "transformer"`; functions/model/transformerEncoder.ts computes the same thing:

1. tokenizer.json -> ids WITH [CLS] ... [SEP], truncated to `max_tokens` (HF truncation: content first,
   then the specials), padding ignored. The inner ids (between [CLS] and [SEP]) are the text's "kept
   rows": what the lexical evidence counts.
2. hidden[t] = LayerNorm(word_table[id] * word_scales[id] + positions[t]), eps `layer_norm_eps`, computed in
   float64 and stored as float32. `positions` holds the position row plus the token-type-0 row.
3. transformer.int8.onnx (the six layers, MatMul weights 8-bit per output channel, activations quantised
   per run) on hidden [1, T, 384] with attention_mask [1, T] of ones -> the mean-pooled, L2-normalised
   embedding [1, 384]. One text per run: dynamic quantisation scales each run's activations, so batching
   texts would make one text's embedding depend on another's.

The word table lives outside ONNX on purpose: ORT holds a Gather's table several times over in its
WebAssembly heap, while a typed array over R2's bytes is one copy (recipes.md: 52 MiB instead of 105).
"""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from training.encoders import CACHE_ROOT, TEACHER_NAME, teacher_path

GRAPH_FILE = "transformer.int8.onnx"
WORD_FILE = "word_table.i8"
WORD_SCALES_FILE = "word_scales.f32"
POSITIONS_FILE = "positions.f32"
NORM_FILE = "layer_norm.f32"
META_FILE = "transformer_encoder.json"  # cache provenance; not part of the artifact contract
# Every input is cut to this many tokens ([CLS] and [SEP] included) on both sides: the cost of one
# encode is bounded (~46 ms at 64 tokens in workerd, recipes.md), and the teacher was trained at 64.
MAX_TOKENS = 64
# The export refuses an int8 graph whose embedding of any golden text is further than this from the
# float32 teacher's (cosine); the spike measured a minimum of 0.976 over 500 texts for the packaged model.
MIN_GOLDEN_COSINE = 0.97


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: row ≈ q * scale."""
    table = np.asarray(table, np.float32)
    peak = np.abs(table).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    return np.clip(np.rint(table / scales[:, None]), -127, 127).astype(np.int8), scales


def _eager_copy(hf_model):
    """The same weights in a BertModel with eager attention (exports as plain MatMul/Softmax)."""
    from transformers import AutoModel

    eager = AutoModel.from_pretrained(teacher_path(), local_files_only=True, attn_implementation="eager").eval()
    eager.load_state_dict(hf_model.state_dict())
    return eager


def export_layers(hf_model, folder: Path, max_tokens: int = MAX_TOKENS) -> None:
    """Writes the contract's files for `hf_model` (a BertModel) into `folder`."""
    import torch
    import torch.nn.functional as F
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from torch import nn

    bert = _eager_copy(hf_model)
    emb = bert.embeddings

    class PassEmbeddings(nn.Module):
        def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, **kw):
            return inputs_embeds

    class Layers(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = copy.deepcopy(bert)
            self.bert.embeddings = PassEmbeddings()

        def forward(self, hidden, attention_mask):
            h = self.bert(inputs_embeds=hidden, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "transformer.fp32.onnx"
    ids = torch.tensor([[101, 1045, 2145, 2031, 2025, 2363, 2026, 2047, 4003, 102]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        hidden = emb(input_ids=ids, token_type_ids=torch.zeros_like(ids))
        torch.onnx.export(Layers().eval(), (hidden, mask), str(fp32), input_names=["hidden", "attention_mask"],
                          output_names=["embedding"], dynamic_axes={"hidden": {0: "batch", 1: "tokens"},
                          "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False, do_constant_folding=True)
    # Per output channel: per-tensor weight scales cost the packaged model cosine 0.966 / min 0.78 (recipes.md).
    # Unsigned weights: with signed ones onnxruntime-web's WASM kernels and native onnxruntime compute the
    # same graph differently (cosine 0.992 between them on one text, each ~0.99 to float32), so Python
    # could not reproduce what the Worker serves; with uint8 weights and uint8 activations they agree to 1e-7.
    quantize_dynamic(str(fp32), str(folder / GRAPH_FILE), weight_type=QuantType.QUInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])
    fp32.unlink()
    q, scales = quantize_rows(emb.word_embeddings.weight.detach().numpy())
    positions = (emb.position_embeddings.weight.detach().numpy()[:max_tokens]
                 + emb.token_type_embeddings.weight.detach().numpy()[0][None, :]).astype("<f4")
    norm = np.stack([emb.LayerNorm.weight.detach().numpy(), emb.LayerNorm.bias.detach().numpy()]).astype("<f4")
    (folder / WORD_FILE).write_bytes(q.tobytes())
    (folder / WORD_SCALES_FILE).write_bytes(scales.astype("<f4").tobytes())
    (folder / POSITIONS_FILE).write_bytes(positions.tobytes())
    (folder / NORM_FILE).write_bytes(norm.tobytes())
    shutil.copyfile(teacher_path() / "tokenizer.json", folder / "tokenizer.json")
    (folder / "eps.json").write_text(json.dumps({"layer_norm_eps": float(emb.LayerNorm.eps)}))


class TransformerEncoder:
    """The int8 edge transformer read from its files, encoding exactly as the Worker does."""

    dim = 384

    def __init__(self, folder: Path, teacher: str, max_tokens: int = MAX_TOKENS, eps: float = 1e-12, fp32=None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder, self.teacher, self.max_tokens, self.eps = Path(folder), teacher, max_tokens, eps
        self.fp32 = fp32  # the float32 encoder these files were exported from (None when read back)
        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        self.table = np.fromfile(self.folder / WORD_FILE, dtype=np.int8).reshape(-1, self.dim)
        self.scales = np.fromfile(self.folder / WORD_SCALES_FILE, dtype="<f4")
        self.positions = np.fromfile(self.folder / POSITIONS_FILE, dtype="<f4").reshape(-1, self.dim)
        norm = np.fromfile(self.folder / NORM_FILE, dtype="<f4").reshape(2, self.dim)
        self.gamma, self.beta = norm[0].astype(np.float64), norm[1].astype(np.float64)
        if len(self.table) != self.vocab_size or len(self.scales) != self.vocab_size or len(self.positions) < max_tokens:
            raise ValueError(f"{self.folder}: tables do not match the tokenizer ({self.vocab_size} ids) and {max_tokens} positions")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self._session = ort.InferenceSession(str(self.folder / GRAPH_FILE), opts, providers=["CPUExecutionProvider"])
        digest = hashlib.sha256()
        for name in (GRAPH_FILE, WORD_FILE, WORD_SCALES_FILE, POSITIONS_FILE, NORM_FILE):
            digest.update((self.folder / name).read_bytes())
        self.tag = f"transformer-minilm-i8-t{max_tokens}-{digest.hexdigest()[:8]}"
        self.special_ids = sorted({int(self._tokenizer.token_to_id(t)) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")})

    def input_ids(self, texts: list[str]) -> list[list[int]]:
        """Step 1: ids with [CLS]/[SEP], truncated to max_tokens (what golden.json records)."""
        return [list(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def kept_rows(self, texts: list[str]) -> list[np.ndarray]:
        """The inner ids of each text (between [CLS] and [SEP]): the lexical evidence's tokens."""
        return [np.asarray(ids[1:-1], np.int64) for ids in self.input_ids(texts)]

    def hidden(self, ids: list[int]) -> np.ndarray:
        """Step 2: the embedding layer's output [T, 384] float32, with the Worker's very float64 operations
        in its order (sums left to right, one reciprocal square root): a last-bit difference here can flip
        a dynamically quantised activation's rounding and move the embedding by up to 1e-3."""
        x = self.table[ids].astype(np.float64) * self.scales[ids].astype(np.float64)[:, None]
        x = x + self.positions[: len(ids)].astype(np.float64)
        mean = np.cumsum(x, axis=1)[:, -1:] / self.dim
        centred = x - mean
        var = np.cumsum(centred * centred, axis=1)[:, -1:]
        inv = 1 / np.sqrt(var / self.dim + self.eps)
        return (centred * inv * self.gamma + self.beta).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, ids in enumerate(self.input_ids(texts)):
            feed = {"hidden": self.hidden(ids)[None], "attention_mask": np.ones((1, len(ids)), np.int64)}
            out[i] = self._session.run(None, feed)[0][0]
        return out

    def save(self, out: Path) -> dict:
        """Copies the contract's files into an artifact folder; the manifest's `encoder` section."""
        out = Path(out)
        for name in (GRAPH_FILE, WORD_FILE, WORD_SCALES_FILE, POSITIONS_FILE, NORM_FILE, "tokenizer.json"):
            shutil.copyfile(self.folder / name, out / name)
        return {"kind": "transformer", "tag": self.tag, "teacher": self.teacher, "dim": self.dim,
                "vocab_size": int(self.vocab_size), "max_tokens": int(self.max_tokens),
                "special_ids": self.special_ids, "layer_norm_eps": self.eps,
                "files": {"graph": GRAPH_FILE, "word_table": WORD_FILE, "word_scales": WORD_SCALES_FILE,
                          "positions": POSITIONS_FILE, "layer_norm": NORM_FILE}}

    def int8_cost(self, texts: list[str]) -> dict:
        """Cosine of the int8 path to the float32 encoder on `texts`; raises below MIN_GOLDEN_COSINE."""
        if self.fp32 is None:
            meta = json.loads((self.folder / META_FILE).read_text()) if (self.folder / META_FILE).is_file() else {}
            return {**meta.get("int8_cost", {}), "int8_measured_in": str(self.folder)}
        a, b = self.encode(texts), np.asarray(self.fp32.encode(list(texts)), np.float32)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        cost = {"int8_vs_fp32_cosine_min": float(cos.min()), "int8_vs_fp32_cosine_mean": float(cos.mean()),
                "int8_min_cosine_bound": MIN_GOLDEN_COSINE}
        if cost["int8_vs_fp32_cosine_min"] < MIN_GOLDEN_COSINE:
            from training.export import ExportMismatch

            raise ExportMismatch(f"int8 transformer drifts from its float32 teacher: {cost}; refusing to publish")
        return cost

    @classmethod
    def load(cls, folder: Path, section: dict) -> "TransformerEncoder":
        """From an artifact folder and its manifest's `encoder` section (checks the files hash to its tag)."""
        if section.get("kind") != "transformer":
            raise ValueError(f"{folder}: encoder kind {section.get('kind')!r} is not 'transformer'")
        enc = cls(Path(folder), str(section.get("teacher", TEACHER_NAME)), int(section["max_tokens"]),
                  float(section.get("layer_norm_eps", 1e-12)))
        if section.get("tag") and section["tag"] != enc.tag:
            raise ValueError(f"{folder}: files hash to tag {enc.tag}, the manifest says {section['tag']}")
        return enc


# The trained teachers an edge transformer can serve (training/distill.py's TRAINED_TEACHERS):
# "meta-episodic" (the default: episodes of the three sets' train splits and sgd's labelled turns) and
# "meta-episodic-sets" (sgd left out: the calibration twin, for which sgd is an unseen domain).
def build_transformer(teacher: str = "meta-episodic", holdout: str | None = None,
                      log=lambda m: print(m, file=sys.stderr)) -> TransformerEncoder:
    """The int8 edge transformer of a trained teacher, exported once and cached under .cache/encoders."""
    from training.distill import _trained_teacher_config, teacher_name
    from training.meta_encoder import build_meta_encoder

    fp32 = build_meta_encoder(_trained_teacher_config(teacher), holdout)
    folder = CACHE_ROOT / "encoders" / f"transformer-i8-t{MAX_TOKENS}-{fp32.tag}"
    if not (folder / META_FILE).is_file():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"[transformer] exporting {fp32.tag} as an int8 layers-only graph into {folder}")
        export_layers(fp32.model, tmp)
        eps = json.loads((tmp / "eps.json").read_text())["layer_norm_eps"]
        from training.export import GOLDEN_TEXTS

        cost = TransformerEncoder(tmp, teacher_name(fp32), MAX_TOKENS, eps, fp32=fp32).int8_cost(GOLDEN_TEXTS)
        (tmp / META_FILE).write_text(json.dumps({"teacher": teacher_name(fp32), "source": fp32.tag,
                                                 "eps": eps, "int8_cost": cost}, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    meta = json.loads((folder / META_FILE).read_text())
    return TransformerEncoder(folder, meta["teacher"], MAX_TOKENS, meta["eps"], fp32=fp32)
