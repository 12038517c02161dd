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
# prototype-initialised head and 5 conjugate-gradient steps towards the L2-regularised logistic
# regression optimum (`adapt_cg`, prior 3: scikit-learn's C = temperature² / prior ≈ 33, temperature 10),
# then one refinement round of 5 more steps (refine.onnx) for every task up to 1 M support examples x
# labels: 5 steps left the head 1-1.4 points under a converged logistic regression on banking77.
# Prior and rounds are selected on meta-valid tasks of both shapes among the configurations that fit the
# adaptation latency budget (training/tune_edge_no_meta.py, results in
# docs/results/edge_no_meta_selection.json). cg beat plain gradient steps ("gd", which lose few-way at
# the step sizes that gain all-way) at every step count when it was selected.
NO_META = "edge_no_meta"
NO_META_MODEL = dict(hidden=0, head_init="prototypes", solver="cg", steps=5, prior=3.0, inner_lr=2.0,
                     learn_step_sizes=False, temperature=10.0, inner_l2=0.0,
                     refine_steps=5, refine_max_rounds=1, refine_budget=5_000_000)
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
          steps: int | None = None, first_order: bool = False, refine: bool = True):
    """The inner loop the edge runs: head init, then `steps` Meta-SGD steps. Returns (weight, bias, stats).

    `first_order=True` stops gradients through the inner-loop gradients (FOMAML); the forward values
    are identical. `refine=False` stops after `steps` (adapt.onnx; the Worker runs the rounds with refine.onnx).
    """
    steps = model.cfg.steps if steps is None else steps
    if model.cfg.solver == "cg":
        weight, bias, stats = adapt_cg(model, support_features, support_onehot, steps)
        n, ways = support_onehot.shape
        for _ in range(model_refine_rounds(model, n, ways) if refine else 0):
            weight, bias, more = adapt_cg(model, support_features, support_onehot, model.cfg.refine_steps, (weight, bias))
            stats = {**stats, "loss_after": more["loss_after"], "acc_after": more["acc_after"]}
        return weight, bias, stats
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


def _ce_and_accuracy(z: torch.Tensor, onehot: torch.Tensor):
    n = onehot.sum()
    return (-(torch.log_softmax(z, -1) * onehot).sum() / n,
            (z.argmax(-1) == onehot.argmax(-1)).to(z.dtype).sum() / n)


def refine_rounds(steps: int, max_rounds: int, budget: int, support: int, ways: int) -> int:
    """How many refinement rounds of `steps` a task of `support` examples over `ways` labels gets after
    the first steps (ModelConfig.refine_*, manifest adaptation.refine): each round costs steps x support x
    ways x features multiply-adds twice, and the rounds together stay within `budget` (support x ways x
    steps units), so the largest tasks keep the first steps alone. Integer arithmetic: the Worker computes
    the very same count (functions/model/runtime.ts refineRounds)."""
    if steps <= 0 or max_rounds <= 0:
        return 0
    return min(max_rounds, budget // (steps * max(support * ways, 1)))


def model_refine_rounds(model: MetaModel, support: int, ways: int) -> int:
    c = model.cfg
    return refine_rounds(c.refine_steps, c.refine_max_rounds, c.refine_budget, support, ways) if c.refines else 0


def adapt_cg(model: MetaModel, support_features: torch.Tensor, support_onehot: torch.Tensor, steps: int,
             start: tuple[torch.Tensor, torch.Tensor] | None = None):
    """The "cg" inner loop: L2-regularised logistic regression on the support, solved in a few steps.

    Minimises mean CE(t (F Wᵀ + b)) + λ/2 ||W - W0||², λ = prior / n, from the prototype head W0. Two
    things make a handful of steps enough where plain gradient steps crawl: the features are centred on
    the mean prototype (a reparametrisation: the optimum is the same, but the shared direction every
    sentence embedding has stops dominating the curvature), and each step moves along a Polak-Ribière
    conjugate direction D by an exact one-dimensional Newton step, -gᵀD / DᵀHD, where DᵀHD of the softmax
    cross-entropy is computed from the direction's logits (no step size to tune, none to diverge with).
    The logits move linearly with the head, so each step costs two matrix products, like a gradient step.
    Returns (weight, bias, stats) for uncentred features, as `adapt` does.
    """
    t = model.temperature()
    y, f = support_onehot, support_features
    n = y.sum()
    weight0, bias0 = init_head(model, f, y)
    mean = (y.T @ f / y.sum(0)[:, None]).mean(0)  # mean prototype (the prototype head is translation-invariant)
    fc = f - mean
    lam = model.cfg.prior / n
    # `start`: a head from earlier steps (a refinement round), still pulled towards the prototype head
    weight, bias = (weight0, bias0) if start is None else start
    bias = bias + weight @ mean  # the same head in centred coordinates
    z = t * (fc @ weight.T + bias)
    loss_before, acc_before = _ce_and_accuracy(z, y)
    g_prev = d_w = d_b = None
    for _ in range(steps):
        p = torch.softmax(z, -1)
        r = (p - y) * (t / n)  # d loss / d (F Wᵀ + b)
        g_w, g_b = r.T @ fc + lam * (weight - weight0), r.sum(0)
        if g_prev is None:
            d_w, d_b = -g_w, -g_b
        else:
            gg = (g_prev[0] * g_prev[0]).sum() + (g_prev[1] * g_prev[1]).sum()
            beta = ((g_w * (g_w - g_prev[0])).sum() + (g_b * (g_b - g_prev[1])).sum()) / gg.clamp_min(1e-30)
            # PR+: never negative; a vanished previous gradient (a fitted support) restarts instead of
            # dividing rounding noise by rounding noise
            beta = torch.where(gg > 1e-20, beta.clamp_min(0), torch.zeros_like(beta))
            d_w, d_b = -g_w + beta * d_w, -g_b + beta * d_b
            # not a descent direction (possible with nonlinear CG): restart from the gradient
            descent = ((g_w * d_w).sum() + (g_b * d_b).sum()) < 0
            d_w, d_b = torch.where(descent, d_w, -g_w), torch.where(descent, d_b, -g_b)
        g_prev = (g_w, g_b)
        z_d = t * (fc @ d_w.T + d_b)
        zp = (p * z_d).sum(-1)
        # DᵀHD, plus λ on the bias part too: a damping (not in the objective) that keeps the step finite
        # where the softmax is saturated and a bias-only direction has no curvature (one shot per way)
        curvature = ((p * z_d * z_d).sum(-1) - zp * zp).sum() / n + lam * ((d_w * d_w).sum() + (d_b * d_b).sum())
        step = -((g_w * d_w).sum() + (g_b * d_b).sum()) / curvature.clamp_min(1e-30)
        weight, bias, z = weight + step * d_w, bias + step * d_b, z + step * z_d
    loss_after, acc_after = _ce_and_accuracy(z, y)
    stats = {"loss_before": loss_before, "acc_before": acc_before, "loss_after": loss_after, "acc_after": acc_after}
    return weight, bias - weight @ mean, stats


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
