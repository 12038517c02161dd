"""Evaluation: the two protocols of ../shared/data/splits.json, every method side by side.

(a) cross-dataset all-way (the published anchors' protocol): meta-train on the other two sets, adapt on
    the target's train_5 / train_10 with every label, score on its whole test set.
(b) N-way K-shot episodes on held-out labels (label_splits): meta-train on a set's meta_train labels,
    score >= 600 episodes drawn from its meta_test labels' test rows, mean with a 95% CI.

Methods, on the same data and (for b) the same episodes: frozen encoder + prototypes / logistic
regression / kNN (training/baselines.py, hyperparameters picked on meta-valid tasks) and every
meta-learning algorithm of training/algorithms.py (training/train.py's `meta_train`, then `adapt` + `logits`: exactly
what the edge runs). Encoders: the teacher and each static student; a student evaluated on a target
was tuned without any text of that target (distill.tuning_corpus).

Every (protocol, target, encoder, method) result is cached under .cache/evaluate/ so an interrupted run
resumes; `python -m training evaluate` writes its rows into docs/results/evaluation.json (`--out`), the JSON the
plots and docs/benchmarks.md are made from: a row measured again replaces the old one, the others stay
(`--replace` overwrites the file instead).
"""
from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from training import data
from training.encoders import CACHE_ROOT, TeacherEncoder, embed
from training.report import merge_into

RESULTS_CACHE = CACHE_ROOT / "evaluate"
REPO = Path(__file__).resolve().parents[1]
EVALUATION_JSON = REPO / "docs" / "results" / "evaluation.json"  # what docs/benchmarks.md is printed from
BASELINE_NAMES = ("prototypes", "logreg", "knn")
NO_META = "edge_no_meta"  # algorithms.NO_META (not imported: torch stays lazy here); built by edge_no_meta_model
LEXICAL = "edge_lexical"  # edge_no_meta plus lexical evidence from the task's examples (training/lexical.py)


@dataclass
class EvalConfig:
    protocols: tuple[str, ...] = ("cross", "episodes")
    targets: tuple[str, ...] = data.SETS
    encoders: tuple[str, ...] = ("teacher", "static")  # see ENCODERS
    methods: tuple[str, ...] = BASELINE_NAMES + (NO_META, "protonet", "proto_maml", "meta_sgd", "maml", "fomaml", "reptile")
    cross_shots: tuple[int, ...] = (5, 10)
    episode_ways: int = 5
    episode_shots: tuple[int, ...] = (1, 5)
    episode_query: int = 5
    episodes: int = 600
    valid_tasks: int = 3  # meta-valid tasks used to pick baseline hyperparameters
    # Meta-training settings for every algorithm (TrainConfig fields); modest so a CPU run finishes.
    # threads=1: on a shared 2-core machine, two OpenMP threads per process spin against each other.
    train: dict = field(default_factory=lambda: {"meta_steps": 300, "tasks_per_batch": 8, "valid_every": 50,
                                                 "progress": False, "threads": 1})
    seed: int = 20261129


def _student(**changes):
    from training.distill import SHIPPED, build_student

    return lambda holdout: build_student(replace(SHIPPED, **changes), holdout)


# The teacher's top layers trained on source episodes (training/meta_encoder.py), and the control trained
# on the same draws without episodes; neither sees any text of the target (cross-clean). "-pseudo" adds
# episodes over k-means clusters of sgd's unlabelled utterances (cross-clean); "-pseudo-target" also over
# clusters of the target's unlabelled train texts (the cross-unlabelled protocol: never a valid or test
# text, no label).
META_ENCODERS = {
    "meta-episodic": {"mode": "episodic"},
    "meta-supcon": {"mode": "supcon"},
    "meta-episodic-pseudo": {"mode": "episodic", "pseudo": 100},
    "meta-episodic-pseudo-target": {"mode": "episodic", "pseudo": 100, "unlabelled": "sgd+target"},
}

