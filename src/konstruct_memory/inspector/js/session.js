// Who is signed in: a tenant API key (its scopes and binding come from /v1/whoami) or the admin
// token (it may list tenants). The credential lives in this tab's session storage only: it is
// gone when the tab closes, and no cookie ever carries it.

import { Api, ApiError } from "./api.js";

const STORAGE = "konstruct-memory.credential";

export function remembered() {
  return window.sessionStorage.getItem(STORAGE);
}

export function forget() {
  window.sessionStorage.removeItem(STORAGE);
}

// {api, kind: "key", identity} or {api, kind: "admin"}; throws the API's words otherwise.
export async function signIn(token) {
  const api = new Api(token);
  // Keys start with km_; trying the likelier kind first keeps failed sign-ins (which the
  // service throttles per address) to the credentials that really are wrong.
  const attempts = token.startsWith("km_") ? [asKey, asAdmin] : [asAdmin, asKey];
  for (const attempt of attempts) {
    try {
      const who = await attempt(api);
      window.sessionStorage.setItem(STORAGE, token);
      return who;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
    }
  }
  throw new ApiError(401, "unauthorized",
    "this is neither a live API key nor the admin token (401)");
}

async function asKey(api) {
  return { api, kind: "key", identity: await api.get("/v1/whoami") };
}

async function asAdmin(api) {
  await api.get("/v1/tenants");
  return { api, kind: "admin" };
}

// What a signed-in credential may do, as the page decides what to offer.
export function can(who, scope) {
  return who.kind === "key" && who.identity.scopes.includes(scope);
}

export function describe(who) {
  if (who.kind === "admin") return "admin token";
  const { scopes, agent_id: agent, user_id: user } = who.identity;
  const binding = [agent ? `agent ${agent}` : null, user ? `user ${user}` : null]
    .filter(Boolean).join(", ");
  return `API key (${scopes.join(", ")})${binding ? `, bound to ${binding}` : ""}`;
}
