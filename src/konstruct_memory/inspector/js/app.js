// The inspector's shell: sign-in, the views a credential may use, and hash navigation.

import { button, field, h, input, notice, replace } from "./dom.js";
import { can, describe, forget, remembered, signIn } from "./session.js";
import { adminView } from "./views/admin.js";
import { auditView, erasuresView } from "./views/lifecycle.js";
import { healthView } from "./views/health.js";
import { recallView } from "./views/recall.js";
import { scopesView } from "./views/scopes.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const whoBox = document.getElementById("who");
let who = null;
let leave = null; // what the open view does when another opens (stops its timers)

// Views in menu order: who may open each, and what it builds.
const VIEWS = [
  { id: "scopes", title: "Scopes", allowed: (w) => can(w, "read"), open: scopesView },
  { id: "recall", title: "Recall", allowed: (w) => can(w, "read"), open: recallView },
  { id: "erasures", title: "Erasures", allowed: (w) => can(w, "erase"), open: erasuresView },
  { id: "audit", title: "Audit log", allowed: (w) => can(w, "audit"), open: auditView },
  { id: "admin", title: "Tenants", allowed: (w) => w.kind === "admin", open: adminView },
  { id: "health", title: "Health", allowed: () => true, open: healthView },
];

function offered() {
  return VIEWS.filter((view) => view.allowed(who));
}

function closeView() {
  if (leave) leave();
  leave = null;
}

function showSignIn(message) {
  closeView();
  who = null;
  nav.hidden = true;
  whoBox.hidden = true;
  const secret = input("credential", {
    type: "password", required: true, autocomplete: "off",
    placeholder: "km_… or the admin token",
  });
  const status = h("div", { "aria-live": "polite" }, message ? notice("error", message) : null);
  const form = h("form", { class: "card signin", "aria-label": "Sign in" },
    h("h2", {}, "Sign in"),
    h("p", {}, "With a tenant API key, to browse and recall its memory, or with the admin "
      + "token, to manage tenants and keys. The credential stays in this tab only."),
    field("API key or admin token", secret),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(status, h("p", { class: "loading" }, "Checking…"));
    try {
      who = await signIn(secret.value.trim());
      start();
    } catch (error) {
      replace(status, notice("error", error.message));
    }
  });
  replace(main, form);
  secret.focus();
}

function start() {
  const { api } = who;
  api.onRefused = (message) => {
    if (!who || who.api !== api) return; // a late answer to a credential already left
    forget();
    showSignIn(`Signed out: ${message}`);
  };
  replace(whoBox, h("span", {}, `Signed in with the ${describe(who)}`),
    button("Sign out", () => {
      forget();
      window.location.hash = "";
      showSignIn();
    }, { class: "link" }));
  whoBox.hidden = false;
  replace(nav, offered().map((view) =>
    button(view.title, () => { window.location.hash = view.id; }, { "data-view": view.id })));
  nav.hidden = false;
  route();
}

function route() {
  if (!who) return;
  const views = offered();
  const wanted = window.location.hash.slice(1).split("/")[0];
  const view = views.find((v) => v.id === wanted) || views[0];
  for (const item of nav.children) {
    if (item.dataset.view === view.id) item.setAttribute("aria-current", "page");
    else item.removeAttribute("aria-current");
  }
  closeView();
  const region = h("section", { class: "view", "aria-label": view.title });
  replace(main, region);
  leave = view.open(region, who) || null;
}

window.addEventListener("hashchange", route);

async function boot() {
  const saved = remembered();
  if (!saved) return showSignIn();
  try {
    who = await signIn(saved);
    start();
  } catch (error) {
    forget();
    showSignIn(error.message);
  }
}

boot();