# name -> (held-out set -> encoder). "static" is the shipped student's recipe.
# The default student's recipe (distill.default_recipe) and variants of it, as changes to its DistillConfig.
STATIC_META_VARIANTS = {
    "static-meta": {},
    # tuning stopped on the sets' valid texts (the domains its corpus holds) instead of sgd's valid turns
    # (domains it does not): the default student's recipe until 2026-12-05
    "static-meta-setsstop": {"stop_on": "sets-valid"},
    "static-meta-lr3e-4": {"lr": 3e-4},
}

ENCODERS = {
    "teacher": lambda holdout: _teacher(),
    "static": _student(),
    # The shipped student itself: tuned on every set's train split, so on protocol (a) it has seen
    # the target's unlabeled train texts (never its test texts): the in-domain product case, not (a).
    "static-shipped": lambda holdout: _student()(None),
    "static-untuned": _student(tune=False),
    "static-centered": _student(center=True),
    "static-d128": _student(dim=128),
    "static-d128-untuned": _student(dim=128, tune=False),
    # The static student + its context net (training/context_encoder.py), shipped and held-out builds.
    "static-ctx-shipped": lambda holdout: _context(None),
    "static-ctx": lambda holdout: _context(holdout),
    # The encoder of the committed default artifact, read back from its files (what the Worker runs):
    # tuned on every set's train split, so not cross-clean. Rows named "static-ctx-artifact" are those of
    # the default while it had a context net (their encoder_tag says which build).
    "artifact": lambda holdout: _artifact_encoder(),
    # The same recipes with ../shared/data/sgd's user turns added to the tuning corpus (distill.CORPORA);
    # held-out builds never see any text of the target (cross-clean).
    "static-sgd": _student(corpus="sets+sgd"),
    "static-sgd-ctx": lambda holdout: _context(holdout, corpus="sets+sgd"),
    "static-sgdl": _student(corpus="sets+sgd-labelled"),
    "static-sgdl-ctx": lambda holdout: _context(holdout, corpus="sets+sgd-labelled"),
    # The static student distilled from the episodically trained teacher (meta-episodic below), on the
    # sets' train texts without any text of the target (cross-clean, like that teacher).
    # Variants of that recipe (STATIC_META_VARIANTS) are named static-meta-<variant>.
    **{name: (lambda holdout, name=name: _default_student(holdout, **STATIC_META_VARIANTS[name]))
       for name in STATIC_META_VARIANTS},
    # The cross-clean student (no text of the target in its corpus), and the same student re-tuned on the
    # target's unlabelled train texts as an account's own traffic (training/account_encoder.py: the
    # cross-unlabelled protocol, never a valid or test text, no label); "-1k": only 1 000 of those texts.
    "static-clean": _student(corpus="sets-clean"),
    "static-account": lambda holdout: _account(holdout),
    "static-account-1k": lambda holdout: _account(holdout, max_texts=1000),
    # The default student's recipe (static-meta) re-tuned the same way: what an account's own encoder is.
    "static-meta-account": lambda holdout: _account(holdout, base="static-meta"),
    # The same with the context net (the shipped encoder's shape): the cross-clean student's net, and that
    # net over the re-tuned table (the net itself is not re-tuned: an account's version shares its graph).
    "static-ctx-clean": lambda holdout: _context(holdout, corpus="sets-clean"),
    "static-ctx-account": lambda holdout: _account(holdout, context=True),
    # Candidate students cut from the teacher itself (training/truncated_student.py): its first 1 or 2
    # layers, untuned or tuned without any text of the target (cross-clean).
    "trunc1-untuned": lambda holdout: _truncated(holdout, layers=1, epochs=0),
    "trunc2-untuned": lambda holdout: _truncated(holdout, layers=2, epochs=0),
    "trunc1": lambda holdout: _truncated(holdout, layers=1),
    "trunc2": lambda holdout: _truncated(holdout, layers=2),
    **{name: (lambda holdout, name=name: _meta_encoder(holdout, name)) for name in META_ENCODERS},
    # The edge transformer: meta-episodic itself, int8 with its word table in TypeScript (what the default
    # artifact serves; training/transformer_encoder.py), its teacher trained without any text of the target.
    "transformer-meta": lambda holdout: _transformer(holdout),
}


