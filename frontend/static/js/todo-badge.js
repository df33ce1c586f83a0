// The to-do count in the top bar, and one desktop notification at the start of each day
// for what is due (only when the member turned notifications on in the inbox).

import { api } from "./api.js";
import { t } from "./i18n.js";

const NOTIFY_KEY = "huiliu.notify"; // set by notify.js
const DAY_KEY = "huiliu.todo_notified";
const POLL_MS = 60000;

function localDay() {
  const d = new Date();
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

function notifyOncePerDay(counts) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (localStorage.getItem(NOTIFY_KEY) !== "on" || counts.due < 1) return;
  const today = localDay();
  if (localStorage.getItem(DAY_KEY) === today) return; // another tab, or earlier today
  localStorage.setItem(DAY_KEY, today);
  const note = new Notification(t("todo_notify_title", { n: counts.due }), {
    body: t("todo_notify_body", { overdue: counts.overdue, today: counts.today }),
    tag: `todo-${today}`,
    icon: "/static/img/logo.svg",
  });
  note.addEventListener("click", () => {
    window.focus();
    location.assign("/todo");
    note.close();
  });
}

export async function refreshTodoCount() {
  let counts;
  try {
    counts = await api("/api/v1/tasks/counts");
  } catch {
    return;
  }
  for (const el of document.querySelectorAll(".todo-count")) {
    el.textContent = String(counts.due);
    el.hidden = counts.due < 1;
    el.dataset.overdue = String(counts.overdue);
  }
  notifyOncePerDay(counts);
}

refreshTodoCount();
setInterval(refreshTodoCount, POLL_MS);
addEventListener("focus", refreshTodoCount);
addEventListener("huiliu:tasks-changed", refreshTodoCount);
