"""The inner loop and the meta-gradients, on tiny float64 models and synthetic separable data."""
import pytest
import torch
import torch.nn.functional as F

from training import algorithms
from training.algorithms import adapt, logits
from training.config import TrainConfig
from training.model import MetaModel, ModelConfig
from training.train import meta_train
from training.tests.synthetic import separable

torch.set_num_threads(2)


def tiny(head_init="prototypes", learn=True, steps=3, hidden=4, seed=0):
    torch.manual_seed(seed)
    m = MetaModel(ModelConfig(dim=5, features=4, hidden=hidden, head_init=head_init, steps=steps,
                              inner_lr=0.3, learn_step_sizes=learn, temperature=3.0)).double()
    with torch.no_grad():  # move off the identity/zero init so every term of the gradient is non-trivial
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return m


def task(seed=1, ways=3, shots=2, query=4):
    g = torch.Generator().manual_seed(seed)
    sx = torch.randn(ways * shots, 5, generator=g, dtype=torch.float64)
    qx = torch.randn(ways * query, 5, generator=g, dtype=torch.float64)
    sy = torch.arange(ways).repeat_interleave(shots)
    qy = torch.arange(ways).repeat_interleave(query)
    return sx, F.one_hot(sy, ways).double(), qx, qy


def outer_loss(m, first_order=False):
    sx, s1h, qx, qy = task()
    w, b, _ = adapt(m, m.features(sx), s1h, first_order=first_order)
    return F.cross_entropy(logits(m, m.features(qx), w, b), qy)


@pytest.mark.parametrize("head_init", ["prototypes", "learned"])
def test_closed_form_inner_gradient_equals_autograd(head_init):
    m = tiny(head_init)
    sx, s1h, _, _ = task(ways=4)
    f = m.features(sx)
    w, b = algorithms.init_head(m, f, s1h)
    w, b = w + 0.1 * torch.randn_like(w), b + 0.1 * torch.randn_like(b)
    w.requires_grad_(True); b.requires_grad_(True)
    gw, gb = algorithms.inner_gradient(m, f, s1h, w, b)
    aw, ab = algorithms.inner_gradient_autograd(m, f, s1h, w, b)
    torch.testing.assert_close(gw, aw, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gb, ab, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("head_init", ["prototypes", "learned"])
def test_second_order_maml_gradient_matches_finite_differences(head_init):
    m = tiny(head_init)
    params = [p for p in m.parameters()]
    exact = torch.autograd.grad(outer_loss(m), params, allow_unused=True, materialize_grads=True)
    first = torch.autograd.grad(outer_loss(m, first_order=True), params, allow_unused=True, materialize_grads=True)
    eps, checked = 1e-6, 0
    for p, g in zip(params, exact):
        flat = p.data.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 6)):  # a spread of coordinates per tensor
            old = flat[i].item()
            flat[i] = old + eps; up = outer_loss(m).item()
            flat[i] = old - eps; down = outer_loss(m).item()
            flat[i] = old
            assert abs((up - down) / (2 * eps) - g.view(-1)[i].item()) < 1e-6 * max(1.0, abs(g.view(-1)[i].item()))
            checked += 1
    assert checked > 20
    # first-order MAML drops the curvature terms: a genuinely different gradient for the adapter
    diff = sum((a - b).abs().sum() for a, b in zip(exact, first))
    assert diff > 1e-3


def test_adapt_any_ways_and_improves_support_fit():
    m = tiny(steps=5)
    for ways in (2, 7):
        sx, s1h, qx, _ = task(ways=ways, shots=3)
        w, b, stats = adapt(m, m.features(sx), s1h)
        assert w.shape == (ways, 4) and b.shape == (ways,)
        assert logits(m, m.features(qx), w, b).shape == (len(qx), ways)
        assert stats["loss_after"] < stats["loss_before"]


@pytest.mark.parametrize("algorithm", algorithms.ALGORITHMS)
def test_each_algorithm_improves_meta_valid_loss(algorithm):
    train = separable(seed=0, dim=8, per_label=12)
    valid = separable(seed=1, dim=8, per_label=12, offset=100)
    cfg = TrainConfig(algorithm=algorithm, ways=4, shots=2, query=3, tasks_per_batch=4, meta_steps=30,
                      valid_every=30, valid_episodes=32, features=8, hidden=0, progress=False, warmup_steps=3,
                      outer_lr=3e-2, reptile_inner_lr=0.3, reptile_inner_steps=3)
    model, history = meta_train(cfg, train, valid)
    assert history[0]["step"] == 0 and history[-1]["step"] == 30
    assert history[-1]["valid_loss"] < history[0]["valid_loss"] - 0.1, history


def _cg_model(steps, prior=1.0, dim=12):
    return MetaModel(ModelConfig(dim=dim, features=dim, hidden=0, steps=steps, solver="cg", prior=prior,
                                 learn_step_sizes=False)).double().eval()


def _cg_task(seed=0, n=48, ways=6, dim=12):
    g = torch.Generator().manual_seed(seed)
    # a strong shared direction, as every sentence embedding has: what makes plain gradient steps crawl
    f = F.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64) + 3 * torch.randn(1, dim, generator=g, dtype=torch.float64), dim=-1)
    return f, F.one_hot(torch.arange(n) % ways, ways).double()


def _cg_objective(m, f, y, w, b):
    w0, _ = algorithms.init_head(m, f, y)
    return algorithms.support_loss(m, f, y, w, b) + m.cfg.prior / y.sum() / 2 * ((w - w0) ** 2).sum()