def _transformer(holdout):
    from training.transformer_encoder import build_transformer

    return build_transformer("meta-episodic", holdout)


# What reached a trained part of each encoder, for its rows' machine-readable `protocol` (docs/benchmarks.md):
# "cross-clean": no text of the target (train, valid or test) reached any trained part; "cross-unlabelled":
# the target's unlabelled train texts may have (never its test texts, never a label beyond the K shots);
# "in-domain": anything else (the shipped builds saw every set's labelled train split). The "sets" tuning
# corpus keeps the 1-69 train/valid texts a target shares with another set, so its students count as
# cross-unlabelled; the packaged all-MiniLM-L6-v2 ("teacher", untuned cuts of it) is what nobody here trained.
IN_DOMAIN = {"artifact", "static-shipped", "static-ctx-shipped", "static-ctx-artifact"}
CROSS_UNLABELLED = {"static", "static-untuned", "static-centered", "static-d128", "static-d128-untuned", "static-ctx",
                    "static-sgd", "static-sgd-ctx", "static-sgdl", "static-sgdl-ctx", "static-account",
                    "static-account-1k", "static-meta-account", "static-ctx-account", "meta-episodic-pseudo-target"}


def protocol_of(split: str, encoder_name: str) -> str:
    """The protocol of a row measured on `split` ("cross" or "episodes") with `encoder_name`."""
    if split != "cross" or encoder_name in IN_DOMAIN or encoder_name.startswith("artifact"):
        return "in-domain"  # "episodes": held-out labels of a set whose other labels trained the model
    return "cross-unlabelled" if encoder_name in CROSS_UNLABELLED else "cross-clean"


def _meta_config(name: str):
    from training.meta_encoder import MetaEncoderConfig

    return MetaEncoderConfig(**META_ENCODERS[name])


def _meta_encoder(holdout, name: str):
    from training.meta_encoder import build_meta_encoder

    return build_meta_encoder(_meta_config(name), holdout)


def _account_base(enc: str, holdout: str):
    """The base recipe an account encoder re-tunes: the default student's for static-meta-account, the
    all-MiniLM-L6-v2 student's (cross-clean corpus) for the static-account rows."""
    from training.distill import SHIPPED, default_recipe

    return default_recipe(holdout) if enc.startswith("static-meta") else replace(SHIPPED, corpus="sets-clean")


def _account(holdout, context=False, base="static-account", **changes):
    from training.account_encoder import AccountTuneConfig, build_heldout_account_student

    student = build_heldout_account_student(holdout, AccountTuneConfig(**changes), _account_base(base, holdout))
    if not context:
        return student
    from training.context_encoder import ContextEncoder

    net = _context(holdout, corpus="sets-clean")  # the net trained over the base table, reused as it is
    return ContextEncoder(student, net.cfg, net.state())


def _truncated(holdout, **changes):
    from training.truncated_student import TruncatedConfig, build_truncated

    return build_truncated(TruncatedConfig(**changes), holdout)


def _context(holdout, **student_changes):
    from training.context_encoder import build_context_student
    from training.distill import SHIPPED

    return build_context_student(holdout=holdout, student=replace(SHIPPED, **student_changes))
_TEACHER: list = []


def _default_student(holdout, **changes):
    from training.distill import build_student, default_recipe

    return build_student(replace(default_recipe(holdout), **changes), holdout)


def _artifact_encoder():
    from training.students import artifact_encoder

    return artifact_encoder(REPO / "models" / "default")


def _teacher():
    if not _TEACHER:
        _TEACHER.append(TeacherEncoder())
    return _TEACHER[0]


def labeled(encoder, rows: list[data.Utterance], labels: list[str] | None = None) -> data.LabeledEmbeddings:
    if labels is None:
        y, labels = data.label_index(rows)
    else:
        index = {n: i for i, n in enumerate(labels)}
        missing = {u.label for u in rows} - set(index)
        if missing:
            raise data.DataError(f"query labels without support examples: {sorted(missing)[:5]}")
        y = np.array([index[u.label] for u in rows], dtype=np.int64)
    texts = [u.text for u in rows]
    return data.LabeledEmbeddings(embed(encoder, texts), y, labels, texts)


