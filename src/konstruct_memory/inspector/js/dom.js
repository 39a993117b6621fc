// Building the page. Everything shown goes in as text (text nodes, textContent, attribute
// values): nothing here parses HTML, so stored content can never become markup or script.
// The Content-Security-Policy's Trusted Types rule would make any HTML sink throw anyway.

const ATTRIBUTES = new Set([
  "id", "class", "type", "name", "value", "placeholder", "for", "min", "max", "step",
  "required", "disabled", "checked", "autocomplete", "inputmode", "role", "tabindex",
  "aria-label", "aria-live", "aria-busy", "aria-current", "aria-describedby", "title",
  "colspan", "scope", "spellcheck", "readonly", "rows", "hidden", "data-view",
]);

// h("button", {class: "primary", on: {click: fn}}, "Save"): an element with attributes from
// a fixed list (never an event handler or a URL), listeners, and children (strings become
// text nodes; null and false are skipped).
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "on") {
      for (const [event, listener] of Object.entries(value)) node.addEventListener(event, listener);
    } else if (value === true) {
      if (!ATTRIBUTES.has(name)) throw new Error(`attribute not allowed: ${name}`);
      node.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      if (!ATTRIBUTES.has(name)) throw new Error(`attribute not allowed: ${name}`);
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// A labelled form control: the label names it for screen readers and for tests.
let controls = 0;
export function field(label, control, hint) {
  const id = control.id || `control-${++controls}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("small", {}, hint) : null);
}

export function input(name, props = {}) {
  return h("input", { name, type: "text", autocomplete: "off", spellcheck: "false", ...props });
}

// A field a key's binding may fix: filled in with the binding and read-only, or free.
export function boundInput(name, binding, props = {}) {
  return input(name, { ...props, value: binding || "", readonly: Boolean(binding) });
}

export function select(name, options, chosen) {
  const node = h("select", { name });
  for (const [value, label] of options) {
    const option = h("option", { value }, label);
    if (value === chosen) option.selected = true;
    node.append(option);
  }
  return node;
}

export function checkbox(name, value, label, checked = false) {
  const box = h("input", { type: "checkbox", name, value, checked });
  return h("label", { class: "check" }, box, label);
}

export function button(label, onClick, props = {}) {
  return h("button", { type: "button", ...props, on: { click: onClick } }, label);
}

// A table from column headings and rows of cells (strings or nodes).
export function table(headings, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, headings.map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell)))))));
}

export function notice(kind, text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export const empty = (text) => h("p", { class: "empty" }, text);

// A region that shows "Loading…", then what `load` builds, or the API's own error words.
export async function loading(region, load) {
  region.setAttribute("aria-busy", "true");
  replace(region, h("p", { class: "loading" }, "Loading…"));
  try {
    replace(region, await load());
  } catch (error) {
    replace(region, notice("error", error.message));
  } finally {
    region.removeAttribute("aria-busy");
  }
}

// Values of a form's named controls; empty strings are left out (the API's defaults apply).
export function values(form) {
  const found = {};
  for (const control of form.elements) {
    if (!control.name || control.type === "submit" || control.type === "button") continue;
    if (control.type === "checkbox") {
      if (control.checked) (found[control.name] ||= []).push(control.value);
    } else if (control.value.trim() !== "") {
      found[control.name] = control.value.trim();
    }
  }
  return found;
}

export function when(timestamp) {
  return timestamp ? timestamp.replace("T", " ").replace(/\.\d+/, "") : "—";
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function short(id) {
  return h("code", { title: id }, String(id).slice(0, 8));
}

// A datetime-local value ("2026-03-01T12:00") as RFC 3339 in the browser's offset.
export function instant(local) {
  if (!local) return undefined;
  const date = new Date(local);
  if (Number.isNaN(date.getTime())) throw new Error(`not a date: ${local}`);
  return date.toISOString();
}

// A "More" button under a list. `show(next)`: next() appends a page and answers the loader of
// the page after it, or null at the end (then `endText` shows instead of the button).
export function pager(label, endText) {
  const box = h("div", { class: "actions pager" });
  const show = (next) => {
    if (!next) {
      replace(box, endText ? h("p", { class: "meta" }, endText) : null);
      return;
    }
    const more = button(label, async () => {
      more.disabled = true;
      more.textContent = "Loading…";
      try {
        show(await next());
      } catch (error) {
        replace(box, notice("error", error.message));
      }
    });
    replace(box, more);
  };
  return { box, show };
}
