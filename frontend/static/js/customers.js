// The customers list: search by name, phone or order number; filter by owner, status,
// tier (RFM) and channel;
// most recent activity first, paged with the API's cursor.

import { api, query } from "./api.js";
import { fill, fullTime, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";

const form = document.getElementById("customer-filters");
const rows = document.getElementById("customer-rows");
const more = document.getElementById("customers-more");
let state = { params: {}, cursor: null, token: 0 };

function row(c) {
  return h("tr", { class: "customer-row", dataset: { contactId: String(c.id) } },
    h("td", {}, h("a", { class: "customer-name", href: `/customers/${c.id}` }, c.name || `#${c.id}`),
      c.tier ? h("span", { class: "badge tier-badge", dataset: { tier: c.tier } }, pt(`tier_${c.tier}`)) : null,
      c.lifecycle === "lost" ? h("span", { class: "badge badge-warn" }, pt("crm_lost")) : null,
      c.risk && c.risk.band !== "low"
        ? h("span", { class: "badge badge-warn risk-badge", title: c.risk.factors.map((f) => f.detail).join("\n") }, String(c.risk.score))
        : null,
      c.phone ? h("div", { class: "muted" }, c.phone) : null),
    h("td", {}, c.identities.map((i) => h("span", { class: "badge identity-badge" }, i.channel.name))),
    h("td", { class: "customer-owner" }, c.owner ? c.owner.name : h("span", { class: "muted" }, pt("crm_no_owner"))),
    h("td", {}, c.last_interaction_at ? fullTime(c.last_interaction_at) : "—"),
    h("td", {}, c.next_follow_up_at ? fullTime(c.next_follow_up_at) : "—"),
    h("td", {}, c.open_tasks ? String(c.open_tasks) : ""));
}

async function load(append) {
  const mine = ++state.token;
  try {
    const page = await api(`/api/v1/contacts${query({ ...state.params, cursor: append ? state.cursor : null })}`);
    if (mine !== state.token) return;
    const items = page.items.map(row);
    if (append) rows.append(...items);
    else fill(rows, items.length ? items : h("tr", {}, h("td", { colspan: 6, class: "muted empty" }, pt("crm_no_customers"))));
    state.cursor = page.next_cursor;
    more.hidden = !page.next_cursor;
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const data = new FormData(form);
  state.params = Object.fromEntries([...data.entries()].filter(([, v]) => v !== ""));
  load(false);
});
more.addEventListener("click", () => load(true));

(async () => {
  try {
    const channels = await api("/api/v1/channels?limit=200");
    document.getElementById("f-channel").append(
      ...channels.items.map((ch) => h("option", { value: String(ch.id) }, ch.name)));
  } catch {
    /* the filter stays with "all channels" */
  }
})();
load(false);
