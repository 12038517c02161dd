"""Distil the teacher (all-MiniLM-L6-v2) into the static edge encoder.

Why static: in workerd a transformer costs ~470 MB and ~20 ms per input (docs/benchmarks.md,
../shared/docs/recipes.md); a table lookup + mean costs a few MB and microseconds.

Recipe (model2vec-style, then tuned):
1. per-token teacher embeddings: every vocabulary token alone as "[CLS] tok [SEP]", mean-pooled;
2. a d-dimensional basis P: the top-d right singular vectors of the teacher's *sentence* embeddings
   of the tuning corpus, so the student is trained to reproduce the subspace that carries the
   sentence-level geometry (prototypes, cosine retrieval) rather than token-level variance;
3. SIF weights a / (a + p(token)) from token frequencies of the tuning corpus (frequent, contentless
   tokens count less in the mean); unseen tokens get weight 1;
4. tuning: the table is trained so that the mean of its rows over a text has maximal cosine with
   the teacher's sentence embedding projected on P, with an L2 pull towards the initial table (rows
   of tokens the corpus never shows stay where step 1-3 put them, and the tuned rows must stay
   compatible with them); early stopping on held-out texts (DistillConfig.stop_on: the sets' valid
   texts, or sgd's valid turns, domains the corpus does not hold — the default student's);
5. optional trimmed vocabulary ([unusedN] and non-ASCII tokens ignored: rows = -1), int8 per-row.

The tuning corpus is meta-training utterances only: for the cross-dataset evaluation of a target,
only the other two sets' train texts (`static:<target>`); for the shipped student, the train splits
of all sets (never a test split).
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm import tqdm

from training.encoders import CACHE_ROOT, REPO_ROOT, TEACHER_TAG, TeacherEncoder, embed, teacher_path
from training.static_encoder import TEACHER_NAME, StaticEncoder, quantize_rows

ENCODERS_CACHE = CACHE_ROOT / "encoders"
# Bump when the recipe changes in a way DistillConfig does not capture: cached students are keyed by it.
RECIPE_VERSION = 1
SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]")


@dataclass
class DistillConfig:
    dim: int = 256  # embedding size; 128 halves the table
    trim: bool = True  # ignore [unusedN] and non-ASCII tokens (rows = -1)
    tune: bool = True  # step 4; False = pure model2vec-style PCA + SIF table
    center: bool = False  # match the teacher minus its corpus mean (the shift is folded into the rows)
    shared_map: bool = False  # tuning also learns one d x d map applied to every row (reaches unseen tokens)
    # "sets": the intent sets' train texts (held-out target excluded); the others add ../shared/data/sgd's
    # user turns, a broad multi-domain corpus that is never an evaluation target (CORPUS_FILES).
    corpus: str = "sets"
    sif_a: float = 1e-3
    epochs: int = 12
    batch_size: int = 256
    lr: float = 3e-3
    pull: float = 1e-3  # weight of the L2 pull towards the initial table
    patience: int = 2  # epochs without meta-valid improvement before stopping
    max_tokens: int = 128  # = the teacher tokenizer.json's truncation
    seed: int = 0
    name: str = "static-minilm"
    # Whom the student learns from: "minilm" = all-MiniLM-L6-v2 as shipped; "meta-episodic" = the same
    # model with its top layers trained on source episodes (training/meta_encoder.py), trained without
    # any text of the held-out target.
    teacher: str = "minilm"
    # Which texts early stopping watches: "sets-valid" = the sets' valid texts (the domains the corpus
    # covers); "sgd" = sgd's valid user turns, domains the tuning corpus does not hold, so the table is
    # kept at the epoch that transfers best to text it was not tuned on (STOP_ON_TEXTS).
    stop_on: str = "sets-valid"

    def key(self) -> str:
        # Options added later are left out at their first default, so students cached before them keep their key.
        fields = {k: v for k, v in asdict(self).items() if k not in _LATER_OPTIONS or v != _LATER_OPTIONS[k]}
        if self.teacher != "minilm":  # a trained teacher's own recipe is part of what the student is
            fields["teacher_recipe"] = _trained_teacher_config(self.teacher).key()
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


# DistillConfig options added after students were first cached, with the value every earlier student had.
_LATER_OPTIONS = {"center": False, "shared_map": False, "corpus": "sets", "teacher": "minilm", "stop_on": "sets-valid"}

# Sizes measured in `python -m training evaluate --distill-compare`; the default ships (see
# docs/benchmarks.md, "Distillation").
SHIPPED = DistillConfig(shared_map=True)
# The default artifact's student: the shipped recipe distilled from the episodically trained teacher
# (training/meta_encoder.py trained on every source: the three sets' train splits and sgd's labelled
# turns) instead of all-MiniLM-L6-v2 as shipped. Held-out builds of the same recipe (evaluate.py's
# "static-meta", cross-clean) beat the frozen model's student in every cell where the domain is unseen
# (docs/benchmarks.md, "The default edge encoder").
# Its tuning stops at the epoch that best fits sgd's valid turns, domains the tuning corpus does not hold:
# on a domain the table never read, its fit to the teacher peaks within the first epochs and then falls
# while the fit to the corpus's own domains still rises, so stopping on those (the sets' valid texts)
# kept a table tuned past what transfers (docs/benchmarks.md, "Early stopping on a domain the table never read").
DEFAULT_STUDENT = replace(SHIPPED, teacher="meta-episodic", stop_on="sgd")
# Its twin for fitting the confidence calibration on sgd (scripts/calibrate.mjs --fit-with): the same
# recipe with a teacher that never saw sgd's labels, so sgd is to it what a customer's domain is to
# the default student. (Its early stopping reads sgd's valid turns; the calibration's episodes are sgd's
# train and test turns, which the table never reads.)
CALIBRATION_STUDENT = replace(DEFAULT_STUDENT, teacher="meta-episodic-sets")


def teacher_tokenizer_json() -> str:
    return (teacher_path() / "tokenizer.json").read_text(encoding="utf-8")


def _tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(teacher_tokenizer_json())
    tok.no_padding()
    return tok


def special_ids() -> list[int]:
    tok = _tokenizer()
    return sorted(tok.token_to_id(t) for t in SPECIAL_TOKENS)


def token_embeddings(teacher: TeacherEncoder | None = None, ids: list[int] | None = None) -> np.ndarray:
    """Teacher embedding of each token id in `ids` (default: the whole vocabulary, cached on disk)."""
    import torch

    teacher = teacher or TeacherEncoder()
    cache = ENCODERS_CACHE / f"token-embeddings-{teacher.tag}.npy"  # a trained teacher: its own file
    if ids is None and cache.is_file():
        return np.load(cache)
    tok = _tokenizer()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    all_ids = list(range(tok.get_vocab_size())) if ids is None else list(ids)
    out = np.zeros((len(all_ids), teacher.dim), np.float32)
    step = 1024
    for start in range(0, len(all_ids), step):
        chunk = torch.tensor(all_ids[start : start + step], dtype=torch.long)[:, None]
        batch = torch.cat([torch.full_like(chunk, cls_id), chunk, torch.full_like(chunk, sep_id)], dim=1)
        hidden = teacher.token_states(batch, torch.ones_like(batch))
        out[start : start + step] = hidden.mean(1).numpy()
    if ids is None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
    return out


def trimmed_rows(vocab_size: int, specials: list[int]) -> np.ndarray:
    """id -> row for kept tokens, -1 for [unusedN], non-ASCII tokens and the (always dropped) specials."""
    tok = _tokenizer()
    rows = np.full(vocab_size, -1, dtype=np.int32)
    n = 0
    for i in range(vocab_size):
        t = tok.id_to_token(i)
        if i in specials or t.startswith("[unused") or not t.isascii():
            continue
        rows[i] = n
        n += 1
    return rows


def _bags(texts: list[str], max_tokens: int, specials: list[int], rows: np.ndarray | None):
    """Per text the kept table rows, exactly as StaticEncoder.kept_rows computes them."""
    tok = _tokenizer()
    tok.enable_truncation(max_tokens)
    special = np.array(specials)
    out = []
    for e in tok.encode_batch(texts):
        ids = np.array(e.ids, dtype=np.int64)
        ids = ids[~np.isin(ids, special)]
        if rows is not None:
            ids = rows[ids].astype(np.int64)
            ids = ids[ids >= 0]
        out.append(ids)
    return out


def projection_basis(y: np.ndarray, dim: int) -> tuple[np.ndarray, float]:
    """Step 2: the top-`dim` right singular vectors of the teacher's sentence embeddings, [384, dim], and
    the share of their energy it keeps."""
    _, sv, vt = np.linalg.svd(y, full_matrices=False)
    return vt[:dim].T.astype(np.float32), float((sv[:dim] ** 2).sum() / (sv ** 2).sum())


def sif_weights(bags: list[np.ndarray], n_rows: int, a: float) -> np.ndarray:
    counts = np.bincount(np.concatenate(bags), minlength=n_rows).astype(np.float64) if bags else np.zeros(n_rows)
    p = counts / max(counts.sum(), 1.0)
    return (a / (a + p)).astype(np.float32)


def _mean_cos(table, bags, targets) -> float:
    import torch
    import torch.nn.functional as F

    flat = torch.from_numpy(np.concatenate(bags))
    offsets = torch.tensor(np.cumsum([0] + [len(b) for b in bags[:-1]]), dtype=torch.long)
    with torch.no_grad():
        pred = F.embedding_bag(flat, table, offsets, mode="mean")
        return float(F.cosine_similarity(pred, targets, dim=1).mean())


def _tune(cfg: DistillConfig, table0: np.ndarray, bags, targets, vbags, vtargets, log):
    """Step 4: cosine to the projected teacher embedding, L2 pull to table0, early stop on the valid texts
    (those of cfg.stop_on)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(cfg.seed)
    base = torch.from_numpy(table0)
    # table = base @ A + D. A (shared by every row) carries what tuning learns about the space to
    # tokens the corpus never shows; D (per row, pulled to 0) is each seen token's own correction.
    A = torch.nn.Parameter(torch.eye(base.shape[1]), requires_grad=cfg.shared_map)
    D = torch.nn.Parameter(torch.zeros_like(base))
    opt = torch.optim.Adam([A, D] if cfg.shared_map else [D], lr=cfg.lr)
    y, vy = torch.from_numpy(targets), torch.from_numpy(vtargets)
    rng = np.random.default_rng(cfg.seed)

    def table():
        with torch.no_grad():
            return base @ A + D

    best, best_cos, bad = base.clone(), _mean_cos(base, vbags, vy), 0
    log.append({"epoch": 0, "valid_cos": best_cos})
    print(f"[distill] untuned table: {cfg.stop_on} cos {best_cos:.4f}", file=sys.stderr)
    # One bar over every batch of every epoch: its time left is an upper bound (early stopping).
    bar = tqdm(total=cfg.epochs * math.ceil(len(bags) / cfg.batch_size), desc="[distill] token table",
               unit="batch", file=sys.stderr, mininterval=2)
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(bags))
        total = 0.0
        for s in range(0, len(order), cfg.batch_size):
            bar.update()
            idx = order[s : s + cfg.batch_size]
            chunk = [bags[i] for i in idx]
            flat = torch.from_numpy(np.concatenate(chunk))
            offsets = torch.tensor(np.cumsum([0] + [len(b) for b in chunk[:-1]]), dtype=torch.long)
            # mean(base[ids] @ A + D[ids]) = mean(base[ids]) @ A + mean(D[ids]): never builds the table
            pred = F.embedding_bag(flat, base, offsets, mode="mean") @ A + F.embedding_bag(flat, D, offsets, mode="mean")
            touched = torch.unique(flat)  # the pull only on rows this batch moves: O(batch), not O(vocab)
            loss = (1 - F.cosine_similarity(pred, y[idx], dim=1)).mean() \
                + cfg.pull * D[touched].pow(2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        current = table()
        vcos = _mean_cos(current, vbags, vy)
        log.append({"epoch": epoch, "train_loss": total / len(bags), "valid_cos": vcos})
        bar.write(f"[distill] epoch {epoch}: train loss {total / len(bags):.4f}, {cfg.stop_on} cos {vcos:.4f}",
                  file=sys.stderr)
        if vcos > best_cos + 1e-4:
            best, best_cos, bad = current, vcos, 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    bar.close()
    return best.numpy()


def distill(cfg: DistillConfig, tune_texts: list[str], valid_texts: list[str],
            teacher: TeacherEncoder | None = None, token_ids: list[int] | None = None
            ) -> tuple[StaticEncoder, dict]:
    """Builds a student. `token_ids` restricts the vocabulary (tests: a tiny vocabulary)."""
    t0 = time.time()
    tok_json = teacher_tokenizer_json()
    specials = special_ids()
    vocab = _tokenizer().get_vocab_size()
    if token_ids is not None:  # tiny vocabulary: every other id ignored
        rows = np.full(vocab, -1, np.int32)
        keep = [i for i in sorted(set(token_ids)) if i not in specials]
        rows[keep] = np.arange(len(keep), dtype=np.int32)
    else:
        rows = trimmed_rows(vocab, specials) if cfg.trim else None
    kept_ids = np.flatnonzero(rows >= 0) if rows is not None else np.arange(vocab)
    if token_ids is not None:
        emb = token_embeddings(teacher or TeacherEncoder(), ids=kept_ids.tolist())
    else:
        emb = token_embeddings(teacher)[kept_ids]
    teacher = teacher or TeacherEncoder()
    y = embed(teacher, tune_texts)
    # Step 2: uncentred SVD keeps the common direction all sentence embeddings share; with `center`
    # that direction is removed from the target, so the cosine loss spends itself on what tells
    # texts apart. Every text keeps >= 1 row, so subtracting a constant from every row shifts every
    # embedding by that constant: the centring costs nothing at the edge.
    mu = y.mean(0) if cfg.center else np.zeros(y.shape[1], np.float32)
    y = y - mu
    basis, explained = projection_basis(y, cfg.dim)
    n_rows = len(kept_ids)
    bags = _bags(tune_texts, cfg.max_tokens, specials, rows)
    weights = sif_weights(bags, n_rows, cfg.sif_a)
    table0 = (emb @ basis) * weights[:, None]
    if cfg.center:  # start centred too: subtract the mean student embedding of the corpus
        table0 -= np.mean([table0[b].mean(0) for b in bags if len(b)], axis=0)
    table0 /= np.median(np.linalg.norm(table0, axis=1)) + 1e-12  # unit scale keeps Adam's lr meaningful
    report: dict = {"config": asdict(cfg), "tune_texts": len(tune_texts), "valid_texts": len(valid_texts),
                    "rows": n_rows, "basis_explained_variance": explained, "log": []}
    table = table0.astype(np.float32)
    if cfg.tune:
        keep = [i for i, b in enumerate(bags) if len(b)]
        vy = (embed(teacher, valid_texts) - mu) @ basis
        vbags = _bags(valid_texts, cfg.max_tokens, specials, rows)
        vkeep = [i for i, b in enumerate(vbags) if len(b)]
        table = _tune(cfg, table, [bags[i] for i in keep], (y @ basis)[keep],
                      [vbags[i] for i in vkeep], vy[vkeep], report["log"])
    q, scales = quantize_rows(table)
    student = StaticEncoder(q, scales, tok_json, specials, cfg.max_tokens, rows, cfg.name, teacher_name(teacher))
    report.update(tag=student.tag, seconds=round(time.time() - t0, 1),
                  table_bytes=int(q.nbytes), quant_max_abs_error=float(
                      np.abs(q.astype(np.float32) * scales[:, None] - table).max()))
    return student, report


# Tuning corpora: the sets' train texts, plus sgd's user turns — all of them (labelled and unlabelled), or
# only its labelled, intent-bearing turns. sgd's valid/test files stay out: meta-valid is the sets'.
# "sets-clean" is "sets" without the train/valid texts the other sets share with the target (cross-clean).
CORPUS_FILES = {"sets": (), "sets-clean": (), "sets+sgd": ("sgd/utterances_train", "sgd/train"),
                "sets+sgd-labelled": ("sgd/train",)}
CORPORA = tuple(CORPUS_FILES)


def tuning_corpus(holdout: str | None, corpus: str = "sets") -> tuple[list[str], list[str]]:
    """(tune, valid) texts: never a text of the held-out target, never a test split.

    With an sgd corpus its user turns are added to the tuning texts, and any text that also occurs
    anywhere in the held-out target (train, valid or test) is dropped from tune and valid: with a holdout
    that corpus is cross-clean. Meta-valid (early stopping) stays the sets' valid texts.
    """
    from training import data

    if corpus not in CORPORA:
        raise data.DataError(f"unknown tuning corpus {corpus!r}; choose from {CORPORA}")
    part = data.cross_dataset_partition(holdout) if holdout else data.all_sets_partition()
    tune, valid = [u.text for u in part.meta_train], [u.text for u in part.meta_valid]
    if corpus != "sets":
        # Cross-clean: no text of the target in any split, here or in the sets' part (which the "sets"
        # corpus only clears of the target's test texts: 1-69 shared train/valid texts per target).
        banned = data.set_texts(holdout) if holdout else set()
        tune = [t for t in tune if t not in banned]
        valid = [t for t in valid if t not in banned]
        seen = set(tune)
        for rel in CORPUS_FILES[corpus]:
            for text in data.load_texts(rel):
                if text not in banned and text not in seen:
                    seen.add(text)
                    tune.append(text)
    return tune, valid


# Early-stopping texts other than the sets' valid splits: sgd's valid user turns, a dialogue corpus of
# twenty service domains that the "sets" corpora do not hold (and that is never an evaluation target).
STOP_ON_TEXTS = {"sgd": "sgd/valid"}


def stopping_texts(stop_on: str, holdout: str | None, exclude: set[str]) -> list[str]:
    """The texts early stopping watches for `stop_on`: never a text of the held-out target (cross-clean)
    nor one of the tuning corpus (they must stay text the table was not tuned on)."""
    from training import data

    if stop_on not in STOP_ON_TEXTS:
        raise data.DataError(f"unknown stop_on {stop_on!r}; choose sets-valid or one of {sorted(STOP_ON_TEXTS)}")
    banned = (data.set_texts(holdout) if holdout else set()) | exclude
    return list(dict.fromkeys(t for t in data.load_texts(STOP_ON_TEXTS[stop_on]) if t not in banned))


# The default student is committed too, inside models/static (the static artifact, the default before the
# edge transformer and the base of the smoke build and of account re-tuning): a fresh clone need not
# rebuild it (training its teacher, that teacher's embeddings of 32 576 texts, the per-token pass and the
# tuning: 10-15 min on 2 cores, most of a cold `npm test`) while the recipe is the one that built it. When
# DEFAULT_STUDENT or RECIPE_VERSION changes, the key no longer matches and the student is built again; a
# new static artifact then ships it, and this record follows. ADAPTAGENT_REBUILD_STUDENT=1 always rebuilds.
DEFAULT_ARTIFACT = REPO_ROOT / "models" / "static"
SHIPPED_IN_ARTIFACT = {"key": "r1-732555f8d449", "static_tag": "static-minilm-d256-i8-9f3e8937"}


def student_from_default_artifact(cfg: DistillConfig, holdout: str | None) -> StaticEncoder | None:
    """The committed default student, when `cfg`/`holdout` ask for exactly it; None otherwise."""
    import os

    if (holdout is not None or cfg != DEFAULT_STUDENT or os.environ.get("ADAPTAGENT_REBUILD_STUDENT") == "1"
            or f"r{RECIPE_VERSION}-{cfg.key()}" != SHIPPED_IN_ARTIFACT["key"]):
        return None
    manifest = DEFAULT_ARTIFACT / "manifest.json"
    if not manifest.is_file():
        return None
    enc = json.loads(manifest.read_text(encoding="utf-8"))["encoder"]
    static_tag = enc.get("context", {}).get("static_tag", enc["tag"])
    if static_tag != SHIPPED_IN_ARTIFACT["static_tag"]:
        return None
    section = {**{k: v for k, v in enc.items() if k != "context"}, "tag": static_tag,
               "files": {k: v for k, v in enc["files"].items() if k != "context"}}
    return StaticEncoder.load(DEFAULT_ARTIFACT, section)  # refuses files that do not hash to the tag


def build_student(cfg: DistillConfig, holdout: str | None = None) -> StaticEncoder:
    """The student for a config and tuning corpus, built once and cached under .cache/encoders/."""
    out = ENCODERS_CACHE / f"{cfg.name}-r{RECIPE_VERSION}-{cfg.key()}-{holdout or 'all'}"
    if (out / "static_encoder.json").is_file():
        return StaticEncoder.load(out)
    tmp = out.with_name(out.name + ".tmp")
    committed = student_from_default_artifact(cfg, holdout)
    if committed is not None:
        print(f"[distill] default student {committed.tag} taken from {DEFAULT_ARTIFACT.relative_to(REPO_ROOT)}"
              " (ADAPTAGENT_REBUILD_STUDENT=1 rebuilds it)", file=sys.stderr)
        committed.save(tmp, provenance={"taken_from": str(DEFAULT_ARTIFACT.relative_to(REPO_ROOT)),
                                        "key": SHIPPED_IN_ARTIFACT["key"], "holdout": None})
        tmp.rename(out)
        return committed
    tune, valid = tuning_corpus(holdout, cfg.corpus)
    if cfg.stop_on != "sets-valid":
        valid = stopping_texts(cfg.stop_on, holdout, exclude=set(tune))
    student, report = distill(cfg, tune, valid, teacher=teacher_for(cfg, holdout))
    report["holdout"] = holdout
    student.save(tmp, provenance=report)
    tmp.rename(out)
    return student


# Trained teachers by name: MetaEncoderConfig changes. "meta-episodic-sets" leaves sgd out of the sources,
# so that its student can fit the confidence calibration on sgd as on a domain it never saw (the
# calibration twin of DEFAULT_STUDENT: CALIBRATION_STUDENT).
TRAINED_TEACHERS = {"meta-episodic": {}, "meta-episodic-sets": {"sgd": False}}


def _trained_teacher_config(teacher: str):
    from training.meta_encoder import MetaEncoderConfig

    if teacher not in TRAINED_TEACHERS:
        raise ValueError(f"unknown teacher {teacher!r}; choose minilm or one of {sorted(TRAINED_TEACHERS)}")
    return MetaEncoderConfig(**TRAINED_TEACHERS[teacher])


def teacher_name(teacher) -> str:
    """What a student's manifest says it was distilled from: the packaged model, or that model trained
    (a MetaEncoder's tag names its recipe and what it was held out from)."""
    return TEACHER_NAME if teacher.tag == TEACHER_TAG else f"{TEACHER_NAME}, trained: {teacher.tag}"


def teacher_for(cfg: DistillConfig, holdout: str | None):
    """The encoder a student of `cfg` learns from; a trained one never saw a text of `holdout`."""
    if cfg.teacher == "minilm":
        return TeacherEncoder()
    from training.meta_encoder import build_meta_encoder

    return build_meta_encoder(_trained_teacher_config(cfg.teacher), holdout)


def student_basis(cfg: DistillConfig, holdout: str | None = None) -> np.ndarray:
    """The projection basis [teacher dim, cfg.dim] a student of `cfg` was tuned on (step 2), recomputed
    from the same corpus and teacher (the teacher's embeddings are cached, so this is one SVD): what a
    later re-tuning of that student (training/account_encoder.py) needs for its targets."""
    if cfg.center:
        raise ValueError("a centred student's targets also need the corpus mean; only uncentred students re-tune")
    out = ENCODERS_CACHE / f"basis-r{RECIPE_VERSION}-{cfg.key()}-{holdout or 'all'}.npy"
    if out.is_file():
        return np.load(out)
    tune, _ = tuning_corpus(holdout, cfg.corpus)
    basis, _ = projection_basis(embed(teacher_for(cfg, holdout), tune), cfg.dim)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, basis)
    return basis


def shipped_student(holdout: str | None = None) -> StaticEncoder:
    """The shipped recipe with all-MiniLM-L6-v2 as its teacher (evaluate.py's "static")."""
    return build_student(SHIPPED, holdout)


def default_recipe(holdout: str | None = None) -> DistillConfig:
    """DEFAULT_STUDENT, or for a held-out target the same recipe cross-clean: no text of the target in the
    tuning corpus (corpus "sets-clean"), as none is in its teacher's sources (evaluate.py's "static-meta")."""
    return DEFAULT_STUDENT if holdout is None else replace(DEFAULT_STUDENT, corpus="sets-clean")


def default_student(holdout: str | None = None) -> StaticEncoder:
    """The default student (from models/static when it ships this recipe), or its cross-clean
    build for a held-out target."""
    return build_student(default_recipe(holdout), holdout)
