/**
 * Konstruct Memory's TypeScript client: long-term conversational memory for agents over the
 * service's HTTP API. No runtime dependencies: the platform's `fetch` (Node.js ≥ 20, browsers).
 */

export { AdminClient, Client } from "./client.js";
export type {
  AdminClientOptions,
  AdminOperationName,
  ClientOptions,
  TenantOperationName,
} from "./client.js";
export * from "./errors.js";
export type { CallOptions, ConnectionOptions, Fetch } from "./transport.js";
export { newestPosition, POSITION_HEADER } from "./transport.js";
export { OPERATIONS } from "./api.js";
export type * from "./api.js";
