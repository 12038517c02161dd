// Adapting the loaded model's head to a task: adapt.onnx over the stored support features, the result
// stored as an Adaptation row (head weights in the BLOB). Reused while the support fingerprint (the
// examples, feedback examples included, and the model version) is unchanged; redone when it changes.
// The isolate keeps one adaptation per task, the latest: a change to the support replaces the task's
// entry instead of adding one, so memory follows the number of tasks, not the number of changes.
import type { Deps } from "../deps";
import { newId } from "../ids";
import { toAdaptation, type AdaptationRow } from "../rows";
import type { Adaptation } from "../types";
import { packHead, unpackHead, type Head, type LoadedModel } from "./runtime";
import type { Support } from "./support";

export interface AdaptedTask {
  adaptation: Adaptation;
  head: Head;
  labels: string[];
}

const MAX_CACHED_TASKS = 256;
const isolateCache = new Map<string, AdaptedTask>(); // key: account/task; insertion order = LRU order
const inFlight = new Map<string, Promise<AdaptedTask | null>>(); // key: account/task/fingerprint

/** How many adaptations this isolate holds (a test checks it follows tasks, not support changes). */
export const adaptationCacheSize = () => isolateCache.size;

/** Clocks stand still inside a Worker until I/O happens; a zero timer lets them move (recipes.md). */
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The way each support example belongs to (-1: no label), and the label order of the head's rows. */
export function waysOf(support: Support): { labels: string[]; ways: Int32Array; rows: number[] } {
  const labels = [...new Set(support.labels.filter((l): l is string => l !== null && l !== ""))].sort();
  const index = new Map(labels.map((l, i) => [l, i]));
  const rows: number[] = [];
  const ways = new Int32Array(support.labels.length).fill(-1);
  support.labels.forEach((l, i) => {
    const w = l ? index.get(l) : undefined;
    if (w !== undefined) {
      ways[i] = w;
      rows.push(i);
    }
  });
  return { labels, ways, rows };
}

/** The current Adaptation of the task (adapting now if stale); null when it has fewer than 2 labels. */
export async function adaptedTask(deps: Deps, model: LoadedModel, taskId: string, support: Support): Promise<AdaptedTask | null> {
  const key = `${deps.accountId}/${taskId}`;
  const cached = isolateCache.get(key);
  if (cached?.adaptation.supportFingerprint === support.fingerprint) {
    isolateCache.delete(key);
    isolateCache.set(key, cached);
    return cached;
  }
  const flightKey = `${key}/${support.fingerprint}`;
  let pending = inFlight.get(flightKey);
  if (!pending) {
    pending = findOrAdapt(deps, model, taskId, support).finally(() => inFlight.delete(flightKey));
    inFlight.set(flightKey, pending);
  }
  const result = await pending;
  isolateCache.delete(key); // the task's older adaptation, if any, is replaced, never kept beside it
  if (result) {
    isolateCache.set(key, result);
    if (isolateCache.size > MAX_CACHED_TASKS) isolateCache.delete(isolateCache.keys().next().value!);
  }
  return result;
}

async function findOrAdapt(deps: Deps, model: LoadedModel, taskId: string, support: Support): Promise<AdaptedTask | null> {
  const { labels, ways, rows } = waysOf(support);
  if (labels.length < 2) return null;
  const stored = await deps.db
    .prepare(
      `SELECT * FROM adaptations WHERE account_id = ? AND task_id = ? AND support_fingerprint = ?
       ORDER BY created_at DESC, id DESC LIMIT 1`,
    )
    .bind(deps.accountId, taskId, support.fingerprint)
    .first<AdaptationRow & { head: ArrayBuffer | number[] | null }>();
  if (stored?.head) {
    const blob = stored.head instanceof ArrayBuffer ? stored.head : Uint8Array.from(stored.head).buffer;
    const head = unpackHead(blob, labels.length, model.features);
    if (head) return { adaptation: toAdaptation(stored), head, labels };
  }
  return runAdaptation(deps, model, taskId, support, { labels, ways, rows });
}

async function runAdaptation(
  deps: Deps,
  model: LoadedModel,
  taskId: string,
  support: Support,
  { labels, ways, rows }: ReturnType<typeof waysOf>,
): Promise<AdaptedTask> {
  const f = model.features;
  const features = new Float32Array(rows.length * f);
  const wayOfRow = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    features.set(support.features.subarray(r * f, (r + 1) * f), i * f);
    wayOfRow[i] = ways[r]!;
  });
  await tick();
  const started = performance.now();
  const result = await model.adapt(features, wayOfRow, labels.length);
  await tick();
  const durationMs = performance.now() - started;
  const id = newId(); // UUIDv7 like every row id: lists in creation order
  const createdAt = new Date().toISOString();
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  await deps.db
    .prepare(
      `INSERT INTO adaptations (id, account_id, task_id, model_version, algorithm, steps, support_size, labels_json,
         support_loss_before, support_loss_after, support_acc_before, support_acc_after, duration_ms,
         support_fingerprint, head, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      id, deps.accountId, taskId, model.version, model.algorithm, model.steps, rows.length, JSON.stringify(labels),
      finite(result.lossBefore), finite(result.lossAfter), finite(result.accBefore), finite(result.accAfter),
      durationMs, support.fingerprint, packHead(result.head), createdAt,
    )
    .run();
  const adaptation: Adaptation = {
    id, accountId: deps.accountId, taskId, modelVersion: model.version, algorithm: model.algorithm, steps: model.steps,
    supportSize: rows.length, labels, supportLossBefore: finite(result.lossBefore), supportLossAfter: finite(result.lossAfter),
    supportAccBefore: finite(result.accBefore), supportAccAfter: finite(result.accAfter), durationMs,
    supportFingerprint: support.fingerprint, createdAt,
  };
  console.log(JSON.stringify({ event: "task_adapted", taskId, modelVersion: model.version, ways: labels.length, support: rows.length, durationMs }));
  return { adaptation, head: result.head, labels };
}
