// Administration with the admin token: tenants, their keys (created with scopes and a binding,
// the secret shown once, revoked), retention and audit settings, erasures and the audit log.

import { segment } from "../api.js";
import { confirmAction } from "../confirm.js";
import {
  button, checkbox, empty, field, h, input, loading, notice, replace, short, table, values, when,
} from "../dom.js";
import { auditPanel, erasurePanel } from "./lifecycle.js";

const KEY_SCOPES = ["read", "write", "erase", "audit"];

export function adminView(region, who) {
  const list = h("div", { class: "results" });
  const created = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card filters", "aria-label": "Create a tenant" },
    h("p", { class: "form-title" }, "New tenant"),
    field("New tenant's name", input("name", { required: true, placeholder: "acme" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create")),
    created);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const tenant = await who.api.post("/v1/tenants", values(form));
      form.reset();
      replace(created, secretOnce(`Tenant ${tenant.name} created. Its first key (read, write):`,
        tenant.api_key));
      showTenants(who, region, list);
    } catch (error) {
      replace(created, notice("error", error.message));
    }
  });
  replace(region, h("h2", {}, "Tenants"), list, form);
  showTenants(who, region, list);
}

function showTenants(who, region, list) {
  loading(list, async () => {
    const { tenants } = await who.api.get("/v1/tenants");
    if (!tenants.length) return empty("No tenants yet: create the first one below.");
    return table(["Name", "Id", "Created", "Retention", "Read audit", "Rate limit", ""],
      tenants.map((tenant) => [
        tenant.name, short(tenant.id), when(tenant.created_at),
        tenant.retention_days === null ? "forever" : `${tenant.retention_days} days`,
        tenant.audit_reads ? "on" : "off",
        tenant.rate_limit_per_s === null ? "none" : `${tenant.rate_limit_per_s}/s`,
        button("Manage", () => tenantPage(who, region, tenant),
          { "aria-label": `Manage tenant ${tenant.name}` }),
      ]), `${tenants.length} tenant(s), in order of creation`);
  });
}

function tenantPage(who, region, tenant) {
  const base = `/v1/tenants/${segment(tenant.id)}`;
  const heading = h("h2", { tabindex: -1 }, `Tenant ${tenant.name}`);
  replace(region,
    button("← All tenants", () => adminView(region, who), { class: "link" }),
    heading, h("p", { class: "meta" }, "id ", h("code", {}, tenant.id),
      ". The admin token reads no tenant's memory: to browse or recall it, sign in with one "
      + "of the tenant's keys."),
    h("h3", {}, "API keys"), keysPanel(who, base),
    h("h3", {}, "Retention and audit"), settingsForm(who, base, tenant),
    h("h3", {}, "Erasure on request"), erasurePanel(who.api, `${base}/erasures`),
    h("h3", {}, "Read audit log"), auditPanel(who.api, `${base}/audit`));
  heading.focus();
}

function keysPanel(who, base) {
  const list = h("div", { class: "results" });
  const created = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card filters", "aria-label": "Create an API key" },
    h("p", { class: "form-title" }, "New key"),
    field("Name", input("name", { placeholder: "support-bot" })),
    field("Bound to agent", input("agent_id", { placeholder: "any agent (UUID)" })),
    field("Bound to user", input("user_id", { placeholder: "any user" })),
    h("fieldset", {}, h("legend", {}, "Scopes"),
      KEY_SCOPES.map((scope) => checkbox("scopes", scope, scope, scope === "read"))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create key")),
    created);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const key = await who.api.post(`${base}/api-keys`, { scopes: [], ...values(form) });
      replace(created, secretOnce(`Key ${key.name || key.id} created:`, key.api_key));
      showKeys(who, base, list);
    } catch (error) {
      replace(created, notice("error", error.message));
    }
  });
  showKeys(who, base, list);
  return [list, form];
}

function showKeys(who, base, list) {
  loading(list, async () => {
    const { keys } = await who.api.get(`${base}/api-keys`);
    if (!keys.length) return empty("This tenant has no keys.");
    return table(["Name", "Id", "Scopes", "Agent", "User", "Created", "State"],
      keys.map((key) => [
        key.name || "—", short(key.id), key.scopes.join(", "),
        key.agent_id ? short(key.agent_id) : "any", key.user_id ?? "any", when(key.created_at),
        key.revoked_at ? `revoked ${when(key.revoked_at)}` : button("Revoke…", async () => {
          const go = await confirmAction("Revoke this key?", h("p", {},
            `Key ${key.name || key.id} (${key.scopes.join(", ")}) is refused from now on.`),
          "Revoke");
          if (!go) return;
          try {
            await who.api.delete(`/v1/api-keys/${segment(key.id)}`);
          } catch (error) {
            list.prepend(notice("error", error.message));
            return;
          }
          showKeys(who, base, list);
        }, { class: "danger", "aria-label": `Revoke key ${key.name || key.id}` }),
      ]), "Every key, revoked ones included; secrets are never listed");
  });
}

function settingsForm(who, base, tenant) {
  const outcome = h("div", { "aria-live": "polite" });
  const retention = input("retention_days", { type: "number", min: 1,
    value: tenant.retention_days ?? "", placeholder: "keep forever" });
  const rate = input("rate_limit_per_s", { type: "number", min: 0, step: "any",
    value: tenant.rate_limit_per_s ?? "", placeholder: "no limit" });
  const form = h("form", { class: "card filters", "aria-label": "Retention and audit" },
    field("Retention (days)", retention, "Turns older than this are removed; empty: kept."),
    field("Rate limit (requests/s)", rate, "Empty: no limit."),
    checkbox("audit_reads", "true", "Record reads in the audit log", tenant.audit_reads),
    checkbox("audit_query_text", "true", "…with the query text", tenant.audit_query_text),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save")),
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = values(form);
    try {
      const saved = await who.api.patch(base, {
        retention_days: chosen.retention_days === undefined ? null : Number(chosen.retention_days),
        rate_limit_per_s: chosen.rate_limit_per_s === undefined ? null
          : Number(chosen.rate_limit_per_s),
        audit_reads: Boolean(chosen.audit_reads),
        audit_query_text: Boolean(chosen.audit_query_text),
      });
      replace(outcome, notice("done", `Saved: retention ${saved.retention_days ?? "forever"}, `
        + `read audit ${saved.audit_reads ? "on" : "off"}.`));
    } catch (error) {
      replace(outcome, notice("error", error.message));
    }
  });
  return form;
}

// A secret shown once, selectable, with the warning that it will not be shown again.
function secretOnce(title, secret) {
  const box = h("input", { type: "text", readonly: true, value: secret, class: "secret",
    "aria-label": "The new API key", spellcheck: "false" });
  box.addEventListener("focus", () => box.select());
  return h("div", { class: "notice done secret-once", role: "status" }, h("p", {}, title), box,
    h("p", {}, "Copy it now: it is not shown again."));
}
