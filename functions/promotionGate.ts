// The promotion gate: a newly registered ModelVersion is a candidate, and it serves tenants only if it is
// not worse than the active version on the same held-out work:
// - the benchmark rows both manifests carry (metrics.cross_dataset.accuracy_pct, docs/model-artifact.md):
//   the cells both have, compared on their mean;
// - every account's own tasks, by leave-out: per classification task, the latest example of each label
//   that has two or more (corrections from feedback are examples too, and the latest ones) is held out,
//   both models adapt on the rest and predict it. Accuracy per account, compared on the mean over accounts
//   and account by account, where the candidate may not lose more than MARGIN_POINTS.
// An account's own version (an encoder re-tuned on its texts) is compared with what serves that account
// now (its own active version, else the global one) on that account's tasks alone, and needs them: with
// no held-out example of the account it is rejected, whatever the benchmark cells say.
// Promoted: activated in the same D1 batch that records the decision. Rejected: recorded, the active
// version keeps serving. Either way the figures and the reason are stored on the version (gate_json) and
// shown on ModelVersion in GraphQL; an admin can still activate by hand (activated_by says so).
// Runs on registration through GraphQL and from the cron for versions published another way.
import type { Deps } from "./deps";
import { AppError } from "./errors";
import { waysOf } from "./model/adaptation";
import { useActiveModel, withDetachedModel, type ActiveRow } from "./model/loader";
import type { LoadedModel } from "./model/runtime";
import { labelledExamplesOfTasks } from "./examples";
import { activationStatements, activeVersionRow, gateRecordStatement, ungatedVersions, versionRow } from "./modelVersions";
import { classificationTasks } from "./tasks";
import { nowIso } from "./rows";
import type { GateAccountFigures as AccountFigures, GateReport } from "./types";

export const MARGIN_POINTS = 2; // how much worse than the active version one account may be
const MAX_TASKS_PER_ACCOUNT = 20;
const MAX_EXAMPLES_PER_TASK = 1000;
const MAX_ACCOUNTS = 200;

interface HeldOutTask {
  accountId: string;
  support: { input: string; label: string }[];
  heldOut: { input: string; label: string }[];
}

/** The leave-out work: every account's classification tasks (or one account's), split as described above (bounded). */
async function leaveOutWork(db: D1Database, onlyAccount: string | null): Promise<HeldOutTask[]> {
  const tasks = await classificationTasks(db, MAX_ACCOUNTS * MAX_TASKS_PER_ACCOUNT * 4, onlyAccount);
  const byTask = new Map(tasks.map((t) => [t.id, { accountId: t.accountId, rows: [] as { input: string; label: string }[] }]));
  for (const r of await labelledExamplesOfTasks(db, tasks.map((t) => t.id))) {
    const entry = byTask.get(r.task_id)!;
    if (entry.rows.length < MAX_EXAMPLES_PER_TASK) entry.rows.push({ input: r.input, label: r.label });
  }
  const perAccount = new Map<string, number>();
  const work: HeldOutTask[] = [];
  for (const { accountId, rows } of byTask.values()) {
    if ((perAccount.get(accountId) ?? 0) >= MAX_TASKS_PER_ACCOUNT) continue;
    if (!perAccount.has(accountId) && perAccount.size >= MAX_ACCOUNTS) continue;
    const last = new Map<string, number>(); // label -> index of its latest example
    const count = new Map<string, number>();
    rows.forEach((r, i) => (last.set(r.label, i), count.set(r.label, (count.get(r.label) ?? 0) + 1)));
    const held = new Set([...last].filter(([label]) => count.get(label)! >= 2).map(([, i]) => i));
    const support = rows.filter((_, i) => !held.has(i));
    if (held.size === 0 || new Set(support.map((r) => r.label)).size < 2) continue;
    work.push({ accountId, support, heldOut: rows.filter((_, i) => held.has(i)) });
    perAccount.set(accountId, (perAccount.get(accountId) ?? 0) + 1);
  }
  return work;
}