def ci95(values) -> float:
    v = np.asarray(values, np.float64)
    return float(1.96 * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


# ---- methods -----------------------------------------------------------------------------------

def meta_logits(model, sx, sy, qx) -> np.ndarray:
    """The edge path in PyTorch: adapter features, `adapt` (head init + inner loop), `logits` [q, ways]."""
    import torch
    import torch.nn.functional as F

    from training import algorithms

    with torch.no_grad():
        sf = model.features(torch.from_numpy(np.asarray(sx, np.float32)))
        onehot = F.one_hot(torch.from_numpy(np.asarray(sy)), int(sy.max()) + 1).float()
        w, b, _ = algorithms.adapt(model, sf, onehot)
        qf = model.features(torch.from_numpy(np.asarray(qx, np.float32)))
        return algorithms.logits(model, qf, w, b).numpy()


def meta_classifier(model):
    return lambda sx, sy, qx: meta_logits(model, sx, sy, qx).argmax(-1)


def _predict(clf, sx, sy, qx, s_texts, q_texts):
    """A classifier's predictions; one that reads the texts too (`needs_texts`) gets them."""
    if getattr(clf, "needs_texts", False):
        return clf(sx, sy, qx, s_texts, q_texts)
    return clf(sx, sy, qx)


def _train_meta(algorithm: str, protocol: str, encoder_name: str, part, train_set, valid_set, cfg: EvalConfig):
    from training.config import load_config
    from training.train import meta_train

    tcfg = load_config(None, **{**cfg.train, "algorithm": algorithm, "protocol": protocol,
                                "encoder": "teacher" if encoder_name == "teacher" else "static",
                                "seed": cfg.seed})
    t0 = time.time()
    model, history = meta_train(tcfg, train_set, valid_set)
    return model.eval(), history, round(time.time() - t0, 1), tcfg.to_dict()


def _valid_tasks(valid_set, ways, shots, query, n, seed):
    sampler = data.EpisodeSampler(valid_set, ways, shots, query, seed=seed)
    out = []
    for _ in range(n):
        e = sampler.sample()
        out.append((valid_set.x[e.support], e.support_y, valid_set.x[e.query], e.query_y))
    return out


def lexical_tokens(encoder):
    """What the lexical evidence counts as a text's tokens for `encoder`, as the Worker does: the
    transformer's inner ids, else the static students' kept rows (training/lexical.py)."""
    from training.lexical import token_sets
    from training.transformer_encoder import TransformerEncoder

    return encoder.kept_rows if isinstance(encoder, TransformerEncoder) else token_sets


def _classifiers(method, protocol, encoder_name, part, train_set, valid_set, tasks_by_shots, cfg, tokens=None):
    """(method name -> {shots: classifier}, extra info). Baselines are re-selected per shot count."""
    from training import baselines

    if method in baselines.BASELINES:
        out, chosen = {}, {}
        for shots, tasks in tasks_by_shots.items():
            b = baselines.select(baselines.BASELINES[method](), tasks)
            out[shots], chosen[shots] = b.classifier(), b.chosen
        return out, {"chosen_on_meta_valid": chosen}
    if method in (NO_META, LEXICAL):
        # The edge path with nothing meta-learned: identity adapter (unit-normalised embeddings),
        # prototype-initialised head, a few plain inner steps (NO_META_MODEL). The control that says whether meta-training pays.
        # algorithms.edge_no_meta_model is also what `python -m training default` exports. LEXICAL adds the
        # lexical evidence of the task's examples, as that artifact's manifest tells the Worker to.
        from training.algorithms import edge_no_meta_model
        from training.lexical import DEFAULT_WEIGHT, edge_lexical_classifier

        model = edge_no_meta_model(train_set.x.shape[1])
        if method == NO_META:
            return {s: meta_classifier(model) for s in tasks_by_shots}, {"model": model.constructor_args()}
        return ({s: edge_lexical_classifier(model, tokens=tokens) for s in tasks_by_shots},
                {"model": model.constructor_args(), "lexical_weight": DEFAULT_WEIGHT})
    model, history, seconds, tcfg = _train_meta(method, protocol, encoder_name, part, train_set, valid_set, cfg)
    clf = meta_classifier(model)
    return {s: clf for s in tasks_by_shots}, {"history": history, "train_seconds": seconds, "train_config": tcfg}


# ---- protocols -----------------------------------------------------------------------------------

def _cache_file(*parts) -> Path:
    return RESULTS_CACHE / (hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20] + ".json")


