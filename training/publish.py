"""Publishing a verified artifact: to a local folder, to R2 (S3 API), or into `wrangler dev`'s local R2 + D1.

A version is immutable: every target refuses a version that already has a manifest there. The manifest
is uploaded last, so a half-finished upload never looks published. `--if-absent` turns "already
published" into a no-op (what `npm start` wants on every start), never into an overwrite.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from training.manifest import sha256_file, verify_artifact

REPO_ROOT = Path(__file__).resolve().parent.parent
BUCKET = "adaptagent-models"
DATABASE = "adaptagent"


class AlreadyPublished(RuntimeError):
    """The version exists at the target; versions are never overwritten."""


def _ordered(artifact: Path, manifest: dict) -> list[str]:
    return [f["name"] for f in manifest["files"]] + ["manifest.json"]


def publish_local(artifact: Path, dest_root: Path) -> Path:
    manifest = verify_artifact(artifact)
    dest = dest_root / "models" / manifest["version"]
    if (dest / "manifest.json").exists():
        raise AlreadyPublished(f"{dest} already holds version {manifest['version']}")
    dest.mkdir(parents=True, exist_ok=True)
    for name in _ordered(artifact, manifest):
        shutil.copyfile(artifact / name, dest / name)
    return dest


def _r2_client():
    import boto3
    missing = [k for k in ("R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET") if not os.environ.get(k)]
    if missing:
        raise RuntimeError(f"publishing to R2 needs the environment variables {missing}")
    client = boto3.client("s3", endpoint_url=os.environ["R2_ENDPOINT"], region_name="auto",
                          aws_access_key_id=os.environ["R2_ACCESS_KEY_ID"],
                          aws_secret_access_key=os.environ["R2_SECRET_ACCESS_KEY"])
    return client, os.environ["R2_BUCKET"]


def publish_r2(artifact: Path) -> str:
    from botocore.exceptions import ClientError
    manifest = verify_artifact(artifact)
    client, bucket = _r2_client()
    prefix = f"models/{manifest['version']}/"
    try:
        client.head_object(Bucket=bucket, Key=prefix + "manifest.json")
        raise AlreadyPublished(f"r2://{bucket}/{prefix} already holds a manifest")
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    for name in _ordered(artifact, manifest):
        client.upload_file(str(artifact / name), bucket, prefix + name)
    return f"r2://{bucket}/{prefix}"


def _wrangler(*args: str, capture: bool = False) -> str:
    persist = os.environ.get("ADAPTAGENT_WRANGLER_PERSIST")  # another local state dir (tests, side setups)
    if persist:
        args = (*args, "--persist-to", persist)
    exe = REPO_ROOT / "node_modules" / ".bin" / "wrangler"
    cmd = [str(exe) if exe.exists() else "npx", *([] if exe.exists() else ["wrangler"]), *args]
    res = subprocess.run(cmd, cwd=REPO_ROOT, text=True, capture_output=True, env={**os.environ, "CI": "1"})
    if res.returncode:
        raise RuntimeError(f"wrangler {' '.join(args[:3])} failed ({res.returncode}): {res.stderr[-2000:]}")
    return res.stdout


def _d1(sql: str) -> list[dict]:
    out = _wrangler("d1", "execute", DATABASE, "--local", "--json", "--command", sql, capture=True)
    return json.loads(out)[0]["results"]


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def register_sql(manifest: dict, manifest_sha256: str, activate: bool) -> str:
    """The D1 statements registering a version (migrations/0004); activation in the same batch."""
    v = manifest["version"]
    insert = ("INSERT INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder, metrics_json, active, "
              f"activated_at) VALUES ({_q(v)}, {_q(f'models/{v}/')}, {_q(manifest_sha256)}, {_q(manifest['algorithm'])}, "
              f"{_q(manifest['encoder']['tag'])}, {_q(json.dumps(manifest.get('metrics', {})))}, {int(activate)}, "
              + ("strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));" if activate else "NULL);"))
    # Deactivate first: the partial unique index allows one active row at any moment.
    return (_deactivate_others(v) if activate else "") + insert


def _deactivate_others(version: str) -> str:
    return f"UPDATE model_versions SET active = 0 WHERE active = 1 AND version <> {_q(version)};"


def publish_wrangler_local(artifact: Path, activate: bool, if_absent: bool = False) -> str:
    manifest = verify_artifact(artifact)
    v = manifest["version"]
    if _d1(f"SELECT version FROM model_versions WHERE version = {_q(v)}"):
        if not if_absent:
            raise AlreadyPublished(f"version {v} is already registered in local D1")
        if activate:
            _d1(_deactivate_others(v) + f"UPDATE model_versions SET active = 1, activated_at = "
                f"strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE version = {_q(v)} AND active = 0;")
        return v
    for name in _ordered(artifact, manifest):
        _wrangler("r2", "object", "put", f"{BUCKET}/models/{v}/{name}", "--local", "--file", str(artifact / name))
    _d1(register_sql(manifest, sha256_file(artifact / "manifest.json"), activate))
    return v


def add_command(subparsers) -> None:
    p = subparsers.add_parser("publish", help="publish a verified artifact (local folder, R2, or wrangler-local)")
    p.add_argument("artifact", type=Path)
    p.add_argument("--target", choices=["local", "r2", "wrangler-local"], default="local")
    p.add_argument("--dest", type=Path, default=REPO_ROOT / "artifacts" / "published", help="for --target local")
    p.add_argument("--activate", action="store_true", help="make it the active ModelVersion (wrangler-local)")
    p.add_argument("--if-absent", action="store_true", help="no-op when the version is already published")
    p.add_argument("--persist-to", help="wrangler-local: local state folder (default: wrangler's .wrangler/state)")
    p.set_defaults(run=_run)


def _run(args) -> None:
    if args.persist_to:
        os.environ["ADAPTAGENT_WRANGLER_PERSIST"] = str(Path(args.persist_to).resolve())
    try:
        if args.target == "local":
            where = publish_local(args.artifact, args.dest)
        elif args.target == "r2":
            where = publish_r2(args.artifact)
        else:
            where = publish_wrangler_local(args.artifact, args.activate, args.if_absent)
    except AlreadyPublished as err:
        if not args.if_absent:
            raise SystemExit(f"refused: {err}") from err
        where = f"{err} (kept as is)"
    print(f"[publish] {where}")
