// The agent inbox: wires the list, the conversation, the sidebar, the composer and the
// live event stream together. Plain ES modules, no build step.

import { api } from "./api.js";
import { CannedReplies } from "./canned.js";
import { Composer } from "./composer.js";
import { refreshTimes, toast } from "./dom.js";
import { applyI18n, t } from "./i18n.js";
import { ConversationList } from "./list.js";
import { Live } from "./live.js";
import "./todo-badge.js"; // issue 15: the to-do count and the start-of-day notification
import { Notifier, setTitle } from "./notify.js";
import { installShortcuts, showHelp } from "./shortcuts.js";
import { Sidebar } from "./sidebar.js";
import { Thread } from "./thread.js";

const root = document.getElementById("app");
const me = { id: Number(root.dataset.userId), name: root.dataset.userName, role: root.dataset.role };
const imageTypes = (root.dataset.imageTypes || "").split(",").filter(Boolean);
const fileTypes = (root.dataset.fileTypes || "").split(",").filter(Boolean);
applyI18n(document);
setTitle(0);

const panesEl = document.getElementById("panes");
const panes = {
  show(view) {
    panesEl.dataset.view = view;
  },
  toggleContact() {
    panesEl.classList.toggle("contact-open");
  },
};

const banner = document.getElementById("conn-banner");
function connection(state, info = {}) {
  document.body.dataset.connection = state;
  if (state === "open") {
    banner.hidden = true;
    if (info.wasDown) toast(t("reconnected"));
  } else if (state === "reconnecting") {
    banner.textContent = info.attempts > 1 ? t("reconnecting_n", { n: info.attempts }) : t("reconnecting");
    banner.hidden = false;
  } else if (state === "unauthorized") {
    banner.textContent = t("session_expired");
    banner.hidden = false;
    setTimeout(() => location.assign("/login?next=/inbox"), 1500);
  }
}

const canned = new CannedReplies(document.getElementById("canned-dialog"), me);
const live = new Live({
  seq: Number(root.dataset.seq),
  onEvent: (event) => apply(event),
  onPresence: (data) => thread.onPresence(data),
  onVisitorTyping: (data) => thread.onCustomerTyping(data),
  onResync: () => refreshAll(),
  onState: connection,
  onOpen: () => thread.announce("viewing"),
});
const sidebar = new Sidebar(document.getElementById("contact-pane"), {
  onOpen: (id) => openConversation(id),
  onClose: () => panes.toggleContact(),
});
const composer = new Composer({
  canned,
  imageTypes,
  fileTypes,
  onSend: (content, isPrivate) => thread.send(content, isPrivate),
  onImage: (file, isPrivate) => thread.sendImage(file, isPrivate),
  onTyping: () => thread.typing(),
});
const thread = new Thread(document.getElementById("thread-pane"), {
  me, composer, sidebar, live, panes, onChanged: (c) => list.upsert(c),
});
const list = new ConversationList(document.getElementById("list-pane"), {
  me,
  onOpen: (id) => openConversation(id),
  onChange: (items) => setTitle(items.filter((c) => c.unread_count > 0).length),
});
const notifier = new Notifier(document.getElementById("notify-toggle"), {
  onClick: (id) => openConversation(id),
});

async function openConversation(id) {
  list.select(id);
  panes.show("thread");
  history.replaceState(null, "", `#conversation-${id}`);
  try {
    await thread.open(id);
  } catch (err) {
    toast(t("error", { detail: err.message }), "error");
  }
}

function apply(event) {
  const data = event.data;
  switch (event.type) {
    case "message.created":
      thread.onMessage(data, true);
      notifier.message(data, list.get(data.conversation_id)?.contact.name || data.sender?.name || "");
      break;
    case "message.updated":
      thread.onMessage(data, false);
      break;
    case "conversation.created":
    case "conversation.updated":
    case "conversation.assigned":
      list.upsert(data);
      thread.onConversation(data);
      list.refreshQueue();
      break;
    case "task.created":
      // A hard churn event (unsubscribed, grant withdrawn, marked lost) for my customer.
      if (data.kind === "churned" && data.assignee?.id === me.id) {
        toast(t("churn_toast", { name: data.contact?.name || "", title: data.title }), "alert");
      }
      dispatchEvent(new Event("huiliu:tasks-changed"));
      break;
    case "task.updated":
    case "task.bulk_created": // many tasks at once: counts only, the counter reloads
      dispatchEvent(new Event("huiliu:tasks-changed"));
      break;
    default:
      break;
  }
}

/** After `resync`: the log no longer covers what we missed, so fetch the state again. */
async function refreshAll() {
  list.refreshQueue();
  await list.load();
  if (thread.id) await thread.open(thread.id);
}

installShortcuts({
  next: () => move(1),
  prev: () => move(-1),
  reply: () => thread.id && composer.focus(),
  resolve: () => thread.id && thread.conv.status !== "resolved" && thread.setStatus("resolved"),
  help: () => showHelp(document.getElementById("help-dialog")),
});
document.getElementById("help-button").addEventListener("click", () => showHelp(document.getElementById("help-dialog")));

function move(step) {
  const id = list.neighbour(step);
  if (id !== null && id !== thread.id) openConversation(id);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && thread.conv && list.get(thread.id)?.unread_count > 0) thread.markRead();
});
// Relative times ("3 分钟前") and the reply window countdown stay current.
setInterval(() => {
  refreshTimes();
  thread.tick();
  list.refreshQueue();
}, 30000);

async function start() {
  const [channels, users] = await Promise.all([
    api("/api/v1/channels?limit=200"),
    api("/api/v1/users?limit=200"),
    canned.load(),
    sidebar.loadSuggestions(),
  ]);
  list.setChannels(channels.items);
  thread.users = users.items;
  list.refreshQueue();
  await list.load();
  // Connect after the first fetch: every event since the page's seq then lands on top.
  live.connect();
  const match = location.hash.match(/^#conversation-(\d+)$/);
  if (match) {
    await openConversation(Number(match[1]));
    takeDraft();
  }
}

/** A text another page left for this conversation (an invitation from the to-do list). */
function takeDraft() {
  let draft = null;
  try {
    draft = JSON.parse(sessionStorage.getItem("huiliu:draft") || "null");
  } catch {
    draft = null;
  }
  sessionStorage.removeItem("huiliu:draft");
  if (!draft || draft.conversation_id !== thread.id || typeof draft.text !== "string") return;
  if (!composer.text.value) composer.text.value = draft.text.slice(0, 4000);
  composer.focus();
}

start().catch((err) => toast(t("error", { detail: err.message }), "error"));
