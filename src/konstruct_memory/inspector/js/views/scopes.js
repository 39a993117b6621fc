// The scope browser: the agents and users of the tenant with their turn counts, then the
// timeline of one (agent, user), newest first, with filters, paging and each turn's record.

import { segment } from "../api.js";
import { confirmAction } from "../confirm.js";
import {
  boundInput, button, checkbox, empty, field, h, input, instant, json, loading, notice, pager, replace, select,
  table, values, when,
} from "../dom.js";
import { LIMITS } from "../limits.js";
import { can } from "../session.js";

const SCOPES_PAGE = 200;
const MAX_HISTORY = LIMITS.max_history; // the most /v1/history gives at once

export function scopesView(region, who) {
  const { agent_id: boundAgent, user_id: boundUser } = who.identity;
  const agent = boundInput("agent_id", boundAgent, { placeholder: "any agent" });
  const user = boundInput("user_id", boundUser, { placeholder: "any user" });
  const list = h("div", { class: "results" });
  const form = h("form", { class: "card filters", "aria-label": "Find scopes" },
    field("Agent id", agent), field("User id", user),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "List")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    listScopes(who, region, list, values(form));
  });
  replace(region, h("h2", {}, "Agents and users"), form, list);
  listScopes(who, region, list, values(form));
}

// Threads grouped into (agent, user) pairs, pages of the listing merged as they come.
function listScopes(who, view, region, filter) {
  const pairs = new Map();
  const body = h("div", {});
  const more = pager("More scopes");
  const page = async (offset) => {
    const { scopes } = await who.api.get("/v1/scopes", { ...filter, limit: SCOPES_PAGE, offset });
    for (const scope of scopes) {
      const key = JSON.stringify([scope.agent_id, scope.user_id]);
      const pair = pairs.get(key) || { agent: scope.agent_id, user: scope.user_id, threads: [] };
      pair.threads.push(scope);
      pairs.set(key, pair);
    }
    replace(body, pairTable(who, view, [...pairs.values()]));
    return scopes.length === SCOPES_PAGE ? () => page(offset + SCOPES_PAGE) : null;
  };
  loading(region, async () => {
    more.show(await page(0));
    return pairs.size ? [body, more.box]
      : empty("No turns stored yet within this key's tenant and binding.");
  });
}

// How many turns a listing of scopes (threads) holds.
export function turnsIn(scopes) {
  return scopes.reduce((sum, scope) => sum + scope.turns, 0);
}

function pairTable(who, view, pairs) {
  const rows = pairs.map((pair) => {
    const turns = turnsIn(pair.threads);
    const last = pair.threads.map((t) => t.last_occurred_at).sort().at(-1);
    return [
      h("code", {}, pair.agent), pair.user, String(turns), String(pair.threads.length), when(last),
      button("Open", () => openTimeline(who, view, pair), {
        "aria-label": `Open the timeline of ${pair.user}`,
      }),
    ];
  });
  return table(["Agent", "User", "Turns", "Threads", "Last turn", ""], rows,
    `${pairs.length} (agent, user) pair${pairs.length === 1 ? "" : "s"}`);
}

