/**
 * `Client` (a tenant's API key) and `AdminClient` (the admin token): one method per operation
 * of the contract, each taking one object with the API's field names and resolving to the
 * API's answer.
 */

import type * as api from "./api.js";
import { OPERATIONS, type OperationName } from "./api.js";
import { type CallOptions, type ConnectionOptions, Transport } from "./transport.js";

export interface ClientOptions extends ConnectionOptions {
  /** A tenant API key (`km_…`). */
  apiKey: string;
}

export interface AdminClientOptions extends ConnectionOptions {
  /** The deployment's admin token (`KONSTRUCT_MEMORY_ADMIN_TOKEN`). */
  adminToken: string;
}

/** The operations a tenant key calls, and those of the admin token. */
export type TenantOperationName = {
  [N in OperationName]: (typeof OPERATIONS)[N]["access"] extends "admin" ? never : N;
}[OperationName];
export type AdminOperationName = Exclude<OperationName, TenantOperationName>;

/** A tenant's memory over HTTP, as its API key may use it. A key bound to an agent or a user
 * may leave `agent_id` or `user_id` out: the binding fills it in. */
export class Client {
  readonly #transport: Transport;

  constructor(options: ClientOptions) {
    this.#transport = new Transport(options, options.apiKey);
  }

  /** The newest write position this client was answered with (the consistency token): sent
   * with every later call, so its reads see its writes whichever process serves them. Give
   * it to another client as its `position` option for that client's reads to see them too. */
  get position(): string | undefined {
    return this.#transport.position;
  }

  /** Store turns, all or none (201); each comes back as stored, in input order. A batch
   * whose turns all carry an `id` is idempotent, hence retried on 429 and 503. */
  remember(params: api.RememberParams, options?: CallOptions): Promise<api.Remembered> {
    return this.#transport.call("remember", params, options);
  }

  /** The `k` turns of an (agent, user) most relevant to `query`, best first. */
  recall(params: api.RecallParams, options?: CallOptions): Promise<api.Recalled> {
    return this.#transport.call("recall", params, options);
  }

  /** Recall over every user of the agent; each hit carries its `user_id`. */
  recallAcrossUsers(
    params: api.RecallAcrossUsersParams,
    options?: CallOptions,
  ): Promise<api.Recalled> {
    return this.#transport.call("recallAcrossUsers", params, options);
  }

  /** The newest `limit` turns of an (agent, user), oldest first. */
  history(params: api.HistoryParams = {}, options?: CallOptions): Promise<api.History> {
    return this.#transport.call("history", params, options);
  }

  /** Recent turns, older relevant ones and a prompt-ready `text` block. */
  context(params: api.ContextParams, options?: CallOptions): Promise<api.Context> {
    return this.#transport.call("context", params, options);
  }

  /** One stored turn by id. */
  getTurn(params: api.GetTurnParams, options?: CallOptions): Promise<api.StoredTurn> {
    return this.#transport.call("getTurn", params, options);
  }

  /** The (agent, user, conversation) scopes holding turns, with counts. */
  listScopes(params: api.ListScopesParams = {}, options?: CallOptions): Promise<api.Scopes> {
    return this.#transport.call("listScopes", params, options);
  }

  /** Erase an agent's, a user's, an agent's user's or chosen turns (the `erase` scope). */
  erase(params: api.EraseParams, options?: CallOptions): Promise<api.Erasure> {
    return this.#transport.call("erase", params, options);
  }

  /** The tenant's erasure ledger, oldest first (an unbound key with the `erase` scope). */
  listErasures(
    params: api.ListErasuresParams = {},
    options?: CallOptions,
  ): Promise<api.Erasures> {
    return this.#transport.call("listErasures", params, options);
  }

  /** The read audit trail, oldest first (the `audit` scope). */
  listAudit(params: api.ListAuditParams = {}, options?: CallOptions): Promise<api.AuditTrail> {
    return this.#transport.call("listAudit", params, options);
  }

  /** The key's tenant, id, scopes and binding. */
  whoami(params: api.WhoamiParams = {}, options?: CallOptions): Promise<api.Identity> {
    return this.#transport.call("whoami", params, options);
  }
}

/** Tenant and key administration, and any tenant's erasures and audit trail, with the admin
 * token. It acts on no tenant's turns otherwise. */
export class AdminClient {
  readonly #transport: Transport;

  constructor(options: AdminClientOptions) {
    this.#transport = new Transport(options, options.adminToken);
  }

  /** A new tenant and its first key (read and write, unbound), shown once as `api_key`. */
  createTenant(
    params: api.CreateTenantParams,
    options?: CallOptions,
  ): Promise<api.TenantCreated> {
    return this.#transport.call("createTenant", params, options);
  }

  /** Every tenant, in order of creation. */
  listTenants(params: api.ListTenantsParams = {}, options?: CallOptions): Promise<api.Tenants> {
    return this.#transport.call("listTenants", params, options);
  }

  /** Change a tenant's retention, read audit or rate limit: only the fields given change, and
   * `null` lifts a limit. */
  updateTenant(params: api.UpdateTenantParams, options?: CallOptions): Promise<api.Tenant> {
    return this.#transport.call("updateTenant", params, options);
  }

  /** A new key of a tenant, with scopes and an optional binding; the secret is `api_key`. */
  createApiKey(
    params: api.CreateApiKeyParams,
    options?: CallOptions,
  ): Promise<api.ApiKeyCreated> {
    return this.#transport.call("createApiKey", params, options);
  }

  /** A tenant's keys, revoked ones included, never their secrets. */
  listApiKeys(params: api.ListApiKeysParams, options?: CallOptions): Promise<api.ApiKeys> {
    return this.#transport.call("listApiKeys", params, options);
  }

  /** Revoke a key; revoking it again is fine. */
  revokeApiKey(params: api.RevokeApiKeyParams, options?: CallOptions): Promise<void> {
    return this.#transport.call("revokeApiKey", params, options);
  }

  /** Erase a tenant's agent, user, agent's user or chosen turns. */
  eraseForTenant(params: api.EraseForTenantParams, options?: CallOptions): Promise<api.Erasure> {
    return this.#transport.call("eraseForTenant", params, options);
  }

  /** A tenant's erasure ledger, oldest first. */
  listErasuresForTenant(
    params: api.ListErasuresForTenantParams,
    options?: CallOptions,
  ): Promise<api.Erasures> {
    return this.#transport.call("listErasuresForTenant", params, options);
  }

  /** A tenant's read audit trail, oldest first. */
  listAuditForTenant(
    params: api.ListAuditForTenantParams,
    options?: CallOptions,
  ): Promise<api.AuditTrail> {
    return this.#transport.call("listAuditForTenant", params, options);
  }
}

// The compiler refuses a contract operation without its method on the class it belongs to.
type Missing<Methods, Names extends string> = Exclude<Names, keyof Methods>;
const everyTenantOperation: [Missing<Client, TenantOperationName>] extends [never] ? true : never =
  true;
const everyAdminOperation: [Missing<AdminClient, AdminOperationName>] extends [never]
  ? true
  : never = true;
void everyTenantOperation;
void everyAdminOperation;
