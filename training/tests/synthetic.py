"""Synthetic, separable episode data for fast unit tests (no encoder, no files)."""
import numpy as np

from training.data import LabeledEmbeddings


def separable(n_labels: int = 30, per_label: int = 20, dim: int = 16, noise: float = 0.6, seed: int = 0,
              offset: int = 0) -> LabeledEmbeddings:
    """Gaussian clusters whose informative directions are the first half of the dims; the second half is
    shared noise, which an adapter can learn to suppress (so meta-learning has something to gain)."""
    rng = np.random.default_rng(seed)
    centers = np.zeros((n_labels, dim))
    centers[:, : dim // 2] = rng.normal(size=(n_labels, dim // 2))
    y = np.repeat(np.arange(n_labels), per_label)
    x = centers[y] + noise * rng.normal(size=(len(y), dim)) * np.r_[np.full(dim // 2, 0.5), np.full(dim - dim // 2, 2.0)]
    return LabeledEmbeddings(x.astype(np.float32), y, [f"l{offset + i}" for i in range(n_labels)])
