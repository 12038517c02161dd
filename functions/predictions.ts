// Predictions: the domain side of the meta-learned model. It reads what the model needs through the
// tables' owners (the task's examples and their stored features, stored Adaptations, the active
// ModelVersion), runs the pure runtime in functions/model, and stores what it computed (features of
// new examples, new Adaptations).
//
// Per-isolate caches skip the reads of a warm task: the support set is keyed by the model version and
// the task's examples_version (bumped in the same D1 batch as every insert or delete of its examples,
// corrections from feedback included), and the adapted head by the support's fingerprint. Both keys are
// read from D1 on every request, so a write made through any isolate is seen by the next request in
// every isolate; a cache never decides freshness on its own. Each cache holds one entry per task (a
// change replaces the task's entry), at most MAX_CACHED_TASKS tasks, least recently used out first.
// When the examples change, the rows are read again but the features of the ids the cached set already
// holds (same model version; examples are never edited) are taken from it, so a write to a large support
// set costs a read of its new rows' features, not of all of them. Loads and adaptations of one task are
// single-flight: concurrent requests wait for the one in progress.
import { adaptationForFingerprint, insertAdaptation } from "./adaptations";
import type { Deps } from "./deps";
import { modelUnavailable, validationFailed } from "./errors";
import { exampleInputs, storeFeaturesStatements, supportExamples, supportExamplesExcept } from "./examples";
import { newId } from "./ids";
import { fitHead } from "./model/adaptation";
import { scoreInput, type NoPrediction, type Prediction } from "./model/index";
import { getActiveModel as loadedModelFor, useActiveModel as useLoadedModel, type ActiveRow } from "./model/loader";
import { packHead, unpackHead, type Head, type LoadedModel } from "./model/runtime";
import { assembleSupport, type Support } from "./model/support";
import { activeVersionRow, activeVersionStatement } from "./modelVersions";
import type { TaskRow } from "./rows";
import { taskOfRow, taskStatement } from "./tasks";
import type { Adaptation } from "./types";

const MAX_CACHED_TASKS = 256;
const D1_BATCH = 500; // statements per batch when storing features

interface CachedSupport {
  key: string; // model version | examples_version
  support: Support;
}

export interface AdaptedTask {
  adaptation: Adaptation;
  head: Head;
  labels: string[];
}

const supports = new Map<string, CachedSupport>(); // key: account/task; insertion order = LRU order
const adaptations = new Map<string, AdaptedTask>(); // key: account/task
const inFlight = new Map<string, Promise<AdaptedTask | null>>(); // key: account/task/fingerprint
const supportFlights = new Map<string, Promise<Support>>(); // key: account/task|model version|examples_version
let supportLoads = 0;

/** How many adaptations this isolate holds (a test checks it follows tasks, not support changes). */
export const adaptationCacheSize = () => adaptations.size;
/** How many support sets this isolate has read from D1 (a test checks concurrent requests share one). */
export const supportLoadCount = () => supportLoads;

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > MAX_CACHED_TASKS) cache.delete(cache.keys().next().value!);
}

/** The model this isolate serves now (null: no version active); see functions/model/loader.ts. */
export async function getActiveModel(deps: Deps): Promise<LoadedModel | null> {
  return loadedModelFor(deps.models, await activeVersionRow(deps.db, deps.accountId));
}

/** Runs `use` with the active model (`active`: its row, when the caller has read it already). */
export async function useActiveModel<T>(deps: Deps, active: ActiveRow | null | undefined, use: (model: LoadedModel | null) => Promise<T>): Promise<T> {
  return useLoadedModel(deps.models, active === undefined ? await activeVersionRow(deps.db, deps.accountId) : active, use);
}

async function storeFeatures(deps: Deps, model: LoadedModel, ids: string[], features: Float32Array): Promise<void> {
  const statements = storeFeaturesStatements(deps, model.version, ids, features, model.features);
  for (let i = 0; i < statements.length; i += D1_BATCH) await deps.db.batch(statements.slice(i, i + D1_BATCH));
}

