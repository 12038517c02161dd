"""The teacher's own transformer trained on episodes from the source tasks (meta-learning the encoder),
and its non-episodic control: the same layers, data, batches and steps with a supervised contrastive loss.

Why: every meta-learned head of training/algorithms.py sits on a frozen all-MiniLM-L6-v2 and does not beat
plain logistic regression cross-dataset; the published few-shot results that do (CPFT, ICDA) all train
the encoder. Fine-tuning all of it to separate the source intents made BANKING77 worse (forgetting,
docs/benchmarks.md), so the recipe here keeps what transfers: the token embeddings and the lower layers
stay frozen (`train_layers` of the 6 are trained), an L2 pull towards the pretrained weights (L2-SP)
keeps the trained ones near where they started, and the budget is fixed in advance (no checkpoint is
chosen by a target's score).

- `episodic`: prototypical-network episodes. Each step draws one source task (a source set, chosen in
  proportion to its labels), `ways` of its labels, `shots` support and `queries` query texts per label;
  prototypes are the normalised mean support embeddings, the query texts are classified by scaled cosine
  to them (cross-entropy). What is rewarded is classifying *new label sets* from few examples.
- `supcon`: the control. The same draw of texts (the same labels, the same number per label), no
  support/query split and no prototypes: supervised contrastive loss over the whole batch (texts of
  the same label attract, others repel), the usual pre-training that only separates the source intents.

Sources for a held-out target: the other intent sets' train splits and `../shared/data/sgd`'s labelled
turns, with every text of the target (any split) removed: cross-clean. Evaluated through
`python -m training evaluate --protocols cross --encoders meta-episodic,meta-supcon ...`; not exported
(an edge student would be distilled from the winner).

Optionally (`pseudo` > 0) episodes are also drawn from *unlabelled* utterances, as in unsupervised
meta-learning (CACTUs, Hsu et al. 2019): a pool of texts is clustered (k-means on the frozen teacher's
embeddings) and its clusters serve as the labels of one more source task. What a customer's traffic
gives before anyone labels it. The pools (`unlabelled`): `sgd` = sgd's unlabelled user utterances with
every text of the target removed (cross-clean); `sgd+target` = the same, plus the target's own *train*
texts without their labels as a second pool (never a valid or test text): the **cross-unlabelled**
protocol CPFT used, and the product's case of a customer whose traffic has been seen.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training.encoders import CACHE_ROOT, encode_in_length_order, teacher_path

MODES = ("episodic", "supcon")


@dataclass(frozen=True)
class MetaEncoderConfig:
    mode: str = "episodic"  # MODES
    train_layers: int = 2  # the top transformer layers trained (of 6); embeddings and the rest frozen
    steps: int = 300
    ways: int = 16
    shots: int = 4
    queries: int = 4
    lr: float = 2e-5
    pull: float = 1e-2  # L2-SP: weight of sum((w - w0)^2) over the trained weights
    scale: float = 20.0  # cosine logit scale (prototypes) / 1 / temperature (supcon)
    max_tokens: int = 64
    sgd: bool = True  # ../shared/data/sgd's labelled turns as a source task
    seed: int = 20261203
    pseudo: int = 0  # clusters (pseudo-labels) per unlabelled pool, a source task each; 0 = none
    pseudo_texts: int = 20000  # texts of a pool clustered (a seeded sample of the larger pools)
    unlabelled: str = "sgd"  # UNLABELLED: the pools

    def key(self) -> str:
        # Fields added after the first recipe leave the key alone at their defaults, so earlier
        # encoders and their evaluation rows keep their tags.
        defaults = MetaEncoderConfig()
        fields = {k: v for k, v in asdict(self).items() if k not in _APPENDED or v != getattr(defaults, k)}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


_APPENDED = ("pseudo", "pseudo_texts", "unlabelled")
UNLABELLED = ("sgd", "sgd+target")


class MetaEncoder:
    """The trained teacher, mean-pooled and L2-normalised like the teacher: training/encoders.py's protocol."""

    dim = 384

    def __init__(self, model, tokenizer, tag: str, max_tokens: int):
        self.model, self.tokenizer, self.tag, self.max_tokens = model, tokenizer, tag, max_tokens

    def forward(self, texts: list[str]):
        import torch.nn.functional as F

        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        hidden = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), p=2, dim=1)

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_in_length_order(self.model, self.forward, texts, self.dim)

    def token_states(self, input_ids, attention_mask):
        """Last hidden states of already tokenised input, like TeacherEncoder's (what distill reads)."""
        import torch

        with torch.inference_mode():
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def source_tasks(holdout: str | None, sgd: bool = True) -> dict[str, dict[str, list[str]]]:
    """source set -> label -> texts: every set but the target, no text of the target in any split."""
    from training import data

    part = data.cross_dataset_partition(holdout) if holdout else data.all_sets_partition()
    banned = data.set_texts(holdout) if holdout else set()
    rows = [u for u in part.meta_train if u.text not in banned]
    if sgd:
        rows += [data.Utterance(u.text, f"sgd/{u.label}") for u in data.load_jsonl("sgd", "train") if u.text not in banned]
    tasks: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for u in rows:
        tasks[u.label.split("/", 1)[0]][u.label].append(u.text)
    return {s: dict(labels) for s, labels in tasks.items()}


