// Which ModelVersion this isolate serves. The caller reads the active version's row (one cheap D1 read,
// batched with the request's other reads: functions/predictions.ts); when it is the one already
// loaded, the loaded model is reused (sessions are created once per isolate
// per version). A new active version is loaded from R2 (every file's sha256 checked) and swapped in
// without a restart. If it cannot be loaded, the isolate keeps serving the version it had and retries
// after retryMs; with nothing loaded, callers get MODEL_UNAVAILABLE. A slow load (R2 slow to answer)
// holds no request up for long: after switchWaitMs requests go on with the version already loaded, and
// a load that has not finished within loadTimeoutMs counts as failed. A replaced version's ORT sessions
// are released once the last request using it (useActiveModel) has finished.
import { AppError, modelBroken } from "../errors";
import { readFiles, readManifest } from "./artifact";
import { createSession } from "./ort";
import { LoadedModel } from "./runtime";
import { StaticEncoder } from "./staticEncoder";

/** How long the loader waits and retries (tests shorten them). */
export const loaderTimings = { retryMs: 30_000, switchWaitMs: 2_000, loadTimeoutMs: 60_000 };

let current: LoadedModel | null = null;
const loading = new Map<string, Promise<LoadedModel>>();
const failures = new Map<string, { at: number; error: AppError }>();
const users = new Map<LoadedModel, number>(); // requests inside useActiveModel, per model

/** Counters a test reads to prove sessions are created once per version and released when replaced. */
export const loaderStats = { loads: 0, sessionsCreated: 0, sessionsReleased: 0 };

/** Forgets everything loaded (tests only: a fresh isolate without restarting workerd). */
export function resetModelCacheForTests(): void {
  current = null;
  loading.clear();
  failures.clear();
  users.clear();
}

/**
 * Runs `use` with the model for this request (see getActiveModel) and keeps that model's sessions
 * alive until it returns, even if another version becomes active meanwhile.
 */
export async function useActiveModel<T>(bucket: R2Bucket, row: ActiveRow | null, use: (model: LoadedModel | null) => Promise<T>): Promise<T> {
  const model = await getActiveModel(bucket, row);
  if (!model) return use(null);
  users.set(model, (users.get(model) ?? 0) + 1);
  try {
    return await use(model);
  } finally {
    const left = users.get(model)! - 1;
    if (left > 0) users.set(model, left);
    else {
      users.delete(model);
      if (model !== current) retire(model);
    }
  }
}

function makeCurrent(model: LoadedModel): void {
  const previous = current;
  current = model;
  if (previous && previous !== model && !users.has(previous)) retire(previous);
}

function retire(model: LoadedModel): void {
  model
    .release()
    .then((n) => {
      loaderStats.sessionsReleased += n;
      console.log(JSON.stringify({ event: "model_released", version: model.version, sessions: n }));
    })
    .catch((error: unknown) => console.warn(JSON.stringify({ event: "model_release_failed", version: model.version, error: String(error) })));
}

