"""The static student plus a tiny transformer over its token rows: word order at the edge.

Why: a mean of static rows cannot tell "my card has not arrived" from "my card is not working" by
anything but the words themselves, and the shipped static student stayed ~3 points behind the teacher
(docs/benchmarks.md, "Distillation"). One or two pre-norm transformer layers (d=256) over the rows of
the kept tokens, mean-pooled and added to the static mean, recover part of what the teacher's context
carries, at a few MB of ONNX that the Worker runs in onnxruntime-web.

Reference semantics of docs/model-artifact.md, "Encoding a text", step 2b (`encoder.files.context`):
    tokens = the dequantised rows of the kept tokens, in order (float32 [batch, tokens, dim], zero padded)
    mask   = 1 for a token, 0 for padding (float32 [batch, tokens])
    embedding = context.onnx(tokens, mask) = mean(tokens) + out(mean(layers(norm(tokens) + pos)))
A text without any kept token is the zero vector, as for the plain static encoder (context.onnx is not run).
The output projection starts at zero, so an untrained context net is exactly the static encoder.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.static_encoder import StaticEncoder

CONTEXT_FILE = "context.onnx"
STATE_FILE = "context_state.npz"  # cache folders only: the net's weights for the Python side
META_FILE = "context_encoder.json"  # cache folders only: section + provenance
# How trained weights become the shipped graph; part of evaluation cache keys (the weights' cache is not
# affected: quantisation happens after training). Bump when that step changes.
SHIPPED_FORMAT = "onnx-opset17-dynamic-uint8-v1"


@dataclass
class ContextConfig:
    layers: int = 2
    heads: int = 4
    ffn: int = 512
    max_positions: int = 128  # >= max_tokens - 2 (the specials are dropped before the net)
    dropout: float = 0.1
    epochs: int = 20  # meta-valid cosine still rose at 20 (0.9147 at 10 epochs, 0.9209 at 20); see benchmarks.md
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    max_texts: int | None = None  # smoke: train on the first N tuning texts only
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# What ships (measured in docs/benchmarks.md, "Distillation: word order"); SMOKE exercises the same
# code path in seconds for the Worker tests' artifact (its accuracy means nothing).
SHIPPED_CONTEXT = ContextConfig()
SMOKE_CONTEXT = ContextConfig(layers=1, ffn=128, epochs=1, max_texts=2000)


def _net(dim: int, cfg: ContextConfig):
    """Built on demand so importing this module does not import torch."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Layer(nn.Module):
        """Pre-norm self-attention + ReLU MLP, written out so the ONNX graph is plain MatMul/Softmax."""

        def __init__(self):
            super().__init__()
            self.heads = cfg.heads
            self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.fc1, self.fc2 = nn.Linear(dim, cfg.ffn), nn.Linear(cfg.ffn, dim)
            self.drop = nn.Dropout(cfg.dropout)

        def forward(self, x, key_bias):
            b, t, hd = x.shape[0], x.shape[1], dim // self.heads  # dim, heads: constants in the graph
            q, k, v = self.qkv(self.ln1(x)).reshape(b, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4).unbind(0)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + key_bias, dim=-1)
            x = x + self.drop(self.proj((self.drop(att) @ v).transpose(1, 2).reshape(b, t, dim)))
            return x + self.drop(self.fc2(self.drop(F.relu(self.fc1(self.ln2(x))))))

    class ContextNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = nn.Parameter(torch.zeros(cfg.max_positions, dim))
            self.ln_in = nn.LayerNorm(dim)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg.layers))
            self.out = nn.Linear(dim, dim)
            nn.init.zeros_(self.out.weight)  # untrained = the static mean exactly
            nn.init.zeros_(self.out.bias)

        def forward(self, tokens, mask):
            m = mask.unsqueeze(-1)
            n = m.sum(1).clamp(min=1.0)
            static = (tokens * m).sum(1) / n
            x = self.ln_in(tokens) + self.pos[: tokens.shape[1]]
            key_bias = (mask[:, None, None, :] - 1.0) * 1e4  # padding keys get ~zero attention
            for layer in self.layers:
                x = layer(x, key_bias)
            return static + self.out((x * m).sum(1) / n)

    return ContextNet()


def kept_rows(static: StaticEncoder, texts: list[str]) -> list[np.ndarray]:
    """Per text, the static table rows of its kept tokens in order: what the context net reads."""
    return [static.kept_rows(ids) for ids in static.input_ids(list(texts))]