/** Correct / total per account: `model` adapted on each task's support, predicting its held-out examples. */
async function score(model: LoadedModel, work: HeldOutTask[]): Promise<Map<string, { correct: number; total: number; tasks: number }>> {
  const out = new Map<string, { correct: number; total: number; tasks: number }>();
  for (const task of work) {
    const { labels, ways } = waysOf({ labels: task.support.map((s) => s.label) } as Parameters<typeof waysOf>[0]);
    const features = await model.featurise(task.support.map((s) => s.input));
    const { head } = await model.adapt(features, ways, labels.length);
    // Ranked as executions rank them (scoreInput): the head plus the version's lexical evidence.
    const heldOutRows = task.heldOut.map((h) => model.encoder.keptRows(h.input));
    const logits = model.withLexical(await model.logits(await model.featuriseRows(heldOutRows), task.heldOut.length, head),
      heldOutRows, model.lexicon(task.support.map((s) => s.input), ways, labels.length));
    const figures = out.get(task.accountId) ?? { correct: 0, total: 0, tasks: 0 };
    task.heldOut.forEach((h, i) => {
      let best = 0;
      for (let k = 1; k < labels.length; k++) if (logits[i * labels.length + k]! > logits[i * labels.length + best]!) best = k;
      if (labels[best] === h.label) figures.correct += 1;
    });
    figures.total += task.heldOut.length;
    figures.tasks += 1;
    out.set(task.accountId, figures);
  }
  return out;
}

type Cells = Record<string, Record<string, number>>;
const benchmarkCells = (model: LoadedModel): Cells | null => {
  const cells = (model.manifest.metrics as { cross_dataset?: { accuracy_pct?: Cells } }).cross_dataset?.accuracy_pct;
  return cells && typeof cells === "object" ? cells : null;
};
const round2 = (x: number) => Math.round(x * 100) / 100;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** The decision on measured figures (pure: tested on its own). */
export function decide(
  benchmark: GateReport["benchmark"],
  accounts: AccountFigures[],
  marginPoints = MARGIN_POINTS,
): { decision: GateReport["decision"]; reason: string; worstDelta: number | null } {
  const deltas = accounts.map((a) => a.candidate - a.active);
  const worstDelta = deltas.length ? Math.min(...deltas) : null;
  if (!benchmark && accounts.length === 0) {
    return { decision: "rejected", reason: "no held-out evidence: no benchmark cells both manifests share and no account with held-out examples", worstDelta };
  }
  if (benchmark && benchmark.candidateMean < benchmark.activeMean) {
    return { decision: "rejected", reason: `worse on the benchmark mean (${benchmark.candidateMean} vs ${benchmark.activeMean} over ${benchmark.cells} cells)`, worstDelta };
  }
  if (accounts.length) {
    const c = round2(mean(accounts.map((a) => a.candidate)));
    const a = round2(mean(accounts.map((x) => x.active)));
    if (c < a) return { decision: "rejected", reason: `worse on the mean over ${accounts.length} accounts' held-out examples (${c}% vs ${a}%)`, worstDelta };
    const worst = accounts[deltas.indexOf(worstDelta!)]!;
    if (worstDelta! < -marginPoints) {
      return { decision: "rejected", reason: `account ${worst.accountId} loses ${round2(-worstDelta!)} points (${worst.candidate}% vs ${worst.active}%), more than the ${marginPoints}-point margin`, worstDelta };
    }
  }
  const on = [benchmark ? "the benchmark mean" : null, accounts.length ? `${accounts.length} accounts' held-out examples (none worse by more than ${marginPoints} points)` : null];
  return { decision: "promoted", reason: `not worse on ${on.filter(Boolean).join(" and ")}`, worstDelta };
}

