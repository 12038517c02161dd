// The scheduled export (workers/index.ts `scheduled`): feedback not yet exported goes to R2 as JSONL
// (`feedback/<ISO timestamp>-<uuid>.jsonl`, one object per line, format in docs/architecture.md) for the next
// meta-training run, then is marked exported in one batch. The object is written first: a crash between
// the two steps re-exports rows next time (at-least-once; trainers dedupe by feedbackId), never loses them.
import { chunked, placeholders } from "./d1";

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

interface ExportRow {
  id: string; task_id: string; execution_id: string; kind: string; labels_json: string; input: string;
  output: string | null; predicted_label: string | null; rating: number | null; corrected_label: string | null;
  corrected_output: string | null; model_version: string | null; created_at: string;
}

export const EXPORT_BATCH = 1000; // rows per run; the next run picks up the rest

export async function exportFeedback(
  db: D1Database,
  bucket: R2Bucket,
  now: Date = new Date(),
): Promise<{ key: string | null; count: number }> {
  const { results } = await db
    .prepare(
      `SELECT f.id, f.task_id, f.execution_id, t.kind, t.labels_json, e.input, e.output, e.predicted_label, f.rating,
              f.corrected_label, f.corrected_output, e.model_version, f.created_at
         FROM feedback f JOIN executions e ON e.id = f.execution_id JOIN tasks t ON t.id = f.task_id
        WHERE f.exported_at IS NULL ORDER BY f.created_at, f.id LIMIT ?`,
    )
    .bind(EXPORT_BATCH)
    .all<ExportRow>();
  if (results.length === 0) return { key: null, count: 0 };
  const lines = results.map((r) => {
    const record: FeedbackExportRecord = {
      feedbackId: r.id, taskId: r.task_id, executionId: r.execution_id, taskKind: r.kind,
      taskLabels: JSON.parse(r.labels_json) as string[], text: r.input, output: r.output,
      predictedLabel: r.predicted_label, rating: r.rating, correctedLabel: r.corrected_label,
      correctedOutput: r.corrected_output, modelVersion: r.model_version, createdAt: r.created_at,
    };
    return JSON.stringify(record);
  });
  const stamp = now.toISOString();
  // The scheduled time alone is not unique (a retried or manual run has the same one): a random part
  // makes every run write its own object, so no earlier export is ever overwritten.
  const key = `feedback/${stamp}-${crypto.randomUUID()}.jsonl`;
  await bucket.put(key, lines.join("\n") + "\n", { httpMetadata: { contentType: "application/x-ndjson" } });
  const ids = results.map((r) => r.id);
  await db.batch(
    chunked(ids).map((chunk) => db.prepare(`UPDATE feedback SET exported_at = ? WHERE id IN (${placeholders(chunk.length)})`).bind(stamp, ...chunk)),
  );
  return { key, count: ids.length };
}
