// A modal confirmation for what cannot be undone: it shows what will go, and only the
// explicit button goes ahead (Escape, Cancel and closing the dialog all say no).

import { button, h } from "./dom.js";

export function confirmAction(title, details, action = "Erase") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-label": title });
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const go = button(action, () => finish(true), { class: "danger", "data-view": "confirm" });
    const cancel = button("Cancel", () => finish(false), { "data-view": "cancel" });
    dialog.append(
      h("h2", {}, title),
      h("div", { class: "what-goes" }, details),
      h("p", { class: "warning" }, "This cannot be undone."),
      h("div", { class: "actions" }, cancel, go),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus(); // the safe choice has the focus, so a stray Enter erases nothing
  });
}
