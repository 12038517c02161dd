"""The meta-learned part of the model: an adapter over frozen sentence embeddings plus a task head.

The head is not a fixed-size layer: a Task may have any number of ways, so what is meta-learned is how
a head is *initialised* for a task (class prototypes, or one learned row shared by every way as in
"unicorn"-MAML), the per-feature step sizes of the inner loop (Meta-SGD) and a logit temperature.
No I/O here; the checkpoint stores `ModelConfig` so export can rebuild the module alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

HEAD_INITS = ("prototypes", "learned")
SOLVERS = ("gd", "cg")


@dataclass
class ModelConfig:
    dim: int = 256                 # input sentence-embedding size (encoder.dim)
    features: int = 256            # adapter output size
    hidden: int = 512              # residual MLP width inside the adapter; 0 = linear adapter only
    head_init: str = "prototypes"  # "prototypes" (Proto-MAML / ProtoNets) or "learned" (MAML)
    steps: int = 5                 # adaptation_steps of the inner loop (train and edge alike)
    inner_lr: float = 1.0          # initial inner-loop step size, in logit units (divided by temperature²)
    learn_step_sizes: bool = True  # Meta-SGD: per-step, per-feature step sizes are meta-parameters
    temperature: float = 10.0      # initial logit scale (features are unit vectors)
    inner_l2: float = 0.0          # inner-loop pull towards the initial head (regularises few shots)
    # "gd": `steps` (Meta-SGD) gradient steps with the step sizes above. "cg": `steps` conjugate-gradient
    # steps on the centred support with an exact Newton step length along each direction (no step size
    # to choose or learn), minimising the support cross-entropy plus (prior / support size)/2 · ||W - W0||²
    # (W0: the prototype head); it reaches the L2-regularised logistic regression optimum in a few steps.
    solver: str = "gd"
    prior: float = 3.0             # "cg" only: strength of the pull towards the prototype head
    # "cg" only: further conjugate-gradient rounds after `steps`, as many as a compute budget allows for the
    # task's size (`refine_rounds`): small tasks converge to the regularised optimum, the largest ones
    # keep `steps` and the latency budget. Each round restarts CG from the head it is given.
    refine_steps: int = 0          # steps per round (0: no rounds)
    refine_max_rounds: int = 0     # at most this many rounds
    refine_budget: int = 0         # rounds x refine_steps x support size x ways stays within this

    @property
    def refines(self) -> bool:
        """Whether refinement rounds follow `steps` (the artifact then ships refine.onnx)."""
        return self.solver == "cg" and self.refine_steps > 0 and self.refine_max_rounds > 0

    def __post_init__(self) -> None:
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS}, got {self.head_init!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.solver == "cg" and self.head_init != "prototypes":
            raise ValueError("the cg solver starts from (and is pulled towards) the prototype head: head_init='prototypes'")
        if self.dim < 1 or self.features < 1 or self.steps < 0 or min(self.refine_steps, self.refine_max_rounds, self.refine_budget) < 0 or self.inner_lr <= 0 or self.temperature <= 0 or self.prior < 0:
            raise ValueError(f"invalid model config {self}")


class MetaModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(cfg.dim, cfg.features)
        with torch.no_grad():
            # Start as the identity (or a random orthogonal map) so an untrained adapter keeps the
            # encoder's geometry: meta-training then only has to improve on frozen prototypes.
            if cfg.dim == cfg.features:
                self.proj.weight.copy_(torch.eye(cfg.dim))
            else:
                nn.init.orthogonal_(self.proj.weight)
            self.proj.bias.zero_()
        self.mlp = None
        if cfg.hidden:
            self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.hidden), nn.GELU(approximate="tanh"),
                                     nn.Linear(cfg.hidden, cfg.features))
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)
        self.log_temperature = nn.Parameter(torch.tensor(float(cfg.temperature)).log())
        log_lr = torch.full((max(cfg.steps, 1), cfg.features), float(cfg.inner_lr)).log()
        log_lr_b = torch.full((max(cfg.steps, 1),), float(cfg.inner_lr)).log()
        if cfg.learn_step_sizes:
            self.log_step_w = nn.Parameter(log_lr)
            self.log_step_b = nn.Parameter(log_lr_b)
        else:
            self.register_buffer("log_step_w", log_lr)
            self.register_buffer("log_step_b", log_lr_b)
        # MAML head initialisation: one learned row (+ bias) repeated for every way, so it is
        # independent of ways and of label order.
        self.head_row = nn.Parameter(torch.zeros(cfg.features))
        self.head_bias = nn.Parameter(torch.zeros(()))

    def features(self, embedding: torch.Tensor) -> torch.Tensor:
        """Adapter: sentence embedding [batch, dim] -> unit-norm features [batch, features]."""
        h = self.proj(embedding)
        if self.mlp is not None:
            h = h + self.mlp(embedding)
        return F.normalize(h, dim=-1, eps=1e-6)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.features(embedding)

    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp()

    def step_sizes(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.log_step_w.exp(), self.log_step_b.exp()

    def constructor_args(self) -> dict:
        return asdict(self.cfg)

    @classmethod
    def from_args(cls, args: dict) -> "MetaModel":
        return cls(ModelConfig(**args))
