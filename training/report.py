"""Markdown tables for docs/benchmarks.md, generated from evaluation JSON (never typed by hand).

python -m training.report docs/results/evaluation.json [more.json ...]  -> prints the tables.
python -m training.report --merge OUT.json IN.json ...                -> one report from several runs.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

SETS = ("banking77", "clinc150", "hwu64")


def _index(rows):
    out = {}
    for r in rows:
        out[(r["split"], r["encoder"], r["method"], r["target"], r["shots"])] = r
    return out


def _order(values, first):
    return [v for v in first if v in values] + sorted(v for v in values if v not in first)


METHOD_ORDER = ("prototypes", "logreg", "knn", "edge_no_meta", "edge_gd", "protonet", "proto_maml", "meta_sgd", "maml", "fomaml", "reptile")
ENCODER_ORDER = ("teacher", "static")


def cross_table(rows, anchors) -> str:
    idx = _index(rows)
    rows = [r for r in rows if r["split"] == "cross"]
    shots = sorted({r["shots"] for r in rows})
    head = "| method | encoder | " + " | ".join(f"{s} {k}-shot" for s in SETS for k in shots) + " | mean |"
    lines = [head, "|" + "---|" * (3 + len(SETS) * len(shots))]
    for enc in _order({r["encoder"] for r in rows}, ENCODER_ORDER):
        for m in _order({r["method"] for r in rows if r["encoder"] == enc}, METHOD_ORDER):
            vals = [idx.get(("cross", enc, m, s, k)) for s in SETS for k in shots]
            cells = [f"{100 * v['accuracy']:.2f}" if v else "–" for v in vals]
            got = [100 * v["accuracy"] for v in vals if v]
            mean = f"{sum(got) / len(got):.2f}" if len(got) == len(vals) else "–"
            lines.append(f"| {m} | {enc} | " + " | ".join(cells) + f" | {mean} |")
    for name, per in anchors.items():
        cells = [f"{per[s][str(k)]:.2f}" if str(k) in per.get(s, {}) else "–" for s in SETS for k in shots]
        lines.append(f"| *{name}* | published | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def episodes_table(rows) -> str:
    idx = _index(rows)
    rows = [r for r in rows if r["split"] == "episodes"]
    if not rows:
        return "(no episode results)"
    shots = sorted({r["shots"] for r in rows})
    ways = rows[0]["ways"]
    head = "| method | encoder | " + " | ".join(f"{s} {ways}-way {k}-shot" for s in SETS for k in shots) + " |"
    lines = [head, "|" + "---|" * (2 + len(SETS) * len(shots))]
    for enc in _order({r["encoder"] for r in rows}, ENCODER_ORDER):
        for m in _order({r["method"] for r in rows if r["encoder"] == enc}, METHOD_ORDER):
            vals = [idx.get(("episodes", enc, m, s, k)) for s in SETS for k in shots]
            cells = [f"{100 * v['accuracy']:.2f} ± {100 * v['ci95']:.2f}" if v else "–" for v in vals]
            lines.append(f"| {m} | {enc} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gap_table(rows, student="static", teacher="teacher") -> str:
    """Student minus teacher, per method and protocol, in points (negative = the student loses)."""
    idx = _index(rows)
    gaps = defaultdict(list)
    for (p, enc, m, s, k), r in idx.items():
        if enc == student and (p, teacher, m, s, k) in idx:
            gaps[(p, m)].append(100 * (r["accuracy"] - idx[(p, teacher, m, s, k)]["accuracy"]))
    lines = ["| protocol | method | mean gap (points) | worst | cases |", "|---|---|---|---|---|"]
    for (p, m), g in sorted(gaps.items(), key=lambda kv: (kv[0][0], METHOD_ORDER.index(kv[0][1])
                                                           if kv[0][1] in METHOD_ORDER else 99)):
        lines.append(f"| {p} | {m} | {sum(g) / len(g):+.2f} | {min(g):+.2f} | {len(g)} |")
    return "\n".join(lines)


def best_methods(rows) -> str:
    """Mean cross-dataset accuracy per (encoder, method), best first."""
    by = defaultdict(list)
    for r in rows:
        if r["split"] == "cross":
            by[(r["encoder"], r["method"])].append(100 * r["accuracy"])
    ranked = sorted(((sum(v) / len(v), e, m, len(v)) for (e, m), v in by.items()), reverse=True)
    lines = ["| rank | encoder | method | mean all-way accuracy | cases |", "|---|---|---|---|---|"]
    lines += [f"| {i} | {e} | {m} | {a:.2f} | {n} |" for i, (a, e, m, n) in enumerate(ranked, 1)]
    return "\n".join(lines)


def throughput_table(rows) -> str:
    """Episodes/s of each meta-training run of the evaluation (real cached embeddings, its settings)."""
    by = defaultdict(list)
    seen = set()
    for r in rows:
        h = r.get("history") or []
        key = (r["split"], r["target"], r["encoder"], r["method"])
        if not h or key in seen or "episodes_per_s" not in h[-1]:
            continue
        seen.add(key)
        by[r["method"]].append((h[-1]["episodes_per_s"], r.get("train_seconds", 0.0)))
    lines = ["| algorithm | episodes/s (median) | min – max | wall s per run (median, incl. validation) | runs |",
             "|---|---|---|---|---|"]
    for m in _order(set(by), METHOD_ORDER):
        eps = sorted(v[0] for v in by[m])
        wall = sorted(v[1] for v in by[m])
        lines.append(f"| {m} | {eps[len(eps) // 2]:.1f} | {eps[0]:.1f} – {eps[-1]:.1f} | {wall[len(wall) // 2]:.1f} | {len(eps)} |")
    return "\n".join(lines)


RUN_FIELDS = ("created", "machine", "settings", "seconds")
ROW_KEY = ("split", "target", "encoder", "method", "ways", "shots")  # one measured cell


def runs_of(report: dict) -> list[dict]:
    """The runs a report holds: a merged report's own list, else the one run it is."""
    return report.get("runs") or [{k: report.get(k) for k in RUN_FIELDS}]