def _cached(key, compute):
    f = _cache_file(*key)
    if f.is_file():
        return json.loads(f.read_text())
    rows = compute()
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows))
    tmp.rename(f)
    return rows


def cross_dataset(target: str, encoder_name: str, method: str, cfg: EvalConfig) -> list[dict]:
    part = data.cross_dataset_partition(target)
    encoder = ENCODERS[encoder_name](target)
    train_set, valid_set = labeled(encoder, part.meta_train), labeled(encoder, part.meta_valid)
    tasks = {k: _valid_tasks(valid_set, None, k, 5, cfg.valid_tasks, cfg.seed) for k in cfg.cross_shots}
    clfs, info = _classifiers(method, f"cross:{target}", encoder_name, part, train_set, valid_set, tasks, cfg,
                              tokens=lexical_tokens(encoder))
    rows = []
    for shots in cfg.cross_shots:
        support = labeled(encoder, part.meta_test[f"support_{shots}"])
        query = labeled(encoder, part.meta_test["query"], support.labels)
        pred = _predict(clfs[shots], support.x, support.y, query.x, support.texts, query.texts)
        rows.append({"split": "cross", "protocol": protocol_of("cross", encoder_name), "target": target, "encoder": encoder_name, "encoder_tag": encoder.tag,
                     "method": method, "ways": len(support.labels), "shots": shots,
                     "accuracy": float((pred == query.y).mean()), "n_query": int(len(query.y)),
                     **{k: v for k, v in info.items() if k != "chosen_on_meta_valid"},
                     **({"params": info["chosen_on_meta_valid"][shots]} if "chosen_on_meta_valid" in info else {})})
    return rows


def label_episodes(set_name: str, encoder_name: str, method: str, cfg: EvalConfig) -> list[dict]:
    part = data.label_split_partition(set_name)
    encoder = ENCODERS[encoder_name](set_name)
    train_set, valid_set = labeled(encoder, part.meta_train), labeled(encoder, part.meta_valid)
    test = labeled(encoder, part.meta_test["query"])
    tasks = {k: _valid_tasks(valid_set, cfg.episode_ways, k, cfg.episode_query, 50, cfg.seed)
             for k in cfg.episode_shots}
    clfs, info = _classifiers(method, f"labels:{set_name}", encoder_name, part, train_set, valid_set, tasks, cfg,
                              tokens=lexical_tokens(encoder))
    rows = []
    for shots in cfg.episode_shots:
        # The same seed => the same episodes for every method and encoder (rows are aligned by text).
        sampler = data.EpisodeSampler(test, cfg.episode_ways, shots, cfg.episode_query, seed=cfg.seed + shots)
        accs = []
        for _ in range(cfg.episodes):
            e = sampler.sample()
            pred = _predict(clfs[shots], test.x[e.support], e.support_y, test.x[e.query],
                            [test.texts[i] for i in e.support], [test.texts[i] for i in e.query])
            accs.append(float((pred == e.query_y).mean()))
        rows.append({"split": "episodes", "protocol": protocol_of("episodes", encoder_name), "target": set_name, "encoder": encoder_name,
                     "encoder_tag": encoder.tag, "method": method, "ways": cfg.episode_ways, "shots": shots,
                     "accuracy": float(np.mean(accs)), "ci95": ci95(accs), "episodes": cfg.episodes,
                     **{k: v for k, v in info.items() if k != "chosen_on_meta_valid"},
                     **({"params": info["chosen_on_meta_valid"][shots]} if "chosen_on_meta_valid" in info else {})})
    return rows