def unlabelled_pools(holdout: str | None, which: str) -> dict[str, list[str]]:
    """name -> texts: sgd's unlabelled utterances without any text of the target, and with `sgd+target`
    the target's train texts that no other split of it holds."""
    from training import data

    if which not in UNLABELLED:
        raise ValueError(f"unknown unlabelled pool {which!r}; choose from {UNLABELLED}")
    banned = data.set_texts(holdout) if holdout else set()
    pools = {"sgd": sorted({t for t in data.load_texts("sgd/utterances_train") if t not in banned})}
    if which == "sgd+target":
        if not holdout:
            raise ValueError("unlabelled='sgd+target' needs a target")
        pools[holdout] = sorted(set(data.load_texts(f"{holdout}/train")) - data.set_texts(holdout, skip=("train",)))
    return pools


def pseudo_tasks(pools: dict[str, list[str]], cfg: "MetaEncoderConfig", embed_texts) -> dict[str, dict[str, list[str]]]:
    """One source task per pool, labelled by k-means clusters of `embed_texts(texts)` (unit vectors);
    clusters too small to fill a draw's support and query are left out by `draw`."""
    from sklearn.cluster import KMeans

    tasks = {}
    for i, (name, pool) in enumerate(sorted(pools.items())):
        rng = np.random.default_rng(cfg.seed + i)
        texts = [pool[j] for j in sorted(rng.choice(len(pool), size=min(cfg.pseudo_texts, len(pool)), replace=False))]
        k = min(cfg.pseudo, len(texts))
        assign = KMeans(n_clusters=k, n_init=1, random_state=cfg.seed).fit_predict(embed_texts(texts))
        labels: dict[str, list[str]] = defaultdict(list)
        for text, c in zip(texts, assign):
            labels[f"unlabelled-{name}/{c}"].append(text)
        tasks[f"unlabelled-{name}"] = dict(labels)
    return tasks


