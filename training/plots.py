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
    rows = [r for r in report["results"] if r["split"] == protocol]
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
    rows = [r for r in report["results"] if r["split"] == protocol and r["target"] == target and r.get("history")]
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


def cascade_tradeoff(evals: dict[str, dict], out: Path) -> Path | None:
    """The cascade's trade-off as the threshold moves: out-of-scope inputs sent to the LLM against in-scope
    inputs answered by the model (and their accuracy), with the calibrated confidence and the plain
    softmax. `evals`: task shape -> `npm run eval -- --tradeoff --json` output."""
    plt = _plt()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, len(evals), figsize=(5.2 * len(evals), 4.2), squeeze=False)
    for ax, (title, ev) in zip(axes[0], evals.items()):
        for kind, style in (("calibrated", "-o"), ("plain", "--s")):
            rows = [r[kind] for r in ev["tradeoff"]]
            ax.plot([r["in_scope_answered_by_model"] for r in rows], [r["oos_to_llm"] for r in rows], style,
                    ms=3, label=f"{kind}: out-of-scope to the LLM")
        rows = [r["calibrated"] for r in ev["tradeoff"] if r["calibrated"]["answered_accuracy"] is not None]
        ax.plot([r["in_scope_answered_by_model"] for r in rows], [r["answered_accuracy"] for r in rows], ":",
                color="green", label="calibrated: accuracy of the model's answers")
        ax.axhline(0.95, color="green", lw=0.5, ls=":")
        default = next(r for r in ev["tradeoff"] if abs(r["threshold"] - 0.7) < 1e-9)["calibrated"]
        ax.plot([default["in_scope_answered_by_model"]], [default["oos_to_llm"]], "k*", ms=11,
                label=f"default 0.7: answered at {100 * (default['answered_accuracy'] or 0):.1f}%")
        ax.axhline(0.8, color="grey", lw=0.6)
        ax.axvline(0.8, color="grey", lw=0.6)
        ax.set(title=title, xlabel="share of in-scope inputs answered by the model", ylabel="share",
               xlim=(0, 1.02), ylim=(0, 1.02))
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("CLINC150 cascade as the confidence threshold moves (0.05-0.95); targets: both shares >= 0.8, "
                 "accuracy >= 0.95", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "cascade":
        # python -m training.plots cascade OUT.png "10-way 5-shot=eval-10.json" "all 150=eval-all.json"
        pairs = dict(a.split("=", 1) for a in sys.argv[3:])
        print(cascade_tradeoff({k: json.loads(Path(v).read_text()) for k, v in pairs.items()}, Path(sys.argv[2])))
    else:
        # python -m training.plots docs/results/evaluation.json
        src = Path(sys.argv[1])
        for p in write_all(json.loads(src.read_text()), src.parent):
            print(p)
