// The supervisors' archive: filters, full-text search with highlights, paged results, and
// any conversation read-only from the archive API (reading it leaves its unread state alone).

import { api, query } from "./api.js";
import { channelIcon, fill, fullTime, h, shortTime, toast } from "./dom.js";
import { renderMessage } from "./message.js";
import { highlighted, pt } from "./archive-texts.js";
import { preview } from "./i18n.js";

const root = document.getElementById("app");
const me = { id: Number(root.dataset.userId), name: root.dataset.userName };
const form = document.getElementById("archive-filters");
const resultsEl = document.getElementById("results");
const moreButton = document.getElementById("results-more");
const headEl = document.getElementById("results-head");
const threadEl = document.getElementById("archive-thread");
const el = (id) => document.getElementById(id);

let state = { mode: "conversations", params: {}, cursor: null, loading: false, token: 0 };

/** A date input's day as an ISO instant at local midnight (`plusDays` for the end). */
function dayStart(value, plusDays = 0) {
  if (!value) return "";
  const d = new Date(`${value}T00:00:00`);
  if (Number.isNaN(d.getTime())) return "";
  d.setDate(d.getDate() + plusDays);
  return d.toISOString();
}

function filters() {
  return {
    q: el("q").value.trim(),
    channel_id: el("f-channel").value,
    agent_id: el("f-agent").value,
    since: dayStart(el("f-since").value),
    until: dayStart(el("f-until").value, 1), // the whole end day
    status: el("f-status").value,
    contact: el("f-contact").value.trim(),
    tag: el("f-tag").value.trim(),
  };
}

function updateExportLinks(f) {
  el("export-jsonl").href = `/api/v1/archive/export${query({ ...f, format: "jsonl" })}`;
  el("export-csv").href = `/api/v1/archive/export${query({ ...f, format: "csv" })}`;
}

async function run() {
  const f = filters();
  updateExportLinks(f);
  // The message search takes channel and dates only; with conversation-level filters the
  // query narrows the conversation list instead (no snippets there).
  const byConversation = f.agent_id || f.status || f.contact || f.tag;
  if (f.q && !byConversation) {
    state = { ...state, mode: "messages", params: { q: f.q, channel_id: f.channel_id, since: f.since, until: f.until } };
  } else {
    state = { ...state, mode: "conversations", params: f };
  }
  headEl.textContent = state.mode === "messages" ? pt("results_messages") : pt("results_conversations");
  headEl.title = f.q && byConversation ? pt("filters_note") : "";
  state.cursor = null;
  state.token += 1;
  fill(resultsEl, h("li", { class: "empty muted" }, pt("loading")));
  await loadPage(true);
}

async function loadPage(first) {
  const token = state.token;
  state.loading = true;
  moreButton.disabled = true;
  const path = state.mode === "messages" ? "/api/v1/search" : "/api/v1/archive/conversations";
  try {
    const data = await api(`${path}${query({ ...state.params, cursor: state.cursor, limit: 30 })}`);
    if (token !== state.token) return;
    if (first) resultsEl.replaceChildren();
    const render = state.mode === "messages" ? hitItem : conversationItem;
    for (const item of data.items) resultsEl.append(render(item));
    if (first && !data.items.length) resultsEl.append(h("li", { class: "empty muted" }, pt("empty")));
    state.cursor = data.next_cursor;
    moreButton.hidden = !data.next_cursor;
  } catch (err) {
    if (first) resultsEl.replaceChildren();
    toast(pt("error", { detail: err.message }), "error");
  } finally {
    state.loading = false;
    moreButton.disabled = false;
  }
}

function senderLabel(m) {
  return m.sender?.name || (m.direction === "outbound" ? "—" : pt("no_name"));
}

function hitItem(hit) {
  const m = hit.message;
  return h("li", { class: "conv-item result-item", dataset: { conversationId: String(hit.conversation_id) } },
    h("button", { type: "button", class: "conv-button", onclick: () => open(hit.conversation_id) },
      h("div", { class: "conv-main" },
        h("div", { class: "conv-top" },
          h("span", { class: "conv-name" }, senderLabel(m)),
          m.private ? h("span", { class: "badge badge-warn" }, pt("private_note")) : null,
          h("time", { class: "conv-time", datetime: m.created_at, title: fullTime(m.created_at) }, shortTime(m.created_at))),
        h("div", { class: "hit-text" }, highlighted(hit.highlight)),
        h("div", { class: "conv-bottom muted" }, pt("conversation_n", { id: hit.conversation_id })))));
}

