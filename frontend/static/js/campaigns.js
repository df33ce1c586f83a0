// 邀约: the campaigns list and create form; one campaign with its funnel, its mix of new,
// returning and loyal invitees against 5:2:1, its invitees with the state buttons the
// server allows, and the customer picker (the customers page's filters).
// Customer text (names, notes, titles) only ever goes in as text nodes.

import { api, query } from "./api.js";
import { fill, fullTime, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";

const app = document.getElementById("app");
const campaignId = app.dataset.campaignId;
const STAGES = ["listed", "contacted", "confirmed", "reminded", "attended"];
const SEGMENTS = ["new", "returning", "loyal"];

function fail(err) {
  toast(pt("error", { detail: err.message }), "error");
}

// --- the list -------------------------------------------------------------------------

function funnelText(c) {
  return STAGES.map((s) => `${pt(`camp_state_${s}`)} ${c.funnel[s]}`).join(" → ");
}

function campaignRow(c) {
  return h("tr", { class: "campaign-row", dataset: { campaignId: String(c.id) } },
    h("td", {}, h("a", { class: "campaign-name", href: `/campaigns/${c.id}` }, c.title)),
    h("td", {}, fullTime(c.starts_at)),
    h("td", {}, c.location || "—"),
    h("td", {}, pt("camp_seats", { left: c.seats_left, capacity: c.capacity })),
    h("td", { class: "muted" }, funnelText(c)));
}

async function listPage() {
  const rows = document.getElementById("campaign-rows");
  const more = document.getElementById("campaigns-more");
  let cursor = null;
  async function load(append) {
    const page = await api(`/api/v1/campaigns${query({ cursor: append ? cursor : null })}`);
    const items = page.items.map(campaignRow);
    if (append) rows.append(...items);
    else fill(rows, items.length ? items : h("tr", {}, h("td", { colspan: 5, class: "muted empty" }, pt("camp_none"))));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => load(true).catch(fail));
  const form = document.getElementById("campaign-create");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const local = String(data.get("starts_at") || "");
    try {
      const created = await api("/api/v1/campaigns", {
        method: "POST",
        body: {
          title: String(data.get("title") || ""),
          starts_at: local ? new Date(local).toISOString() : "",
          capacity: Number(data.get("capacity")),
          location: String(data.get("location") || ""),
        },
      });
      location.assign(`/campaigns/${created.id}`);
    } catch (err) {
      fail(err);
    }
  });
  await load(false);
}

// --- one campaign ---------------------------------------------------------------------

function renderHead(c) {
  fill(document.getElementById("campaign-head"),
    h("h1", { class: "campaign-title" }, c.title),
    h("p", {}, fullTime(c.starts_at), " · ", c.location || "—", " · ",
      pt("camp_seats", { left: c.seats_left, capacity: c.capacity })));
  fill(document.getElementById("campaign-funnel"),
    STAGES.map((s) => h("li", { dataset: { stage: s } },
      h("span", { class: "funnel-label" }, pt(`camp_state_${s}`)), " ",
      h("strong", { class: "funnel-count" }, String(c.funnel[s])))));
  fill(document.getElementById("campaign-mix"),
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, pt("camp_mix_actual")), h("th", {}, pt("camp_mix_suggested")))),
    h("tbody", {}, SEGMENTS.map((s) => h("tr", { dataset: { segment: s } },
      h("th", {}, pt(`camp_segment_${s}`)),
      h("td", { class: "mix-actual" }, String(c.mix[s])),
      h("td", { class: "mix-suggested" }, `${c.mix.suggested[s]} (${c.mix.suggested_ratio[s]})`)))));
}

function historyText(inv) {
  return inv.history.map((step) => `${pt(`camp_state_${step.to_state}`)} ${fullTime(step.at)}${step.actor ? ` ${step.actor.name}` : ""}${step.note ? `: ${step.note}` : ""}`);
}

