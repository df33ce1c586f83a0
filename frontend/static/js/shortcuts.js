// Keyboard shortcuts: j/k move through the list, r replies, e resolves, ? lists them.

import { fill, h } from "./dom.js";
import { t } from "./i18n.js";

const KEYS = [
  ["j", "key_next"],
  ["k", "key_prev"],
  ["r", "key_reply"],
  ["e", "key_resolve"],
  ["?", "key_help"],
];

function typingInto(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export function showHelp(dialog) {
  fill(dialog,
    h("div", { class: "dialog-head" },
      h("h2", {}, t("help_title")),
      h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: () => dialog.close() }, t("close"))),
    h("dl", { class: "shortcut-list" }, KEYS.map(([key, label]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, t(label))])),
    h("ul", { class: "muted help-notes" }, ["key_send", "key_canned", "key_escape"].map((k) => h("li", {}, t(k)))));
  if (!dialog.open) dialog.showModal();
}

export function installShortcuts(actions) {
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (typingInto(e.target) || document.querySelector("dialog[open]")) return;
    const action = { j: actions.next, k: actions.prev, r: actions.reply, e: actions.resolve, "?": actions.help }[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  });
}
