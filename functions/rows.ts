// D1 row shapes and the one mapper per row type (snake_case columns → camelCase domain objects).
import type {
  Adaptation, Agent, Conversation, DemonstrationRef, Example, Execution, ExecutionPath, Feedback,
  LabelScore, Message, ModelVersion, Task, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint,
} from "./types";

export interface AgentRow {
  id: string; account_id: string; name: string; instructions: string;
  llm_model: string | null; llm_base_url: string | null; created_at: string; updated_at: string; version: number;
}
export interface TaskRow {
  id: string; account_id: string; agent_id: string; name: string; description: string; kind: string;
  labels_json: string; parameters_json: string; confidence_threshold: number; source_request: string | null;
  examples_version: number; version: number; created_at: string; updated_at: string;
}
export interface ExampleRow {
  id: string; account_id: string; task_id: string; input: string; label: string | null; output: string | null;
  source: string; embedding_model_version: string | null; created_at: string;
}
export interface ExecutionRow {
  id: string; account_id: string; task_id: string; conversation_id: string | null; input: string;
  output: string | null; status: string; error_code: string | null; path: string; path_reason: string;
  predicted_label: string | null; confidence: number | null; scores_json: string; demonstrations_json: string;
  adaptation_id: string | null; model_version: string | null; llm_model: string | null;
  prompt_tokens: number | null; completion_tokens: number | null; latency_ms: number; created_at: string;
}
export interface ConversationRow { id: string; account_id: string; task_id: string; created_at: string; updated_at: string }
export interface MessageRow {
  id: string; conversation_id: string; role: string; content: string; execution_id: string | null; created_at: string;
}
export interface FeedbackRow {
  id: string; account_id: string; task_id: string; execution_id: string; rating: number | null;
  corrected_label: string | null; corrected_output: string | null; comment: string; example_id: string | null;
  exported_at: string | null; created_at: string;
}
export interface ModelVersionRow {
  version: string; r2_prefix: string; manifest_sha256: string; algorithm: string; encoder: string;
  metrics_json: string; created_at: string; active: number; activated_at: string | null;
  gate_decision: string | null; gate_json: string | null; gated_at: string | null; activated_by: string | null;
  account_id: string | null;
}
export interface AdaptationRow {
  id: string; account_id: string; task_id: string; model_version: string; algorithm: string; steps: number;
  support_size: number; labels_json: string; support_loss_before: number | null; support_loss_after: number | null;
  support_acc_before: number | null; support_acc_after: number | null; duration_ms: number;
  support_fingerprint: string; created_at: string;
}

const json = <T>(text: string, fallback: T): T => {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
};

export const toAgent = (r: AgentRow): Agent => ({
  id: r.id, accountId: r.account_id, name: r.name, instructions: r.instructions,
  llmModel: r.llm_model, llmBaseUrl: r.llm_base_url, createdAt: r.created_at, updatedAt: r.updated_at,
});

export const toTask = (r: TaskRow): Task => ({
  id: r.id, accountId: r.account_id, agentId: r.agent_id, name: r.name, description: r.description,
  kind: r.kind === "generation" ? "generation" : "classification",
  labels: json<string[]>(r.labels_json, []), parameters: json<Record<string, unknown>>(r.parameters_json, {}),
  confidenceThreshold: r.confidence_threshold, sourceRequest: r.source_request,
  createdAt: r.created_at, updatedAt: r.updated_at,
});

export const toExample = (r: ExampleRow): Example => ({
  id: r.id, accountId: r.account_id, taskId: r.task_id, input: r.input, label: r.label, output: r.output,
  source: r.source === "feedback" ? "feedback" : "user", embeddingModelVersion: r.embedding_model_version,
  createdAt: r.created_at,
});

export const toExecution = (r: ExecutionRow): Execution => ({
  id: r.id, accountId: r.account_id, taskId: r.task_id, conversationId: r.conversation_id, input: r.input,
  output: r.output, status: r.status === "succeeded" ? "succeeded" : "failed", errorCode: r.error_code,
  path: r.path as ExecutionPath, pathReason: r.path_reason, predictedLabel: r.predicted_label,
  confidence: r.confidence, scores: json<LabelScore[]>(r.scores_json, []),
  demonstrations: json<DemonstrationRef[]>(r.demonstrations_json, []), adaptationId: r.adaptation_id,
  modelVersion: r.model_version, llmModel: r.llm_model, promptTokens: r.prompt_tokens,
  completionTokens: r.completion_tokens, latencyMs: r.latency_ms, createdAt: r.created_at,
});