function statusBadge(status) {
  return h("span", { class: `badge badge-${status}` }, pt(`status_${status}`));
}

function conversationItem(c) {
  return h("li", { class: "conv-item result-item", dataset: { conversationId: String(c.id) } },
    h("button", { type: "button", class: "conv-button", onclick: () => open(c.id) },
      h("div", { class: "conv-main" },
        h("div", { class: "conv-top" },
          channelIcon(c.channel.type, c.channel.name),
          h("span", { class: "conv-name" }, c.contact.name || pt("no_name")),
          h("time", { class: "conv-time", datetime: c.last_message_at, title: fullTime(c.last_message_at) }, shortTime(c.last_message_at))),
        h("div", { class: "conv-bottom" },
          h("span", { class: "conv-preview" }, preview(c)),
          statusBadge(c.status)),
        h("div", { class: "conv-bottom muted conv-assignee" },
          `${pt("assignee")}: ${c.assignee ? c.assignee.name : pt("unassigned")}`))));
}

async function open(id) {
  for (const li of resultsEl.querySelectorAll(".result-item")) {
    li.classList.toggle("selected", li.dataset.conversationId === String(id));
  }
  fill(threadEl, h("p", { class: "thread-empty muted" }, pt("loading")));
  try {
    const data = await api(`/api/v1/archive/conversations/${id}`);
    renderConversation(data);
    history.replaceState(null, "", `#conversation-${id}`);
  } catch (err) {
    fill(threadEl, h("p", { class: "thread-empty muted" }, pt("error", { detail: err.message })));
  }
}

function renderConversation({ conversation: c, contact, messages }) {
  const list = h("ul", { class: "messages", id: "archive-messages" });
  for (const m of messages) {
    const li = renderMessage(m, { me, onRetry: () => {} });
    // Read-only: no retry buttons, and a private note says so in words too.
    for (const button of li.querySelectorAll("button")) button.remove();
    list.append(li);
  }
  const tags = (contact.tags || []).map((tag) => h("span", { class: "tag tag-static" }, tag));
  fill(threadEl,
    h("header", { class: "thread-header" },
      h("div", { class: "thread-title" },
        h("h2", {}, contact.name || pt("no_name")),
        h("div", { class: "thread-sub muted" },
          channelIcon(c.channel.type, c.channel.name), c.channel.name, " · ",
          pt("conversation_n", { id: c.id }), " · ", pt("messages_count", { n: messages.length }),
          contact.phone ? ` · ${contact.phone}` : "", contact.email ? ` · ${contact.email}` : "")),
      h("div", { class: "thread-actions" },
        tags,
        statusBadge(c.status),
        h("span", { class: "badge" }, `${pt("assignee")}: ${c.assignee ? c.assignee.name : pt("unassigned")}`),
        h("span", { class: "badge badge-shared", id: "read-only-flag" }, pt("read_only")),
        h("button", { type: "button", class: "btn btn-small", onclick: () => window.print() }, pt("print")))),
    h("div", { class: "history" }, list));
}

function fillSelects(channels, userItems) {
  const channelSelect = el("f-channel");
  for (const ch of channels) {
    channelSelect.append(h("option", { value: String(ch.id) }, ch.archived ? `${ch.name} · ${pt("archived")}` : ch.name));
  }
  const agentSelect = el("f-agent");
  const sorted = [...userItems].sort((a, b) => Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
  for (const u of sorted) {
    agentSelect.append(h("option", { value: String(u.id) }, u.active ? u.name : `${u.name}${pt("inactive_suffix")}`));
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
form.addEventListener("reset", () => setTimeout(run, 0));
for (const id of ["f-channel", "f-agent", "f-status", "f-since", "f-until"]) {
  el(id).addEventListener("change", () => run());
}
moreButton.addEventListener("click", () => {
  if (!state.loading && state.cursor) loadPage(false);
});

async function start() {
  const [channels, userPage] = await Promise.all([
    api("/api/v1/channels?limit=200"),
    api("/api/v1/users?limit=200"),
  ]);
  fillSelects(channels.items, userPage.items);
  await run();
  const match = location.hash.match(/^#conversation-(\d+)$/);
  if (match) open(Number(match[1]));
}

start().catch((err) => toast(pt("error", { detail: err.message }), "error"));
