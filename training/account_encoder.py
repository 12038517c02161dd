"""An account's own edge encoder: the shipped student's token table re-tuned on that account's texts.

Why: the static student follows its teacher closely on the domains of its tuning corpus and falls
6-7 points behind on a domain it never read (docs/benchmarks.md, "Distillation"); the gap closes when
the domain's own unlabelled utterances are in the corpus. Every customer's domain is one the global
student never read, but the service holds that customer's texts: the inputs of its examples and
executions (exported by the Worker's cron, functions/accountTexts.ts). This module starts from a base
student and moves only what those texts need:

- targets: the teacher's sentence embedding of each text, projected on the base student's basis
  (distill.student_basis: recomputed from the base's own tuning corpus, the same SVD);
- texts: the account's texts plus as many of the base's tuning texts ("replay"), so words the account
  shares with every domain ("my", "card") do not drift away from where the rest of the table expects
  them;
- the step is distill's tuning with the shared map off: per-row corrections D on the base table with
  an L2 pull towards it, early stopping on held-out account texts plus as many of the base's meta-valid texts.
  Rows of tokens the account never uses do not move (their gradient is zero), so the table stays
  compatible with everything fitted on the base's features (adapter, calibration).

The result is a static student of the same shape (rows map, dim, tokenizer) with its own tag; the
artifact builder (training/export.py `account` command) packs it with the base artifact's other files.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from training.static_encoder import StaticEncoder, quantize_rows


@dataclass
class AccountTuneConfig:
    epochs: int = 8
    batch_size: int = 256
    lr: float = 3e-3
    pull: float = 1e-3  # weight of the L2 pull towards the base table
    replay: float = 1.0  # base tuning texts drawn per account text
    valid_share: float = 0.1  # account texts held out for early stopping
    valid_base: float = 1.0  # base meta-valid texts beside each held-out account text (equal weight: one
    # domain's gain may not be bought with the others' loss, and a big base valid set may not drown it)
    patience: int = 2
    max_texts: int = 20000  # the account's most recent texts beyond this are not read
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _distinct(texts: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in texts:
        t = t.strip()
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def tune_for_account(base: StaticEncoder, basis: np.ndarray, teacher, account_texts: list[str],
                     base_tune: list[str], base_valid: list[str], cfg: AccountTuneConfig = AccountTuneConfig(),
                     name: str = "static-account") -> tuple[StaticEncoder, dict]:
    """The base student re-tuned on `account_texts` (unlabelled), with a report of what it did."""
    from training.distill import DistillConfig, _bags, _mean_cos, _tune
    from training.encoders import embed

    t0 = time.time()
    texts = _distinct(account_texts)[: cfg.max_texts]
    if len(texts) < 10:
        raise ValueError(f"an account encoder needs at least 10 distinct texts, got {len(texts)}")
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(texts))
    n_valid = max(1, int(round(cfg.valid_share * len(texts))))
    acc_valid = [texts[i] for i in order[:n_valid]]
    acc_tune = [texts[i] for i in order[n_valid:]]
    own = set(texts)
    pool = [t for t in base_tune if t not in own]
    replay = [pool[i] for i in rng.permutation(len(pool))[: int(cfg.replay * len(acc_tune))]]
    tune = acc_tune + replay
    others = [t for t in base_valid if t not in own]
    valid = acc_valid + [others[i] for i in rng.permutation(len(others))[: int(cfg.valid_base * n_valid)]]

    specials = list(base.special_ids)
    bags = _bags(tune, base.max_tokens, specials, base.rows)
    vbags = _bags(valid, base.max_tokens, specials, base.rows)
    y = embed(teacher, tune) @ basis
    vy = embed(teacher, valid) @ basis
    keep = [i for i, b in enumerate(bags) if len(b)]
    vkeep = [i for i, b in enumerate(vbags) if len(b)]
    table0 = base.table.astype(np.float32) * base.scales[:, None]
    import torch

    def cos_on(table, which):  # meta-valid cosine of a table on a subset of the valid texts
        idx = [i for i in vkeep if which(i)]
        return _mean_cos(torch.from_numpy(table), [vbags[i] for i in idx], torch.from_numpy(vy[idx]))

    is_account = lambda i: i < n_valid  # noqa: E731 - the first valid texts are the account's
    before = {"account_valid_cos": cos_on(table0, is_account), "base_valid_cos": cos_on(table0, lambda i: not is_account(i))}
    log: list[dict] = []
    dcfg = replace(DistillConfig(), shared_map=False, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                   pull=cfg.pull, patience=cfg.patience, seed=cfg.seed)
    table = _tune(dcfg, table0, [bags[i] for i in keep], y[keep], [vbags[i] for i in vkeep], vy[vkeep], log)
    after = {"account_valid_cos": cos_on(table, is_account), "base_valid_cos": cos_on(table, lambda i: not is_account(i))}
    moved = int((np.abs(table - table0).max(axis=1) > 1e-6).sum())
    q, scales = quantize_rows(table)
    student = StaticEncoder(q, scales, base.tokenizer_json, specials, base.max_tokens, base.rows, name, base.teacher)
    report = {"config": asdict(cfg), "base_tag": base.tag, "account_texts": len(texts), "account_valid": n_valid,
              "replay_texts": len(replay), "rows_moved": moved, "before": before, "after": after, "log": log,
              "tag": student.tag, "seconds": round(time.time() - t0, 1)}
    print(f"[account] {len(texts)} texts, {moved} rows moved; account-valid cos {before['account_valid_cos']:.4f}"
          f" -> {after['account_valid_cos']:.4f}, base-valid {before['base_valid_cos']:.4f} ->"
          f" {after['base_valid_cos']:.4f} ({report['seconds']} s)", file=sys.stderr)
    return student, report


def build_heldout_account_student(holdout: str, cfg: AccountTuneConfig = AccountTuneConfig(),
                                  base_cfg=None) -> StaticEncoder:
    """The evaluation's account case (cross-unlabelled): the cross-clean student for `holdout` (no text
    of it in the corpus; `base_cfg`, default the all-MiniLM-L6-v2 student's recipe), re-tuned on
    `holdout`'s unlabelled *train* texts as if they were an account's traffic, with the targets of that
    student's own teacher; never a valid or test text, no label. Cached under .cache/encoders/."""
    from training import data
    from training.distill import ENCODERS_CACHE, RECIPE_VERSION, SHIPPED, build_student, student_basis, \
        teacher_for, tuning_corpus

    base_cfg = base_cfg or replace(SHIPPED, corpus="sets-clean")
    out = ENCODERS_CACHE / f"static-account-r{RECIPE_VERSION}-{base_cfg.key()}-{cfg.key()}-{holdout}"
    if (out / "static_encoder.json").is_file():
        return StaticEncoder.load(out)
    base = build_student(base_cfg, holdout)
    tune, valid = tuning_corpus(holdout, base_cfg.corpus)
    texts = [u.text for u in data.load_jsonl(holdout, "train")]
    student, report = tune_for_account(base, student_basis(base_cfg, holdout), teacher_for(base_cfg, holdout),
                                       texts, tune, valid, cfg)
    report["holdout"] = holdout
    tmp = out.with_name(out.name + ".tmp")
    student.save(tmp, provenance=report)
    tmp.rename(out)
    return student


