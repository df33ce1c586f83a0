// One customer's record: identities on every channel, conversations, orders, important
// dates, tasks, notes and tags; owner, follow-up cadence, marketing consent; merge and
// unmerge. Every customer-supplied value goes in as text.

import { api } from "./api.js";
import { fill, fullTime, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";
import { taskRow } from "./tasks-ui.js";

const app = document.getElementById("app");
const root = document.getElementById("record");
const contactId = Number(app.dataset.contactId);
const me = Number(app.dataset.userId);
const supervisor = ["supervisor", "admin"].includes(app.dataset.role);
const LAST_MERGE = `huiliu.merge.${contactId}`;

function section(title, ...content) {
  return h("section", { class: "record-section" }, h("h2", {}, title), ...content);
}

async function patch(body) {
  try {
    await api(`/api/v1/contacts/${contactId}`, { method: "PATCH", body });
    toast(pt("crm_saved"));
    await load();
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

function ownerBox(c, users) {
  const current = c.owner ? c.owner.name : pt("crm_no_owner");
  if (supervisor) {
    const select = h("select", { id: "owner-select", "aria-label": pt("crm_owner") },
      h("option", { value: "" }, pt("crm_no_owner")),
      users.filter((u) => u.active).map((u) => h("option", { value: String(u.id), selected: c.owner?.id === u.id }, u.name)));
    select.addEventListener("change", () => patch({ owner_id: select.value ? Number(select.value) : null }));
    return h("div", { class: "owner-box" }, h("label", {}, `${pt("crm_owner")} `, select));
  }
  return h("div", { class: "owner-box" }, h("span", { id: "owner-name" }, `${pt("crm_owner")}: ${current}`),
    !c.owner ? h("button", { type: "button", class: "btn btn-small", id: "take-owner",
      onclick: () => patch({ owner_id: me }) }, pt("crm_take")) : null);
}

function settings(c) {
  const days = h("input", { type: "number", id: "follow-up-days", min: 1, max: 365,
    value: c.follow_up_days ?? "", "aria-label": pt("crm_follow_up_days") });
  days.addEventListener("change", () => patch({ follow_up_days: days.value ? Number(days.value) : null }));
  const consent = h("input", { type: "checkbox", id: "consent", checked: c.marketing_consent });
  consent.addEventListener("change", () => patch({ marketing_consent: consent.checked }));
  return h("div", { class: "record-settings" },
    h("label", {}, `${pt("crm_follow_up_days")} `, days),
    c.next_follow_up_at ? h("span", { class: "muted" }, `${pt("crm_next_follow_up")}: ${fullTime(c.next_follow_up_at)}`) : null,
    h("label", {}, consent, ` ${pt("crm_consent")}`),
    h("span", { class: `badge ${c.marketing_consent ? "badge-ok" : "badge-warn"}`, id: "consent-state" },
      pt(c.marketing_consent ? "crm_consent_yes" : "crm_consent_no")));
}

function lifecycleBox(c) {
  if (c.lifecycle === "lost") {
    return h("div", { class: "lifecycle-box" },
      h("span", { class: "badge badge-warn", id: "lifecycle-state" }, pt("crm_lost")), " ",
      h("span", { class: "muted" }, c.lost_reason || ""), " ",
      h("button", { type: "button", class: "btn btn-small", id: "mark-active",
        onclick: () => setLifecycle({ lifecycle: "active" }) }, pt("crm_mark_active")));
  }
  const reason = h("input", { id: "lost-reason", maxlength: 1000, placeholder: pt("crm_lost_reason") });
  const form = h("form", { class: "inline-form lifecycle-box", id: "lost-form" }, reason,
    h("button", { type: "submit", class: "btn btn-small" }, pt("crm_mark_lost")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setLifecycle({ lifecycle: "lost", reason: reason.value });
  });
  return form;
}

// Retention (CONTRACT section 11): lifecycle, tier, risk with each reason and its trend.
function retentionBox(c) {
  const risk = c.risk;
  return section(pt("retention_title"), h("div", { class: "retention-box", id: "retention-box" },
    h("span", { class: "badge" }, pt(`lifecycle_label_${c.lifecycle}`)), " ",
    c.tier ? h("span", { class: "badge" }, pt(`tier_${c.tier}`)) : null, " ",
    c.high_value ? h("span", { class: "badge badge-ok" }, pt("retention_high_value")) : null,
    risk ? h("div", {},
      h("strong", {}, `${pt("retention_score")} ${risk.score}`),
      risk.week_ago !== null && risk.week_ago !== undefined ? h("span", { class: "muted" }, ` (${pt("retention_week_ago")} ${risk.week_ago})`) : null,
      h("ul", { class: "ret-reasons" }, risk.factors.map((f) => h("li", {}, `${f.detail} +${f.points}`)))) : null));
}

async function setLifecycle(body) {
  try {
    await api(`/api/v1/contacts/${contactId}/lifecycle`, { method: "POST", body });
    await load();
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

function datesBox(c) {
  const stored = c.important_dates.map(({ label, month, day, calendar, year, remind_days_before }) =>
    ({ label, month, day, calendar, year, remind_days_before }));
  const list = h("ul", { class: "dates" }, c.important_dates.map((d, n) => h("li", {},
    h("span", { class: "date-label" }, d.label), " ",
    `${d.calendar === "lunar" ? pt("crm_lunar") : pt("crm_solar")} ${d.month}/${d.day}`, " ",
    h("span", { class: "muted" }, pt("crm_days_left", { label: "", n: d.days }).trim()),
    h("button", { type: "button", class: "btn btn-ghost btn-small", "aria-label": "×",
      onclick: () => patch({ important_dates: stored.filter((_, i) => i !== n) }) }, "×"))));
  const label = h("input", { id: "date-label", maxlength: 50, placeholder: pt("crm_label") });
  const month = h("input", { id: "date-month", type: "number", min: 1, max: 12, placeholder: pt("crm_month") });
  const day = h("input", { id: "date-day", type: "number", min: 1, max: 31, placeholder: pt("crm_day") });
  const cal = h("select", { id: "date-calendar" },
    h("option", { value: "solar" }, pt("crm_solar")), h("option", { value: "lunar" }, pt("crm_lunar")));
  const add = h("form", { class: "inline-form", id: "date-form" }, label, month, day, cal,
    h("button", { type: "submit", class: "btn btn-small" }, pt("crm_add_date")));
  add.addEventListener("submit", (e) => {
    e.preventDefault();
    patch({ important_dates: [...stored, { label: label.value, month: Number(month.value),
      day: Number(day.value), calendar: cal.value }] });
  });
  return [list, add];
}

function ordersBox(c, orders) {
  const table = h("table", { class: "crm-table orders" }, h("tbody", {}, orders.map((o) => h("tr", {},
    h("td", { class: "order-no" }, o.order_no), h("td", {}, o.ordered_at), h("td", {}, `¥${o.amount}`),
    h("td", {}, o.items.map((i) => h("div", { class: "order-item" }, `${i.name} ×${i.quantity}`,
      i.warranty_until ? h("span", { class: "muted" }, ` (${pt("crm_warranty_months")}: ${i.warranty_until})`) : null)))))));
  const f = (id, attrs) => h("input", { id, ...attrs });
  const form = h("form", { class: "inline-form", id: "order-form" },
    f("order-no", { maxlength: 100, placeholder: pt("crm_order_no"), required: true }),
    f("order-date", { type: "date", required: true, "aria-label": pt("crm_ordered_at") }),
    f("order-amount", { inputmode: "decimal", placeholder: pt("crm_amount"), required: true }),
    f("order-item", { maxlength: 300, placeholder: pt("crm_item") }),
    f("order-qty", { type: "number", min: 1, value: 1, "aria-label": pt("crm_quantity") }),
    f("order-warranty", { type: "number", min: 1, max: 240, placeholder: pt("crm_warranty_months") }),
    h("button", { type: "submit", class: "btn btn-small" }, pt("crm_add_order")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    const items = v("order-item") ? [{ name: v("order-item"), quantity: Number(v("order-qty") || 1),
      warranty_months: v("order-warranty") ? Number(v("order-warranty")) : null }] : [];
    try {
      await api(`/api/v1/contacts/${contactId}/orders`, { method: "POST",
        body: { order_no: v("order-no"), ordered_at: v("order-date"), amount: v("order-amount"), items } });
      toast(pt("crm_saved"));
      await load();
    } catch (err) {
      toast(pt("error", { detail: err.message }), "error");
    }
  });
  return [h("p", { class: "muted", id: "orders-total" }, pt("crm_orders_total", { amount: c.orders_total })), table, form];
}

function mergeBox() {
  const other = h("input", { id: "merge-other", type: "number", min: 1, placeholder: pt("crm_merge_id") });
  const form = h("form", { class: "inline-form", id: "merge-form" }, other,
    h("button", { type: "submit", class: "btn btn-small" }, pt("crm_merge")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const out = await api(`/api/v1/contacts/${contactId}/merge`, { method: "POST", body: { other_id: Number(other.value) } });
      sessionStorage.setItem(LAST_MERGE, String(out.merge_id));
      toast(pt("crm_merged"));
      await load();
    } catch (err) {
      toast(pt("error", { detail: err.message }), "error");
    }
  });
  const last = sessionStorage.getItem(LAST_MERGE);
  const undo = last ? h("button", { type: "button", class: "btn btn-small", id: "unmerge", onclick: async () => {
    try {
      await api(`/api/v1/contacts/${contactId}/unmerge`, { method: "POST", body: { merge_id: Number(last) } });
      sessionStorage.removeItem(LAST_MERGE);
      await load();
    } catch (err) {
      toast(pt("error", { detail: err.message }), "error");
    }
  } }, pt("crm_unmerge")) : null;
  return [form, undo];
}

async function load() {
  const [c, notes, orders, tasks, users] = await Promise.all([
    api(`/api/v1/contacts/${contactId}`),
    api(`/api/v1/contacts/${contactId}/notes`),
    api(`/api/v1/contacts/${contactId}/orders`),
    api(`/api/v1/tasks?contact_id=${contactId}&limit=100`),
    supervisor ? api("/api/v1/users?limit=200") : Promise.resolve({ items: [] }),
  ]);
  fill(root,
    h("header", { class: "record-head" },
      h("h1", { class: "customer-name" }, c.name || `#${c.id}`),
      c.phone ? h("div", { class: "muted" }, c.phone) : null,
      ownerBox(c, users.items)),
    settings(c),
    lifecycleBox(c),
    retentionBox(c),
    section(pt("crm_tasks"), h("ul", { class: "task-list" },
      tasks.items.length ? tasks.items.map((task) => taskRow(task, { onChange: () => load(), showContact: false }))
        : h("li", { class: "muted" }, pt("crm_no_tasks")))),
    section(pt("crm_dates"), datesBox(c)),
    section(pt("crm_orders"), ordersBox(c, orders.items)),
    section(pt("crm_identities"), h("ul", { class: "identities" }, c.identities.map((i) =>
      h("li", {}, h("span", { class: "badge" }, i.channel.name), " ", i.name || "", " ",
        h("code", {}, i.external_id))))),
    section(pt("crm_conversations"), h("ul", {}, c.conversations.map((conv) =>
      h("li", {}, h("a", { href: `/inbox#conversation-${conv.id}` }, `#${conv.id}`), " ",
        conv.last_message_preview || "", " ", h("span", { class: "muted" }, fullTime(conv.last_message_at)))))),
    section(pt("crm_notes"), h("p", { class: "record-notes" }, notes.notes || "—")),
    section(pt("crm_tags"), h("ul", { class: "tag-list" }, notes.tags.map((tag) => h("li", { class: "tag" }, tag)))),
    section(pt("crm_merge"), mergeBox()));
}

load().catch((err) => fill(root, h("p", { class: "error" }, pt("error", { detail: err.message }))));
