"""The Python reference for the edge runtime's accuracy: one few-shot episode from a real dataset, run
through a model artifact with onnxruntime (CPU) and the contract's static encoding in numpy (plus
context.onnx when the artifact has one).

The Worker test (test/model/accuracy.test.ts) adapts the same episode inside workerd and must reach
this accuracy. Usage:
  python scripts/eval_reference.py --artifact DIR --data ../shared/data/banking77 --ways 10 --shots 5 --seed 0
prints one JSON object: {"setting", "support": [{text,label}], "query": [{text,label}], "accuracy", ...}.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def episode(data: Path, ways: int, shots: int, seed: int, max_query_per_label: int) -> tuple[list[dict], list[dict]]:
    """`ways` labels drawn with `seed`; support = their first `shots` rows of train_<shots>.jsonl (or
    train.jsonl); query = up to `max_query_per_label` rows per label of test.jsonl, in file order."""
    pool_file = data / f"train_{shots}.jsonl"
    pool = read_jsonl(pool_file if pool_file.exists() else data / "train.jsonl")
    test = read_jsonl(data / "test.jsonl")
    labels = sorted({r["label"] for r in pool})
    chosen = sorted(random.Random(seed).sample(labels, ways)) if ways < len(labels) else labels
    support = [r for lab in chosen for r in [x for x in pool if x["label"] == lab][:shots]]
    query = [r for lab in chosen for r in [x for x in test if x["label"] == lab][:max_query_per_label]]
    return support, query


class StaticContract:
    """docs/model-artifact.md, "Encoding a text", static kind — written from the contract, not from
    the training code, so it checks both sides."""

    def __init__(self, artifact: Path):
        self.manifest = json.loads((artifact / "manifest.json").read_text())
        enc = self.manifest["encoder"]
        if enc["kind"] != "static":
            raise SystemExit(f"only static encoders are reproduced here, got {enc['kind']}")
        self.dim, self.max_tokens, self.special = enc["dim"], enc["max_tokens"], set(enc["special_ids"])
        files = enc.get("files", {})
        self.table = np.fromfile(artifact / files.get("table", "static_table.i8"), dtype=np.int8).reshape(-1, self.dim)
        self.scales = np.fromfile(artifact / files.get("scales", "static_scales.f32"), dtype="<f4")
        self.rows = np.fromfile(artifact / files["rows"], dtype="<i4") if files.get("rows") else None
        self.tok = Tokenizer.from_file(str(artifact / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(self.max_tokens)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.sessions = {n: ort.InferenceSession(str(artifact / f"{n}.onnx"), opts) for n in ("adapter", "adapt", "head")}
        # Step 2b: the context net over the kept rows, when the artifact ships one.
        self.context = ort.InferenceSession(str(artifact / files["context"]), opts) if files.get("context") else None

    def kept_rows(self, text: str) -> list[int]:
        ids = [x for x in self.tok.encode(text).ids if x not in self.special]
        rows = [int(self.rows[x]) if self.rows is not None else x for x in ids]
        return [r for r in rows if 0 <= r < len(self.scales)]

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            rows = self.kept_rows(t)
            if not rows:
                continue  # no kept token: the zero vector
            tokens = self.table[rows].astype(np.float32) * self.scales[rows][:, None]
            if self.context is None:
                out[i] = tokens.mean(0)
            else:  # one text per run: no padding to get wrong here
                out[i] = self.context.run(["embedding"], {"tokens": tokens[None], "mask": np.ones((1, len(rows)), np.float32)})[0][0]
        return out

    def features(self, texts: list[str]) -> np.ndarray:
        return self.sessions["adapter"].run(["features"], {"embedding": self.embed(texts)})[0]


def lexical_scores(support: list[set[int]], ways: list[int], n_ways: int, query: list[set[int]]) -> np.ndarray:
    """Written from docs/model-artifact.md, "Lexical evidence", apart from training/lexical.py on purpose."""
    n = len(support)
    df: dict[int, int] = {}
    for toks in support:
        for t in toks:
            df[t] = df.get(t, 0) + 1
    idf = lambda t: np.log((1 + n) / (1 + df.get(t, 0))) + 1  # noqa: E731
    vocab = sorted(df)
    col = {t: j for j, t in enumerate(vocab)}
    label = np.zeros((n_ways, len(vocab)))
    for toks, w in zip(support, ways):
        v = np.zeros(len(vocab))
        for t in toks:
            v[col[t]] = idf(t)
        label[w] += v / max(np.linalg.norm(v), 1e-300)
    label /= np.maximum(np.linalg.norm(label, axis=1, keepdims=True), 1e-300)
    out = np.zeros((len(query), n_ways))
    for i, toks in enumerate(query):
        if not toks:
            continue
        q = np.zeros(len(vocab))
        for t in toks:
            if t in col:
                q[col[t]] = idf(t)
        out[i] = label @ q / np.sqrt(sum(idf(t) ** 2 for t in toks))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifact", required=True, type=Path)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--ways", type=int, default=10)
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-query-per-label", type=int, default=40)
    args = ap.parse_args()
    model = StaticContract(args.artifact)
    support, query = episode(args.data, args.ways, args.shots, args.seed, args.max_query_per_label)
    labels = sorted({r["label"] for r in support})  # the edge orders a head's rows the same way
    way = {lab: i for i, lab in enumerate(labels)}
    onehot = np.eye(len(labels), dtype=np.float32)[[way[r["label"]] for r in support]]
    sf = model.features([r["text"] for r in support])
    weight, bias, lb, la, ab, aa = model.sessions["adapt"].run(None, {"support_features": sf, "support_labels": onehot})
    qf = model.features([r["text"] for r in query])
    logits = model.sessions["head"].run(["logits"], {"features": qf, "weight": weight, "bias": bias})[0]
    lexical = model.manifest.get("lexical")
    if lexical and lexical["weight"]:  # the lexical evidence of the task's examples (model-artifact.md)
        logits = logits + lexical["weight"] * lexical_scores(
            [set(model.kept_rows(r["text"])) for r in support], [way[r["label"]] for r in support], len(labels),
            [set(model.kept_rows(r["text"])) for r in query])
    pred = logits.argmax(1)
    accuracy = float(np.mean([labels[p] == r["label"] for p, r in zip(pred, query)]))
    # Frozen-encoder prototypes (cosine to class means of the static embeddings): the LLM-free baseline.
    se, qe = model.embed([r["text"] for r in support]), model.embed([r["text"] for r in query])
    norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    protos = norm(np.stack([se[onehot[:, k] == 1].mean(0) for k in range(len(labels))]))
    proto_acc = float(np.mean([labels[p] == r["label"] for p, r in zip((norm(qe) @ protos.T).argmax(1), query)]))
    json.dump({
        "setting": {"data": args.data.name, "ways": len(labels), "shots": args.shots, "seed": args.seed,
                    "query": len(query), "model_version": model.manifest["version"]},
        "support": support, "query": query, "labels": labels,
        "accuracy": accuracy, "prototypes_accuracy": proto_acc,
        "support_acc_after": float(aa), "support_loss_after": float(la),
    }, sys.stdout)


if __name__ == "__main__":
    main()