def draw(tasks: dict[str, dict[str, list[str]]], cfg: MetaEncoderConfig, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """One step's texts, label-major (`shots + queries` per label), and each text's label index in the draw."""
    per = cfg.shots + cfg.queries
    names = sorted(tasks)
    weights = np.array([len(tasks[s]) for s in names], float)
    source = tasks[names[rng.choice(len(names), p=weights / weights.sum())]]
    eligible = sorted(label for label, texts in source.items() if len(texts) >= per)
    chosen = rng.choice(len(eligible), size=min(cfg.ways, len(eligible)), replace=False)
    texts: list[str] = []
    for label in (eligible[i] for i in chosen):
        pool = source[label]
        texts += [pool[j] for j in rng.choice(len(pool), size=per, replace=False)]
    return texts, np.repeat(np.arange(len(chosen)), per)


def episodic_loss(z, ways: int, shots: int, queries: int, scale: float):
    """Prototypical-network loss of label-major embeddings `z` [ways × (shots + queries), d]."""
    import torch
    import torch.nn.functional as F

    z = z.view(ways, shots + queries, -1)
    protos = F.normalize(z[:, :shots].mean(1), dim=-1)
    q = z[:, shots:].reshape(ways * queries, -1)
    target = torch.arange(ways).repeat_interleave(queries)
    return F.cross_entropy(scale * q @ protos.T, target)


def supcon_loss(z, y, scale: float):
    """Supervised contrastive loss (Khosla et al. 2020) of normalised embeddings `z` with labels `y`."""
    import torch

    logits = scale * z @ z.T
    eye = torch.eye(len(y), dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (y[:, None] == y[None, :]) & ~eye
    return -(log_prob.masked_fill(~positive, 0).sum(1) / positive.sum(1).clamp(min=1)).mean()


def _teacher_model():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = teacher_path()
    return AutoModel.from_pretrained(path, local_files_only=True), AutoTokenizer.from_pretrained(path, local_files_only=True)


CHECKPOINT_EVERY = 50  # steps between resumable checkpoints (folder/checkpoint.pt)


def build_meta_encoder(cfg: MetaEncoderConfig, holdout: str | None, log=lambda m: print(m, file=sys.stderr),
                       tasks: dict[str, dict[str, list[str]]] | None = None, folder: Path | None = None,
                       pools: dict[str, list[str]] | None = None, checkpoint_every: int = CHECKPOINT_EVERY) -> MetaEncoder:
    """Trains (or loads from .cache/encoders) the encoder of `cfg`; no text of `holdout` is ever used, but
    for its train texts (unlabelled) when `cfg.unlabelled` says so. `tasks` / `pools` replace the source
    tasks and the unlabelled pools (tests: a tiny set); `folder` where the weights are kept.

    Every `checkpoint_every` steps the trained weights, the optimiser, both random generators and the
    loss history go to folder/checkpoint.pt with the recipe's key; a run stopped midway resumes from it
    (the same draws and dropout masks, so the result is the uninterrupted run's), and the checkpoint
    is removed once state.pt is written."""
    import torch

    if cfg.mode not in MODES:
        raise ValueError(f"unknown mode {cfg.mode!r}; choose from {MODES}")
    tag = f"meta-{cfg.mode}-{cfg.key()}-{holdout or 'all'}"
    folder = folder or CACHE_ROOT / "encoders" / tag
    model, tokenizer = _teacher_model()
    encoder = MetaEncoder(model, tokenizer, tag, cfg.max_tokens)
    if (folder / "state.pt").is_file():
        model.load_state_dict(torch.load(folder / "state.pt"))
        return encoder

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tasks = tasks if tasks is not None else source_tasks(holdout, cfg.sgd)
    if cfg.pseudo > 0:
        from training.encoders import TeacherEncoder, embed

        teacher = TeacherEncoder()  # the frozen teacher's space, cached like every other embedding
        pools = pools if pools is not None else unlabelled_pools(holdout, cfg.unlabelled)
        tasks = {**tasks, **pseudo_tasks(pools, cfg, lambda texts: embed(teacher, texts))}
    layers = len(model.encoder.layer)
    trained = [p for layer in model.encoder.layer[layers - cfg.train_layers:] for p in layer.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trained:
        p.requires_grad_(True)
    start = [p.detach().clone() for p in trained]
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=0.0)  # the L2-SP pull replaces weight decay
    checkpoint, first, history = folder / "checkpoint.pt", 1, []
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["key"] == cfg.key() and saved["holdout"] == holdout:
            with torch.no_grad():
                for p, w in zip(trained, saved["trained"]):
                    p.copy_(w)
            opt.load_state_dict(saved["opt"])
            rng.bit_generator.state = saved["rng"]
            torch.set_rng_state(saved["torch_rng"])
            first, history = saved["step"] + 1, saved["history"]
            log(f"[meta-encoder {cfg.mode}] resumed after step {saved['step']} from {checkpoint}")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the evaluation runs on 1 thread; training is worth both cores
    log(f"[meta-encoder {cfg.mode}] {sum(len(v) for v in tasks.values())} source labels in {len(tasks)} tasks, "
        f"{cfg.train_layers}/{layers} layers trained, {cfg.steps} steps"
        + (f", of them {sum(len(tasks[s]) for s in tasks if s.startswith('unlabelled-'))} clusters of unlabelled texts"
           if cfg.pseudo > 0 else ""))
    model.train()
    t0 = time.time()
    for step in range(first, cfg.steps + 1):
        texts, y = draw(tasks, cfg, rng)
        z = encoder.forward(texts)
        ways = int(y.max()) + 1
        loss = episodic_loss(z, ways, cfg.shots, cfg.queries, cfg.scale) if cfg.mode == "episodic" \
            else supcon_loss(z, torch.from_numpy(y), cfg.scale)
        pull = sum(((p - p0) ** 2).sum() for p, p0 in zip(trained, start))
        opt.zero_grad()
        (loss + cfg.pull * pull).backward()
        opt.step()
        history.append(float(loss.detach()))
        if step % 50 == 0 or step == cfg.steps:
            log(f"[meta-encoder {cfg.mode}] step {step}: loss {np.mean(history[-50:]):.4f}, "
                f"pull {float(pull.detach()):.4f} ({time.time() - t0:.0f} s)")
        if step % checkpoint_every == 0 and step < cfg.steps:
            folder.mkdir(parents=True, exist_ok=True)
            torch.save({"key": cfg.key(), "holdout": holdout, "step": step, "trained": [p.detach().clone() for p in trained],
                        "opt": opt.state_dict(), "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                        "history": history}, checkpoint.with_suffix(".tmp"))
            checkpoint.with_suffix(".tmp").replace(checkpoint)
    torch.set_num_threads(threads)
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "state.pt")
    checkpoint.unlink(missing_ok=True)
    (folder / "config.json").write_text(json.dumps(
        {**asdict(cfg), "holdout": holdout, "seconds": round(time.time() - t0, 1), "loss_first_50": float(np.mean(history[:50])),
         "loss_last_50": float(np.mean(history[-50:])), "source_labels": {s: len(v) for s, v in sorted(tasks.items())}},
        indent=2))
    return encoder