/** `pending`, or "timeout" when it has not settled within ms (the timer is cleared either way). */
async function within<T>(pending: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  try {
    return await Promise.race([pending, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a ModelVersion's artifact is and what it must be (its row in model_versions, read by modelVersions.ts). */
export interface ActiveRow {
  version: string;
  r2_prefix: string;
  manifest_sha256: string;
  encoder: string; // the encoder tag the version was registered with
}

/**
 * The model to use for this request: null when no version is active; the active one when it loads;
 * the previously loaded one (with a warning) when the active one is broken; else MODEL_UNAVAILABLE.
 */
export async function getActiveModel(bucket: R2Bucket, row: ActiveRow | null): Promise<LoadedModel | null> {
  if (!row) return null;
  if (current?.version === row.version) return current;
  const failed = failures.get(row.version);
  if (failed && Date.now() - failed.at < loaderTimings.retryMs) return fallback(row.version, failed.error);
  let pending = loading.get(row.version);
  if (!pending) pending = startLoad(bucket, row);
  // With a version loaded, a slow load does not hold requests: they go on with the loaded one.
  const outcome = current ? await within(pending, loaderTimings.switchWaitMs).catch(() => null) : null;
  if (outcome === "timeout") {
    console.warn(JSON.stringify({ event: "model_load_pending", version: row.version, serving: current!.version }));
    return current!;
  }
  try {
    return await pending;
  } catch (error) {
    return fallback(row.version, error as AppError);
  }
}

/**
 * A version loaded beside the current one, never made current (the promotion gate's candidate): `use`
 * runs with it, then its sessions are released. Two models are in memory while it runs.
 */
export async function withDetachedModel<T>(bucket: R2Bucket, row: ActiveRow, use: (model: LoadedModel) => Promise<T>): Promise<T> {
  const model = await within(loadVersion(bucket, row), loaderTimings.loadTimeoutMs);
  if (model === "timeout") throw modelBroken(`ModelVersion ${row.version} did not load within ${loaderTimings.loadTimeoutMs / 1000} s (R2 too slow).`);
  try {
    return await use(model);
  } finally {
    loaderStats.sessionsReleased += await model.release();
  }
}

/** Loads a version once (concurrent callers share it), within loadTimeoutMs; the loaded one becomes current. */
function startLoad(bucket: R2Bucket, row: ActiveRow): Promise<LoadedModel> {
  const load = loadVersion(bucket, row);
  const pending: Promise<LoadedModel> = within(load, loaderTimings.loadTimeoutMs)
    .then((model) => {
      if (model === "timeout") {
        throw modelBroken(`ModelVersion ${row.version} did not load within ${loaderTimings.loadTimeoutMs / 1000} s (R2 too slow).`);
      }
      if (loading.get(row.version) === pending) makeCurrent(model);
      failures.delete(row.version);
      return model;
    })
    .catch((error: unknown) => {
      const typed = error instanceof AppError ? error : modelBroken(`ModelVersion ${row.version} could not be loaded: ${String(error)}`);
      if (!(error instanceof AppError)) console.error(JSON.stringify({ event: "model_load_crashed", version: row.version, error: String(error) }));
      failures.set(row.version, { at: Date.now(), error: typed });
      // A load that finishes after its deadline was given up: release what it built.
      load.then((late) => retire(late), () => undefined);
      throw typed;
    })
    .finally(() => {
      if (loading.get(row.version) === pending) loading.delete(row.version);
    });
  loading.set(row.version, pending);
  return pending;
}

function fallback(version: string, error: AppError): LoadedModel {
  console.warn(JSON.stringify({ event: "model_load_failed", version, serving: current?.version ?? null, reason: error.detail ?? error.message }));
  if (current) return current;
  throw error;
}

async function loadVersion(bucket: R2Bucket, row: ActiveRow): Promise<LoadedModel> {
  loaderStats.loads += 1;
  const manifest = await readManifest(bucket, row.r2_prefix, row.manifest_sha256);
  if (manifest.version !== row.version) {
    throw modelBroken(`The manifest under ${row.r2_prefix} describes ${manifest.version}, not ${row.version}.`);
  }
  if (manifest.encoder.tag !== row.encoder) {
    // Stored example features are only comparable within one encoder space: never mix them up silently.
    throw modelBroken(
      `ModelVersion ${row.version} is registered for encoder ${row.encoder}, but its manifest was built for ${manifest.encoder.tag}.`,
    );
  }
  const enc = manifest.encoder.files;
  const names = [
    "tokenizer.json",
    enc.table ?? "static_table.i8",
    enc.scales ?? "static_scales.f32",
    ...(enc.rows ? [enc.rows] : []),
    ...(enc.context ? [enc.context] : []),
    "adapter.onnx",
    "adapt.onnx",
    "head.onnx",
  ];
  const files = await readFiles(bucket, row.r2_prefix, manifest, names);
  const session = async (name: string) => {
    try {
      const s = await createSession(new Uint8Array(files.get(name)!));
      loaderStats.sessionsCreated += 1;
      return s;
    } catch (error) {
      throw modelBroken(`${row.r2_prefix}${name} is not a model onnxruntime can load (${String(error).slice(0, 200)}).`);
    } finally {
      files.delete(name); // the graph now lives in the wasm heap: drop the JS copy
    }
  };
  // Sequential on purpose: the first call initialises the ORT backend once.
  const context = enc.context ? await session(enc.context) : null;
  const encoder = StaticEncoder.create(manifest, files, context);
  const adapter = await session("adapter.onnx");
  const adapt = await session("adapt.onnx");
  const head = await session("head.onnx");
  console.log(JSON.stringify({ event: "model_loaded", version: manifest.version, encoder: manifest.encoder.tag, algorithm: manifest.algorithm }));
  return new LoadedModel(manifest, encoder, adapter, adapt, head);
}