# -- the account's artifact ------------------------------------------------------------------------

def read_account_texts(paths: list[Path]) -> list[str]:
    """The texts of the Worker's snapshots (`corpus/<account>/texts.jsonl`: one {"text"} per line)."""
    texts: list[str] = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                texts.append(str(json.loads(line)["text"]))
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{n}: expected a JSON object with a text field") from err
    return texts


def base_student(base: Path) -> tuple[StaticEncoder, dict]:
    """The static student inside an artifact (without its context net) and the artifact's manifest."""
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    enc = manifest["encoder"]
    if enc.get("kind") != "static":
        # The int8 transformer (the default since it replaced the static student) has no per-account delta
        # yet: its weights are baked into one shared ORT graph. Refused loudly rather than re-tuning a
        # table the Worker would not serve; docs/architecture.md "An account's own encoder".
        raise ValueError(f"{base}: only a static edge encoder can be re-tuned, this one is {enc.get('kind')!r} "
                         "(per-account tuning of the transformer is not built yet: pass --base with a static artifact)")
    static_tag = enc.get("context", {}).get("static_tag", enc["tag"])
    section = {**{k: v for k, v in enc.items() if k != "context"}, "tag": static_tag,
               "files": {k: v for k, v in enc["files"].items() if k != "context"}}
    return StaticEncoder.load(base, section), manifest


