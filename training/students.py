"""The edge encoders by name, and the `distill` command that builds them.

Kept apart from training/encoders.py (the teacher and the embedding cache), training/distill.py (the
static student) and training/context_encoder.py (its context net) so that each of those imports only
what it builds on, and this module alone knows all three.
"""
from __future__ import annotations

import json

from training.context_encoder import SHIPPED_CONTEXT, ArtifactContextEncoder, SMOKE_CONTEXT, build_context_student
from training.distill import CALIBRATION_STUDENT, DEFAULT_STUDENT, SHIPPED, build_student, default_student, shipped_student
from training.encoders import TEACHER_TAG, Encoder, TeacherEncoder
from training.static_encoder import StaticEncoder

ENCODER_NAMES = ("transformer-meta", "transformer-meta-calibration", "static-meta", "static-meta-calibration",
                 "static-ctx", "static", "teacher", "static-ctx-smoke")


def get_encoder(name: str) -> Encoder:
    """"transformer-meta" -> the default artifact's edge encoder: the episodically trained teacher itself,
    six layers int8 with its word table beside the graph (training/transformer_encoder.py);
    "transformer-meta:<target>" the same teacher trained without any text of <target> (cross-clean);
    "transformer-meta-calibration" its twin whose teacher never saw sgd (the confidence is fitted with it).
    "teacher" -> TeacherEncoder; "static-meta" -> the default artifact's edge encoder: the static
    student of the episodically trained teacher (distill.DEFAULT_STUDENT; built once, cached); "static"
    -> the same recipe distilled from all-MiniLM-L6-v2 as shipped; "static-ctx" -> that student plus its
    context net (the default encoder until 2026-12-05); "static-ctx-smoke" -> a context net over the
    default student trained for seconds (the Worker tests' artifact: the code path, not the accuracy);
    "static-meta-calibration" -> the default student's twin whose teacher never saw sgd, with which the
    confidence calibration is fitted on sgd (distill.CALIBRATION_STUDENT).

    "static:<target>" -> the student tuned without any text of cross-dataset target <target>
    (what the cross-dataset evaluation of that target must use). "static-meta:<target>" -> the default
    recipe built for <target>, cross-clean: neither its teacher's sources nor its tuning corpus hold any
    text of <target> (evaluate.py's "static-meta").

    "artifact:<folder>" -> the edge encoder of a built artifact (e.g. artifact:models/default), read
    back from its files: rebuilds the model on the same encoder without retraining it.
    """
    if name.startswith("artifact:"):
        return artifact_encoder(name.split(":", 1)[1])
    if name == "transformer-meta" or name.startswith("transformer-meta:") or name == "transformer-meta-calibration":
        # the episodically trained teacher itself, int8 (training/transformer_encoder.py): the default
        from training.transformer_encoder import build_transformer

        if name == "transformer-meta-calibration":
            return build_transformer("meta-episodic-sets")
        return build_transformer("meta-episodic", name.split(":", 1)[1] if ":" in name else None)
    if name in ("teacher", TEACHER_TAG):
        return TeacherEncoder()
    if name.startswith("static-ctx"):  # the static student + its context net (training/context_encoder.py)
        base, _, holdout = name.partition(":")
        if base not in ("static-ctx", "static-ctx-smoke"):
            raise ValueError(f"unknown encoder {name!r}")
        if base == "static-ctx-smoke":  # the frozen model as the net's teacher: no teacher to train first
            return build_context_student(SMOKE_CONTEXT, holdout or None, student=DEFAULT_STUDENT, teacher=TeacherEncoder())
        return build_context_student(SHIPPED_CONTEXT, holdout or None)
    if name == "static-meta-calibration":
        return build_student(CALIBRATION_STUDENT, None)
    if name == "static-meta" or name.startswith("static-meta:"):
        return default_student(holdout=name.split(":", 1)[1] if ":" in name else None)
    if name == "static" or name.startswith("static:"):
        holdout = name.split(":", 1)[1] if ":" in name else None
        return shipped_student(holdout=holdout)
    raise ValueError(f"unknown encoder {name!r}: expected one of {ENCODER_NAMES} (':<target>' for a held-out set)")


def artifact_encoder(directory) -> Encoder:
    """The edge encoder of a built artifact, read back from its files exactly as the Worker reads them:
    the static student, with its context net when the artifact has one."""
    from pathlib import Path

    d = Path(directory)
    section = json.loads((d / "manifest.json").read_text(encoding="utf-8"))["encoder"]
    if section.get("kind") == "transformer":
        from training.transformer_encoder import TransformerEncoder

        return TransformerEncoder.load(d, section)
    if "context" in section.get("files", {}):
        return ArtifactContextEncoder(d)
    return StaticEncoder.load(d, section)  # refuses any other kind, and files that do not hash to the tag


def add_command(subparsers) -> None:
    p = subparsers.add_parser("distill", help="distil the teacher into the static edge encoder")
    p.add_argument("--out", required=True, help="folder for static_table.i8, static_scales.f32, ...")
    p.add_argument("--dim", type=int, default=SHIPPED.dim)
    p.add_argument("--no-trim", action="store_true", help="keep the whole vocabulary")
    p.add_argument("--no-tune", action="store_true", help="PCA + SIF only (model2vec-style)")
    p.add_argument("--holdout", default=None, help="cross-dataset target whose texts must not tune it")
    p.add_argument("--context", action="store_true",
                   help="also train the context net over the shipped student (context.onnx; training/context_encoder.py)")
    p.set_defaults(run=_cli)


def _cli(args) -> None:
    from dataclasses import replace

    cfg = replace(SHIPPED, dim=args.dim, trim=not args.no_trim, tune=not args.no_tune)
    if args.context:
        if cfg != SHIPPED:
            raise SystemExit("--context builds on the shipped student: drop --dim/--no-trim/--no-tune")
        print(json.dumps(build_context_student(holdout=args.holdout).save(args.out), indent=2))
        return
    student = build_student(cfg, args.holdout)
    section = student.save(args.out)
    print(json.dumps(section, indent=2))
