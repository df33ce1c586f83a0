// /admin: a channel's service settings (PATCH /api/v1/channels/{id}): business hours per
// weekday ("09:00-12:00, 13:00-18:00"; empty = closed; or always open), extra closed days,
// greeting, away message, the CSAT survey and the first-response target. A refused value
// (e.g. "25:00") shows the server's reason and the dialog stays open.

import { api } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const dialog = document.getElementById("admin-dialog");

function rangesText(ranges) {
  return (ranges || []).map(([a, b]) => `${a}-${b}`).join(", ");
}

function parseRanges(text) {
  return text.split(/[,，;；\s]+/).filter(Boolean).map((part) => part.split(/[-–~]/).map((x) => x.trim()));
}

function field(label, control) {
  return h("label", { class: "form-field" }, label, control);
}

async function openForm(channel) {
  const s = await api(`/api/v1/channels/${channel.id}/service`);
  const always = h("input", { type: "checkbox", name: "always_open", checked: s.business_hours === null });
  const dayInputs = DAYS.map((d) => h("input", {
    type: "text", name: `day_${d}`, class: "svc-day", placeholder: "09:00-18:00",
    value: s.business_hours ? rangesText(s.business_hours[d]) : "",
  }));
  const hours = h("fieldset", { class: "svc-hours" },
    h("legend", {}, pt("svc_hours")),
    h("label", {}, always, " ", pt("svc_always_open")),
    DAYS.map((d, i) => field(pt(`svc_day_${d}`), dayInputs[i])),
    h("p", { class: "muted" }, pt("svc_hours_help")));
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "canned-form svc-form", id: "service-form" },
    h("div", { class: "dialog-head" }, h("h2", {}, pt("svc_title", { name: channel.name }))),
    hours,
    field(pt("svc_holidays"), h("textarea", { name: "holidays", rows: "2", placeholder: "2026-12-24, 2026-12-25" })),
    field(pt("svc_greeting"), h("textarea", { name: "greeting", rows: "2", maxlength: "1000" })),
    field(pt("svc_away"), h("textarea", { name: "away_message", rows: "2", maxlength: "1000" })),
    h("label", {}, h("input", { type: "checkbox", name: "csat_enabled", checked: s.csat_enabled }), " ", pt("svc_csat")),
    field(pt("svc_csat_question"), h("textarea", { name: "csat_question", rows: "2", maxlength: "500", placeholder: pt("svc_csat_default") })),
    field(pt("svc_target"), h("input", { type: "number", name: "first_response_minutes", min: "1", max: "10080", value: String(s.first_response_minutes) })),
    error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn", onclick: () => dialog.close() }, pt("cancel")),
      h("button", { type: "submit", class: "btn btn-primary", id: "service-save" }, pt("confirm"))));
  // Text set as values, never as markup.
  form.elements.holidays.value = (s.holidays || []).join(", ");
  form.elements.greeting.value = s.greeting || "";
  form.elements.away_message.value = s.away_message || "";
  form.elements.csat_question.value = s.csat_question || "";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    let business = null;
    if (!data.get("always_open")) {
      business = {};
      for (const d of DAYS) {
        const text = String(data.get(`day_${d}`) || "").trim();
        if (text) business[d] = parseRanges(text);
      }
    }
    const body = {
      business_hours: business,
      holidays: String(data.get("holidays") || "").split(/[,，\s]+/).filter(Boolean),
      greeting: String(data.get("greeting") || ""),
      away_message: String(data.get("away_message") || ""),
      csat_enabled: Boolean(data.get("csat_enabled")),
      csat_question: String(data.get("csat_question") || ""),
      first_response_minutes: Number(data.get("first_response_minutes")),
    };
    try {
      await api(`/api/v1/channels/${channel.id}`, { method: "PATCH", body });
      dialog.close();
      toast(pt("saved"));
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  fill(dialog, form);
  dialog.showModal();
}

/** The "service settings" button of a channel's row. */
export function serviceButton(channel) {
  return h("button", { type: "button", class: "btn btn-small service-settings",
    onclick: () => openForm(channel).catch((err) => toast(pt("error", { detail: err.message }), "error")) },
  pt("svc_button"));
}
