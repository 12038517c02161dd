"""Inner loops and meta-objectives. Pure functions, importable by train.py, export.py and the tests.

Every algorithm meta-learns the same `MetaModel`, and every one is used at the edge the same way:
`adapt` (head initialised, then `steps` closed-form gradient steps on the support set) and `logits`.
The inner loop is written with the explicit softmax-cross-entropy gradient so that export can trace it
into adapt.onnx with plain ops (MatMul, Softmax, ReduceSum); `inner_gradient_autograd` is the check.

Outer objectives (`meta_loss` / `reptile_step`):
- maml:       learned head init, head-only inner loop (ANIL), true second-order outer gradient
- fomaml:     same, but the inner gradient is treated as a constant (first order)
- reptile:    SGD on adapter (+ prototype head) per task, outer step towards the adapted weights
- protonet:   no inner loop during meta-training; prototypes are the head (Snell et al.)
- proto_maml: prototype head init + inner loop with fixed step sizes, second order
- meta_sgd:   proto_maml with meta-learned per-step, per-feature step sizes (Li et al.)

And one method that is not meta-learned at all: `edge_no_meta` (`edge_no_meta_model`), the same edge
path with an identity adapter and fixed step sizes. evaluate.py measures it and `python -m training
default` ships it: one constructor for both, so the evaluated model and the exported one are the same.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from training.model import MetaModel, ModelConfig

ALGORITHMS = ("maml", "fomaml", "reptile", "protonet", "proto_maml", "meta_sgd")
# Not meta-learned: the edge's adapt/logits path with an identity adapter (unit-normalised embeddings),
# prototype-initialised head and 3 plain inner steps (step 2.0 in logit units, temperature 10). Steps and
# step size are selected on meta-valid tasks of both shapes (training/tune_edge_no_meta.py, results in
# docs/results/edge_no_meta_selection.json): larger steps gain all-way but lose more few-way.
NO_META = "edge_no_meta"
NO_META_MODEL = dict(hidden=0, head_init="prototypes", steps=3, inner_lr=2.0, learn_step_sizes=False,
                     temperature=10.0, inner_l2=0.0)
BUILDABLE = ALGORITHMS + (NO_META,)  # what an artifact can be built with (config.TrainConfig.algorithm)

# The model shape each algorithm meta-learns (train.py starts from these, the config can override).
ALGORITHM_MODEL = {
    "maml": dict(head_init="learned", learn_step_sizes=False),
    "fomaml": dict(head_init="learned", learn_step_sizes=False),
    "reptile": dict(head_init="prototypes", learn_step_sizes=False),
    "protonet": dict(head_init="prototypes", learn_step_sizes=False),
    "proto_maml": dict(head_init="prototypes", learn_step_sizes=False),
    "meta_sgd": dict(head_init="prototypes", learn_step_sizes=True),
}


def logits(model: MetaModel, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """[batch, features] x head [ways, features], [ways] -> [batch, ways]; the temperature is inside."""
    return model.temperature() * (features @ weight.T + bias)


def init_head(model: MetaModel, support_features: torch.Tensor, support_onehot: torch.Tensor,
              head_row: torch.Tensor | None = None, head_bias: torch.Tensor | None = None):
    """Initial head for a task. `head_row`/`head_bias` replace the module's (Reptile's functional params)."""
    if model.cfg.head_init == "prototypes":
        # -||f - p||² = 2 f·p - ||p||² - ||f||²: a linear head equal to the Euclidean prototype classifier
        counts = support_onehot.sum(0)
        protos = (support_onehot.T @ support_features) / counts[:, None]
        return 2 * protos, -(protos * protos).sum(-1)
    row = model.head_row if head_row is None else head_row
    bias = model.head_bias if head_bias is None else head_bias
    ways = support_onehot.sum(0)[:, None]  # [ways, 1], only to broadcast the shared row over ways
    return row * torch.ones_like(ways), bias * torch.ones_like(ways[:, 0])


def inner_gradient(model: MetaModel, features, onehot, weight, bias):
    """Closed-form d(mean CE)/d(weight, bias) for logits = t (F Wᵀ + b): (t/n) (P - Y)ᵀ F, (t/n) Σ(P - Y)."""
    n = onehot.sum()
    g = (torch.softmax(logits(model, features, weight, bias), -1) - onehot) * (model.temperature() / n)
    return g.T @ features, g.sum(0)


def inner_gradient_autograd(model: MetaModel, features, onehot, weight, bias):
    """The same gradient by autograd: used by the tests to check `inner_gradient`."""
    def loss(w, b):
        return support_loss(model, features, onehot, w, b)
    return torch.autograd.grad(loss(weight, bias), (weight, bias), create_graph=True)


def support_loss(model, features, onehot, weight, bias):
    return _cross_entropy(model.temperature(), features, onehot, weight, bias)


def _cross_entropy(temperature, features, onehot, weight, bias):
    out = temperature * (features @ weight.T + bias)
    return -(torch.log_softmax(out, -1) * onehot).sum() / onehot.sum()


def _accuracy(model, features, onehot, weight, bias):
    pred = logits(model, features, weight, bias).argmax(-1)
    return (pred == onehot.argmax(-1)).to(features.dtype).mean()


def adapt(model: MetaModel, support_features: torch.Tensor, support_onehot: torch.Tensor,
          steps: int | None = None, first_order: bool = False):
    """The inner loop the edge runs: head init, then `steps` Meta-SGD steps. Returns (weight, bias, stats).

    `first_order=True` stops gradients through the inner-loop gradients (FOMAML); the forward values
    are identical.
    """
    steps = model.cfg.steps if steps is None else steps
    weight, bias = init_head(model, support_features, support_onehot)
    w0, b0 = weight, bias
    lr_w, lr_b = model.step_sizes()
    # Curvature of the CE w.r.t. the head grows with temperature²: dividing by it keeps a step size
    # meaning the same thing while the temperature is meta-learned (and MAML's inner loop stable).
    norm = model.temperature() ** -2
    lr_w, lr_b = lr_w * norm, lr_b * norm
    stats = {"loss_before": support_loss(model, support_features, support_onehot, weight, bias),
             "acc_before": _accuracy(model, support_features, support_onehot, weight, bias)}
    for s in range(steps):
        gw, gb = inner_gradient(model, support_features, support_onehot, weight, bias)
        if model.cfg.inner_l2:
            gw, gb = gw + model.cfg.inner_l2 * (weight - w0), gb + model.cfg.inner_l2 * (bias - b0)
        if first_order:
            gw, gb = gw.detach(), gb.detach()
        k = min(s, max(model.cfg.steps, 1) - 1)  # steps beyond the meta-trained ones reuse the last step size
        weight = weight - lr_w[k] * gw
        bias = bias - lr_b[k] * gb
    stats["loss_after"] = support_loss(model, support_features, support_onehot, weight, bias)
    stats["acc_after"] = _accuracy(model, support_features, support_onehot, weight, bias)
    return weight, bias, stats


def episode_query_loss(model: MetaModel, batch: dict, algorithm: str, steps: int | None = None):
    """Mean query cross-entropy (and accuracy, per-class loss) of a batch of tasks, batched with vmap.

    batch: support_x [T, S, dim], support_y [T, S] int, query_x [T, Q, dim], query_y [T, Q] int.
    """
    ways = int(batch["support_y"].max()) + 1
    first_order = algorithm == "fomaml"
    if algorithm == "protonet":
        steps = 0

    def one_task(sx, sy, qx, qy):
        s_onehot = F.one_hot(sy, ways).to(sx.dtype)
        w, b, _ = adapt(model, model.features(sx), s_onehot, steps=steps, first_order=first_order)
        out = logits(model, model.features(qx), w, b)
        ce = F.cross_entropy(out, qy, reduction="none")
        per_class = (F.one_hot(qy, ways).to(ce.dtype) * ce[:, None]).sum(0) / F.one_hot(qy, ways).sum(0)
        return ce.mean(), (out.argmax(-1) == qy).to(ce.dtype).mean(), per_class

    loss, acc, per_class = vmap(one_task)(batch["support_x"], batch["support_y"], batch["query_x"], batch["query_y"])
    return loss.mean(), acc.mean(), per_class


def reptile_step(model: MetaModel, batch: dict, inner_steps: int, inner_lr: float) -> dict:
    """Reptile: per task, SGD on all meta-parameters over support+query; returns θ - mean(φ) as the
    meta-gradient (set into .grad by the caller's optimiser step). Tasks run through vmap."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    ways = int(batch["support_y"].max()) + 1

    def task_loss(p, x, onehot):
        feats = functional_call(model, p, (x,))
        w, b = init_head(model, feats, onehot, p["head_row"], p["head_bias"])
        return _cross_entropy(p["log_temperature"].exp(), feats, onehot, w, b)

    def one_task(x, onehot):
        p = dict(params)
        for _ in range(inner_steps):
            g = grad(task_loss)(p, x, onehot)
            p = {k: v - inner_lr * g[k] for k, v in p.items()}
        return {k: params[k] - p[k] for k in p}

    x = torch.cat([batch["support_x"], batch["query_x"]], 1)
    onehot = F.one_hot(torch.cat([batch["support_y"], batch["query_y"]], 1), ways).to(x.dtype)
    deltas = vmap(one_task)(x, onehot)
    return {k: v.mean(0) for k, v in deltas.items()}


def edge_no_meta_model(dim: int, **overrides) -> MetaModel:
    """The `edge_no_meta` model for `dim`-wide embeddings: nothing learned, fully determined by `dim`
    (identity projection, no MLP, buffers for the step sizes). evaluate.py and the default build use it;
    tune_edge_no_meta.py scores `overrides` of NO_META_MODEL (steps, inner_lr) with it."""
    return MetaModel(ModelConfig(dim=dim, features=dim, **{**NO_META_MODEL, **overrides})).eval()


def model_config_for(algorithm: str, **overrides) -> ModelConfig:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {ALGORITHMS}")
    return ModelConfig(**{**ALGORITHM_MODEL[algorithm], **overrides})
