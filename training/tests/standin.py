"""A tiny static encoder that follows docs/model-artifact.md §"Encoding a text" (step 2) exactly, so the
export tests need neither the distilled student (minutes to build) nor the teacher. Test code only."""
from pathlib import Path

import numpy as np

from training.encoders import teacher_path


class TinyStaticEncoder:
    tag = "test-static-d16"
    dim = 16
    special = (0, 101, 102)

    def __init__(self, seed: int = 0):
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(str(teacher_path() / "tokenizer.json"))
        self.tok.no_padding(); self.tok.enable_truncation(max_length=128)
        rng = np.random.default_rng(seed)
        self.table = rng.integers(-127, 128, size=(self.tok.get_vocab_size(), self.dim), dtype=np.int8)
        self.scales = rng.uniform(0.001, 0.01, size=self.tok.get_vocab_size()).astype(np.float32)

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, enc in enumerate(self.tok.encode_batch(list(texts))):
            ids = [t for t in enc.ids if t not in self.special]
            if ids:
                out[i] = (self.table[ids].astype(np.float32) * self.scales[ids, None]).mean(0)
        return out

    def save(self, out: Path) -> dict:
        self.table.tofile(out / "static_table.i8"); self.scales.astype("<f4").tofile(out / "static_scales.f32")
        return {"kind": "static", "tag": self.tag, "teacher": "sentence-transformers/all-MiniLM-L6-v2",
                "dim": self.dim, "rows": len(self.table), "vocab_size": len(self.table), "max_tokens": 128,
                "special_ids": list(self.special), "files": {"table": "static_table.i8", "scales": "static_scales.f32"}}