def shipped_basis(student: StaticEncoder) -> np.ndarray:
    """The basis of the default recipe's student (the default artifact's), recomputed; other students
    need theirs passed in (`--basis`): their tuning corpus is not recorded in the artifact."""
    from training.distill import DEFAULT_STUDENT, SHIPPED_IN_ARTIFACT, student_basis

    if student.tag != SHIPPED_IN_ARTIFACT["static_tag"]:
        raise ValueError(f"the base student {student.tag} is not the default recipe's "
                         f"({SHIPPED_IN_ARTIFACT['static_tag']}): pass its basis with --basis FILE.npy")
    return student_basis(DEFAULT_STUDENT, None)


def shipped_teacher():
    """Whom the default recipe's student learned from: its targets for an account come from the same
    encoder (trained once and cached under .cache/encoders)."""
    from training.distill import DEFAULT_STUDENT, teacher_for

    return teacher_for(DEFAULT_STUDENT, None)


def _golden(out: Path, manifest: dict, base_golden: dict) -> dict:
    """golden.json for the re-tuned table: embeddings from the artifact's own files (what the Worker
    computes), features, adaptation and logits through its ONNX graphs (onnxruntime, CPU). The graphs
    are the base's, whose PyTorch parity was checked when the base was built."""
    import onnxruntime as ort

    from training.context_encoder import ArtifactContextEncoder
    from training.export import ADAPT_OUTPUTS, GOLDEN_TEXTS

    sess = lambda name: ort.InferenceSession(str(out / name), providers=["CPUExecutionProvider"])  # noqa: E731
    texts = base_golden["texts"]
    assert texts == GOLDEN_TEXTS, "the base's golden texts are the contract's"
    if "context" in manifest["encoder"]["files"]:
        encoder = ArtifactContextEncoder(out)
        embedding, static = encoder.encode(texts), encoder.static.encode(texts)
    else:
        embedding, static = base_student(out)[0].encode(texts), None
    feats = sess("adapter.onnx").run(None, {"embedding": embedding.astype(np.float32)})[0]
    sl = np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 2, 2]]
    adapted = sess("adapt.onnx").run(None, {"support_features": feats[:6], "support_labels": sl})
    w, b = adapted[0], adapted[1]
    refine = manifest["adaptation"].get("refine")
    if refine:  # the Worker's rounds of refine.onnx after adapt.onnx (algorithms.refine_rounds)
        from training.algorithms import refine_rounds

        refine_s = sess(refine["file"])
        for _ in range(refine_rounds(refine["steps"], refine["max_rounds"], refine["budget"], *sl.shape)):
            w, b, loss_after, acc_after = refine_s.run(
                None, {"support_features": feats[:6], "support_labels": sl, "start_weight": w, "start_bias": b})
            adapted = [w, b, adapted[2], loss_after, adapted[4], acc_after]
    logits = sess("head.onnx").run(None, {"features": feats, "weight": w, "bias": b})[0]
    golden = {"texts": texts, "input_ids": base_golden["input_ids"], "embedding": embedding.tolist(),
              "features": feats.tolist(),
              "adapt": {"support_features": feats[:6].tolist(), "support_labels": sl.tolist(), "weight": w.tolist(),
                        "bias": b.tolist(), **{k: float(v) for k, v in zip(ADAPT_OUTPUTS[2:], adapted[2:])}},
              "head": {"features": feats.tolist(), "logits": logits.tolist()}}
    if static is not None:
        golden["static_embedding"] = static.tolist()
    return golden