def merge(out: str, paths: list[str]) -> None:
    """One evaluation JSON from several runs (each ran a slice of the plan; rows are kept as they are)."""
    reports = [json.loads(Path(p).read_text()) for p in paths]
    # A report that is itself a merge contributes its own runs, so merging again loses none of them.
    runs = [run for r in reports for run in runs_of(r)]
    merged = {**reports[0], "runs": runs,
              "results": [row for r in reports for row in r["results"]]}
    Path(out).write_text(json.dumps(merged, indent=1))


def merge_into(existing: dict, new: dict) -> dict:
    """`new`'s rows written into the report `existing` (what `python -m training evaluate` does to its --out):
    a row measured again (same ROW_KEY) replaces the old one, every other row stays; `new`'s runs are added."""
    key = lambda r: tuple(r.get(k) for k in ROW_KEY)  # noqa: E731
    fresh = {key(r) for r in new["results"]}
    return {**existing, "runs": [*existing.get("runs", []), *runs_of(new)],
            "results": [r for r in existing["results"] if key(r) not in fresh] + new["results"]}


def main(paths: list[str]) -> None:
    if paths and paths[0] == "--merge":
        return merge(paths[1], paths[2:])
    reports = [json.loads(Path(p).read_text()) for p in paths]
    rows = [r for rep in reports for r in rep["results"]]
    print(f"machine: {reports[0]['machine']}; created {reports[0]['created']}\n")
    print("## cross-dataset\n\n" + cross_table(rows, reports[0]["anchors"]) + "\n")
    print("## episodes\n\n" + episodes_table(rows) + "\n")
    print("## student - teacher\n\n" + gap_table(rows) + "\n")
    print("## ranking\n\n" + best_methods(rows) + "\n")
    print("## meta-training throughput\n\n" + throughput_table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
