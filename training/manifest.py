"""manifest.json per docs/model-artifact.md: per-file sha256/bytes/ONNX signatures, and its verification."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import onnx

FORMAT = "adaptagent-model/1"
ROLES = {"adapter.onnx": "adapter", "adapt.onnx": "adapt", "head.onnx": "head", "encoder.onnx": "encoder",
         "encoder.int8.onnx": "encoder_int8", "tokenizer.json": "tokenizer", "golden.json": "golden",
         "static_table.i8": "static_table", "static_scales.f32": "static_scales", "static_rows.i32": "static_rows",
         "context.onnx": "static_context", "refine.onnx": "refine",
         "transformer.int8.onnx": "transformer", "word_table.i8": "word_table", "word_scales.f32": "word_scales",
         "positions.f32": "positions", "layer_norm.f32": "layer_norm"}
_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32",
           onnx.TensorProto.FLOAT16: "float16", onnx.TensorProto.INT8: "int8"}


class ManifestError(ValueError):
    """An artifact whose files do not match its manifest."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _signature(values) -> list[dict]:
    out = []
    for v in values:
        t = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        out.append({"name": v.name, "dtype": _DTYPES.get(t.elem_type, str(t.elem_type)), "shape": shape})
    return out


def file_entry(path: Path, role: str) -> dict:
    entry = {"name": path.name, "role": role, "sha256": sha256_file(path), "bytes": path.stat().st_size}
    if path.suffix == ".onnx":
        graph = onnx.load(str(path), load_external_data=False).graph
        entry["inputs"], entry["outputs"] = _signature(graph.input), _signature(graph.output)
    return entry


def version_string(algorithm: str, encoder_kind: str, created: dt.datetime) -> str:
    return f"{created:%Y%m%d-%H%M%S}-{algorithm}-{encoder_kind}"


def write_manifest(out: Path, model, encoder: dict, algorithm: str, hyperparameters: dict, metrics: dict,
                   parity: dict, tolerance: dict, created: dt.datetime | None = None) -> dict:
    created = (created or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    files = [file_entry(p, ROLES[p.name]) for p in sorted(out.iterdir()) if p.name in ROLES]
    lr_w, lr_b = model.step_sizes()
    manifest = {
        "format": FORMAT,
        # "static-ctx" names an artifact whose static encoder ships a context net (context.onnx).
        "version": version_string(algorithm, encoder["kind"] + ("-ctx" if "context" in encoder.get("files", {}) else ""),
                                  created),
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "algorithm": algorithm,
        "encoder": encoder,
        "features": model.cfg.features,
        "adaptation": {"solver": model.cfg.solver, "steps": model.cfg.steps, "init": model.cfg.head_init,
                       "temperature": float(model.temperature().detach()),
                       **({"prior": model.cfg.prior, **({"refine": {
                           "file": "refine.onnx", "steps": model.cfg.refine_steps,
                           "max_rounds": model.cfg.refine_max_rounds, "budget": model.cfg.refine_budget}}
                           if model.cfg.refines else {})}
                          if model.cfg.solver == "cg" else {
                           "learned_step_sizes": model.cfg.learn_step_sizes,
                           "step_size_mean": float(lr_w.detach().mean()),
                           "bias_step_sizes": [float(x) for x in lr_b.detach()]})},
        "hyperparameters": hyperparameters,
        "files": files,
        "metrics": metrics,
        "parity": parity,
        "golden": "golden.json",
        "tolerance": tolerance,
    }
    if algorithm == "edge_no_meta":  # the shipped method also adds the task examples' lexical evidence
        from training.lexical import DEFAULT_WEIGHT

        manifest["lexical"] = {"kind": "support-tfidf", "weight": DEFAULT_WEIGHT,
                               "chosen_on": "sgd only (python -m training.lexical select)"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def verify_artifact(out: Path) -> dict:
    """Re-hashes every listed file; raises ManifestError on any missing file or mismatch."""
    path = out / "manifest.json"
    if not path.is_file():
        raise ManifestError(f"{path} not found")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    for f in manifest["files"]:
        p = out / f["name"]
        if not p.is_file():
            raise ManifestError(f"{p} listed in the manifest but missing")
        if p.stat().st_size != f["bytes"] or sha256_file(p) != f["sha256"]:
            raise ManifestError(f"{p} does not match its manifest entry (size or sha256)")
    refine = manifest.get("adaptation", {}).get("refine")
    for needed in ("adapter.onnx", "adapt.onnx", "head.onnx", "tokenizer.json", "golden.json") + ((refine["file"],) if refine else ()):
        if needed not in {f["name"] for f in manifest["files"]}:
            raise ManifestError(f"{path}: required file {needed} not listed")
    return manifest