/** Evaluates `version` against the active one, stores the decision, activates it when promoted. */
export async function runPromotionGate(deps: Deps, version: string): Promise<GateReport> {
  const row = await versionRow(deps.db, version);
  if (!row) throw new Error(`ModelVersion ${version} is not registered`);
  const scope = row.account_id ?? null;
  const activeRow = await activeVersionRow(deps.db, scope);
  const work = await leaveOutWork(deps.db, scope);
  const evaluatedAt = nowIso();
  let report: GateReport;
  if (!activeRow || activeRow.version === version) {
    if (!activeRow) {
      // Nothing to compare with, but a version that does not even load never becomes the one serving.
      const failed = await withDetachedModel(deps.models, row, async () => null).catch(loadFailure);
      if (failed) return record(deps, row, rejectedUnloadable(version, null, failed, evaluatedAt));
    }
    report = {
      decision: "promoted", reason: activeRow ? "already the active version" : "no version was active: nothing to compare with",
      candidate: version, comparedWith: null, marginPoints: MARGIN_POINTS, benchmark: null,
      accounts: { count: 0, candidateMean: null, activeMean: null, worstDelta: null, figures: [] }, evaluatedAt,
    };
  } else {
    // The active model first (it stays loaded and serving), then the candidate beside it, released after.
    const active = await useActiveModel(deps.models, activeRow, async (model) => {
      if (!model) throw new Error("the active version could not be loaded");
      return { scores: await score(model, work), cells: benchmarkCells(model), version: model.version };
    });
    // A candidate that does not load (missing or damaged files) is rejected, said so, not retried forever.
    const candidate = await withDetachedModel(deps.models, row, async (model) => ({ scores: await score(model, work), cells: benchmarkCells(model) }))
      .catch(loadFailure);
    if (typeof candidate === "string") return record(deps, row, rejectedUnloadable(version, active.version, candidate, evaluatedAt));
    const shared: [number, number][] = [];
    for (const [set, shots] of Object.entries(candidate.cells ?? {})) {
      for (const [k, v] of Object.entries(shots)) {
        const other = active.cells?.[set]?.[k];
        if (typeof v === "number" && typeof other === "number") shared.push([v, other]);
      }
    }
    const benchmark = shared.length
      ? { cells: shared.length, candidateMean: round2(mean(shared.map((s) => s[0]))), activeMean: round2(mean(shared.map((s) => s[1]))) }
      : null;
    const figures: AccountFigures[] = [...candidate.scores].map(([accountId, c]) => {
      const a = active.scores.get(accountId)!;
      return { accountId, tasks: c.tasks, heldOut: c.total, candidate: round2((100 * c.correct) / c.total), active: round2((100 * a.correct) / a.total) };
    });
    const { decision, reason, worstDelta } = scope !== null && figures.length === 0
      ? { decision: "rejected" as const, reason: `no held-out examples of account ${scope}: an account's own version needs its tasks as evidence`, worstDelta: null }
      : decide(benchmark, figures);
    report = {
      decision, reason, candidate: version, comparedWith: active.version, marginPoints: MARGIN_POINTS, benchmark,
      accounts: {
        count: figures.length, candidateMean: figures.length ? round2(mean(figures.map((f) => f.candidate))) : null,
        activeMean: figures.length ? round2(mean(figures.map((f) => f.active))) : null,
        worstDelta: worstDelta === null ? null : round2(worstDelta), figures,
      },
      evaluatedAt,
    };
  }
  return record(deps, row, report);
}

/** A typed load failure (MODEL_UNAVAILABLE: missing or damaged files) as its message; anything else rethrown. */
function loadFailure(error: unknown): string {
  if (error instanceof AppError) return error.detail ?? error.message;
  throw error;
}

function rejectedUnloadable(candidate: string, comparedWith: string | null, why: string, evaluatedAt: string): GateReport {
  // The stored reason is read by tenants (an account's own versions): the detail names R2 keys and
  // ONNX Runtime's text, so it goes to the operator's logs only.
  console.error(JSON.stringify({ event: "promotion_gate_unloadable", version: candidate, detail: why }));
  return {
    decision: "rejected", reason: "the candidate could not be loaded: its files are missing or damaged (the operator's logs say which)",
    candidate, comparedWith, marginPoints: MARGIN_POINTS,
    benchmark: null, accounts: { count: 0, candidateMean: null, activeMean: null, worstDelta: null, figures: [] }, evaluatedAt,
  };
}

/** Stores the decision on the version; a promotion activates it in the same batch. */
async function record(deps: Deps, row: ActiveRow & { active: number }, report: GateReport): Promise<GateReport> {
  const version = row.version;
  const stored = gateRecordStatement(deps.db, version, report);
  if (report.decision === "promoted" && row.active !== 1) {
    await deps.db.batch([...activationStatements(deps.db, version, row.account_id ?? null, "gate", report.evaluatedAt), stored]);
  } else {
    await stored.run();
  }
  console.log(JSON.stringify({ event: "promotion_gate", version, decision: report.decision, reason: report.reason, comparedWith: report.comparedWith }));
  return report;
}

/** The cron's part: every registered version no gate has decided on and not active, oldest first. */
export async function gatePendingVersions(deps: Deps): Promise<GateReport[]> {
  const reports: GateReport[] = [];
  for (const version of await ungatedVersions(deps.db)) reports.push(await runPromotionGate(deps, version));
  return reports;
}
