"""Publishing a verified artifact: to a local folder or to R2 (S3 API), from the training job.

A version is immutable: every target refuses a version that already has a manifest there. The manifest
is uploaded last, so a half-finished upload never looks published. `--if-absent` turns "already
published" into a no-op, never into an overwrite. Publishing into `wrangler dev`'s local R2 + D1, or a
deployed Worker's, and registering the version in D1 is the Node side's (scripts/publish.mjs): serving
needs no Python.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from training.manifest import verify_artifact

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def add_command(subparsers) -> None:
    p = subparsers.add_parser("publish", help="publish a verified artifact (local folder or R2)")
    p.add_argument("artifact", type=Path)
    p.add_argument("--target", choices=["local", "r2"], default="local")
    p.add_argument("--dest", type=Path, default=REPO_ROOT / "artifacts" / "published", help="for --target local")
    p.add_argument("--if-absent", action="store_true", help="no-op when the version is already published")
    p.set_defaults(run=_run)


def _run(args) -> None:
    try:
        if args.target == "local":
            where = publish_local(args.artifact, args.dest)
        else:
            where = publish_r2(args.artifact)
    except AlreadyPublished as err:
        if not args.if_absent:
            raise SystemExit(f"refused: {err}") from err
        where = f"{err} (kept as is)"
    print(f"[publish] {where}")
