"""Lexical evidence from a task's own examples, added to the edge head's logits.

Why: the edge encoder is a distilled static table; on a domain its tuning corpus never covered it loses
5-7 points to its teacher (docs/benchmarks.md, "Distillation"). A task's examples name the domain's
words themselves, so the edge also scores how much of an input's wording each label's examples share:

    logits'[k] = logits[k] + weight · cos(tfidf(input), tfidf(label k's examples))

This file is the reference of docs/model-artifact.md, "Lexical evidence"; functions/model/lexical.ts
computes the same thing in the Worker. Definitions (n = the task's labelled examples):
- tokens: the encoder's kept rows of a text as a set (the tokenizer's ids without specials and without
  the ids the table ignores: StaticEncoder.kept_rows), so both sides agree on what a word is;
- idf(t) = ln((1 + n) / (1 + df(t))) + 1, df(t) = examples holding t (a token no example holds has
  df 0, and still counts in an input's norm: an input mostly made of unknown words matches little);
- an example's vector: idf of each of its tokens, L2-normalised; a label's vector: the sum of its
  examples' vectors, L2-normalised; an input's: idf of each of its tokens, L2-normalised;
- the score is their dot product, in [0, 1]; an input with no kept token scores 0 everywhere.

The weight is chosen on sgd only (`python -m training.lexical select`): tasks of sgd's intents adapted
from 5 / 10 examples each, with the static student tuned without any sgd text; never on an evaluation set.
"""
from __future__ import annotations

import functools
import json
import math
import sys

import numpy as np

# Chosen by `select` (docs/benchmarks.md, "Lexical evidence"): the smallest weight within 0.1 point of
# the best mean accuracy on sgd, a plateau from 8 to 16.
DEFAULT_WEIGHT = 8.0
WEIGHTS = (0.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0)


def _idf(support_tokens: list[np.ndarray]) -> tuple[dict[int, float], float]:
    n = len(support_tokens)
    df: dict[int, int] = {}
    for toks in support_tokens:
        for t in set(int(x) for x in toks):
            df[t] = df.get(t, 0) + 1
    return {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}, math.log(1 + n) + 1


def _unit(vec: dict[int, float]) -> dict[int, float]:
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {t: v / norm for t, v in vec.items()} if norm > 0 else {}


def scores(support_tokens: list[np.ndarray], support_y: np.ndarray, ways: int,
           query_tokens: list[np.ndarray]) -> np.ndarray:
    """[len(query_tokens), ways] lexical scores of each input against each label's examples."""
    idf, unseen = _idf(support_tokens)
    labels: list[dict[int, float]] = [{} for _ in range(ways)]
    for toks, y in zip(support_tokens, support_y):
        for t, v in _unit({int(t): idf[int(t)] for t in set(toks)}).items():
            labels[int(y)][t] = labels[int(y)].get(t, 0.0) + v
    labels = [_unit(v) for v in labels]
    out = np.zeros((len(query_tokens), ways), np.float64)
    for i, toks in enumerate(query_tokens):
        q = _unit({int(t): idf.get(int(t), unseen) for t in set(toks)})
        for k, lab in enumerate(labels):
            out[i, k] = sum(v * lab.get(t, 0.0) for t, v in q.items())
    return out


@functools.lru_cache(maxsize=1)
def _trimmed() -> tuple[list[int], np.ndarray]:
    from training import distill

    specials = distill.special_ids()
    return specials, distill.trimmed_rows(distill._tokenizer().get_vocab_size(), specials)


def token_sets(texts: list[str]) -> list[np.ndarray]:
    """The kept rows of each text under the shipped students' tokenizer and trimmed rows map."""
    from training import distill

    specials, rows = _trimmed()  # one walk over the vocabulary per process, not per task
    return distill._bags(texts, distill.DistillConfig().max_tokens, specials, rows)


def edge_lexical_classifier(model, weight: float = DEFAULT_WEIGHT, tokens=None):
    """The edge path (evaluate.meta_logits) plus lexical evidence: fit_predict(sx, sy, qx, s_texts, q_texts)
    -> predicted ways. `tokens(texts)`: each text's tokens (default: the static students' kept rows)."""
    from training.evaluate import meta_logits

    tokens = tokens or token_sets

    def fit_predict(sx, sy, qx, s_texts, q_texts):
        logits = meta_logits(model, sx, sy, qx)
        if weight:
            logits = logits + weight * scores(tokens(s_texts), np.asarray(sy), int(sy.max()) + 1, tokens(q_texts))
        return logits.argmax(1)

    fit_predict.needs_texts = True
    return fit_predict


def _sgd_tasks(seed: int = 0):
    """sgd's intents as tasks: K examples per intent from its train split, queries its test split."""
    import random

    from training import data

    rng = random.Random(seed)
    by: dict[str, list] = {}
    for u in data.load_jsonl("sgd", "train"):
        by.setdefault(u.label, []).append(u)
    labels = sorted(by)
    index = {lab: i for i, lab in enumerate(labels)}
    query = [u for u in data.load_jsonl("sgd", "test") if u.label in index]
    for k in (5, 10):
        support = [u for lab in labels for u in rng.sample(by[lab], k)]
        yield k, support, query, index


def select(encoder: str = "transformer") -> dict:
    """Accuracy of the edge head plus lexical evidence at each weight on sgd tasks, with an encoder that
    never saw sgd: "transformer" (the default) is the edge transformer of the teacher trained without sgd
    (the calibration twin's); "static" the static student (shipped recipe) tuned without any sgd text."""
    from training import data, distill
    from training.algorithms import edge_no_meta_model
    from training.encoders import embed

    if encoder == "transformer":
        from training.transformer_encoder import build_transformer

        student = build_transformer("meta-episodic-sets")
        tokens, encode = student.kept_rows, lambda texts: embed(student, texts)
    else:
        part = data.all_sets_partition()
        banned = data.set_texts("sgd")
        tune = [u.text for u in part.meta_train if u.text not in banned]
        valid = [u.text for u in part.meta_valid if u.text not in banned]
        student, _ = distill.distill(distill.SHIPPED, tune, valid)
        tokens, encode = token_sets, student.encode
    out: dict = {"encoder": student.tag, "weights": list(WEIGHTS), "accuracy": {}}
    for k, support, query, index in _sgd_tasks():
        sx, qx = encode([u.text for u in support]), encode([u.text for u in query])
        sy, qy = np.array([index[u.label] for u in support]), np.array([index[u.label] for u in query])
        model = edge_no_meta_model(sx.shape[1])
        st, qt = [u.text for u in support], [u.text for u in query]
        out["accuracy"][k] = {w: float((edge_lexical_classifier(model, w, tokens)(sx, sy, qx, st, qt) == qy).mean())
                              for w in WEIGHTS}
    means = {w: float(np.mean([out["accuracy"][k][w] for k in out["accuracy"]])) for w in WEIGHTS}
    best = max(means.values())
    out["mean"] = means
    out["chosen"] = min(w for w, m in means.items() if m >= best - 0.001)
    return out


if __name__ == "__main__":
    if sys.argv[1:2] != ["select"] or sys.argv[2:] not in ([], ["--static"]):
        sys.exit("usage: python -m training.lexical select [--static]")
    print(json.dumps(select("static" if sys.argv[2:] else "transformer"), indent=1))
