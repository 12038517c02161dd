// Which ModelVersion this isolate serves. The caller reads the active version's row for the request's
// account (one cheap D1 read, batched with the request's other reads: functions/predictions.ts); when it
// is the one already loaded, the loaded model is reused (sessions are created once per isolate per
// version). A new active version is loaded from R2 (every file's sha256 checked) and swapped in without
// a restart. If it cannot be loaded, the isolate keeps serving the version it had and retries after
// retryMs; with nothing loaded, callers get MODEL_UNAVAILABLE. A slow load (R2 slow to answer) holds no
// request up for long: after switchWaitMs requests go on with the version already loaded, and a load
// that has not finished within loadTimeoutMs counts as failed. A replaced version's ORT sessions are
// released once the last request using it (useActiveModel) has finished.
//
// Scopes: the global version and each account's own version (an encoder re-tuned on its texts) are
// current side by side, one per scope; at most MAX_ACCOUNT_MODELS account scopes stay loaded, least
// recently used out first. Versions share what their manifests say is identical (same sha256): the
// tokenizer and every ONNX graph are loaded once and reference-counted, so an account's version costs
// this isolate its own token table (~7 MB), not a second model.
import { AppError, modelBroken } from "../errors";
import { readFiles, readManifest } from "./artifact";
import { createSession, releasedCount, type Session } from "./ort";
import { LoadedModel } from "./runtime";
import { StaticEncoder } from "./staticEncoder";
import { EdgeTokenizer } from "./tokens";
import { TransformerEncoder } from "./transformerEncoder";

/** How long the loader waits and retries (tests shorten them). */
export const loaderTimings = { retryMs: 30_000, switchWaitMs: 2_000, loadTimeoutMs: 60_000 };
/** Account scopes kept loaded beside the global one (each ~7 MB of table: docs/architecture.md). */
export const MAX_ACCOUNT_MODELS = 3;

const GLOBAL = "";
const current = new Map<string, LoadedModel>(); // scope (account id, "" = global) -> model; order = LRU
const loading = new Map<string, Promise<LoadedModel>>();
const failures = new Map<string, { at: number; error: AppError }>();
const users = new Map<LoadedModel, number>(); // requests inside useActiveModel, per model
const shared = new Map<string, { value: Promise<unknown>; refs: number; release: (v: unknown) => Promise<number> }>(); // sha256 -> part

const scopeOf = (row: ActiveRow) => row.account_id ?? GLOBAL;
const isCurrent = (model: LoadedModel) => [...current.values()].includes(model);

/** Counters a test reads to prove sessions are created once per version and released when replaced. */
export const loaderStats = { loads: 0, sessionsCreated: 0, sessionsReleased: 0, partsShared: 0 };

/** Forgets everything loaded (tests only: a fresh isolate without restarting workerd). */
export function resetModelCacheForTests(): void {
  current.clear();
  loading.clear();
  failures.clear();
  users.clear();
  shared.clear();
}

/** The versions this isolate has current, per scope (tests and the edge bench read it). */
export const currentVersions = (): Record<string, string> => Object.fromEntries([...current].map(([scope, m]) => [scope, m.version]));

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
      if (!isCurrent(model)) retire(model);
    }
  }
}

function makeCurrent(scope: string, model: LoadedModel): void {
  const previous = current.get(scope);
  current.delete(scope);
  current.set(scope, model);
  if (previous && previous !== model && !users.has(previous)) retire(previous);
  const accounts = [...current.keys()].filter((s) => s !== GLOBAL);
  for (const evicted of accounts.slice(0, Math.max(0, accounts.length - MAX_ACCOUNT_MODELS))) {
    const old = current.get(evicted)!;
    current.delete(evicted);
    if (!users.has(old)) retire(old);
  }
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
  account_id?: string | null; // the account whose own version it is; null or absent: global
}

/**
 * The model to use for this request: null when no version is active; the active one when it loads;
 * the previously loaded one (with a warning) when the active one is broken; else MODEL_UNAVAILABLE.
 */