function inviteeRow(inv, reload) {
  const note = h("input", { class: "invitee-note", maxlength: 2000, placeholder: pt("camp_note"),
    "aria-label": pt("camp_note") });
  const move = async (state) => {
    try {
      await api(`/api/v1/campaigns/${campaignId}/invitees/${inv.contact.id}`,
        { method: "POST", body: { state, note: note.value } });
      await reload();
    } catch (err) {
      fail(err);
    }
  };
  return h("tr", { class: "invitee-row", dataset: { contactId: String(inv.contact.id), state: inv.state } },
    h("td", {}, h("a", { class: "invitee-name", href: `/customers/${inv.contact.id}` }, inv.contact.name || `#${inv.contact.id}`),
      inv.phone ? h("div", { class: "muted" }, inv.phone) : null),
    h("td", {}, inv.owner ? inv.owner.name : h("span", { class: "muted" }, pt("crm_no_owner"))),
    h("td", {}, pt(`camp_segment_${inv.segment}`)),
    h("td", {}, h("span", { class: `badge invitee-state state-${inv.state}` }, pt(`camp_state_${inv.state}`))),
    h("td", { class: "muted invitee-history" }, historyText(inv).map((line) => h("div", {}, line))),
    h("td", { class: "invitee-actions" },
      inv.next_states.length ? note : null,
      inv.next_states.map((s) => h("button", { type: "button", class: "btn btn-small", dataset: { to: s },
        onclick: () => move(s) }, pt(`camp_state_${s}`)))));
}

async function detailPage() {
  const rows = document.getElementById("invitee-rows");
  async function reload() {
    const [c, invitees] = await Promise.all([
      api(`/api/v1/campaigns/${campaignId}`),
      api(`/api/v1/campaigns/${campaignId}/invitees`),
    ]);
    renderHead(c);
    fill(rows, invitees.items.length
      ? invitees.items.map((inv) => inviteeRow(inv, reload))
      : h("tr", {}, h("td", { colspan: 6, class: "muted empty" }, pt("camp_no_invitees"))));
  }
  // The picker: the customers list with its filters, a box per customer.
  const form = document.getElementById("picker-filters");
  const list = document.getElementById("picker-rows");
  const more = document.getElementById("picker-more");
  let params = {};
  let cursor = null;
  async function search(append) {
    const page = await api(`/api/v1/contacts${query({ ...params, limit: 50, cursor: append ? cursor : null })}`);
    const items = page.items.map((c) => h("li", { class: "picker-row" },
      h("label", {}, h("input", { type: "checkbox", value: String(c.id), class: "pick" }), " ",
        h("span", { class: "picker-name" }, c.name || `#${c.id}`),
        c.phone ? h("span", { class: "muted" }, ` ${c.phone}`) : null,
        c.owner ? h("span", { class: "muted" }, ` · ${c.owner.name}`) : null)));
    if (append) list.append(...items);
    else fill(list, items.length ? items : h("li", { class: "muted empty" }, pt("crm_no_customers")));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    params = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v !== ""));
    search(false).catch(fail);
  });
  more.addEventListener("click", () => search(true).catch(fail));
  document.getElementById("picker-add").addEventListener("click", async () => {
    const ids = [...list.querySelectorAll("input.pick:checked")].map((box) => Number(box.value));
    if (!ids.length) return;
    try {
      const out = await api(`/api/v1/campaigns/${campaignId}/invitees`, { method: "POST", body: { contact_ids: ids } });
      toast(pt("camp_added", { n: out.added.length, already: out.already.length }));
      for (const box of list.querySelectorAll("input.pick:checked")) box.checked = false;
      await reload();
    } catch (err) {
      fail(err);
    }
  });
  api("/api/v1/channels?limit=200").then((channels) => {
    document.getElementById("picker-channel").append(
      ...channels.items.map((ch) => h("option", { value: String(ch.id) }, ch.name)));
  }).catch(() => {});
  await Promise.all([reload(), search(false)]);
}

(campaignId ? detailPage() : listPage()).catch(fail);
