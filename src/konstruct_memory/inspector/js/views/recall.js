// The recall playground: a query's hits with their score and what it is made of, and the
// prompt context exactly as /v1/context gives it, with its token count.

import {
  boundInput, checkbox, empty, field, h, input, instant, json, loading, notice, replace, table, values, when,
} from "../dom.js";
import { LIMITS } from "../limits.js";

export function recallView(region, who) {
  const { agent_id: boundAgent, user_id: boundUser } = who.identity;
  const query = h("textarea", { name: "query", rows: 2, required: true,
    placeholder: "the new message, e.g. where does she work now?" });
  const form = h("form", { class: "card filters", "aria-label": "Recall" },
    field("Query", query),
    field("Agent id", boundInput("agent_id", boundAgent,
      { placeholder: "UUID", required: !boundAgent })),
    field("User id", boundInput("user_id", boundUser,
      { placeholder: boundUser ? "" : "empty: across all users" }),
    boundUser ? null : "Leave empty to recall across every user of the agent."),
    field("k", input("k", { type: "number", min: 1, max: LIMITS.max_k, value: 10 })),
    field("Minimum score", input("min_score",
      { type: "number", min: 0, max: 1, step: 0.05, placeholder: "none" }),
    "Hits scoring below it are left out (recall and prompt context); empty: none."),
    field("Since", input("since", { type: "datetime-local" })),
    field("Until", input("until", { type: "datetime-local" })),
    field("As of", input("as_of", { type: "datetime-local", step: 1 }),
      "Only turns stored by then: what the agent could have recalled at that moment."),
    field("Thread", input("conversation_id", { placeholder: "any thread" })),
    h("fieldset", {}, h("legend", {}, "Roles"),
      checkbox("roles", "user", "user", true), checkbox("roles", "assistant", "assistant", true)),
    h("fieldset", { class: "wide" }, h("legend", {}, "Prompt context"),
      field("Recent turns", input("recent", { type: "number", min: 0, max: LIMITS.max_history, value: 10 })),
      field("Recalled turns", input("context_k", { type: "number", min: 0, max: LIMITS.max_k, value: 5 })),
      field("Token budget", input("max_tokens", { type: "number", min: 1, max: LIMITS.max_tokens, placeholder: "none" }))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Recall")));
  const hits = h("div", { class: "results", "aria-label": "Hits" });
  const context = h("div", { class: "results", "aria-label": "Prompt context" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(who, values(form), hits, context);
  });
  replace(region, h("h2", {}, "Recall playground"), form, hits, context);
  query.focus();
}

function run(who, chosen, hits, context) {
  let filters;
  try {
    filters = {
      since: instant(chosen.since), until: instant(chosen.until),
      conversation_id: chosen.conversation_id, roles: chosen.roles,
      as_of: instant(chosen.as_of),
    };
  } catch (error) {
    replace(hits, notice("error", error.message));
    return;
  }
  if (!filters.roles) {
    replace(hits, notice("error", "roles: choose at least one"));
    return;
  }
  const scope = { agent_id: chosen.agent_id, user_id: chosen.user_id };
  const across = !chosen.user_id && !who.identity.user_id;
  // Fields left undefined are not sent (JSON has no undefined): the API's defaults apply.
  const minScore = number(chosen.min_score);
  const body = { ...scope, ...filters, query: chosen.query, k: number(chosen.k),
    min_score: minScore };
  loading(hits, async () => {
    const answer = await who.api.post(across ? "/v1/recall/across-users" : "/v1/recall", body);
    return hitTable(answer.hits, across, minScore);
  });
  if (across) {
    replace(context, h("p", { class: "meta" }, "The prompt context is for one user: name one."));
    return;
  }
  loading(context, async () => {
    const answer = await who.api.post("/v1/context", {
      ...scope, query: chosen.query, conversation_id: chosen.conversation_id,
      recent: number(chosen.recent), k: number(chosen.context_k),
      max_tokens: number(chosen.max_tokens), min_score: minScore, as_of: filters.as_of,
    });
    return [
      h("h3", {}, "Prompt context ", h("span", { class: "tokens" }, `${answer.tokens} tokens`)),
      h("p", { class: "meta" }, `${answer.recent.length} recent and ${answer.recalled.length} `
        + "recalled turns, as POST /v1/context gives them:"),
      h("pre", { class: "context-text" }, answer.text),
    ];
  });
}

function hitTable(hits, across, minScore) {
  if (!hits.length) {
    return empty(minScore === undefined
      ? "Nothing in this scope matches: no turns stored here yet?"
      : `No turn in this scope scores ${minScore} or more.`);
  }
  const figure = (value) => (value === null || value === undefined ? "—" : value.toFixed(3));
  const rows = hits.map((hit, rank) => {
    const parts = hit.parts || {};
    return [
      String(rank + 1),
      h("strong", { class: "nowrap" }, figure(hit.score)),
      h("span", { class: "parts" },
        `similarity ${figure(parts.similarity)} · vector ${figure(parts.vector)} · `
        + `keyword ${figure(parts.keyword)} · act ${figure(parts.act)} · `
        + `neighbour ${figure(parts.neighbour)}`
        + (parts.month ? " · month cue" : "")
        + (parts.day ? " · day cue" : "")
        + (parts.correction ? ` · corrects an earlier turn (+${figure(parts.correction)})` : "")
        + (parts.corrected ? " · corrected later" : "")),
      across ? hit.user_id : null,
      h("span", { class: `role ${hit.role}` }, hit.role),
      h("span", { class: "nowrap" }, when(hit.occurred_at)),
      h("div", {}, h("p", { class: "content" }, hit.content),
        hit.metadata && Object.keys(hit.metadata).length
          ? h("details", {}, h("summary", {}, "metadata"), json(hit.metadata)) : null),
    ].filter((cell) => cell !== null);
  });
  const headings = ["#", "Score", "Made of", across ? "User" : null, "Role", "When", "Turn"]
    .filter(Boolean);
  return table(headings, rows, `${hits.length} hit${hits.length === 1 ? "" : "s"}, best first`);
}

function number(text) {
  return text === undefined ? undefined : Number(text);
}
