// Every method of Client and AdminClient against a real `serve`, and a key bound to an agent
// and a user leaving them out.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { Forbidden, Unauthorized } from "../dist/index.js";
import { keyClient, newTenant, useService } from "./support/service.js";

const service = useService();

const CONVERSATION = [
  ["user", "We adopted a golden retriever called Biscuit last spring."],
  ["assistant", "Lovely! How is Biscuit settling in?"],
  ["user", "Great, though he chews every shoe in the house."],
];

function turns(agent, user, conversation = CONVERSATION) {
  return conversation.map(([role, content]) => ({ agent_id: agent, user_id: user, role, content }));
}

describe("Client: a tenant's key", () => {
  test("remember, recall, recall across users, history, context, get turn, scopes", async () => {
    const { client, agent } = await newTenant(service);
    const remembered = await client.remember({ turns: turns(agent, "U1") });
    assert.deepEqual(
      remembered.turns.map((turn) => [turn.role, turn.content]),
      CONVERSATION,
      "in input order",
    );
    const [first] = remembered.turns;
    assert.equal(first.agent_id, agent);
    assert.equal(first.user_id, "U1");
    assert.deepEqual(first.metadata, {});
    await client.remember({
      turns: [{ agent_id: agent, user_id: "U2", role: "user", content: "My cat is called Pixel." }],
    });

    const { hits } = await client.recall({
      agent_id: agent,
      user_id: "U1",
      query: "what is the name of my dog?",
      k: 2,
    });
    assert.equal(hits.length, 2);
    assert.equal(hits[0].content, CONVERSATION[0][1]);
    assert.ok(hits[0].score >= hits[1].score, "best first");
    assert.equal(typeof hits[0].parts.keyword, "number");
    const thresholded = await client.recall({
      agent_id: agent,
      user_id: "U1",
      query: "golden retriever Biscuit",
      min_score: 0.99,
    });
    assert.ok(thresholded.hits.every((hit) => hit.score >= 0.99));

    const across = await client.recallAcrossUsers({ agent_id: agent, query: "pets", k: 10 });
    assert.deepEqual(new Set(across.hits.map((hit) => hit.user_id)), new Set(["U1", "U2"]));

    const history = await client.history({ agent_id: agent, user_id: "U1", limit: 2 });
    assert.deepEqual(
      history.turns.map((turn) => turn.content),
      [CONVERSATION[1][1], CONVERSATION[2][1]],
      "the newest two, oldest first",
    );
    const users = await client.history({
      agent_id: agent,
      user_id: "U1",
      roles: ["user"],
    });
    assert.deepEqual(
      users.turns.map((turn) => turn.role),
      ["user", "user"],
    );

    const context = await client.context({
      agent_id: agent,
      user_id: "U1",
      query: "any tips for a puppy that chews shoes?",
      recent: 2,
      k: 3,
      max_tokens: 200,
    });
    assert.match(context.text, /Recent conversation:/);
    assert.equal(context.recent.length, 2);
    assert.ok(context.tokens > 0 && context.tokens <= 200);

    const turn = await client.getTurn({ turn_id: first.id, agent_id: agent, user_id: "U1" });
    assert.deepEqual(turn, first);

    const { scopes } = await client.listScopes({ agent_id: agent });
    assert.deepEqual(
      scopes.map((scope) => [scope.user_id, scope.turns]),
      [
        ["U1", 3],
        ["U2", 1],
      ],
    );
  });

  test("whoami, erase, the erasure ledger and the audit trail", async () => {
    const { tenantId, client, agent, created } = await newTenant(service);
    const identity = await client.whoami();
    assert.deepEqual(identity, {
      tenant_id: tenantId,
      key_id: created.api_key_id,
      scopes: ["read", "write"],
      agent_id: null,
      user_id: null,
    });
    const tenant = await service.admin.updateTenant({ tenant_id: tenantId, audit_reads: true });
    assert.equal(tenant.audit_reads, true);
    const { client: steward } = await keyClient(service, tenantId, {
      name: "steward",
      scopes: ["read", "write", "erase", "audit"],
    });
    await steward.remember({ turns: turns(agent, "U1") });
    const recalled = await steward.recall({ agent_id: agent, user_id: "U1", query: "dog", k: 1 });

    const { entries } = await steward.listAudit({ agent_id: agent });
    assert.equal(entries.length, 1);
    assert.equal(entries[0].operation, "recall");
    assert.deepEqual(entries[0].turn_ids, [recalled.hits[0].id]);

    const erasure = await steward.erase({ agent_id: agent, user_id: "U1" });
    assert.equal(erasure.kind, "agent_user");
    assert.equal(erasure.turns_erased, 3);
    const { erasures } = await steward.listErasures({ limit: 10 });
    assert.deepEqual(
      erasures.map((entry) => entry.id),
      [erasure.id],
    );
    assert.deepEqual((await steward.history({ agent_id: agent, user_id: "U1" })).turns, []);
  });
});

