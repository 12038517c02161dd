"""Meta-training throughput (episodes/s) per algorithm, default-preset shapes, one run, same machine.

    .venv/bin/python bench/meta_train_throughput.py [--steps 15] [--device cpu]

Baseline in the same run: protonet (no inner loop). Data are synthetic embeddings of the static
encoder's shape (256-d): throughput depends on shapes, not values. Prints the machine and a JSON table.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

from training.algorithms import ALGORITHMS  # noqa: E402
from training.config import load_config  # noqa: E402
from training.train import meta_train  # noqa: E402
from training.tests.synthetic import separable  # noqa: E402


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="default")
    args = ap.parse_args()
    train, valid = separable(n_labels=60, per_label=20, dim=256), separable(n_labels=20, per_label=20, dim=256, seed=1)
    rows = []
    for algorithm in ("protonet",) + tuple(a for a in ALGORITHMS if a != "protonet"):
        cfg = load_config(args.preset, algorithm=algorithm, meta_steps=args.steps, valid_every=10**6,
                          valid_episodes=1, progress=False, device=args.device)
        t0 = time.perf_counter()
        _, history = meta_train(cfg, train, valid)
        rows.append({"algorithm": algorithm, "episodes_per_s": round(history[-1]["episodes_per_s"], 1),
                     "wall_s": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    cfg = load_config(args.preset)
    print(json.dumps({"machine": machine(args.device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "shape": {k: getattr(cfg, k) for k in ("ways", "shots", "query", "tasks_per_batch", "features",
                                                              "hidden", "adaptation_steps")},
                      "results": rows}, indent=1))


if __name__ == "__main__":
    main()
