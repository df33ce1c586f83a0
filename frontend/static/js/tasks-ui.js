// One task as a row (to-do page and customer page): kind, title, customer, due time,
// whether the customer can be written to now, and complete / snooze / cancel.
// Customer text (names, titles) only ever goes in as text nodes.

import { api } from "./api.js";
import { fullTime, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";

export function reachText(task) {
  if (task.reach === "open_window") {
    return pt("crm_reach_open_window", { until: task.reach_until ? fullTime(task.reach_until) : "" });
  }
  return pt(task.reach === "unreachable" ? "crm_reach_unreachable" : "crm_reach_closed");
}

function tomorrowNine() {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(9, 0, 0, 0);
  return d.toISOString();
}

async function act(task, path, body, onChange) {
  try {
    const out = await api(`/api/v1/tasks/${task.id}/${path}`, { method: "POST", body });
    onChange(out);
    dispatchEvent(new Event("huiliu:tasks-changed"));
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

// Invite and remind tasks (邀约): one click opens the customer's conversation with an
// open reply window, the suggested invitation text in the reply box; otherwise it shows
// the phone number to call.
async function reachOut(task, spot) {
  try {
    const out = await api(`/api/v1/campaigns/tasks/${task.id}/reach`);
    if (out.reach === "open_window" && out.conversation_id) {
      sessionStorage.setItem("huiliu:draft",
        JSON.stringify({ conversation_id: out.conversation_id, text: out.suggested_text || "" }));
      location.assign(`/inbox#conversation-${out.conversation_id}`);
      return;
    }
    spot.hidden = false;
    spot.replaceChildren(
      h("strong", { class: "task-phone" }, out.phone ? pt("camp_call", { phone: out.phone }) : pt("camp_no_phone")),
      out.suggested_text ? h("div", { class: "muted task-script" }, out.suggested_text) : null);
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

export function taskRow(task, { onChange, showContact = true }) {
  const outcome = h("input", {
    class: "task-outcome", maxlength: 2000, placeholder: pt("crm_outcome_placeholder"),
    "aria-label": pt("crm_outcome"),
  });
  const open = task.status === "open";
  const campaignTask = open && (task.kind === "invite" || task.kind === "remind");
  const reachSpot = h("div", { class: "task-reach-out", hidden: true });
  return h("li", { class: `task task-${task.kind}`, dataset: { taskId: String(task.id), kind: task.kind } },
    h("div", { class: "task-main" },
      h("span", { class: `badge badge-kind-${task.kind}` }, pt(`crm_kind_${task.kind}`) === `crm_kind_${task.kind}` ? task.kind : pt(`crm_kind_${task.kind}`)),
      h("span", { class: "task-title" }, task.title),
      showContact ? h("a", { class: "task-contact", href: `/customers/${task.contact.id}` }, task.contact.name || `#${task.contact.id}`) : null,
      h("time", { class: "task-due", datetime: task.due_at, title: fullTime(task.due_at) }, fullTime(task.due_at)),
      h("span", { class: `task-reach reach-${task.reach}` }, reachText(task)),
      task.assignee ? h("span", { class: "task-assignee muted" }, task.assignee.name) : null,
      !open && task.outcome ? h("span", { class: "task-outcome-text muted" }, task.outcome) : null),
    campaignTask ? reachSpot : null,
    open
      ? h("div", { class: "task-actions" },
        campaignTask
          ? h("button", { type: "button", class: "btn btn-small btn-primary task-reach-button",
            onclick: () => reachOut(task, reachSpot) }, pt("camp_contact"))
          : null,
        outcome,
        h("button", { type: "button", class: "btn btn-small btn-primary task-complete",
          onclick: () => act(task, "complete", { outcome: outcome.value }, onChange) }, pt("crm_complete")),
        h("button", { type: "button", class: "btn btn-small task-snooze",
          onclick: () => act(task, "snooze", { until: tomorrowNine() }, onChange) }, pt("crm_snooze")),
        h("button", { type: "button", class: "btn btn-small btn-ghost task-cancel",
          onclick: () => act(task, "cancel", undefined, onChange) }, pt("crm_cancel")))
      : h("span", { class: `badge badge-${task.status}` }, task.status));
}