describe("AdminClient: the admin token", () => {
  test("tenants, keys, revocation and a tenant's erasures and audit trail", async () => {
    const { admin } = service;
    const { tenantId, client, agent, created } = await newTenant(service);
    const { tenants } = await admin.listTenants();
    const listed = tenants.find((tenant) => tenant.id === tenantId);
    assert.equal(listed.name, created.name);

    const changed = await admin.updateTenant({
      tenant_id: tenantId,
      retention_days: 30,
      audit_reads: true,
      audit_query_text: true,
    });
    assert.equal(changed.retention_days, 30);
    assert.equal(changed.audit_query_text, true);
    // PATCH sends null as a change: it lifts the retention window.
    const kept = await admin.updateTenant({ tenant_id: tenantId, retention_days: null });
    assert.equal(kept.retention_days, null);
    assert.equal(kept.audit_reads, true, "fields left out stay as they were");

    const spare = await admin.createApiKey({ tenant_id: tenantId, name: "spare", scopes: ["read"] });
    assert.match(spare.api_key, /^km_/);
    assert.deepEqual(spare.scopes, ["read"]);
    const { keys } = await admin.listApiKeys({ tenant_id: tenantId });
    assert.deepEqual(
      keys.map((key) => key.id),
      [created.api_key_id, spare.id],
    );
    assert.equal(await admin.revokeApiKey({ key_id: spare.id }), undefined);
    const after = await admin.listApiKeys({ tenant_id: tenantId });
    assert.ok(after.keys.find((key) => key.id === spare.id).revoked_at);

    await client.remember({ turns: turns(agent, "U9") });
    await client.recall({ agent_id: agent, user_id: "U9", query: "shoes" });
    const audit = await admin.listAuditForTenant({ tenant_id: tenantId, user_id: "U9" });
    assert.equal(audit.entries.length, 1);
    assert.equal(audit.entries[0].query, "shoes");

    const erasure = await admin.eraseForTenant({ tenant_id: tenantId, user_id: "U9" });
    assert.equal(erasure.kind, "user");
    assert.equal(erasure.turns_erased, 3);
    assert.equal(erasure.key_id, null);
    const ledger = await admin.listErasuresForTenant({ tenant_id: tenantId });
    assert.deepEqual(
      ledger.erasures.map((entry) => entry.id),
      [erasure.id],
    );
  });
});

describe("a key bound to an agent and a user", () => {
  test("leaves agent_id and user_id out, and may not name others", async () => {
    const { tenantId, agent } = await newTenant(service);
    const { key, client } = await keyClient(service, tenantId, {
      agent_id: agent,
      user_id: "U123",
      scopes: ["read", "write"],
    });
    const identity = await client.whoami();
    assert.equal(identity.key_id, key.id);
    assert.equal(identity.agent_id, agent);
    assert.equal(identity.user_id, "U123");

    const { turns: stored } = await client.remember({
      turns: [{ role: "user", content: "I moved to Porto last month" }],
    });
    assert.equal(stored[0].agent_id, agent);
    assert.equal(stored[0].user_id, "U123");
    const { hits } = await client.recall({ query: "where do I live?", k: 1 });
    assert.equal(hits[0].content, "I moved to Porto last month");
    assert.equal((await client.history()).turns.length, 1);
    assert.match((await client.context({ query: "where do I live?" })).text, /Porto/);
    assert.equal((await client.getTurn({ turn_id: stored[0].id })).id, stored[0].id);
    assert.equal((await client.listScopes()).scopes.length, 1);

    await assert.rejects(client.recall({ user_id: "U999", query: "anything" }), (error) => {
      assert.ok(error instanceof Forbidden);
      assert.equal(error.status, 403);
      assert.match(error.message, /U123/, "the message names the binding");
      return true;
    });
    await assert.rejects(client.recallAcrossUsers({ query: "anything" }), Forbidden);
  });

  test("a revoked key is refused", async () => {
    const { tenantId } = await newTenant(service);
    const { key, client } = await keyClient(service, tenantId, { agent_id: randomUUID() });
    await service.admin.revokeApiKey({ key_id: key.id });
    await assert.rejects(client.whoami(), Unauthorized);
  });
});