def _pad(rows_list: list[np.ndarray], dense: np.ndarray):
    """Padded token rows and mask for a batch of kept-row lists (each non-empty)."""
    t = max(len(r) for r in rows_list)
    tokens = np.zeros((len(rows_list), t, dense.shape[1]), np.float32)
    mask = np.zeros((len(rows_list), t), np.float32)
    for i, r in enumerate(rows_list):
        tokens[i, : len(r)] = dense[r]
        mask[i, : len(r)] = 1.0
    return tokens, mask


class ContextEncoder:
    """Encoder protocol (tag, dim, encode) over a StaticEncoder and a trained context net.

    The net trains in float32 (torch); what the edge runs, and so what `encode` computes, is its ONNX
    export with dynamic int8 quantisation of the MatMul weights (onnxruntime's `quantize_dynamic`,
    uint8 weights): 4x smaller and ~2x faster in onnxruntime-web's WASM build, cosine >= 0.9997 to the
    float32 net on every evaluation text, accuracy within +-0.2 points (docs/benchmarks.md). Dynamic
    quantisation scales activations per run, so texts are encoded one per run (a batch would couple them).
    """

    def __init__(self, static: StaticEncoder, cfg: ContextConfig, state: dict[str, np.ndarray]):
        import torch

        self.static, self.cfg = static, cfg
        self.net = _net(static.dim, cfg)
        self.net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        self.net.eval()
        h = hashlib.sha256()
        for k in sorted(state):
            h.update(k.encode() + np.ascontiguousarray(state[k], np.float32).tobytes())
        self.digest = h.hexdigest()[:8]
        self.tag = f"{static.tag}-ctx{cfg.layers}u8-{self.digest}"
        self._onnx: bytes | None = None
        self._session = None

    @property
    def dim(self) -> int:
        return self.static.dim

    def state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.net.state_dict().items()}

    def kept_rows(self, texts: list[str]) -> list[np.ndarray]:
        return kept_rows(self.static, texts)

    def onnx_bytes(self) -> bytes:
        """context.onnx as shipped: the float32 export, dynamically quantised (built once)."""
        if self._onnx is None:
            import tempfile

            from onnxruntime.quantization import QuantType, quantize_dynamic

            with tempfile.TemporaryDirectory() as tmp:
                fp32, u8 = Path(tmp) / "fp32.onnx", Path(tmp) / "u8.onnx"
                self.export_fp32(fp32)
                quantize_dynamic(str(fp32), str(u8), weight_type=QuantType.QUInt8)
                self._onnx = u8.read_bytes()
        return self._onnx

    def session(self):
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1  # one short text per run: threads cost more than they give
            self._session = ort.InferenceSession(self.onnx_bytes(), opts, providers=["CPUExecutionProvider"])
        return self._session

    def encode(self, texts: list[str]) -> np.ndarray:
        """What the Worker computes: context.onnx on each text's kept rows, one text per run."""
        sess, dense = self.session(), self.static._dense
        rows = self.kept_rows(list(texts))
        out = np.zeros((len(rows), self.dim), np.float32)
        for i, r in enumerate(rows):
            if len(r):  # no kept token: the zero vector, the graph is not run
                out[i] = sess.run(None, {"tokens": dense[r][None], "mask": np.ones((1, len(r)), np.float32)})[0][0]
        return out

    def encode_fp32(self, texts: list[str], batch: int = 256) -> np.ndarray:
        """The float32 torch net (training's view; the quantisation cost is measured against it)."""
        import torch

        rows = self.kept_rows(list(texts))
        out = np.zeros((len(rows), self.dim), np.float32)
        order = sorted((i for i, r in enumerate(rows) if len(r)), key=lambda i: len(rows[i]))  # less padding
        with torch.no_grad():
            for s in range(0, len(order), batch):
                idx = order[s : s + batch]
                tokens, mask = _pad([rows[i] for i in idx], self.static._dense)
                out[idx] = self.net(torch.from_numpy(tokens), torch.from_numpy(mask)).numpy()
        return out

    # -- files -------------------------------------------------------------------------------

    def export_fp32(self, path: Path) -> None:
        import onnx
        import torch

        tokens, mask = _pad([np.arange(5), np.arange(3)], self.static._dense)
        with torch.no_grad():
            torch.onnx.export(self.net, (torch.from_numpy(tokens), torch.from_numpy(mask)), str(path),
                              input_names=["tokens", "mask"], output_names=["embedding"],
                              dynamic_axes={"tokens": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"},
                                            "embedding": {0: "batch"}},
                              opset_version=17, dynamo=False, do_constant_folding=True)
        model = onnx.load(str(path))
        model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = self.dim  # the contract: [batch, dim]
        onnx.save(model, str(path))
        onnx.checker.check_model(str(path), full_check=True)

    def save(self, directory: str | Path, provenance: dict | None = None) -> dict:
        """The static files + context.onnx; returns the manifest `encoder` section (kind stays "static")."""
        d = Path(directory)
        section = dict(self.static.save(d))
        (d / CONTEXT_FILE).write_bytes(self.onnx_bytes())
        section.update(tag=self.tag, files={**section["files"], "context": CONTEXT_FILE},
                       context={"static_tag": self.static.tag, "layers": self.cfg.layers, "heads": self.cfg.heads,
                                "ffn": self.cfg.ffn, "max_positions": self.cfg.max_positions,
                                "weights": "uint8 (dynamic quantisation)", "texts_per_run": 1})
        if provenance is not None:  # a cache folder: the weights for Python, and how they were made
            np.savez(d / STATE_FILE, **self.state())
            meta = {"encoder": section, "config": asdict(self.cfg), "provenance": provenance}
            (d / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return section

    @classmethod
    def load(cls, directory: str | Path) -> "ContextEncoder":
        d = Path(directory)
        meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        section = meta["encoder"]
        static = StaticEncoder.load(d, {**section, "tag": section["context"]["static_tag"]})
        with np.load(d / STATE_FILE) as z:
            state = {k: z[k] for k in z.files}
        enc = cls(static, ContextConfig(**meta["config"]), state)
        if not section["tag"].endswith("-" + enc.digest):
            raise ValueError(f"{d}: weights hash to {enc.digest}, the cache says {section['tag']}")
        return enc


class ArtifactContextEncoder(ContextEncoder):
    """The edge encoder of a published artifact, read back from its own files: the static student and
    context.onnx exactly as they ship (int8), tag from its manifest. `encode` is what the Worker computes.

    An artifact holds no float32 weights, so there is no `encode_fp32` (and no int8-vs-float32 check: the
    artifact's manifest carries the figures measured when it was built). What it is for: rebuilding the
    shipped model with another adaptation on the same encoder, and evaluating on the very features the
    edge computes, without retraining the context net (~35 min on 2 cores)."""

    def __init__(self, directory: str | Path):
        d = Path(directory)
        section = json.loads((d / "manifest.json").read_text(encoding="utf-8"))["encoder"]
        if "context" not in section.get("files", {}):
            raise ValueError(f"{d}: the artifact's encoder has no context net")
        self.static = StaticEncoder.load(d, {**{k: v for k, v in section.items() if k != "context"},
                                             "tag": section["context"]["static_tag"],
                                             "files": {k: v for k, v in section["files"].items() if k != "context"}})
        self.cfg = ContextConfig(layers=section["context"]["layers"], heads=section["context"]["heads"],
                                 ffn=section["context"]["ffn"], max_positions=section["context"]["max_positions"])
        self.net = None
        self.tag, self.digest = section["tag"], section["tag"].rsplit("-", 1)[-1]
        self._onnx, self._session = (d / section["files"]["context"]).read_bytes(), None
        self.source = d
        metrics = json.loads((d / "manifest.json").read_text(encoding="utf-8")).get("metrics", {})
        self.recorded_int8_cost = {k: v for k, v in metrics.items() if k.startswith("context_int8_vs_fp32")}

    def state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError("an artifact ships no float32 weights")

    def encode_fp32(self, texts: list[str], batch: int = 256) -> np.ndarray:
        raise NotImplementedError("an artifact ships no float32 weights: use encode (what the edge computes)")

    def save(self, directory: str | Path, provenance: dict | None = None) -> dict:
        if provenance is not None:
            raise ValueError("an artifact's encoder is not re-cached: read it from the artifact")
        return super().save(directory)


def _length_batches(bags: list[np.ndarray], size: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: texts are shuffled, sorted by length within pools of
    `pool` batches, cut into batches, and the batches shuffled. Padding (wasted attention) drops ~3x."""
    order = rng.permutation(len(bags))
    lengths = np.array([len(b) for b in bags])
    batches = []
    for s in range(0, len(order), size * pool):
        chunk = order[s : s + size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    return [batches[i] for i in rng.permutation(len(batches))]


def train_context(static: StaticEncoder, cfg: ContextConfig, tune_texts: list[str], valid_texts: list[str],
                  basis_dim: int | None = None, teacher=None) -> tuple[ContextEncoder, dict]:
    """Fits the context net so that the encoder's output has maximal cosine with the teacher's sentence
    embedding projected on the student's basis (the target distill.py tunes the table towards);
    the table itself stays fixed. Keeps the epoch with the best meta-valid cosine."""
    import torch
    import torch.nn.functional as F

    from training.distill import projection_basis
    from training.encoders import TeacherEncoder, embed

    t0 = time.time()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.max_texts is not None:
        tune_texts, valid_texts = tune_texts[: cfg.max_texts], valid_texts[: max(cfg.max_texts // 4, 1)]
    teacher = teacher or TeacherEncoder()
    y = embed(teacher, tune_texts)
    basis, _ = projection_basis(y, basis_dim or static.dim)
    # Through ContextEncoder (a second initialisation, then the first one's weights): the RNG stream the
    # shipped net was trained with; a single _net() would shift every dropout mask of the recipe.
    net = ContextEncoder(static, cfg, _net(static.dim, cfg).state_dict()).net

    def prepared(texts, targets):
        rows = kept_rows(static, texts)
        keep = [i for i, r in enumerate(rows) if len(r)]
        return [rows[i] for i in keep], torch.from_numpy(targets[keep] @ basis)

    bags, ys = prepared(tune_texts, y)
    vbags, vys = prepared(valid_texts, embed(teacher, valid_texts))
    dense = static._dense

    def valid_cos() -> float:
        net.eval()
        total = 0.0
        with torch.no_grad():
            for s in range(0, len(vbags), 512):
                tokens, mask = _pad(vbags[s : s + 512], dense)
                pred = net(torch.from_numpy(tokens), torch.from_numpy(mask))
                total += float(F.cosine_similarity(pred, vys[s : s + 512], dim=1).sum())
        net.train()
        return total / max(len(vbags), 1)

    steps_per_epoch = math.ceil(len(bags) / cfg.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.1)
    best_cos = valid_cos()
    best = {k: v.clone() for k, v in net.state_dict().items()}
    log = [{"epoch": 0, "valid_cos": best_cos}]
    print(f"[context] static alone: meta-valid cos {best_cos:.4f}", file=sys.stderr)
    net.train()
    bar = tqdm(total=cfg.epochs * steps_per_epoch, desc="[context] context net", unit="batch", file=sys.stderr,
               mininterval=2)
    for epoch in range(1, cfg.epochs + 1):
        total = 0.0
        for idx in _length_batches(bags, cfg.batch_size, rng):
            bar.update()
            tokens, mask = _pad([bags[i] for i in idx], dense)
            loss = (1 - F.cosine_similarity(net(torch.from_numpy(tokens), torch.from_numpy(mask)), ys[idx], dim=1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        vcos = valid_cos()
        log.append({"epoch": epoch, "train_loss": total / len(bags), "valid_cos": vcos})
        bar.write(f"[context] epoch {epoch}: train loss {total / len(bags):.4f}, meta-valid cos {vcos:.4f}", file=sys.stderr)
        if vcos > best_cos:
            best_cos, best = vcos, {k: v.clone() for k, v in net.state_dict().items()}
    bar.close()
    trained = ContextEncoder(static, cfg, {k: v.numpy() for k, v in best.items()})
    report = {"config": asdict(cfg), "tune_texts": len(bags), "valid_texts": len(vbags), "log": log,
              "best_valid_cos": best_cos, "seconds": round(time.time() - t0, 1),
              "parameters": int(sum(v.numel() for v in best.values()))}
    return trained, report


def build_context_student(cfg: ContextConfig = SHIPPED_CONTEXT, holdout: str | None = None,
                          student=None, teacher=None) -> ContextEncoder:
    """A static student (the shipped recipe unless `student`, a DistillConfig, says otherwise) plus a
    context net trained on the same tuning corpus towards the student's own teacher (distill.teacher_for)
    unless `teacher` is given; cached."""
    from training.distill import ENCODERS_CACHE, RECIPE_VERSION, SHIPPED, build_student, teacher_for, tuning_corpus

    student = student or SHIPPED
    named = "" if teacher is None else f"-{teacher.tag}"
    out = ENCODERS_CACHE / f"context-r{RECIPE_VERSION}-{student.key()}-{cfg.key()}{named}-{holdout or 'all'}"
    if (out / META_FILE).is_file():
        return ContextEncoder.load(out)
    static = build_student(student, holdout)
    tune, valid = tuning_corpus(holdout, student.corpus)
    enc, report = train_context(static, cfg, tune, valid, teacher=teacher or teacher_for(student, holdout))
    report["holdout"] = holdout
    tmp = out.with_name(out.name + ".tmp")
    enc.save(tmp, provenance=report)
    tmp.rename(out)
    return enc