/**
 * The task's support set with features from `model` (`examplesVersion`: the task's, when the caller has
 * read it already). Examples without features of this version are featurised and stored now.
 */
export async function loadSupport(deps: Deps, model: LoadedModel, taskId: string, examplesVersion?: number): Promise<Support> {
  const version = examplesVersion ?? taskOfRow((await taskStatement(deps, taskId).first<TaskRow>()) ?? undefined, taskId).examplesVersion;
  const cacheKey = `${deps.accountId}/${taskId}`;
  const key = `${model.version}|${version}`;
  const hit = supports.get(cacheKey);
  if (hit?.key === key) {
    remember(supports, cacheKey, hit);
    return hit.support;
  }
  // One load per task and key at a time: requests that arrive while it runs wait for it. Without this,
  // every request after a version switch featurised and stored the whole support set again, and on a
  // large one they queued behind each other's writes until D1 answered busy.
  const flightKey = `${cacheKey}|${key}`;
  let pending = supportFlights.get(flightKey);
  if (!pending) {
    pending = assembleAndStore(deps, model, taskId, hit?.support).finally(() => supportFlights.delete(flightKey));
    supportFlights.set(flightKey, pending);
    supportLoads++;
    const support = await pending;
    // A set that left examples out (over the encoding budget) is kept as the next request's start, under
    // a key no request matches, so the next one reads and featurises the rest.
    remember(supports, cacheKey, { key: support.pending > 0 ? `${key}|partial` : key, support });
    return support;
  }
  return pending;
}

async function assembleAndStore(deps: Deps, model: LoadedModel, taskId: string, previous: Support | undefined): Promise<Support> {
  // With an earlier support set of this model version at hand, only the features it lacks are read.
  const rows = previous?.modelVersion === model.version
    ? await supportExamplesExcept(deps, taskId, new Set(previous.ids))
    : await supportExamples(deps, taskId);
  const { support, fresh } = await assembleSupport(model, rows, previous);
  if (fresh.ids.length > 0) await storeFeatures(deps, model, fresh.ids, fresh.features);
  return support;
}

/** The task's current Adaptation (adapting now if none fits the support); null with fewer than 2 labels. */
export async function adaptedTask(deps: Deps, model: LoadedModel, taskId: string, support: Support): Promise<AdaptedTask | null> {
  const cacheKey = `${deps.accountId}/${taskId}`;
  const cached = adaptations.get(cacheKey);
  if (cached?.adaptation.supportFingerprint === support.fingerprint) {
    remember(adaptations, cacheKey, cached);
    return cached;
  }
  const flightKey = `${cacheKey}/${support.fingerprint}`;
  let pending = inFlight.get(flightKey);
  if (!pending) {
    pending = findOrAdapt(deps, model, taskId, support).finally(() => inFlight.delete(flightKey));
    inFlight.set(flightKey, pending);
  }
  const result = await pending;
  adaptations.delete(cacheKey); // the task's older adaptation, if any, is replaced, never kept beside it
  if (result) remember(adaptations, cacheKey, result);
  return result;
}

async function findOrAdapt(deps: Deps, model: LoadedModel, taskId: string, support: Support): Promise<AdaptedTask | null> {
  const stored = await adaptationForFingerprint(deps, taskId, support.fingerprint);
  if (stored?.head) {
    const labels = stored.adaptation.labels;
    const head = unpackHead(stored.head, labels.length, model.features);
    if (head) return { adaptation: stored.adaptation, head, labels };
  }
  const fit = await fitHead(model, support);
  if (!fit) return null;
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  const adaptation: Adaptation = {
    id: newId(), accountId: deps.accountId, taskId, modelVersion: model.version, algorithm: model.algorithm, steps: model.steps,
    supportSize: fit.supportSize, labels: fit.labels, supportLossBefore: finite(fit.result.lossBefore),
    supportLossAfter: finite(fit.result.lossAfter), supportAccBefore: finite(fit.result.accBefore),
    supportAccAfter: finite(fit.result.accAfter), durationMs: fit.durationMs, supportFingerprint: support.fingerprint,
    createdAt: new Date().toISOString(),
  };
  await insertAdaptation(deps, adaptation, packHead(fit.head));
  console.log(JSON.stringify({ event: "task_adapted", taskId, modelVersion: model.version, ways: fit.labels.length, support: fit.supportSize, durationMs: fit.durationMs }));
  return { adaptation, head: fit.head, labels: fit.labels };
}

