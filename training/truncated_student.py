"""A candidate edge student that starts from the teacher's own weights: all-MiniLM-L6-v2 cut to its
first `layers` transformer layers, tuned to reproduce the full teacher's sentence embedding.

Why: the static student (training/distill.py) and its context net are fitted from scratch to the
teacher's outputs on a tuning corpus, and on a domain that corpus does not cover they fall 6-7 points
behind the teacher (docs/benchmarks.md, "Clean protocol with the context net"). Layers copied from the
teacher carry what it learned from a billion sentence pairs, not only what the tuning corpus shows, so a
cut teacher should hold up better where the tuning corpus has never been. This module measures that on
the cross-clean protocol (`python -m training evaluate --protocols cross --encoders trunc2 ...`); it is
not yet an artifact the Worker can run (the export and the Worker's encoder would follow if it pays).

Training: the token embeddings stay frozen (at the edge they would be the int8 table), the kept layers
and a final linear map (initialised to the identity) are tuned with AdamW on 1 - cos(student, teacher)
over the tuning corpus, batches of similar-length texts, the epoch with the best meta-valid cosine kept.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training.encoders import CACHE_ROOT, encode_in_length_order, TeacherEncoder, embed, teacher_path


@dataclass(frozen=True)
class TruncatedConfig:
    layers: int = 2
    epochs: int = 6  # 0: the cut teacher untuned
    lr: float = 3e-4
    batch: int = 64
    max_tokens: int = 64
    corpus: str = "sets"  # distill.CORPORA
    seed: int = 20261203

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


class TruncatedEncoder:
    """The cut teacher, mean-pooled, mapped, L2-normalised: the Encoder protocol of training/encoders.py."""

    dim = 384

    def __init__(self, model, proj, tokenizer, tag: str, max_tokens: int):
        self.model, self.proj, self.tokenizer, self.tag, self.max_tokens = model, proj, tokenizer, tag, max_tokens

    def _forward(self, texts: list[str]):
        import torch.nn.functional as F

        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        hidden = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(self.proj(pooled), p=2, dim=1)

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_in_length_order(self.model, self._forward, texts, self.dim)


def _cut_teacher(layers: int):
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = teacher_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers
    return model, tokenizer


def build_truncated(cfg: TruncatedConfig, holdout: str | None, log=lambda m: print(m, file=sys.stderr)) -> TruncatedEncoder:
    """Tunes (or loads from .cache/encoders) the cut teacher; no text of `holdout` is ever used."""
    import torch

    from training import data
    from training.distill import tuning_corpus

    torch.manual_seed(cfg.seed)
    tag = f"trunc{cfg.layers}-{cfg.key()}-{holdout or 'all'}"
    folder = CACHE_ROOT / "encoders" / tag
    model, tokenizer = _cut_teacher(cfg.layers)
    proj = torch.nn.Linear(384, 384)
    with torch.no_grad():
        proj.weight.copy_(torch.eye(384))
        proj.bias.zero_()
    student = TruncatedEncoder(model, proj, tokenizer, tag, cfg.max_tokens)
    if cfg.epochs == 0:
        return student
    if (folder / "state.pt").is_file():
        state = torch.load(folder / "state.pt")
        model.load_state_dict(state["model"])
        proj.load_state_dict(state["proj"])
        return student

    tune, valid = tuning_corpus(holdout, cfg.corpus)
    if holdout:  # cross-clean: not even the train/valid texts the sets share with the target
        banned = data.set_texts(holdout)
        tune, valid = [t for t in tune if t not in banned], [t for t in valid if t not in banned]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the evaluation runs on 1 thread; tuning is worth both cores
    teacher = TeacherEncoder()
    y_tune, y_valid = torch.from_numpy(embed(teacher, tune)), torch.from_numpy(embed(teacher, valid))
    for p in model.embeddings.parameters():
        p.requires_grad_(False)
    params = [p for p in list(model.parameters()) + list(proj.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    order = sorted(range(len(tune)), key=lambda i: len(tune[i]))
    batches = [order[i : i + cfg.batch] for i in range(0, len(order), cfg.batch)]
    steps = cfg.epochs * len(batches)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)

    def valid_cos() -> float:
        return float((torch.from_numpy(student.encode(valid)) * y_valid).sum(1).mean())

    best, best_state = valid_cos(), None
    log(f"[trunc{cfg.layers}] {len(tune)} tuning texts, meta-valid cosine untuned {best:.4f}")
    rng = np.random.default_rng(cfg.seed)
    for epoch in range(cfg.epochs):
        model.train()
        t0 = time.time()
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            out = student._forward([tune[i] for i in idx])
            loss = 1 - (out * y_tune[idx]).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        cos = valid_cos()
        log(f"[trunc{cfg.layers}] epoch {epoch + 1}: meta-valid cosine {cos:.4f} ({time.time() - t0:.0f} s)")
        if cos > best:
            best = cos
            best_state = {"model": {k: v.clone() for k, v in model.state_dict().items()},
                          "proj": {k: v.clone() for k, v in proj.state_dict().items()}}
    torch.set_num_threads(threads)
    if best_state is not None:
        model.load_state_dict(best_state["model"])
        proj.load_state_dict(best_state["proj"])
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "proj": proj.state_dict()}, folder / "state.pt")
    (folder / "config.json").write_text(json.dumps({**asdict(cfg), "holdout": holdout, "valid_cosine": best}, indent=2))
    return student
