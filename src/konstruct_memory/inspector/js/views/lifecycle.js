// Erasure on request, the erasure ledger and the read audit log: for a key with the erase or
// audit scope (its own tenant's routes) and for the admin token (any tenant's).

import { confirmAction } from "../confirm.js";
import {
  boundInput, empty, field, h, input, instant, loading, notice, replace, short, table, values, when,
} from "../dom.js";
import { LIMITS } from "../limits.js";
import { can } from "../session.js";
import { turnsIn } from "./scopes.js";

const LEDGER_ROWS = LIMITS.max_listed;

export function erasuresView(region, who) {
  const counter = can(who, "read") ? (subject) => turnsHeld(who.api, subject) : null;
  // The ledger lists the whole tenant's erasures: only a key bound to nothing may read it.
  const { agent_id: agent, user_id: user } = who.identity;
  replace(region, h("h2", {}, "Erasures"),
    erasurePanel(who.api, "/v1/erasures", who.identity, counter, !agent && !user));
}

// How many turns an agent, a user or an agent's user holds, from the scope listing.
async function turnsHeld(api, subject) {
  const { scopes } = await api.get("/v1/scopes",
    { agent_id: subject.agent_id, user_id: subject.user_id, limit: LIMITS.max_listed });
  const turns = turnsIn(scopes);
  return scopes.length === LIMITS.max_listed ? `At least ${turns}` : String(turns);
}

export function auditView(region, who) {
  replace(region, h("h2", {}, "Read audit log"), auditPanel(who.api, "/v1/audit"));
}

// The erasure form and the ledger under it. `bound`: the key's binding, filled in and fixed.
// `counter(subject)`: how many turns the subject holds, when the credential may know it.
export function erasurePanel(api, path, bound = {}, counter = null, withLedger = true) {
  const agent = boundInput("agent_id", bound.agent_id, { placeholder: "UUID" });
  const user = boundInput("user_id", bound.user_id);
  const ids = h("textarea", { name: "turn_ids", rows: 3, placeholder: "one turn id per line" });
  const outcome = h("div", { "aria-live": "polite" });
  const ledger = h("div", { class: "results" });
  const form = h("form", { class: "card filters", "aria-label": "Erase" },
    h("p", {}, "Erase every turn of an agent, of a user, of an agent's user, or chosen turns "
      + "(within the agent and user when given)."),
    field("Agent id", agent), field("User id", user), field("Turn ids", ids),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Erase…")),
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = values(form);
    const subject = {
      agent_id: chosen.agent_id, user_id: chosen.user_id,
      turn_ids: chosen.turn_ids ? chosen.turn_ids.split(/\s+/).filter(Boolean) : undefined,
    };
    if (!subject.agent_id && !subject.user_id && !subject.turn_ids) {
      replace(outcome, notice("error", "name an agent, a user or turn ids"));
      return;
    }
    const go = await confirmAction("Erase these turns?", await whatGoes(subject, counter));
    if (!go) return;
    try {
      const done = await api.post(path, subject);
      replace(outcome, notice("done", `Erased ${done.turns_erased} turns and `
        + `${done.audit_rows_erased} audit rows (ledger entry ${done.id}).`));
      ids.value = "";
      if (withLedger) showLedger(api, path, ledger);
    } catch (error) {
      replace(outcome, notice("error", error.message));
    }
  });
  if (!withLedger) return form;
  showLedger(api, path, ledger);
  return [form, h("h3", {}, "Ledger"), ledger];
}

async function whatGoes(subject, counter) {
  const lines = [];
  if (subject.turn_ids) {
    lines.push(h("p", {}, `${subject.turn_ids.length} chosen turn(s):`),
      h("ul", { class: "ids" }, subject.turn_ids.map((id) => h("li", {}, h("code", {}, id)))));
  }
  const of = [subject.agent_id ? `agent ${subject.agent_id}` : null,
    subject.user_id ? `user ${subject.user_id}` : null].filter(Boolean).join(" and ");
  if (of) lines.push(h("p", {}, subject.turn_ids ? `Only within ${of}.` : `Every turn of ${of}.`));
  if (!subject.turn_ids && counter) {
    try {
      lines.push(h("p", { class: "count" }, `${await counter(subject)} turns will go.`));
    } catch (error) {
      lines.push(notice("error", `could not count the turns: ${error.message}`));
    }
  }
  lines.push(h("p", {}, "Their read-audit rows go too; the ledger keeps a hash of the subject."));
  return lines;
}

function showLedger(api, path, region) {
  loading(region, async () => {
    const { erasures } = await api.get(path, { limit: LEDGER_ROWS, order: "desc" });
    if (!erasures.length) return empty("No erasures yet.");
    const rows = erasures.map((entry) => [
      when(entry.requested_at), entry.kind, String(entry.turns_erased),
      String(entry.audit_rows_erased),
      entry.subject_hash ? h("code", { title: entry.subject_hash }, entry.subject_hash.slice(0, 12))
        : `before ${when(entry.cutoff)}`,
      entry.key_id ? short(entry.key_id) : "admin", short(entry.id),
    ]);
    return table(["Requested", "Kind", "Turns", "Audit rows", "Subject", "By", "Entry"], rows,
      `Newest first (at most ${LEDGER_ROWS})`);
  });
}

// The read audit log with its filters.
export function auditPanel(api, path) {
  const results = h("div", { class: "results" });
  const form = h("form", { class: "card filters", "aria-label": "Filter the audit log" },
    field("Agent id", input("agent_id", { placeholder: "any" })),
    field("User id", input("user_id", { placeholder: "any" })),
    field("Since", input("since", { type: "datetime-local" })),
    field("Until", input("until", { type: "datetime-local" })),
    field("Limit", input("limit", { type: "number", min: 1, max: LIMITS.max_listed, value: 100 })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show")));
  const show = () => loading(results, async () => {
    const chosen = values(form);
    const { entries } = await api.get(path, {
      ...chosen, since: instant(chosen.since), until: instant(chosen.until), order: "desc",
    });
    if (!entries.length) {
      return empty("No reads recorded here (is the read audit on for this tenant?).");
    }
    const rows = entries.map((entry) => [
      when(entry.at), entry.operation, entry.key_id ? short(entry.key_id) : "library",
      entry.agent_id ? short(entry.agent_id) : "—", entry.user_id ?? "all users",
      String(entry.turn_ids.length), entry.query ?? "",
    ]);
    return table(["At", "Operation", "Key", "Agent", "User", "Turns read", "Query"], rows,
      "Newest first");
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  show();
  return [form, results];
}