def run(cfg: EvalConfig) -> dict:
    rows: list[dict] = []
    t0 = time.time()
    plan = [(p, t, e, m) for p in cfg.protocols for t in cfg.targets for e in cfg.encoders for m in cfg.methods]
    from training.algorithms import ALGORITHM_MODEL, NO_META_MODEL
    from training.context_encoder import SHIPPED_CONTEXT, SHIPPED_FORMAT
    from training.distill import RECIPE_VERSION, SHIPPED

    settings = asdict(cfg)
    for i, (protocol, target, enc, method) in enumerate(plan, 1):
        fn = cross_dataset if protocol == "cross" else label_episodes
        # The method's model shape is part of the key: a changed default must not be served from the cache.
        model = NO_META_MODEL if method in (NO_META, LEXICAL) else ALGORITHM_MODEL.get(method)
        key = (protocol, target, enc, method, RECIPE_VERSION, SHIPPED.key(), model, {k: settings[k] for k in (
            "cross_shots", "episode_ways", "episode_shots", "episode_query", "episodes", "valid_tasks", "train", "seed")})
        if method == LEXICAL:
            from training.lexical import DEFAULT_WEIGHT

            key += ("lexical", DEFAULT_WEIGHT)
        if enc.endswith("-ctx") or enc.startswith("static-ctx"):  # the context net's recipe too (appended: older keys stay valid)
            key += (SHIPPED_CONTEXT.key(), SHIPPED_FORMAT)
        if enc == "artifact":  # which build models/default holds now
            key += (json.loads((REPO / "models" / "default" / "manifest.json").read_text())["encoder"]["tag"],)
        if enc in STATIC_META_VARIANTS:  # the student's recipe (its key holds its teacher's)
            from training.distill import default_recipe

            key += (replace(default_recipe(target), **STATIC_META_VARIANTS[enc]).key(),)
        if "-sgd" in enc:  # the corpus changes the student: its config key too
            key += (replace(SHIPPED, corpus="sets+sgd-labelled" if "-sgdl" in enc else "sets+sgd").key(),)
        if enc in ("static-clean", "static-ctx-clean"):
            key += (replace(SHIPPED, corpus="sets-clean").key(),)
        if "-account" in enc:  # the base student's and the re-tuning's recipes
            from training.account_encoder import AccountTuneConfig

            key += (_account_base(enc, target).key(),
                    AccountTuneConfig(**({"max_texts": 1000} if enc.endswith("-1k") else {})).key())
        if enc.startswith("trunc"):  # the cut teacher's recipe
            from training.truncated_student import TruncatedConfig

            key += (TruncatedConfig().key(),)
        if enc.startswith("meta-"):  # the trained encoder's recipe
            key += (_meta_config(enc).key(),)
        tic = time.time()
        got = _cached(key, lambda: fn(target, enc, method, cfg))
        rows.extend(got)
        best = ", ".join(f"{r['shots']}-shot {100 * r['accuracy']:.2f}" for r in got)
        print(f"[evaluate {i}/{len(plan)}] {protocol} {target} {enc} {method}: {best} ({time.time() - tic:.0f} s)",
              file=sys.stderr, flush=True)
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(), "settings": asdict(cfg), "seconds": round(time.time() - t0, 1),
            "anchors": published_anchors(), "results": rows}