export const toConversation = (r: ConversationRow): Conversation => ({
  id: r.id, accountId: r.account_id, taskId: r.task_id, createdAt: r.created_at, updatedAt: r.updated_at,
});

export const toMessage = (r: MessageRow): Message => ({
  id: r.id, conversationId: r.conversation_id, role: r.role === "assistant" ? "assistant" : "user",
  content: r.content, executionId: r.execution_id, createdAt: r.created_at,
});

export const toFeedback = (r: FeedbackRow): Feedback => ({
  id: r.id, accountId: r.account_id, taskId: r.task_id, executionId: r.execution_id,
  rating: r.rating === -1 || r.rating === 0 || r.rating === 1 ? r.rating : null,
  correctedLabel: r.corrected_label, correctedOutput: r.corrected_output, comment: r.comment,
  exampleId: r.example_id, exportedAt: r.exported_at, createdAt: r.created_at,
});

export const toModelVersion = (r: ModelVersionRow): ModelVersion => ({
  version: r.version, r2Prefix: r.r2_prefix, manifestSha256: r.manifest_sha256, algorithm: r.algorithm,
  encoder: r.encoder, metrics: json<Record<string, unknown>>(r.metrics_json, {}), active: r.active === 1,
  activatedAt: r.activated_at, createdAt: r.created_at,
  activatedBy: r.activated_by as ModelVersion["activatedBy"], accountId: r.account_id,
  gate: r.gate_json ? json<ModelVersion["gate"]>(r.gate_json, null) : null,
});

export const toAdaptation = (r: AdaptationRow): Adaptation => ({
  id: r.id, accountId: r.account_id, taskId: r.task_id, modelVersion: r.model_version, algorithm: r.algorithm,
  steps: r.steps, supportSize: r.support_size, labels: json<string[]>(r.labels_json, []),
  supportLossBefore: r.support_loss_before, supportLossAfter: r.support_loss_after,
  supportAccBefore: r.support_acc_before, supportAccAfter: r.support_acc_after, durationMs: r.duration_ms,
  supportFingerprint: r.support_fingerprint, createdAt: r.created_at,
});

/** The ISO-8601 UTC format the migrations' defaults use, for timestamps set from code. */
export const nowIso = (offsetMs = 0): string => new Date(Date.now() + offsetMs).toISOString();

export interface WebhookEndpointRow {
  id: string; account_id: string; task_id: string; callback_url: string; secret_sealed: string;
  previous_secret_sealed: string | null; secret_rotated_at: string | null; enabled: number; created_at: string; updated_at: string;
  previous_secret_expires_at: string | null;
}
export const toWebhookEndpoint = (r: WebhookEndpointRow): WebhookEndpoint => ({
  id: r.id, accountId: r.account_id, taskId: r.task_id, callbackUrl: r.callback_url, enabled: r.enabled === 1,
  secretRotatedAt: r.secret_rotated_at, createdAt: r.created_at, updatedAt: r.updated_at,
});

export interface WebhookDeliveryRow {
  id: string; account_id: string; endpoint_id: string; idempotency_key: string | null; request_sha256: string;
  input: string; conversation_id: string | null; metadata_json: string; status: string; execution_id: string;
  outcome: string | null;
  attempts: number; last_error: string | null; callback_status: number | null; created_at: string; updated_at: string;
  executed_at: string | null; delivered_at: string | null; signed_sha256: string | null;
}
export const toWebhookDelivery = (r: WebhookDeliveryRow): WebhookDelivery => ({
  id: r.id, accountId: r.account_id, endpointId: r.endpoint_id, idempotencyKey: r.idempotency_key, input: r.input,
  conversationId: r.conversation_id, metadata: JSON.parse(r.metadata_json) as Record<string, unknown>,
  status: r.status as WebhookDeliveryStatus, executionId: r.execution_id, attempts: r.attempts, lastError: r.last_error,
  callbackStatus: r.callback_status, createdAt: r.created_at, updatedAt: r.updated_at, executedAt: r.executed_at,
  deliveredAt: r.delivered_at,
});