@pytest.mark.parametrize("prior", [0.3, 3.0])
def test_cg_solver_reaches_the_regularised_optimum(prior):
    """Enough cg steps land where the gradient of the regularised support loss vanishes (checked by
    autograd on uncentred features, so the centring and the bias shift back are right too)."""
    f, y = _cg_task()
    m = _cg_model(400, prior)
    w, b, stats = adapt(m, f, y)
    w, b = w.detach().requires_grad_(), b.detach().requires_grad_()
    gw, gb = torch.autograd.grad(_cg_objective(m, f, y, w, b), (w, b))
    assert gw.norm() < 1e-6 and gb.norm() < 1e-6
    assert float(stats["loss_after"]) == pytest.approx(float(algorithms.support_loss(m, f, y, w, b).detach()), rel=1e-9)
    assert float(stats["loss_before"]) > float(stats["loss_after"])


def test_cg_solver_beats_gradient_steps_at_equal_cost():
    """Same number of steps (each two matrix products): cg is far closer to the optimum than gd's best
    fixed step size, whose larger steps diverge on the shared direction."""
    f, y = _cg_task(seed=1)
    optimum = _cg_objective(_cg_model(200), f, y, *adapt(_cg_model(200), f, y)[:2])
    cg_gap = _cg_objective(_cg_model(5), f, y, *adapt(_cg_model(5), f, y)[:2]) - optimum
    gd_gaps = []
    for lr in (2.0, 20.0, 100.0):
        gd = MetaModel(ModelConfig(dim=12, features=12, hidden=0, steps=5, inner_lr=lr, learn_step_sizes=False)).double()
        gd_gaps.append(float(_cg_objective(_cg_model(5), f, y, *adapt(gd, f, y)[:2]) - optimum))
    assert 0 <= float(cg_gap) < 0.1 * min(g for g in gd_gaps if g == g)


def test_cg_solver_is_label_order_and_way_count_agnostic():
    f, y = _cg_task(seed=2, ways=4)
    m = _cg_model(6)
    w, b, _ = adapt(m, f, y)
    perm = torch.tensor([2, 0, 3, 1])
    wp, bp, _ = adapt(m, f, y[:, perm])
    torch.testing.assert_close(wp, w[perm])
    torch.testing.assert_close(bp, b[perm])
    two = F.one_hot(torch.arange(len(f)) % 2, 2).double()  # 2 ways works as well
    assert adapt(m, f, two)[0].shape == (2, 12)


def test_cg_solver_needs_the_prototype_head():
    with pytest.raises(ValueError, match="prototype"):
        ModelConfig(solver="cg", head_init="learned")
    with pytest.raises(ValueError, match="solver"):
        ModelConfig(solver="newton")


def test_refine_rounds_follow_the_budget_in_integers():
    """Rounds of `steps` while rounds x steps x support x ways stays within the budget, at most max_rounds;
    the Worker's refineRounds computes the same (test/model/refine.test.ts holds the same cases)."""
    r = algorithms.refine_rounds
    assert r(5, 1, 5_000_000, 385, 77) == 1  # 77 labels x 5 shots
    assert r(5, 1, 5_000_000, 5820, 291) == 0  # the stress case keeps the first steps alone
    assert r(5, 1, 5_000_000, 1000, 1000) == 1 and r(5, 1, 5_000_000, 1000, 1001) == 0  # the edge, exactly
    assert r(5, 3, 300, 4, 5) == 3 and r(5, 3, 200, 4, 5) == 2 and r(5, 3, 99, 4, 5) == 0
    assert r(0, 3, 10**9, 4, 5) == 0 and r(5, 0, 10**9, 4, 5) == 0
    gd = MetaModel(ModelConfig(dim=12, features=12, hidden=0, steps=5, refine_steps=5, refine_max_rounds=2,
                               refine_budget=10**9, learn_step_sizes=False))
    assert algorithms.model_refine_rounds(gd, 10, 2) == 0  # rounds belong to the cg solver only
    with pytest.raises(ValueError):
        ModelConfig(refine_steps=-1)


def test_refine_rounds_continue_towards_the_optimum():
    """adapt = adapt.onnx's steps, then each round restarts cg from the head it is given (what refine.onnx
    computes): the regularised objective keeps falling, and many rounds land at the optimum."""
    f, y = _cg_task(seed=3)

    def with_rounds(rounds, steps=5):
        return MetaModel(ModelConfig(dim=12, features=12, hidden=0, steps=steps, solver="cg", prior=1.0,
                                     learn_step_sizes=False, refine_steps=5, refine_max_rounds=rounds,
                                     refine_budget=10**9)).double().eval()
    m0, m2 = with_rounds(0), with_rounds(2)
    w0, b0, _ = adapt(m0, f, y)
    w2, b2, stats = adapt(m2, f, y)
    w, b = w0, b0
    for _ in range(2):  # the Worker's loop, by hand
        w, b, _ = algorithms.adapt_cg(m2, f, y, 5, (w, b))
    torch.testing.assert_close((w2, b2), (w, b))
    torch.testing.assert_close(adapt(m2, f, y, refine=False)[:2], (w0, b0))
    objective = lambda w, b: float(_cg_objective(m2, f, y, w, b))  # noqa: E731
    optimum = objective(*adapt(_cg_model(400, 1.0), f, y)[:2])
    assert objective(w0, b0) > objective(w2, b2) >= optimum - 1e-9
    assert objective(*adapt(with_rounds(60), f, y)[:2]) == pytest.approx(optimum, abs=1e-8)
    assert float(stats["loss_after"]) == pytest.approx(float(algorithms.support_loss(m2, f, y, w2, b2)), rel=1e-9)