def build_account_artifact(base: Path, texts: list[str], account_id: str, out: Path,
                           cfg: AccountTuneConfig = AccountTuneConfig(), basis: np.ndarray | None = None,
                           teacher=None, created=None) -> dict:
    """An artifact for one account: the base artifact with its token table re-tuned on the account's
    texts (everything else byte for byte the base's, so the Worker shares it in memory). Its manifest
    names the account and the base (`account`); its `metrics` are the re-tuning's, not the base's
    benchmark cells, so the promotion gate judges it on the account's own tasks. Returns the manifest."""
    import datetime as dt
    import shutil

    from training import data, manifest as mf
    from training.encoders import TeacherEncoder

    if (out / "manifest.json").exists():
        raise FileExistsError(f"{out} already holds an artifact; versions are immutable")
    mf.verify_artifact(base)
    student, base_manifest = base_student(base)
    if basis is None:  # the default recipe's student: its basis and its teacher are recomputed
        basis, teacher = shipped_basis(student), teacher or shipped_teacher()
    part = data.all_sets_partition()
    tuned, report = tune_for_account(student, basis, teacher or TeacherEncoder(), texts,
                                     [u.text for u in part.meta_train], [u.text for u in part.meta_valid], cfg)
    if report["rows_moved"] == 0:
        raise ValueError("re-tuning moved no row (the account's texts did not improve on the base): nothing to publish")
    out.mkdir(parents=True, exist_ok=True)
    for f in base_manifest["files"]:
        if f["name"] != "golden.json":
            shutil.copyfile(base / f["name"], out / f["name"])
    tuned.save(out)  # table + scales (+ the same rows map and tokenizer)
    enc = json.loads(json.dumps(base_manifest["encoder"]))
    if "context" in enc:
        enc["context"]["static_tag"] = tuned.tag
        # the context net's part of the tag (its layers and graph digest) is the base's: same graph
        enc["tag"] = f"{tuned.tag}-ctx{enc['context']['layers']}u8-{enc['tag'].rsplit('-', 1)[1]}"
    else:
        enc["tag"] = tuned.tag
    created = (created or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    manifest = {**base_manifest, "encoder": enc, "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "version": f"{created:%Y%m%d-%H%M%S}-{base_manifest['algorithm']}-acct-{account_id[:12]}",
                "account": {"id": account_id, "base_version": base_manifest["version"], "texts": report["account_texts"],
                            "tuning": {k: report[k] for k in ("config", "rows_moved", "before", "after", "seconds")}},
                "metrics": {"account_tuning": {"account_valid_cos": report["after"]["account_valid_cos"],
                                               "base_valid_cos": report["after"]["base_valid_cos"]}}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))  # provisional: the golden's reader needs it
    base_golden = json.loads((base / "golden.json").read_text(encoding="utf-8"))
    (out / "golden.json").write_text(json.dumps(_golden(out, manifest, base_golden)))
    names = {f["name"]: f["role"] for f in base_manifest["files"]}
    manifest["files"] = [mf.file_entry(out / name, role) for name, role in sorted(names.items())]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return mf.verify_artifact(out)


def add_command(subparsers) -> None:
    p = subparsers.add_parser("account", help="an account's own artifact: the base's token table re-tuned on its texts")
    p.add_argument("--base", type=Path, default=Path(__file__).resolve().parent.parent / "models" / "static",
                   help="the static artifact serving the account (default: models/static; the transformer default "
                        "has no per-account tuning yet)")
    p.add_argument("--texts", type=Path, nargs="+", required=True,
                   help="the account's texts: the Worker's snapshot corpus/<account>/texts.jsonl ({\"text\"} per line)")
    p.add_argument("--account", required=True, help="the account id the version will serve")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--basis", type=Path, help="the base student's projection basis (.npy), if not the default recipe's (its teacher is then taken to be all-MiniLM-L6-v2)")
    p.add_argument("--max-texts", type=int, default=AccountTuneConfig.max_texts)
    p.set_defaults(run=_run)


def _run(args) -> None:
    cfg = AccountTuneConfig(max_texts=args.max_texts)
    basis = np.load(args.basis) if args.basis else None
    manifest = build_account_artifact(args.base, read_account_texts(args.texts), args.account, args.out, cfg, basis)
    print(json.dumps({"version": manifest["version"], "account": manifest["account"]["id"],
                      "encoder": manifest["encoder"]["tag"], "out": str(args.out)}))
