// The customer-record block of the inbox sidebar: owner, marketing consent, what they
// spent, and their open tasks with days to go ("生日还有 3 天", "保修 20 天后到期"), so
// the agent raises them while the reply window is open; an order can be entered here.

import { api } from "./api.js";
import { fullTime, h, toast } from "./dom.js";
import { t } from "./i18n.js";

const me = () => Number(document.getElementById("app")?.dataset.userId);
const DAY_MS = 86400000;

function daysFrom(iso) {
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  const day = new Date(iso);
  day.setHours(0, 0, 0, 0);
  return Math.round((day - start) / DAY_MS);
}

function dueText(task, contact) {
  if (task.kind === "care") {
    const date = contact.important_dates.find((d) => task.title.startsWith(`${d.label} (`));
    if (date) return date.days === 0 ? t("crm_today_is", { label: date.label }) : t("crm_days_left", { label: date.label, n: date.days });
  }
  if (task.kind === "warranty") {
    const m = /(\d{4}-\d{2}-\d{2})/.exec(task.title);
    if (m) return t("crm_warranty_left", { n: Math.max(0, daysFrom(m[1])) });
  }
  const n = daysFrom(task.due_at);
  return n < 0 ? t("crm_overdue") : t("crm_due_in", { n });
}

function orderForm(contact, refresh) {
  const input = (name, attrs) => h("input", { name, class: "crm-input", ...attrs });
  const form = h("form", { class: "crm-order-form" },
    input("order_no", { placeholder: t("crm_order_no"), maxlength: 100, required: true }),
    input("ordered_at", { type: "date", required: true, "aria-label": t("crm_ordered_at") }),
    input("amount", { placeholder: t("crm_amount"), inputmode: "decimal", required: true }),
    input("item", { placeholder: t("crm_item"), maxlength: 300 }),
    input("warranty_months", { type: "number", min: 1, max: 240, placeholder: t("crm_warranty_months") }),
    h("button", { type: "submit", class: "btn btn-small" }, t("crm_add_order")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(form).entries());
    const items = v.item ? [{ name: v.item, quantity: 1, warranty_months: v.warranty_months ? Number(v.warranty_months) : null }] : [];
    try {
      await api(`/api/v1/contacts/${contact.id}/orders`, { method: "POST",
        body: { order_no: v.order_no, ordered_at: v.ordered_at, amount: v.amount, items } });
      toast(t("crm_order_saved"));
      refresh();
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    }
  });
  return h("details", { class: "crm-order" }, h("summary", {}, t("crm_add_order")), form);
}

/** The block for `contact` (GET /contacts/{id}); it re-renders itself after a change. */
export function crmBlock(contact) {
  const box = h("section", { class: "contact-section crm-sidebar", dataset: { contactId: String(contact.id) } });
  const refresh = async () => {
    try {
      const fresh = await api(`/api/v1/contacts/${contact.id}`);
      box.replaceWith(crmBlock(fresh));
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    }
  };
  const take = async () => {
    try {
      await api(`/api/v1/contacts/${contact.id}`, { method: "PATCH", body: { owner_id: me() } });
      refresh();
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    }
  };
  const complete = async (task) => {
    try {
      await api(`/api/v1/tasks/${task.id}/complete`, { method: "POST", body: { outcome: "" } });
      dispatchEvent(new Event("huiliu:tasks-changed"));
      refresh();
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    }
  };
  const parts = [
    h("p", { class: "crm-line crm-owner" }, `${t("crm_owner")}: `,
      contact.owner ? h("span", { class: "owner-name" }, contact.owner.name) : h("span", { class: "muted" }, t("crm_no_owner")),
      !contact.owner ? h("button", { type: "button", class: "btn btn-small crm-take", onclick: take }, t("crm_take")) : null),
    h("p", { class: `crm-line crm-consent ${contact.marketing_consent ? "" : "muted"}` },
      t(contact.marketing_consent ? "crm_consent_yes" : "crm_consent_no")),
    h("p", { class: "crm-line muted" }, t("crm_orders_total", { amount: contact.orders_total })),
    contact.open_tasks.length
      ? h("ul", { class: "crm-tasks" }, contact.open_tasks.map((task) => h("li", { class: "crm-task", dataset: { taskId: String(task.id) } },
        h("span", { class: "crm-task-due" }, dueText(task, contact)), " · ",
        h("span", { class: "crm-task-title", title: fullTime(task.due_at) }, task.title),
        task.kind !== "follow_up"
          ? h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: () => complete(task) }, t("crm_complete"))
          : null)))
      : null,
    orderForm(contact, refresh),
    h("a", { class: "crm-record-link", href: `/customers/${contact.id}` }, t("crm_open_record")),
  ];
  box.append(...parts.filter(Boolean));
  return box;
}
