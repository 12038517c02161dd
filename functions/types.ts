// Domain shapes returned by functions/ (camelCase mirrors of the D1 columns; JSON columns parsed).
// GraphQL (schema/) and REST (workers/) expose these; rows are mapped to them only in rows.ts.

export type TaskKind = "classification" | "generation";
export type ExampleSource = "user" | "feedback";
export type ExecutionStatus = "succeeded" | "failed";
/** 'llm_baseline': no model, in-context demonstrations; 'model': confident prediction alone; 'model+llm'. */
export type ExecutionPath = "llm_baseline" | "model" | "model+llm";
export type MessageRole = "user" | "assistant";

export interface Agent {
  id: string;
  accountId: string;
  name: string;
  instructions: string;
  llmModel: string | null; // null: the Worker's LLM_MODEL
  llmBaseUrl: string | null; // null: the Worker's LLM_BASE_URL
  createdAt: string;
  updatedAt: string;
}

export interface Task {
  id: string;
  accountId: string;
  agentId: string;
  name: string;
  description: string;
  kind: TaskKind;
  labels: string[];
  parameters: Record<string, unknown>;
  confidenceThreshold: number;
  sourceRequest: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Example {
  id: string;
  accountId: string;
  taskId: string;
  input: string;
  label: string | null;
  output: string | null;
  source: ExampleSource;
  embeddingModelVersion: string | null; // the embedding itself stays in D1 (functions/model reads it)
  createdAt: string;
}

export interface LabelScore {
  label: string;
  score: number;
}

export interface DemonstrationRef {
  exampleId: string;
  similarity: number;
}

export interface Execution {
  id: string;
  accountId: string;
  taskId: string;
  conversationId: string | null;
  input: string;
  output: string | null;
  status: ExecutionStatus;
  errorCode: string | null;
  path: ExecutionPath;
  pathReason: string;
  predictedLabel: string | null;
  confidence: number | null;
  scores: LabelScore[];
  demonstrations: DemonstrationRef[];
  adaptationId: string | null;
  modelVersion: string | null;
  llmModel: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  latencyMs: number;
  createdAt: string;
}

export interface Conversation {
  id: string;
  accountId: string;
  taskId: string;
  createdAt: string;
  updatedAt: string;
}

export interface Message {
  id: string;
  conversationId: string;
  role: MessageRole;
  content: string;
  executionId: string | null;
  createdAt: string;
}

export interface Feedback {
  id: string;
  accountId: string;
  taskId: string;
  executionId: string;
  rating: -1 | 0 | 1 | null;
  correctedLabel: string | null;
  correctedOutput: string | null;
  comment: string;
  exampleId: string | null; // the Example the correction became, if any
  exportedAt: string | null;
  createdAt: string;
}

export interface ModelVersion {
  version: string;
  r2Prefix: string;
  manifestSha256: string;
  algorithm: string;
  encoder: string;
  metrics: Record<string, unknown>;
  active: boolean;
  activatedAt: string | null;
  createdAt: string;
  activatedBy: "gate" | "admin" | null; // null: activated when published (before any gate ran)
  gate: GateReport | null; // the promotion gate's figures and decision (functions/promotionGate.ts)
  accountId: string | null; // null: global; else the one account this version serves (its own encoder)
}

export interface Adaptation {
  id: string;
  accountId: string;
  taskId: string;
  modelVersion: string;
  algorithm: string;
  steps: number;
  supportSize: number;
  labels: string[];
  supportLossBefore: number | null;
  supportLossAfter: number | null;
  supportAccBefore: number | null;
  supportAccAfter: number | null;
  durationMs: number;
  supportFingerprint: string;
  createdAt: string;
}

/** A cursor connection page. endCursor is opaque: pass it back as `after`. */
export interface Page<T> {
  nodes: T[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/** first ≤ 100 (default 20); after = a previous page's endCursor. */
export interface PageArgs {
  first?: number;
  after?: string;
}

export interface WebhookEndpoint {
  id: string;
  accountId: string;
  taskId: string;
  callbackUrl: string;
  enabled: boolean;
  secretRotatedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type WebhookDeliveryStatus = "queued" | "executing" | "succeeded" | "failed" | "delivered" | "dead";

export interface WebhookDelivery {
  id: string;
  accountId: string;
  endpointId: string;
  idempotencyKey: string | null;
  input: string;
  conversationId: string | null;
  metadata: Record<string, unknown>;
  status: WebhookDeliveryStatus;
  executionId: string; // chosen on arrival; the Execution exists once the delivery has executed
  attempts: number;
  lastError: string | null;
  callbackStatus: number | null;
  createdAt: string;
  updatedAt: string;
  executedAt: string | null;
  deliveredAt: string | null;
}

/** One account's leave-out figures in a promotion gate run: accuracy (%) of each model on its held-out examples. */
export interface GateAccountFigures {
  accountId: string;
  tasks: number;
  heldOut: number;
  candidate: number;
  active: number;
}

/** What the promotion gate measured and decided for a candidate ModelVersion (functions/promotionGate.ts). */
export interface GateReport {
  decision: "promoted" | "rejected";
  reason: string;
  candidate: string;
  comparedWith: string | null; // the active version at the time; null when none was active
  marginPoints: number;
  benchmark: { cells: number; candidateMean: number; activeMean: number } | null;
  accounts: { count: number; candidateMean: number | null; activeMean: number | null; worstDelta: number | null; figures: GateAccountFigures[] };
  evaluatedAt: string;
}
