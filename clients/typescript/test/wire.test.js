// What goes on the wire (routes, query strings, bodies, the credential) and the retries on
// 429 and 503 with Retry-After, against a scripted local service.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import {
  AdminClient,
  Client,
  InvalidInput,
  KonstructMemoryError,
  newestPosition,
  Overloaded,
  RateLimited,
  Unavailable,
} from "../dist/index.js";
import { apiError, fakeService } from "./support/fake.js";

const OK = { status: 200, body: {} };
const busy = (seconds = "0") => apiError(503, "overloaded", "busy", { "Retry-After": seconds });
const limited = (seconds = "0") =>
  apiError(429, "rate_limited", "over the rate", { "Retry-After": seconds });

/** Runs `call(client, admin)` against a service answering `answers`; returns its requests
 * and the call's outcome. */
async function against(answers, call, options = {}) {
  const fake = await fakeService(answers);
  try {
    const client = new Client({ baseURL: `${fake.baseURL}/`, apiKey: "km_key", ...options });
    const admin = new AdminClient({ baseURL: fake.baseURL, adminToken: "admin", ...options });
    const outcome = await call(client, admin).then(
      (value) => ({ value }),
      (error) => ({ error }),
    );
    return { ...outcome, requests: fake.requests };
  } finally {
    await fake.close();
  }
}

describe("the consistency token", () => {
  test("the newest position a write answered with is sent on every later call", async () => {
    const wrote = (position) => ({
      status: 201,
      headers: { "Konstruct-Memory-Position": position },
      body: { turns: [] },
    });
    const { requests, value } = await against(
      [OK, wrote("1/A0"), OK, wrote("0/FF"), OK],
      async (client) => {
        await client.history({});
        await client.remember({ turns: [] });
        await client.recall({ query: "q" });
        await client.remember({ turns: [] }); // an older position: never backwards
        await client.history({});
        return client.position;
      },
    );
    const sent = requests.map((request) => request.headers["konstruct-memory-position"]);
    assert.deepEqual(sent, [undefined, undefined, "1/A0", "1/A0", "1/A0"]);
    assert.equal(value, "1/A0");
  });

  test("a position handed over starts the client; positions compare as numbers", async () => {
    const { requests } = await against([OK], (client) => client.history({}), {
      position: "2/10",
    });
    assert.equal(requests[0].headers["konstruct-memory-position"], "2/10");
    assert.equal(newestPosition("9/FFFFFFFF", "A/0"), "A/0");
    assert.equal(newestPosition("A/0", "9/FFFFFFFF"), "A/0");
    assert.equal(newestPosition("0/F", "0/10"), "0/10");
    assert.equal(newestPosition("0/10", "garbage"), "0/10");
    assert.equal(newestPosition(undefined, " 0/1 "), "0/1");
  });
});

describe("requests", () => {
  test("GET: fields in the query string, lists repeated, nothing for left-out fields", async () => {
    const agent = randomUUID();
    const { requests } = await against([{ status: 200, body: { turns: [] } }], (client) =>
      client.history({ agent_id: agent, user_id: "U 1", roles: ["user", "assistant"], until: null }),
    );
    assert.equal(requests[0].method, "GET");
    assert.equal(
      requests[0].url,
      `/v1/history?agent_id=${agent}&user_id=U+1&roles=user&roles=assistant`,
    );
    assert.equal(requests[0].headers.authorization, "Bearer km_key");
    assert.equal(requests[0].body, "");
  });

  test("path fields go in the path, escaped, and not in the query or body", async () => {
    const { requests } = await against([OK, { status: 204 }], async (client, admin) => {
      await client.getTurn({ turn_id: "a/b", user_id: "U1" });
      return admin.revokeApiKey({ key_id: "k1" });
    });
    assert.equal(requests[0].url, "/v1/turns/a%2Fb?user_id=U1");
    assert.equal(requests[1].method, "DELETE");
    assert.equal(requests[1].url, "/v1/api-keys/k1");
    assert.equal(requests[1].headers.authorization, "Bearer admin");
  });

  test("POST: a JSON body without nulls; PATCH: null kept, it means 'set to null'", async () => {
    const { requests } = await against([OK], async (client, admin) => {
      await client.recall({ agent_id: "a", user_id: "u", query: "q", min_score: null });
      return admin.updateTenant({ tenant_id: "t1", retention_days: null, audit_reads: true });
    });
    assert.equal(requests[0].method, "POST");
    assert.equal(requests[0].headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(requests[0].body), { agent_id: "a", user_id: "u", query: "q" });
    assert.equal(requests[1].method, "PATCH");
    assert.equal(requests[1].url, "/v1/tenants/t1");
    assert.deepEqual(JSON.parse(requests[1].body), { retention_days: null, audit_reads: true });
  });

  test("a missing path field is refused before anything is sent", async () => {
    const { error, requests } = await against([OK], (client) => client.getTurn({}));
    assert.ok(error instanceof InvalidInput);
    assert.equal(error.field, "turn_id");
    assert.equal(error.message, "turn_id: is required");
    assert.equal(requests.length, 0);
  });
});

