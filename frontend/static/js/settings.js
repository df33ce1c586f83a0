// A member's settings: personal API tokens (create: shown once; list with last use; revoke).

import { api } from "./api.js";
import { fill, fullTime, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";

const rowsEl = document.getElementById("tokens");
const newTokenEl = document.getElementById("new-token");

function tokenRow(token) {
  const revoked = token.revoked_at !== null;
  return h("tr", { class: revoked ? "token-row inactive" : "token-row", dataset: { tokenId: String(token.id) } },
    h("td", {}, `#${token.id}`),
    h("td", {}, fullTime(token.created_at)),
    h("td", { class: "token-last-used" }, token.last_used_at ? fullTime(token.last_used_at) : pt("token_never_used")),
    h("td", {}, h("span", { class: `badge token-state ${revoked ? "badge-warn" : "badge-open"}` },
      revoked ? pt("token_revoked") : pt("token_active"))),
    h("td", {}, revoked ? null : h("button", { type: "button", class: "btn btn-small btn-danger-ghost revoke-token",
      onclick: () => revoke(token) }, pt("revoke_token"))));
}

async function load() {
  const data = await api("/api/v1/me/tokens");
  fill(rowsEl, data.items.length ? data.items.map(tokenRow)
    : h("tr", { class: "empty-row" }, h("td", { colspan: "5", class: "muted" }, pt("no_tokens"))));
}

async function create() {
  try {
    const created = await api("/api/v1/me/tokens", { method: "POST" });
    fill(newTokenEl, h("p", {}, pt("token_shown_once")), h("code", { id: "token-value", class: "initial-password" }, created.token));
    newTokenEl.hidden = false;
    await load();
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

async function revoke(token) {
  try {
    await api(`/api/v1/me/tokens/${token.id}/revoke`, { method: "POST" });
    await load();
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

document.getElementById("create-token").addEventListener("click", create);
load().catch((err) => toast(pt("error", { detail: err.message }), "error"));
