// The service a test file talks to: the one `test/run.js` started (named by the
// environment), or one of the file's own, stopped after its tests.

import { randomUUID } from "node:crypto";
import { after, before } from "node:test";
import { AdminClient, Client } from "../../dist/index.js";
import { startServe } from "./serve.js";

/** `{ baseURL, adminToken, admin }`, filled in before the file's first test. */
export function useService() {
  const service = {};
  let stop;
  before(async () => {
    if (process.env.KONSTRUCT_MEMORY_TEST_URL) {
      service.baseURL = process.env.KONSTRUCT_MEMORY_TEST_URL;
      service.adminToken = process.env.KONSTRUCT_MEMORY_TEST_ADMIN_TOKEN;
    } else {
      const started = await startServe();
      Object.assign(service, { baseURL: started.baseURL, adminToken: started.adminToken });
      stop = started.stop;
    }
    service.admin = new AdminClient({ baseURL: service.baseURL, adminToken: service.adminToken });
  });
  after(async () => stop?.());
  return service;
}

/** A new tenant: its id, its first key's client, and a fresh agent id. */
export async function newTenant(service) {
  const created = await service.admin.createTenant({ name: `ts-${randomUUID().slice(0, 8)}` });
  return {
    tenantId: created.id,
    created,
    client: new Client({ baseURL: service.baseURL, apiKey: created.api_key }),
    agent: randomUUID(),
  };
}

/** A client with a new key of the tenant (scopes, binding: the API's fields). */
export async function keyClient(service, tenantId, spec = {}, options = {}) {
  const key = await service.admin.createApiKey({ tenant_id: tenantId, ...spec });
  return { key, client: new Client({ baseURL: service.baseURL, apiKey: key.api_key, ...options }) };
}
