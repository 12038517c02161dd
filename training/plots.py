"""PNG plots from an evaluation report (training/evaluate.py): made after the run, never inside it."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display on the training machines
    import matplotlib.pyplot as plt
    return plt


def accuracy_vs_shots(report: dict, out: Path, protocol: str = "cross") -> Path | None:
    rows = [r for r in report["results"] if r["protocol"] == protocol]
    if not rows:
        return None
    plt = _plt()
    targets = sorted({r["target"] for r in rows})
    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 4.5), squeeze=False)
    style = {"teacher": "-", "static": "--"}
    methods = sorted({r["method"] for r in rows})
    color = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}  # one colour per method
    for ax, target in zip(axes[0], targets):
        mine = [r for r in rows if r["target"] == target]
        for enc in sorted({r["encoder"] for r in mine}):
            for method in sorted({r["method"] for r in mine if r["encoder"] == enc}):
                pts = sorted((r["shots"], 100 * r["accuracy"], r.get("ci95", 0) * 100) for r in mine
                             if r["encoder"] == enc and r["method"] == method)
                xs, ys, es = zip(*pts)
                ax.errorbar(xs, ys, yerr=es if any(es) else None, marker="o", capsize=3, color=color[method],
                            linestyle=style.get(enc, ":"), label=f"{method} ({enc})")
        if protocol == "cross":
            for name, per_set in report.get("anchors", {}).items():
                if target in per_set:
                    ax.scatter([5, 10], [per_set[target]["5"], per_set[target]["10"]], marker="x", color="black", s=20)
            ax.set_title(f"{target}: all-way, cross-dataset (x = published anchors)")
        else:
            ax.set_title(f"{target}: {mine[0]['ways']}-way episodes (95% CI)")
        ax.set_xlabel("shots per label")
        ax.set_ylabel("accuracy (%)")
        ax.set_xticks(sorted({r["shots"] for r in mine}))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc="lower right", ncol=2)
    fig.tight_layout()
    path = out / f"accuracy_vs_shots_{protocol}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(report: dict, out: Path, protocol: str = "cross", target: str = "banking77") -> Path | None:
    rows = [r for r in report["results"] if r["protocol"] == protocol and r["target"] == target and r.get("history")]
    if not rows:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    seen = set()
    for r in rows:
        key = (r["encoder"], r["method"])
        if key in seen:  # one history per trained model (the shots rows share it)
            continue
        seen.add(key)
        h = [p for p in r["history"] if "valid_acc" in p]
        ls = "-" if r["encoder"] == "teacher" else "--"
        axes[0].plot([p["step"] for p in h], [100 * p["valid_acc"] for p in h], ls, label=f"{r['method']} ({r['encoder']})")
        h = [p for p in r["history"] if "loss" in p]
        axes[1].plot([p["step"] for p in h], [p["loss"] for p in h], ls, label=f"{r['method']} ({r['encoder']})")
    axes[0].set_title(f"meta-valid episode accuracy ({protocol}:{target})")
    axes[0].set_ylabel("accuracy (%)")
    axes[1].set_title("meta-train query loss")
    for ax in axes:
        ax.set_xlabel("meta step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    path = out / f"learning_curves_{protocol}_{target}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(report: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = [accuracy_vs_shots(report, out, "cross"), accuracy_vs_shots(report, out, "episodes"),
            learning_curves(report, out, "cross", "banking77"), learning_curves(report, out, "episodes", "banking77")]
    return [p for p in made if p]


if __name__ == "__main__":
    # python -m training.plots docs/results/evaluation.json
    src = Path(sys.argv[1])
    for p in write_all(json.loads(src.read_text()), src.parent):
        print(p)
