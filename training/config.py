"""TrainConfig: one block of documented defaults, presets that override only what differs (and say why)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from training.algorithms import BUILDABLE
from training.data import SETS
from training.students import ENCODER_NAMES


class ConfigError(ValueError):
    """A bad configuration: the message names the field and what is allowed."""


@dataclass
class TrainConfig:
    # what to learn
    algorithm: str = "meta_sgd"        # one of algorithms.BUILDABLE: a meta-learning algorithm or "edge_no_meta"
    encoder: str = "transformer-meta"  # students.get_encoder name: "transformer-meta" (the edge's), "static-meta", "static-ctx", "static", "teacher", "artifact:<dir>"
    protocol: str = "all"              # "all" | "cross:<target set>" | "labels:<set>"
    # episodes
    ways: int = 10
    shots: int = 5
    query: int = 5
    tasks_per_batch: int = 16          # episodes per outer step (split across DDP ranks)
    dynamic_sampling: bool = True      # rarer and harder labels sampled more often
    same_dataset_episodes: bool = True # an episode's labels all come from one dataset (like a real Task)
    limit_per_label: int = 0           # >0: keep at most this many examples per label (quick runs)
    # the model (training.model.ModelConfig)
    features: int = 256
    hidden: int = 512
    adaptation_steps: int = 5
    inner_lr: float = 1.0             # in logit units: the step is divided by temperature²
    temperature: float = 10.0
    inner_l2: float = 0.0
    # outer loop
    meta_steps: int = 600
    outer_lr: float = 1e-3
    lr_schedule: str = "cosine"        # "cosine" (after warmup) or "constant"
    warmup_steps: int = 30
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    reptile_inner_steps: int = 5       # Reptile only: SGD steps per task on adapter+head
    reptile_inner_lr: float = 0.1
    # validation and bookkeeping
    valid_every: int = 50
    valid_episodes: int = 64
    seed: int = 20261129
    device: str = "cpu"
    dtype: str = "float32"
    amp: bool = True                   # bf16 autocast, only ever enabled on CUDA
    threads: int = 2                   # torch CPU threads (the dev machine has two cores, shared)
    progress: bool = True

    def validate(self) -> "TrainConfig":
        if self.algorithm not in BUILDABLE:
            raise ConfigError(f"algorithm must be one of {BUILDABLE}, got {self.algorithm!r}")
        name, _, held_out = self.encoder.partition(":")
        if not (self.encoder in ENCODER_NAMES or (name == "artifact" and held_out)
                or (name in ("static", "static-ctx", "static-meta", "transformer-meta") and held_out in SETS)):
            raise ConfigError(f"encoder must be one of {ENCODER_NAMES}, 'artifact:<dir>' or "
                              f"'static|static-ctx|static-meta:<held-out set>', got {self.encoder!r}")
        kind, _, arg = self.protocol.partition(":")
        if kind not in ("all", "cross", "labels") or (kind != "all" and arg not in SETS):
            raise ConfigError(f"protocol must be 'all', 'cross:<set>' or 'labels:<set>', got {self.protocol!r}")
        if self.ways < 2 or self.shots < 1 or self.query < 1 or self.tasks_per_batch < 1 or self.meta_steps < 0:
            raise ConfigError("need ways >= 2, shots >= 1, query >= 1, tasks_per_batch >= 1, meta_steps >= 0")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ConfigError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def override(self, **changes) -> "TrainConfig":
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown config fields {sorted(unknown)}")
        return replace(self, **changes).validate()


PRESETS: dict[str, dict] = {
    # ~1 minute on two CPU cores: only proves the pipeline end to end, not accuracy.
    "smoke": dict(meta_steps=40, tasks_per_batch=4, hidden=128, valid_every=20, valid_episodes=16, warmup_steps=5,
                  limit_per_label=20, encoder="static-ctx-smoke"),
    # what `npm start` installs: the best edge method measured on the cross-dataset all-way protocol
    # (docs/benchmarks.md (a)): edge_no_meta, i.e. nothing meta-trained (the model fields and meta_steps
    # do not apply; algorithms.NO_META_MODEL fixes them). `--algorithm meta_sgd` builds the meta-learned
    # artifact instead, with the budget below (a few CPU minutes on all three sets' train splits).
    "default": dict(algorithm="edge_no_meta", meta_steps=300, tasks_per_batch=8, valid_every=50),
    # a GPU run: more episodes per step and more steps; the teacher-sized budget does not matter there.
    "full": dict(meta_steps=5000, tasks_per_batch=64, ways=20, valid_every=250, valid_episodes=600,
                 device="cuda", hidden=1024),
}


def load_config(preset: str | None = None, path: str | Path | None = None, **overrides) -> TrainConfig:
    """Defaults <- preset <- JSON file <- explicit overrides (None values are ignored)."""
    changes: dict = {}
    if preset:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        changes.update(PRESETS[preset])
    if path:
        try:
            changes.update(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read config {path}: {err}") from err
    changes.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig().override(**changes)
