// Every error class: those a real `serve` gives for a client's mistakes, and each class of
// the tree by its code from a scripted service (the overload and outage answers).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import {
  AdminClient,
  Client,
  Conflict,
  ERROR_CLASSES,
  Forbidden,
  InvalidInput,
  KonstructMemoryError,
  NotFound,
  PayloadTooLarge,
  RateLimited,
  Unauthorized,
  Unavailable,
} from "../dist/index.js";
import { apiError, fakeService } from "./support/fake.js";
import { freePort } from "./support/serve.js";
import { keyClient, newTenant, useService } from "./support/service.js";

const service = useService();

/** Asserts `promise` rejects with exactly `cls`, carrying status and code; returns the error. */
async function refused(promise, cls, status, code) {
  let caught;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof cls, `${caught?.name}: ${caught?.message} is not a ${cls.name}`);
  assert.ok(caught instanceof KonstructMemoryError);
  assert.equal(caught.constructor, cls);
  assert.equal(caught.name, cls.name);
  assert.equal(caught.status, status);
  assert.equal(caught.code, code);
  assert.ok(caught.message.length > 0);
  return caught;
}

describe("errors of a real service", () => {
  test("Unauthorized: an unknown key, and each credential on the other's routes", async () => {
    const stranger = new Client({ baseURL: service.baseURL, apiKey: "km_not-a-key" });
    await refused(stranger.whoami(), Unauthorized, 401, "unauthorized");
    const adminAsKey = new Client({ baseURL: service.baseURL, apiKey: service.adminToken });
    await refused(adminAsKey.whoami(), Unauthorized, 401, "unauthorized");
    const { created } = await newTenant(service);
    const keyAsAdmin = new AdminClient({ baseURL: service.baseURL, adminToken: created.api_key });
    await refused(keyAsAdmin.listTenants(), Unauthorized, 401, "unauthorized");
  });

  test("Forbidden: a missing scope", async () => {
    const { tenantId, agent } = await newTenant(service);
    const { client: reader } = await keyClient(service, tenantId, { scopes: ["read"] });
    const turn = { agent_id: agent, user_id: "U1", role: "user", content: "hello" };
    await refused(reader.remember({ turns: [turn] }), Forbidden, 403, "forbidden");
  });

  test("NotFound, Conflict and InvalidInput naming the field", async () => {
    const { client, agent, tenantId } = await newTenant(service);
    await refused(
      client.getTurn({ turn_id: randomUUID(), agent_id: agent, user_id: "U1" }),
      NotFound,
      404,
      "not_found",
    );
    await refused(service.admin.listApiKeys({ tenant_id: randomUUID() }), NotFound, 404, "not_found");
    assert.ok(tenantId);

    const id = randomUUID();
    const turn = { id, agent_id: agent, user_id: "U1", role: "user", content: "first" };
    await client.remember({ turns: [turn] });
    await client.remember({ turns: [turn] }); // the same id and fields: stored once, no error
    await refused(
      client.remember({ turns: [{ ...turn, content: "second" }] }),
      Conflict,
      409,
      "conflict",
    );

    const blank = { agent_id: agent, user_id: "U1", role: "user", content: "   " };
    const invalid = await refused(
      client.remember({ turns: [turn, blank] }),
      InvalidInput,
      422,
      "invalid_input",
    );
    assert.equal(invalid.field, "turns[1].content");
    assert.match(invalid.problem, /empty or only whitespace/);
    const unbound = await refused(
      client.recall({ user_id: "U1", query: "anything" }),
      InvalidInput,
      422,
      "invalid_input",
    );
    assert.equal(unbound.field, "agent_id");
  });

  test("PayloadTooLarge: a body over the service's limit (1 MiB in these tests)", async () => {
    const { client, agent } = await newTenant(service);
    const content = "x".repeat(30_000);
    const turns = Array.from({ length: 40 }, () => ({
      agent_id: agent,
      user_id: "U1",
      role: "user",
      content,
    }));
    await refused(client.remember({ turns }), PayloadTooLarge, 413, "too_large");
  });

  test("RateLimited with retryAfter over the tenant's rate; retries then get through", async () => {
    const { tenantId } = await newTenant(service);
    await service.admin.updateTenant({ tenant_id: tenantId, rate_limit_per_s: 1 });
    const { client: impatient } = await keyClient(service, tenantId, {}, { maxRetries: 0 });
    const outcomes = await Promise.allSettled([1, 2, 3].map(() => impatient.whoami()));
    const limited = outcomes.filter((outcome) => outcome.status === "rejected");
    assert.ok(limited.length >= 1, "at most one request a second gets through");
    for (const { reason } of limited) {
      assert.ok(reason instanceof RateLimited, String(reason));
      assert.equal(reason.status, 429);
      assert.equal(reason.code, "rate_limited");
      assert.ok(reason.retryAfter > 0);
    }
    // Room for the bucket the impatient calls just emptied: one request a second gets through.
    const { client: patient } = await keyClient(service, tenantId, {}, { maxRetries: 4 });
    const answers = await Promise.all([patient.whoami(), patient.whoami()]);
    assert.equal(answers.length, 2, "each waited as Retry-After said, then got through");
  });
});

describe("every class by its code", () => {
  for (const cls of ERROR_CLASSES) {
    test(`${cls.name} (${cls.status} ${cls.code})`, async () => {
      // No Retry-After: nothing is retried, so the first answer is the error.
      const fake = await fakeService([apiError(cls.status, cls.code, "turns[0].role: a reason")]);
      try {
        const client = new Client({ baseURL: fake.baseURL, apiKey: "km_test" });
        const error = await refused(client.whoami(), cls, cls.status, cls.code);
        assert.equal(error.message, "turns[0].role: a reason");
        assert.equal(fake.requests.length, 1);
      } finally {
        await fake.close();
      }
    });
  }

  test("an unknown code is the base class, keeping the code", async () => {
    const fake = await fakeService([apiError(405, "method_not_allowed", "not here")]);
    try {
      const client = new Client({ baseURL: fake.baseURL, apiKey: "km_test" });
      const error = await refused(client.whoami(), KonstructMemoryError, 405, "method_not_allowed");
      assert.equal(error.message, "method_not_allowed: not here");
    } finally {
      await fake.close();
    }
  });

  test("an answer that is not the API's (a proxy's page) is the base class with its status", async () => {
    const fake = await fakeService([{ status: 502, body: "<html>Bad gateway</html>" }]);
    try {
      const client = new Client({ baseURL: fake.baseURL, apiKey: "km_test" });
      await refused(client.whoami(), KonstructMemoryError, 502, "http_error");
    } finally {
      await fake.close();
    }
  });

  test("a service that cannot be reached, or does not answer in time, is Unavailable", async () => {
    const closed = new Client({ baseURL: `http://127.0.0.1:${await freePort()}`, apiKey: "km_x" });
    const unreachable = await refused(closed.whoami(), Unavailable, 503, "unavailable");
    assert.match(unreachable.message, /^memory service unreachable/);
    const fake = await fakeService(["silence"]);
    try {
      const slow = new Client({ baseURL: fake.baseURL, apiKey: "km_test", timeoutMs: 200 });
      const timedOut = await refused(slow.whoami(), Unavailable, 503, "unavailable");
      assert.match(timedOut.message, /no answer within 200 ms/);
    } finally {
      await fake.close();
    }
  });
});
