"""Two CPU processes (torch.distributed, gloo, DDP) meta-train to the same weights as one process."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from training.config import TrainConfig
from training.train import meta_train
from training.tests.synthetic import separable

CFG = dict(algorithm="meta_sgd", ways=4, shots=2, query=3, tasks_per_batch=4, meta_steps=8, valid_every=8,
           valid_episodes=8, features=8, hidden=8, progress=False, warmup_steps=2, outer_lr=1e-2, threads=1)


def _run(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model, history = meta_train(TrainConfig(**CFG), separable(dim=8, per_label=12), separable(seed=1, dim=8, per_label=12))
        if rank == 0:
            torch.save({"state": model.state_dict(), "history": history}, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    single_model, single_history = meta_train(TrainConfig(**CFG), separable(dim=8, per_label=12),
                                              separable(seed=1, dim=8, per_label=12))
    out = str(tmp_path / "ddp.pt")
    mp.spawn(_run, args=(2, _free_port(), out), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=False)
    for name, value in single_model.state_dict().items():
        torch.testing.assert_close(ddp["state"][name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert abs(ddp["history"][-1]["loss"] - single_history[-1]["loss"]) < 1e-4
    # and training really moved the weights (the comparison is not between two initialisations)
    assert (single_model.log_step_w - torch.log(torch.tensor(1.0))).abs().max() > 1e-3