// One (agent, user): filters, the newest turns first, "Older" pages back with `before`.
function openTimeline(who, region, pair) {
  const threads = pair.threads.filter((t) => t.conversation_id !== null);
  const total = turnsIn(pair.threads);
  const form = h("form", { class: "card filters", "aria-label": "Filter the timeline" },
    field("Thread", select("conversation_id",
      [["", "all threads"], ...threads.map((t) => [t.conversation_id, t.conversation_id])])),
    h("fieldset", {}, h("legend", {}, "Roles"),
      checkbox("roles", "user", "user", true), checkbox("roles", "assistant", "assistant", true)),
    field("Since", input("since", { type: "datetime-local" })),
    field("Until", input("until", { type: "datetime-local" })),
    field("As of", input("as_of", { type: "datetime-local", step: 1 }), "Only turns stored by then."),
    field("Page size", input("limit", { type: "number", min: 1, max: MAX_HISTORY, value: 20 })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show")));
  const turns = h("div", { class: "results" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showTurns(who, pair, form, turns);
  });
  const back = button("← All scopes", () => scopesView(region, who), { class: "link" });
  const heading = h("h2", {}, `Timeline of user ${pair.user}`);
  const erase = can(who, "erase")
    ? button("Erase all of this user's turns…", () => eraseScope(who, pair, total, region),
      { class: "danger" })
    : null;
  replace(region, back, heading,
    h("p", { class: "meta" }, "agent ", h("code", {}, pair.agent), ` · ${total} turns`), erase,
    form, turns);
  heading.setAttribute("tabindex", "-1");
  heading.focus();
  showTurns(who, pair, form, turns);
}

function showTurns(who, pair, form, region) {
  const chosen = values(form);
  let query;
  try {
    query = {
      agent_id: pair.agent, user_id: pair.user, limit: chosen.limit,
      conversation_id: chosen.conversation_id, roles: chosen.roles || [],
      since: instant(chosen.since), until: instant(chosen.until), as_of: instant(chosen.as_of),
    };
  } catch (error) {
    replace(region, notice("error", error.message));
    return;
  }
  const size = Number(query.limit || 20);
  const problem = !query.roles.length ? "roles: choose at least one"
    : !(Number.isInteger(size) && size >= 1 && size <= MAX_HISTORY)
      ? `limit: must be a whole number from 1 to ${MAX_HISTORY}` : null;
  if (problem) {
    replace(region, notice("error", problem));
    return;
  }
  const list = h("ol", { class: "timeline", "aria-label": "Turns, newest first" });
  const more = pager("Older turns", "No older turns.");
  const page = async (before) => {
    // One turn more than shown says whether there is an older page.
    const asked = Math.min(size + 1, MAX_HISTORY);
    const { turns } = await who.api.get("/v1/history", { ...query, limit: asked, before });
    const older = turns.length > size || (asked === size && turns.length === size);
    const shown = turns.slice(-size);
    // The API answers oldest first; the timeline reads newest first.
    for (const turn of [...shown].reverse()) list.append(turnCard(who, turn));
    return older && shown.length ? () => page(shown[0].id) : null;
  };
  loading(region, async () => {
    more.show(await page(undefined));
    return list.children.length ? [list, more.box] : empty("No turns match these filters.");
  });
}

function turnCard(who, turn) {
  const details = h("div", { class: "turn-details" });
  const actions = h("div", { class: "actions" },
    button("Record", () => loading(details, async () =>
      json(await who.api.get(`/v1/turns/${segment(turn.id)}`))),
    { "aria-label": `Show the stored record of turn ${turn.id}` }),
    can(who, "erase") ? button("Erase…", () => eraseTurn(who, turn, card), { class: "danger" })
      : null);
  const hasMetadata = turn.metadata && Object.keys(turn.metadata).length > 0;
  const card = h("li", { class: `turn ${turn.role}` },
    h("div", { class: "turn-head" },
      h("span", { class: "role" }, turn.role), h("time", {}, when(turn.occurred_at)),
      turn.conversation_id ? h("span", { class: "thread" }, turn.conversation_id) : null,
      h("code", {}, turn.id)),
    h("p", { class: "content" }, turn.content),
    hasMetadata ? h("details", {}, h("summary", {}, "metadata"), json(turn.metadata)) : null,
    actions, details);
  return card;
}

async function eraseTurn(who, turn, card) {
  const go = await confirmAction("Erase this turn?", [
    h("p", {}, `Turn ${turn.id} of user ${turn.user_id}, said ${when(turn.occurred_at)}:`),
    h("blockquote", {}, turn.content),
  ]);
  if (!go) return;
  try {
    const done = await who.api.post("/v1/erasures",
      { agent_id: turn.agent_id, user_id: turn.user_id, turn_ids: [turn.id] });
    replace(card, notice("done", `Erased ${done.turns_erased} turn (ledger entry ${done.id}).`));
  } catch (error) {
    card.append(notice("error", error.message));
  }
}

async function eraseScope(who, pair, total, region) {
  const go = await confirmAction("Erase this user's memory?", [
    h("p", {}, `Every turn of user ${pair.user} with agent ${pair.agent}: ${total} turns in `
      + `${pair.threads.length} thread(s), and their read-audit rows.`),
    h("p", {}, "A ledger entry records the erasure, by hash of the subject."),
  ]);
  if (!go) return;
  try {
    const done = await who.api.post("/v1/erasures", { agent_id: pair.agent, user_id: pair.user });
    replace(region, notice("done",
      `Erased ${done.turns_erased} turns and ${done.audit_rows_erased} audit rows `
      + `(ledger entry ${done.id}).`),
    button("← All scopes", () => scopesView(region, who), { class: "link" }));
  } catch (error) {
    region.prepend(notice("error", error.message));
  }
}
