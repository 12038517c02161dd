"""The edge encoder: a static token-embedding table, int8 with per-row scales.

This file is the reference implementation of docs/model-artifact.md, "Encoding a text", step 2 for
`encoder.kind == "static"`; functions/model/ reimplements it in TypeScript, so every step here is
deliberately plain (no clever batching that could change the semantics):

1. tokenizer.json -> ids WITH special tokens ([CLS] ... [SEP]), truncated to `max_tokens` the way
   HF tokenizers truncate (content first, then the specials are added), padding ignored.
2. drop ids in `special_ids`; map id -> row through `rows` (if present); skip row -1.
3. embedding = mean over kept tokens of float32(table[row]) * scales[row]; none kept -> zeros.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLE_FILE = "static_table.i8"
SCALES_FILE = "static_scales.f32"
ROWS_FILE = "static_rows.i32"
META_FILE = "static_encoder.json"  # build provenance; not part of the artifact contract
TEACHER_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: row ≈ q * scale with |error| ≤ scale / 2 per element."""
    table = np.asarray(table, np.float32)
    peak = np.abs(table).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(table / scales[:, None]), -127, 127).astype(np.int8)
    return q, scales


@dataclass
class StaticEncoder:
    table: np.ndarray  # int8 [rows, dim]
    scales: np.ndarray  # float32 [rows]; token weight folded in
    tokenizer_json: str  # the teacher's tokenizer.json text, shipped as-is
    special_ids: list[int]
    max_tokens: int = 128
    rows: np.ndarray | None = None  # int32 [vocab_size]: token id -> row, -1 = ignored
    name: str = "static-minilm"  # human part of the tag; a content hash is appended
    teacher: str = TEACHER_NAME  # whom the table was distilled from (the manifest's encoder.teacher)

    def __post_init__(self) -> None:
        from tokenizers import Tokenizer

        self.table = np.ascontiguousarray(self.table, dtype=np.int8)
        self.scales = np.ascontiguousarray(self.scales, dtype="<f4")
        if self.table.ndim != 2 or self.scales.shape != (self.table.shape[0],):
            raise ValueError(f"table {self.table.shape} and scales {self.scales.shape} disagree")
        self._tokenizer = Tokenizer.from_str(self.tokenizer_json)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens)
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        if self.rows is not None:
            self.rows = np.ascontiguousarray(self.rows, dtype="<i4")
            if self.rows.shape != (self.vocab_size,) or self.rows.max() >= len(self.table):
                raise ValueError("rows map must be int32 [vocab_size] with entries < table rows")
        elif len(self.table) != self.vocab_size:
            raise ValueError(f"without a rows map the table needs {self.vocab_size} rows, has {len(self.table)}")
        # Dequantised once: encode() is then one gather + mean per text (fast enough for 50k texts).
        self._dense = self.table.astype(np.float32) * self.scales[:, None]
        digest = hashlib.sha256(self.table.tobytes() + self.scales.tobytes()
                                + (self.rows.tobytes() if self.rows is not None else b"")).hexdigest()
        self.tag = f"{self.name}-d{self.dim}-i8-{digest[:8]}"

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def input_ids(self, texts: list[str]) -> list[list[int]]:
        """Step 1: token ids with specials, truncated to max_tokens (what golden.json records)."""
        return [list(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def kept_rows(self, ids: list[int]) -> np.ndarray:
        """Step 2a: specials dropped, id -> row, ignored tokens skipped."""
        special = set(self.special_ids)
        kept = np.array([i for i in ids if i not in special], dtype=np.int64)
        if self.rows is not None and len(kept):
            kept = self.rows[kept].astype(np.int64)
            kept = kept[kept >= 0]
        return kept

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, ids in enumerate(self.input_ids(texts)):
            kept = self.kept_rows(ids)
            if len(kept):
                out[i] = self._dense[kept].mean(axis=0, dtype=np.float32)
        return out

    # -- files -------------------------------------------------------------------------------

    def save(self, directory: str | Path, provenance: dict | None = None) -> dict:
        """Writes the contract's files (+ tokenizer.json) and returns the manifest `encoder` section.

        `provenance` (a cache folder only) also writes static_encoder.json so `load(dir)` needs no manifest.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / TABLE_FILE).write_bytes(self.table.tobytes())
        (d / SCALES_FILE).write_bytes(self.scales.astype("<f4").tobytes())
        files = {"table": TABLE_FILE, "scales": SCALES_FILE}
        if self.rows is not None:
            (d / ROWS_FILE).write_bytes(self.rows.astype("<i4").tobytes())
            files["rows"] = ROWS_FILE
        (d / "tokenizer.json").write_text(self.tokenizer_json, encoding="utf-8")
        section = {
            "kind": "static",
            "tag": self.tag,
            "teacher": self.teacher,
            "dim": self.dim,
            "rows": int(self.table.shape[0]),
            "vocab_size": int(self.vocab_size),
            "max_tokens": int(self.max_tokens),
            "special_ids": [int(i) for i in self.special_ids],
            "files": files,
        }
        if provenance is not None:  # a cache folder, not an artifact: the contract lists no such file
            meta = {"encoder": section, "provenance": provenance}
            (d / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return section

    @classmethod
    def load(cls, directory: str | Path, section: dict | None = None) -> "StaticEncoder":
        """From a folder written by `save` (or an artifact folder plus its manifest's `encoder`)."""
        d = Path(directory)
        if section is None:
            section = json.loads((d / META_FILE).read_text(encoding="utf-8"))["encoder"]
        if section.get("kind") != "static":
            raise ValueError(f"{d}: encoder kind {section.get('kind')!r} is not 'static'")
        dim, n = int(section["dim"]), int(section["rows"])
        tag = str(section.get("tag", "static-minilm"))
        name = tag[: tag.rfind(f"-d{dim}-i8-")] if f"-d{dim}-i8-" in tag else tag
        files = section["files"]
        table = np.fromfile(d / files["table"], dtype=np.int8)
        if table.size != n * dim:
            raise ValueError(f"{d / files['table']}: {table.size} bytes, expected rows*dim = {n * dim}")
        scales = np.fromfile(d / files["scales"], dtype="<f4")
        rows = np.fromfile(d / files["rows"], dtype="<i4") if files.get("rows") else None
        enc = cls(table.reshape(n, dim), scales, (d / "tokenizer.json").read_text(encoding="utf-8"),
                  list(section["special_ids"]), int(section["max_tokens"]), rows, name,
                  str(section.get("teacher", TEACHER_NAME)))
        if section.get("tag") and section["tag"] != enc.tag:
            raise ValueError(f"{d}: files hash to tag {enc.tag}, the manifest says {section['tag']}")
        return enc
