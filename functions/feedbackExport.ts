// The scheduled export (workers/index.ts `scheduled`): feedback not yet exported goes to R2 as JSONL
// (`feedback/<ISO timestamp>-<uuid>.jsonl`, one object per line, format in docs/architecture.md) for the next
// meta-training run, then is marked exported in one batch. The object is written first: a crash between
// the two steps re-exports rows next time (at-least-once; trainers dedupe by feedbackId), never loses them.
// It reads through the owners of the three tables it joins (feedback, executions, tasks).
import { executionsForExport } from "./executions";
import { markFeedbackExported, unexportedFeedback } from "./feedback";
import { tasksForExport } from "./tasks";

/** One line of the export. */
export interface FeedbackExportRecord {
  feedbackId: string;
  taskId: string;
  executionId: string;
  taskKind: string;
  taskLabels: string[];
  text: string; // the execution's input
  output: string | null; // what the service answered
  predictedLabel: string | null;
  rating: number | null;
  correctedLabel: string | null;
  correctedOutput: string | null;
  modelVersion: string | null; // null: answered by the LLM baseline
  createdAt: string;
}

export const EXPORT_BATCH = 1000; // rows per run; the next run picks up the rest

export async function exportFeedback(
  db: D1Database,
  bucket: R2Bucket,
  now: Date = new Date(),
): Promise<{ key: string | null; count: number }> {
  const results = await unexportedFeedback(db, EXPORT_BATCH);
  if (results.length === 0) return { key: null, count: 0 };
  const executions = await executionsForExport(db, [...new Set(results.map((r) => r.execution_id))]);
  const tasks = await tasksForExport(db, [...new Set(results.map((r) => r.task_id))]);
  // A row's execution and task exist (foreign keys, ON DELETE CASCADE): the three reads agree unless a
  // task is deleted between them, and then its feedback is gone too and is skipped.
  const exported = results.filter((r) => executions.has(r.execution_id) && tasks.has(r.task_id));
  const lines = exported.map((r) => {
    const e = executions.get(r.execution_id)!;
    const t = tasks.get(r.task_id)!;
    const record: FeedbackExportRecord = {
      feedbackId: r.id, taskId: r.task_id, executionId: r.execution_id, taskKind: t.kind, taskLabels: t.labels,
      text: e.input, output: e.output, predictedLabel: e.predicted_label, rating: r.rating,
      correctedLabel: r.corrected_label, correctedOutput: r.corrected_output, modelVersion: e.model_version,
      createdAt: r.created_at,
    };
    return JSON.stringify(record);
  });
  const stamp = now.toISOString();
  const ids = results.map((r) => r.id);
  if (lines.length === 0) {
    await markFeedbackExported(db, ids, stamp); // every row's task went meanwhile: nothing to export
    return { key: null, count: 0 };
  }
  // The scheduled time alone is not unique (a retried or manual run has the same one): a random part
  // makes every run write its own object, so no earlier export is ever overwritten.
  const key = `feedback/${stamp}-${crypto.randomUUID()}.jsonl`;
  await bucket.put(key, lines.join("\n") + "\n", { httpMetadata: { contentType: "application/x-ndjson" } });
  await markFeedbackExported(db, ids, stamp);
  return { key, count: lines.length };
}
