"""`python -m training <command>`: smoke, default, train, publish, distill, evaluate, account.

Each module registers its own subcommand with `add_command(subparsers)`; adding one is one line below.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Modules that contribute subcommands: each registers its own with `add_command(subparsers)`.
COMMAND_MODULES = ["training.publish", "training.students", "training.evaluate", "training.account_encoder"]


def _encoder(name: str):
    """The encoder to build for (training/students.py names them)."""
    from training.students import get_encoder
    return get_encoder(name)


def _valid_vs_prototypes(result: dict, cfg) -> dict:
    """Meta-valid episode accuracy of the artifact's edge path vs frozen-encoder prototypes, same episodes."""
    import torch
    from training import algorithms
    from training.train import embed_rows, valid_batches
    model, valid = result["model"], embed_rows(result["encoder"], result["partition"].meta_valid)
    batches = valid_batches(cfg, valid, torch.device("cpu"), torch.float32)
    ours = "edge_no_meta" if cfg.algorithm == "edge_no_meta" else "meta_learned"  # nothing learned: say so
    accs = {ours: [], "frozen_prototypes": []}
    with torch.no_grad():
        for b in batches:
            accs[ours].append(float(algorithms.episode_query_loss(model, b, "maml")[1]))
            for sx, sy, qx, qy in zip(b["support_x"], b["support_y"], b["query_x"], b["query_y"]):
                protos = torch.stack([sx[sy == c].mean(0) for c in range(int(sy.max()) + 1)])
                sim = torch.nn.functional.normalize(qx, dim=-1) @ torch.nn.functional.normalize(protos, dim=-1).T
                accs["frozen_prototypes"].append(float((sim.argmax(-1) == qy).float().mean()))
    return {f"meta_valid_{cfg.ways}way_{cfg.shots}shot_acc_{k}": round(sum(v) / len(v), 4) for k, v in accs.items()}


def _measured(cfg, model, encoder) -> dict:
    """The method's measured cross-dataset numbers (docs/results/evaluation.json) for the manifest: for the
    default student, its recipe's cross-clean rows ("static-meta": one build per target, without any of its
    texts); for the other static builds the evaluated encoder itself; else the teacher's. edge_no_meta rows
    also record their model, so the manifest says whether they match."""
    from training import evaluate
    from training.algorithms import NO_META
    name = {"static": "static-shipped", "static-ctx": "static-ctx-shipped"}.get(cfg.encoder, cfg.encoder)
    if cfg.encoder.startswith("artifact:"):
        name = "artifact"  # evaluate.py's name for the committed artifact's encoder
    if cfg.encoder.startswith("transformer-meta"):
        # the edge transformer is the episodic teacher itself, int8: its recipe's cross-clean rows are the
        # teacher's (one build per target without any of its texts), measured in float32
        name = "meta-episodic"
    if cfg.algorithm == NO_META:
        return evaluate.measured_cross_dataset(cfg.algorithm, name, model_args=model.constructor_args(),
                                               encoder_tag=encoder.tag)
    return {**evaluate.measured_cross_dataset(cfg.algorithm, name, encoder_tag=encoder.tag),
            "note": "the method as evaluate.py meta-trains it (other two sets, its budget), not these weights"}


def _init_distributed(cfg) -> int:
    """Under torchrun (WORLD_SIZE > 1): join the process group (gloo on CPU, nccl on CUDA); rank 0 writes."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    import torch
    import torch.distributed as dist
    cuda = cfg.device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank()


def build(preset: str | None, out: Path, config_path: str | None = None, **overrides) -> dict:
    """Meta-train with a preset/config, evaluate on meta-valid episodes, export + verify an artifact."""
    import torch
    from training import export, train
    from training.config import load_config
    cfg = load_config(preset, config_path, **overrides)
    torch.set_num_threads(cfg.threads)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty: artifacts are immutable, choose a new --out")
    t0 = time.time()
    rank = _init_distributed(cfg)
    encoder = _encoder(cfg.encoder)
    result = train.main(cfg, out / "training", encoder)
    if rank != 0:  # torchrun: every rank trains (DDP), rank 0 alone evaluates, exports and reports
        return {}
    cfg = result.get("config", cfg)  # edge_no_meta: the model fields it was built with, meta_steps 0
    metrics = {"history_last": result["history"][-1], **_valid_vs_prototypes(result, cfg),
               "train_seconds": round(time.time() - t0, 1),
               "cross_dataset": _measured(cfg, result["model"], encoder)}
    manifest = export.build_artifact(result["model"], encoder, out, cfg.algorithm, cfg.to_dict(), metrics)
    print(f"[training] {manifest['version']} written to {out} in {time.time() - t0:.0f} s "
          f"(parity max |diff| {manifest['parity']['max_abs_diff']:.2e})")
    print(json.dumps(metrics, indent=1))
    return manifest


def _build_command(subparsers, name: str, help_text: str, preset: str | None) -> None:
    p = subparsers.add_parser(name, help=help_text)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", help="JSON file of TrainConfig fields (over the preset)")
    p.add_argument("--algorithm"); p.add_argument("--encoder"); p.add_argument("--protocol")
    p.add_argument("--meta-steps", type=int, dest="meta_steps"); p.add_argument("--device")
    p.add_argument("--preset", default=preset, help=f"TrainConfig preset (default: {preset})")
    p.set_defaults(run=lambda a: build(a.preset, a.out, a.config, algorithm=a.algorithm, encoder=a.encoder,
                                       protocol=a.protocol, meta_steps=a.meta_steps, device=a.device))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    _build_command(sub, "smoke", "tiny end-to-end meta-training + evaluation + export on CPU (~1-2 min)", "smoke")
    _build_command(sub, "default", "the artifact `npm start` installs (edge_no_meta; --algorithm meta_sgd to meta-train)", "default")
    _build_command(sub, "train", "a full run from --config (the container's entry point)", None)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        if hasattr(module, "add_command"):
            module.add_command(sub)
    return ap


def main(argv: list[str] | None = None) -> None:
    from training.config import ConfigError
    from training.data import DataError
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ConfigError, DataError) as err:
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