export async function getActiveModel(bucket: R2Bucket, row: ActiveRow | null): Promise<LoadedModel | null> {
  if (!row) return null;
  const scope = scopeOf(row);
  const serving = current.get(scope);
  if (serving?.version === row.version) {
    if (scope !== GLOBAL) current.delete(scope), current.set(scope, serving); // most recently used
    return serving;
  }
  const failed = failures.get(row.version);
  if (failed && Date.now() - failed.at < loaderTimings.retryMs) return fallback(scope, row.version, failed.error);
  let pending = loading.get(row.version);
  if (!pending) pending = startLoad(bucket, row);
  // With a version loaded, a slow load does not hold requests: they go on with the loaded one.
  const outcome = serving ? await within(pending, loaderTimings.switchWaitMs).catch(() => null) : null;
  if (outcome === "timeout") {
    console.warn(JSON.stringify({ event: "model_load_pending", version: row.version, serving: serving!.version }));
    return serving!;
  }
  try {
    return await pending;
  } catch (error) {
    return fallback(scope, row.version, error as AppError);
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
      if (loading.get(row.version) === pending) makeCurrent(scopeOf(row), model);
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

function fallback(scope: string, version: string, error: AppError): LoadedModel {
  const serving = current.get(scope);
  console.warn(JSON.stringify({ event: "model_load_failed", version, serving: serving?.version ?? null, reason: error.detail ?? error.message }));
  if (serving) return serving;
  throw error;
}

/**
 * One part (tokenizer or ONNX session) per sha256 in this isolate: a version whose manifest lists the
 * same bytes as a loaded one's gets the loaded part, and the part is released when its last user is.
 * The handle's release() gives up one reference; it resolves to the sessions freed (0 or 1).
 */
function acquire<T>(sha256: string, make: () => Promise<T>, release: (v: T) => Promise<number>): { value: Promise<T>; release: () => Promise<number> } {
  let entry = shared.get(sha256);
  if (entry) {
    entry.refs += 1;
    loaderStats.partsShared += 1;
  } else {
    const value = make();
    entry = { value, refs: 1, release: release as (v: unknown) => Promise<number> };
    shared.set(sha256, entry);
    value.catch(() => shared.get(sha256) === entry && shared.delete(sha256)); // a failed part is not kept
  }
  const held = entry;
  let given = false;
  return {
    value: held.value as Promise<T>,
    release: async () => {
      if (given) return 0;
      given = true;
      held.refs -= 1;
      if (held.refs > 0) return 0;
      if (shared.get(sha256) === held) shared.delete(sha256);
      return held.release(await held.value);
    },
  };
}

/** A shared session as the runtime sees one: run() as ORT's, release() drops this version's reference. */
function sharedSession(session: Session, release: () => Promise<number>): Session {
  return { run: session.run.bind(session), release } as unknown as Session;
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
  const refineFile = manifest.adaptation.refine?.file;
  const transformer = manifest.encoder.kind === "transformer";
  const encoderGraph = transformer ? enc.graph! : enc.context;
  const graphs = [...(encoderGraph ? [encoderGraph] : []), "adapter.onnx", "adapt.onnx", ...(refineFile ? [refineFile] : []), "head.onnx"];
  const sha = (name: string) => {
    const entry = manifest.files.find((f) => f.name === name);
    if (!entry) throw modelBroken(`The manifest of ${manifest.version} does not list ${name}.`);
    return entry.sha256;
  };
  // Parts another loaded version already holds (same sha256) are not read from R2 again.
  const own = transformer
    ? [enc.word_table!, enc.word_scales!, enc.positions!, enc.layer_norm!]
    : [enc.table ?? "static_table.i8", enc.scales ?? "static_scales.f32", ...(enc.rows ? [enc.rows] : [])];
  const names = [...own, ...["tokenizer.json", ...graphs].filter((name) => !shared.has(sha(name)))];
  const files = await readFiles(bucket, row.r2_prefix, manifest, names);
  const handles: { release: () => Promise<number> }[] = [];
  const part = <T>(name: string, make: (bytes: ArrayBuffer) => Promise<T>, release: (v: T) => Promise<number>): Promise<T> => {
    const handle = acquire(sha(name), () => make(files.get(name)!), release);
    handles.push(handle);
    return handle.value.finally(() => files.delete(name)); // the part lives on its own now: drop the JS copy
  };
  const graph = async (name: string): Promise<Session> => {
    const session = await part(name, async (bytes) => {
      try {
        const s = await createSession(new Uint8Array(bytes));
        loaderStats.sessionsCreated += 1;
        return s;
      } catch (error) {
        throw modelBroken(`${row.r2_prefix}${name} is not a model onnxruntime can load (${String(error).slice(0, 200)}).`);
      }
    }, async (s) => releasedCount(await s.release()));
    return sharedSession(session, handles.at(-1)!.release);
  };
  try {
    const tokenizer = await part("tokenizer.json", async (bytes) => EdgeTokenizer.parseTokenizer(manifest, bytes), async () => 0);
    // Sequential on purpose: the first call initialises the ORT backend once.
    const first = encoderGraph ? await graph(encoderGraph) : null;
    const encoder = transformer
      ? TransformerEncoder.create(manifest, files, first!, tokenizer)
      : StaticEncoder.create(manifest, files, first, tokenizer);
    const adapter = await graph("adapter.onnx");
    const adapt = await graph("adapt.onnx");
    const refine = refineFile ? await graph(refineFile) : null;
    const head = await graph("head.onnx");
    const model = new LoadedModel(manifest, encoder, adapter, adapt, head, refine);
    console.log(JSON.stringify({ event: "model_loaded", version: manifest.version, encoder: manifest.encoder.tag, algorithm: manifest.algorithm, scope: row.account_id ?? "global" }));
    return model;
  } catch (error) {
    await Promise.all(handles.map((h) => h.release().catch(() => 0))); // a half-built version holds nothing
    throw error;
  }
}