def measured_cross_dataset(method: str, encoder_name: str, path: Path = EVALUATION_JSON,
                           model_args: dict | None = None, encoder_tag: str | None = None) -> dict:
    """The cross-dataset all-way accuracies (%) measured for (method, encoder), read from an evaluation
    JSON: what an artifact's manifest cites. With `model_args`/`encoder_tag`, also says whether the
    evaluated rows used that very model (edge_no_meta rows record it) and encoder."""
    try:
        raw = Path(path).read_bytes()
        report = json.loads(raw)
    except (OSError, ValueError) as err:
        return {"source": str(path), "error": f"not readable: {err}"}
    rows = [r for r in report.get("results", [])
            if r.get("split") == "cross" and r.get("method") == method and r.get("encoder") == encoder_name]
    try:
        source = str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        source = str(path)
    out: dict = {"source": source, "source_sha256": hashlib.sha256(raw).hexdigest(), "created": report.get("created"),
                 "protocol": "cross-dataset all-way (docs/benchmarks.md (a))", "method": method, "encoder": encoder_name}
    if not rows:
        return {**out, "error": f"no cross-dataset rows for {method} on {encoder_name}"}
    acc: dict = {}
    for r in sorted(rows, key=lambda r: (r["target"], r["shots"])):
        acc.setdefault(r["target"], {})[str(r["shots"])] = round(100 * r["accuracy"], 2)
    tags = sorted({r.get("encoder_tag") for r in rows})
    out.update(encoder_tags=tags, accuracy_pct=acc, cells=len(rows),
               mean_pct=round(100 * float(np.mean([r["accuracy"] for r in rows])), 2))
    if encoder_tag is not None:
        out["encoder_tag_matches_artifact"] = tags == [encoder_tag]
    if model_args is not None:
        out["same_model_as_evaluated"] = all(r.get("model") == model_args for r in rows)
    return out


def machine() -> str:
    import os

    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def published_anchors() -> dict:
    """All-way accuracy (%) from ../shared/data/README.md: {method: {set: {shots: acc}}}."""
    table = {
        "USE+ConveRT (Casanueva et al. 2020)": (77.75, 85.19, 90.49, 93.26, 80.01, 85.83),
        "DNNC (Zhang et al. 2020)": (80.40, 86.71, 91.02, 93.76, 80.46, 84.72),
        "CPFT (Zhang et al. 2021)": (80.86, 87.20, 92.34, 94.18, 82.03, 87.13),
        "ICDA (2023)": (84.01, 89.79, 92.62, 94.84, 82.45, 87.41),
    }
    sets = ("banking77", "clinc150", "hwu64")
    return {m: {s: {"5": v[2 * i], "10": v[2 * i + 1]} for i, s in enumerate(sets)} for m, v in table.items()}


def add_command(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="protocols (a) cross-dataset and (b) episodes; baselines vs meta-learning")
    p.add_argument("--out", type=Path, default=Path("docs/results/evaluation.json"))
    p.add_argument("--protocols", default="cross,episodes")
    p.add_argument("--targets", default=",".join(data.SETS))
    p.add_argument("--encoders", default="teacher,static", help=f"comma list of {sorted(ENCODERS)}")
    p.add_argument("--methods", default=",".join(EvalConfig().methods))
    p.add_argument("--episodes", type=int, default=600)
    p.add_argument("--meta-steps", type=int, default=EvalConfig().train["meta_steps"])
    p.add_argument("--plots", action="store_true", help="also write PNG plots next to --out")
    p.add_argument("--replace", action="store_true",
                   help="overwrite --out; without it the run's rows are merged into an existing --out")
    p.set_defaults(run=_cli)


def _cli(args) -> None:
    import torch

    torch.set_num_threads(1)
    split = lambda s: tuple(x for x in s.split(",") if x)  # noqa: E731
    from training.algorithms import ALGORITHMS

    for what, given, allowed in (("encoders", args.encoders, ENCODERS), ("protocols", args.protocols, ("cross", "episodes")),
                                 ("targets", args.targets, data.SETS),
                                 ("methods", args.methods, BASELINE_NAMES + (NO_META, LEXICAL) + ALGORITHMS)):
        unknown = set(split(given)) - set(allowed)
        if unknown:
            raise data.DataError(f"unknown {what} {sorted(unknown)}; choose from {sorted(allowed)}")
    base = EvalConfig()
    cfg = EvalConfig(protocols=split(args.protocols), targets=split(args.targets), encoders=split(args.encoders),
                     methods=split(args.methods), episodes=args.episodes,
                     train={**base.train, "meta_steps": args.meta_steps})
    report = run(cfg)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    measured = len(report["results"])
    if args.out.is_file() and not args.replace:  # the committed file holds every measured row: add to it
        report = merge_into(json.loads(args.out.read_text()), report)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"[evaluate] {measured} results -> {args.out} ({len(report['results'])} rows in it)", file=sys.stderr)
    if args.plots:
        from training import plots
        plots.write_all(report, args.out.parent)
