// Every object type's ref and connection, declared before any is implemented, so type modules can
// point at each other (task.agent, agent.tasks) without import cycles. Each module implements its own.
import type {
  Adaptation, Agent, Conversation, Example, Execution, Feedback, Message, ModelVersion, Task, WebhookDelivery,
  WebhookEndpoint,
} from "../functions/types";
import { builder } from "./builder";
import { connectionFor } from "./page";

export const AgentRef = builder.objectRef<Agent>("Agent");
export const TaskRef = builder.objectRef<Task>("Task");
export const ExampleRef = builder.objectRef<Example>("Example");
export const AdaptationRef = builder.objectRef<Adaptation>("Adaptation");
export const ExecutionRef = builder.objectRef<Execution>("Execution");
export const ConversationRef = builder.objectRef<Conversation>("Conversation");
export const MessageRef = builder.objectRef<Message>("Message");
export const FeedbackRef = builder.objectRef<Feedback>("Feedback");
export const ModelVersionRef = builder.objectRef<ModelVersion>("ModelVersion");

export const WebhookEndpointRef = builder.objectRef<WebhookEndpoint>("WebhookEndpoint");
export const WebhookDeliveryRef = builder.objectRef<WebhookDelivery>("WebhookDelivery");

export const AgentConnection = connectionFor(AgentRef, "Agent");
export const TaskConnection = connectionFor(TaskRef, "Task");
export const ExampleConnection = connectionFor(ExampleRef, "Example");
export const AdaptationConnection = connectionFor(AdaptationRef, "Adaptation");
export const ExecutionConnection = connectionFor(ExecutionRef, "Execution");
export const ConversationConnection = connectionFor(ConversationRef, "Conversation");
export const MessageConnection = connectionFor(MessageRef, "Message");
export const FeedbackConnection = connectionFor(FeedbackRef, "Feedback");
export const ModelVersionConnection = connectionFor(ModelVersionRef, "ModelVersion");
export const WebhookEndpointConnection = connectionFor(WebhookEndpointRef, "WebhookEndpoint");
export const WebhookDeliveryConnection = connectionFor(WebhookDeliveryRef, "WebhookDelivery");