/** What a caller already read in its own batch: the active version's row and the task's examples_version. */
export interface PrefetchedForPrediction {
  active: ActiveRow | null;
  examplesVersion: number;
}

/**
 * The adapted model's prediction, or why there is none (callers fall back to the in-context LLM
 * baseline), and the support set it searched (its inputs serve as demonstrations without a read).
 * Throws MODEL_UNAVAILABLE when the active version cannot be loaded and this isolate has no earlier
 * version to keep serving.
 */
export async function predictWithSupport(
  deps: Deps,
  taskId: string,
  input: string,
  prefetched?: PrefetchedForPrediction,
): Promise<{ outcome: Prediction | NoPrediction; support: Support | null }> {
  let known = prefetched;
  if (!known) {
    const [active, task] = await deps.db.batch([activeVersionStatement(deps.db, deps.accountId), taskStatement(deps, taskId)]);
    known = {
      active: (active?.results[0] as ActiveRow | undefined) ?? null,
      examplesVersion: taskOfRow(task?.results[0] as TaskRow | undefined, taskId).examplesVersion,
    };
  }
  const { active, examplesVersion } = known;
  return useLoadedModel(deps.models, active, async (model) => {
    if (!model) return { outcome: { none: "no_active_model" } as const, support: null };
    const support = await loadSupport(deps, model, taskId, examplesVersion);
    const adapted = await adaptedTask(deps, model, taskId, support);
    const head = adapted ? { adaptationId: adapted.adaptation.id, head: adapted.head, labels: adapted.labels } : null;
    return { outcome: await scoreInput(model, support, head, input), support };
  });
}

/** predictWithSupport's prediction alone. */
export async function predictForTask(deps: Deps, taskId: string, input: string, prefetched?: PrefetchedForPrediction): Promise<Prediction | NoPrediction> {
  return (await predictWithSupport(deps, taskId, input, prefetched)).outcome;
}

/** The task's current Adaptation: reused while its examples and the model version are unchanged, else redone. */
export async function adaptTask(deps: Deps, taskId: string): Promise<Adaptation> {
  const [active, task] = await deps.db.batch([activeVersionStatement(deps.db, deps.accountId), taskStatement(deps, taskId)]);
  const { examplesVersion } = taskOfRow(task?.results[0] as TaskRow | undefined, taskId);
  const adapted = await useLoadedModel(deps.models, (active?.results[0] as ActiveRow | undefined) ?? null, async (model) => {
    if (!model) throw modelUnavailable("No ModelVersion is active: publish and activate one before adapting tasks.");
    return adaptedTask(deps, model, taskId, await loadSupport(deps, model, taskId, examplesVersion));
  });
  if (!adapted) {
    throw validationFailed([{ path: "taskId", message: "adaptation needs labelled examples of at least 2 labels" }]);
  }
  return adapted.adaptation;
}

/** Called after examples are stored, so features are computed once, not per execution. */
export async function embedNewExamples(deps: Deps, exampleIds: string[]): Promise<void> {
  if (exampleIds.length === 0) return;
  try {
    await useActiveModel(deps, undefined, async (model) => {
      if (!model) return; // without an active model there is nothing to compute: embedded lazily later
      // Within one request's encoding budget; the rest are featurised by the requests that use the task.
      const rows = (await exampleInputs(deps, exampleIds)).slice(0, model.encodeBudget);
      await storeFeatures(deps, model, rows.map((r) => r.id), await model.featurise(rows.map((r) => r.input)));
    });
  } catch (error) {
    // Adding examples must not fail because the model is down: they are embedded lazily on first use.
    console.warn(JSON.stringify({ event: "embed_failed", count: exampleIds.length, error: error instanceof Error ? error.message : String(error) }));
  }
}