describe("retries", () => {
  test("a read is retried on 503 and 429 with Retry-After, then answers", async () => {
    const { value, requests } = await against(
      [busy(), limited(), { status: 200, body: { hits: [] } }],
      (client) => client.recall({ agent_id: "a", user_id: "u", query: "q" }),
    );
    assert.deepEqual(value, { hits: [] });
    assert.equal(requests.length, 3);
    assert.deepEqual(
      requests.map((request) => request.body),
      Array(3).fill(requests[0].body),
      "the same request each time",
    );
  });

  test("at most maxRetries times (default 2), then the last error", async () => {
    const defaults = await against([limited()], (client) => client.history());
    assert.equal(defaults.requests.length, 3);
    assert.ok(defaults.error instanceof RateLimited);
    assert.equal(defaults.error.retryAfter, 0);
    const five = await against([busy()], (client) => client.whoami(), { maxRetries: 5 });
    assert.equal(five.requests.length, 6);
    assert.ok(five.error instanceof Overloaded);
    const none = await against([busy()], (client) => client.whoami(), { maxRetries: 0 });
    assert.equal(none.requests.length, 1);
  });

  test("the wait is Retry-After's, in seconds or as a date", async () => {
    let started = Date.now();
    await against([limited("1"), OK], (client) => client.whoami());
    assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
    started = Date.now();
    const soon = new Date(Date.now() + 1500).toUTCString(); // whole seconds: waits 0.5–1.5 s
    const { requests } = await against([limited(soon), OK], (client) => client.whoami());
    assert.equal(requests.length, 2);
    assert.ok(Date.now() - started >= 400);
  });

  test("no Retry-After, or another status, is not retried", async () => {
    const unsaid = await against([apiError(503, "unavailable", "down"), OK], (client) =>
      client.whoami(),
    );
    assert.equal(unsaid.requests.length, 1);
    assert.ok(unsaid.error instanceof Unavailable);
    assert.equal(unsaid.error.retryAfter, undefined);
    const failed = await against(
      [apiError(500, "internal_error", "boom", { "Retry-After": "0" }), OK],
      (client) => client.whoami(),
    );
    assert.equal(failed.requests.length, 1);
    assert.ok(failed.error instanceof KonstructMemoryError);
  });

  test("remember is retried only when every turn carries its own id", async () => {
    const turn = { agent_id: "a", user_id: "u", role: "user", content: "hi" };
    const stored = { status: 201, body: { turns: [] } };
    const withIds = await against([busy(), stored], (client) =>
      client.remember({ turns: [{ ...turn, id: randomUUID() }, { ...turn, id: randomUUID() }] }),
    );
    assert.equal(withIds.requests.length, 2);
    assert.deepEqual(withIds.value, { turns: [] });
    const oneWithout = await against([busy(), stored], (client) =>
      client.remember({ turns: [{ ...turn, id: randomUUID() }, turn] }),
    );
    assert.equal(oneWithout.requests.length, 1, "a turn without id could be stored twice");
    assert.ok(oneWithout.error instanceof Overloaded);
  });

  test("other writes are never retried", async () => {
    const calls = [
      (client) => client.erase({ agent_id: "a" }),
      (_, admin) => admin.createTenant({ name: "acme" }),
      (_, admin) => admin.createApiKey({ tenant_id: "t" }),
      (_, admin) => admin.updateTenant({ tenant_id: "t", audit_reads: true }),
      (_, admin) => admin.revokeApiKey({ key_id: "k" }),
      (_, admin) => admin.eraseForTenant({ tenant_id: "t", user_id: "u" }),
    ];
    for (const call of calls) {
      const { requests, error } = await against([limited(), OK], call);
      assert.equal(requests.length, 1, `${requests[0].method} ${requests[0].url}`);
      assert.ok(error instanceof RateLimited);
    }
  });

  test("an aborted call stops waiting", async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error("gave up")), 100);
    const { error } = await against([limited("30")], (client) =>
      client.whoami({}, { signal: controller.signal }),
    );
    assert.equal(error.message, "gave up");
    assert.ok(Date.now() - started < 5000);
  });
});
