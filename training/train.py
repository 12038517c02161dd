"""Meta-training: `meta_train(cfg, meta_train, meta_valid)` on cached embeddings, and `main(cfg)`.

Multi-process training is torch.distributed + DistributedDataParallel (launch with torchrun; gloo on
CPU, nccl on CUDA). Every rank samples the same global batch of tasks from the same seeded sampler and
takes its slice, so N processes compute exactly the update one process would (tested).
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from training import algorithms, data
from training.config import TrainConfig
from training.data import EpisodeSampler, LabeledEmbeddings
from training.model import MetaModel


class EpisodeObjective(nn.Module):
    """The model plus its meta-objective as one forward, so DDP can hook it like any other module."""

    def __init__(self, model: MetaModel, cfg: TrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, batch: dict):
        if self.cfg.algorithm == "reptile":
            delta = algorithms.reptile_step(self.model, batch, self.cfg.reptile_inner_steps, self.cfg.reptile_inner_lr)
            # d/dθ Σ θ·δ = δ: the Reptile direction (θ - φ) becomes an ordinary gradient for DDP + Adam.
            surrogate = sum((p * delta[k]).sum() for k, p in self.model.named_parameters())
            with torch.no_grad():
                loss, acc, per_class = algorithms.episode_query_loss(self.model, batch, "maml")
            return surrogate, loss, acc, per_class
        loss, acc, per_class = algorithms.episode_query_loss(self.model, batch, self.cfg.algorithm)
        return loss, loss.detach(), acc.detach(), per_class.detach()


def build_model(cfg: TrainConfig, dim: int) -> MetaModel:
    mcfg = algorithms.model_config_for(cfg.algorithm, dim=dim, features=cfg.features, hidden=cfg.hidden,
                                       steps=cfg.adaptation_steps, inner_lr=cfg.inner_lr,
                                       temperature=cfg.temperature, inner_l2=cfg.inner_l2)
    return MetaModel(mcfg)


def _to(batch: dict, device, dtype) -> dict:
    return {k: torch.as_tensor(v, device=device, dtype=dtype if v.dtype.kind == "f" else torch.int64)
            for k, v in batch.items()}


def _schedule(cfg: TrainConfig):
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.lr_schedule == "constant":
            return 1.0
        progress = (step - cfg.warmup_steps) / max(1, cfg.meta_steps - cfg.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def evaluate_episodes(model: MetaModel, batches: list[dict], algorithm: str) -> dict:
    model.eval()
    losses, accs = [], []
    for b in batches:
        loss, acc, _ = algorithms.episode_query_loss(model, b, "maml" if algorithm == "reptile" else algorithm)
        losses.append(float(loss)); accs.append(float(acc))
    model.train()
    return {"valid_loss": float(np.mean(losses)), "valid_acc": float(np.mean(accs))}


def valid_batches(cfg: TrainConfig, meta_valid: LabeledEmbeddings, device, dtype) -> list[dict]:
    labels_ok = sum((meta_valid.y == c).sum() >= cfg.shots + cfg.query for c in range(len(meta_valid.labels)))
    sampler = EpisodeSampler(meta_valid, min(cfg.ways, int(labels_ok)), cfg.shots, cfg.query, seed=cfg.seed + 1,
                             same_group=cfg.same_dataset_episodes)
    per = 16
    return [_to(sampler.batch(min(per, cfg.valid_episodes - i)), device, dtype)
            for i in range(0, cfg.valid_episodes, per)]


def meta_train(cfg: TrainConfig, meta_train: LabeledEmbeddings, meta_valid: LabeledEmbeddings,
               model: MetaModel | None = None) -> tuple[MetaModel, list[dict]]:
    """Meta-trains and returns (model, history). History: one dict per logged step (JSON-ready)."""
    cfg.validate()
    if cfg.algorithm not in algorithms.ALGORITHMS:
        raise ValueError(f"{cfg.algorithm!r} is not meta-trained; choose one of {algorithms.ALGORITHMS}")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device, dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
    rank, world = _rank_world()
    if cfg.tasks_per_batch % world:
        raise ValueError(f"tasks_per_batch {cfg.tasks_per_batch} must divide evenly over {world} processes")
    model = (model or build_model(cfg, meta_train.x.shape[1])).to(device=device, dtype=dtype)
    objective: nn.Module = EpisodeObjective(model, cfg)
    if world > 1:
        objective = nn.parallel.DistributedDataParallel(objective, find_unused_parameters=True)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.outer_lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg))
    sampler = EpisodeSampler(meta_train, cfg.ways, cfg.shots, cfg.query, seed=cfg.seed, dynamic=cfg.dynamic_sampling,
                             same_group=cfg.same_dataset_episodes)
    valid = valid_batches(cfg, meta_valid, device, dtype)
    amp = cfg.amp and device.type == "cuda"  # bf16 only where it is fast and supported
    history = [{"step": 0, **evaluate_episodes(model, valid, cfg.algorithm)}]
    local = cfg.tasks_per_batch // world
    train_time, bar = 0.0, tqdm(range(1, cfg.meta_steps + 1), desc=f"meta-train {cfg.algorithm}",
                                disable=not cfg.progress or rank != 0, leave=False)
    for step in bar:
        t0 = time.perf_counter()
        full = sampler.batch(cfg.tasks_per_batch)
        mine = _to({k: v[rank * local:(rank + 1) * local] for k, v in full.items() if k != "classes"}, device, dtype)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            objective_value, loss, acc, per_class = objective(mine)
        opt.zero_grad(set_to_none=True)
        objective_value.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step(); sched.step()
        per_class = per_class.float()
        if world > 1:
            gathered = [torch.empty_like(per_class) for _ in range(world)]
            dist.all_gather(gathered, per_class)
            per_class = torch.cat(gathered)
            stats = torch.stack([loss.float(), acc.float()])
            dist.all_reduce(stats); loss, acc = stats / world
        for classes, pc in zip(full["classes"], per_class.cpu().numpy()):
            sampler.update(classes, pc)
        train_time += time.perf_counter() - t0
        if step % cfg.valid_every == 0 or step == cfg.meta_steps:
            row = {"step": step, "loss": float(loss), "acc": float(acc), "lr": sched.get_last_lr()[0],
                   "episodes_per_s": step * cfg.tasks_per_batch / train_time,
                   **evaluate_episodes(model, valid, cfg.algorithm)}
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", valid_acc=f"{row['valid_acc']:.3f}")
    return model, history


# ---- data, checkpoints and the `train` command -------------------------------------------------

def embed_rows(encoder, rows: list[data.Utterance]) -> LabeledEmbeddings:
    from training.encoders import embed
    y, labels = data.label_index(rows)
    texts = [u.text for u in rows]
    return LabeledEmbeddings(embed(encoder, texts), y, labels, texts)


def partition_for(cfg: TrainConfig) -> data.Partition:
    kind, _, arg = cfg.protocol.partition(":")
    if kind == "cross":
        part = data.cross_dataset_partition(arg)
    elif kind == "labels":
        part = data.label_split_partition(arg)
    else:
        # The production preset learns from the public sets plus the service's exported corrections.
        part = data.all_sets_partition(feedback=True)
        fed = sum(u.label.startswith(data.FEEDBACK_PREFIX) for u in part.meta_train)
        print(f"[data] meta-train: {len(part.meta_train)} rows, {fed} of them from service feedback "
              f"({data.data_dir() / 'feedback'})", file=sys.stderr, flush=True)
    if cfg.limit_per_label:
        part.meta_train = _limit(part.meta_train, cfg.limit_per_label)
        part.meta_valid = _limit(part.meta_valid, cfg.limit_per_label)
    return part


def _limit(rows: list[data.Utterance], k: int) -> list[data.Utterance]:
    seen: dict[str, int] = {}
    out = []
    for u in rows:  # the first k per label: deterministic, and the files are not sorted by difficulty
        if seen.get(u.label, 0) < k:
            seen[u.label] = seen.get(u.label, 0) + 1
            out.append(u)
    return out


def save_checkpoint(path: Path, model: MetaModel, cfg: TrainConfig, history: list[dict], encoder_info: dict) -> None:
    torch.save({"model_args": model.constructor_args(), "state_dict": model.state_dict(), "config": asdict(cfg),
                "history": history, "encoder": encoder_info}, path)


def main(cfg: TrainConfig, out: Path, encoder=None) -> dict:
    """Loads the protocol's data, embeds it (cached), meta-trains, writes checkpoint.pt + history.json."""
    from training.students import get_encoder
    encoder = encoder or get_encoder(cfg.encoder)
    out.mkdir(parents=True, exist_ok=True)
    part = partition_for(cfg)
    valid_set = embed_rows(encoder, part.meta_valid)
    if cfg.algorithm == algorithms.NO_META:
        # Nothing is trained, so the meta-train split is not embedded (33 k texts: minutes through the
        # transformer, one text per run).
        # Nothing to meta-train: the model is fixed by the embedding width; history is its meta-valid score.
        model = algorithms.edge_no_meta_model(valid_set.x.shape[1])
        batches = valid_batches(cfg, valid_set, torch.device("cpu"), torch.float32)
        history = [{"step": 0, **evaluate_episodes(model, batches, cfg.algorithm)}]
        model.eval()
        m = model.cfg  # record what was built, not the meta-training fields that do not apply
        cfg = replace(cfg, features=m.features, hidden=m.hidden, adaptation_steps=m.steps, inner_lr=m.inner_lr,
                      temperature=m.temperature, inner_l2=m.inner_l2, meta_steps=0)
    else:
        model, history = meta_train(cfg, embed_rows(encoder, part.meta_train), valid_set)
    if _rank_world()[0] != 0:  # under torchrun only rank 0 writes
        return {"model": model, "history": history, "encoder": encoder, "partition": part, "config": cfg}
    save_checkpoint(out / "checkpoint.pt", model, cfg, history, {"name": cfg.encoder, "tag": encoder.tag})
    (out / "history.json").write_text(json.dumps(history, indent=1))
    return {"model": model, "history": history, "encoder": encoder, "partition": part, "config": cfg}
