// 今日待办: the member's overdue, today's and this week's tasks, kept live by the
// task.created / task.updated events.

import { api, query } from "./api.js";
import { fill, h } from "./dom.js";
import { pt } from "./archive-texts.js";
import { Live } from "./live.js";
import { taskRow } from "./tasks-ui.js";

const app = document.getElementById("app");
const tabs = document.getElementById("todo-tabs");
const sections = ["overdue", "today", "week"].map((due) => document.getElementById(`todo-${due}`));
let assignee = "me";
let token = 0;
let timer = null;

async function load() {
  const mine = ++token;
  const base = assignee ? { assignee } : {};
  const results = await Promise.all(
    sections.map((s) => api(`/api/v1/tasks${query({ ...base, due: s.dataset.due, limit: 200 })}`)));
  if (mine !== token) return;
  const seen = new Set();
  results.forEach((page, n) => {
    // "This week" lists what is not already shown as overdue or today.
    const items = page.items.filter((task) => !seen.has(task.id));
    items.forEach((task) => seen.add(task.id));
    const section = sections[n];
    section.querySelector(".count").textContent = items.length ? `(${items.length})` : "";
    fill(section.querySelector(".task-list"),
      items.length
        ? items.map((task) => taskRow(task, { onChange: () => reload() }))
        : h("li", { class: "muted empty" }, pt("crm_no_tasks")));
  });
}

function reload() {
  clearTimeout(timer);
  timer = setTimeout(() => load().catch(() => {}), 150);
}

tabs.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-assignee]");
  if (!button) return;
  assignee = button.dataset.assignee;
  for (const b of tabs.querySelectorAll("button")) b.setAttribute("aria-selected", String(b === button));
  reload();
});

const live = new Live({
  seq: Number(app.dataset.seq),
  onEvent: (event) => {
    // task.bulk_created: a sweep or an import made many tasks at once (counts only).
    if (["task.created", "task.updated", "task.bulk_created"].includes(event.type)) {
      reload();
      dispatchEvent(new Event("huiliu:tasks-changed"));
    }
  },
  onPresence: () => {},
  onResync: () => reload(),
  onState: () => {},
});
live.connect();
load();
api("/api/v1/tasks/counts").then((counts) => {
  document.getElementById("holiday-note").hidden = counts.workday !== 0;
}).catch(() => {});
