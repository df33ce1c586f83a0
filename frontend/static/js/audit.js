// The admins' audit log: who assigned, deactivated, exported or read what, and when.
// Read-only (the log is append-only): newest first, filtered, paged with the API's cursor.
// Every value from the log is text: labels and key=value details go in as text nodes.

import { api, query } from "./api.js";
import { fill, fullTime, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";

const form = document.getElementById("audit-filters");
const rowsEl = document.getElementById("audit-rows");
const moreButton = document.getElementById("audit-more");
const el = (id) => document.getElementById(id);
const PAGE = 50;

let state = { params: {}, cursor: null, loading: false, token: 0 };
let userNames = new Map();
let channelNames = new Map();

/** A known code's label, else the code itself (a new action still shows). */
function label(prefix, code) {
  const key = `${prefix}${String(code).replace(/\./g, "_")}`;
  const text = pt(key);
  return text === key ? String(code) : text;
}

// Details whose value is a member's id: the name is shown beside it.
const USER_KEYS = {
  "conversation.assigned": ["from", "to"],
  "conversation.requeued": ["from"],
  "user.deactivated": ["successor"],
};

function detailValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function detailItems(entry) {
  const userKeys = USER_KEYS[entry.action] || [];
  return Object.entries(entry.details || {}).map(([key, value]) => {
    let text = `${key}=${detailValue(value)}`;
    if (userKeys.includes(key) && typeof value === "number" && userNames.has(value)) {
      text += ` (${userNames.get(value)})`;
    }
    return h("span", { class: "audit-detail" }, text);
  });
}

/** A member's name for a user id in the details ("nobody" for null). */
function userName(id) {
  if (id === null || id === undefined) return pt("nobody");
  return userNames.get(id) || `#${id}`;
}

function fieldList(fields) {
  return fields.map((f) => label("field_", f)).join(pt("list_sep"));
}

function filterList(details) {
  const parts = Object.entries(details || {}).map(([k, v]) => `${k}=${detailValue(v)}`);
  return parts.length ? parts.join(pt("list_sep")) : pt("no_filters");
}

function channelList(ids) {
  if (!Array.isArray(ids) || !ids.length) return pt("every_channel");
  return ids.map((id) => channelNames.get(id) || `#${id}`).join(pt("list_sep"));
}

/** The entry as a sentence in the page's language; null when the action is unknown. */
function sentence(entry, object) {
  const key = `say_${entry.action.replace(/\./g, "_")}`;
  if (pt(key) === key) return null;
  const d = entry.details || {};
  const vars = { object, email: detailValue(d.email), name: detailValue(d.name), type: detailValue(d.type),
    reason: detailValue(d.reason), shortcut: detailValue(d.shortcut), token: detailValue(d.token) };
  switch (entry.action) {
    case "conversation.assigned":
    case "conversation.requeued":
      Object.assign(vars, { from: userName(d.from), to: userName(d.to) });
      break;
    case "conversation.status_changed":
      Object.assign(vars, { from: label("status_", d.from), to: label("status_", d.to) });
      break;
    case "contact.updated":
      vars.fields = fieldList(Array.isArray(d.fields) ? d.fields : []);
      break;
    case "user.updated":
      vars.fields = fieldList(Object.keys(d));
      break;
    case "user.created":
      Object.assign(vars, { role: label("role_", d.role), channels: channelList(d.channels) });
      break;
    case "user.deactivated":
      vars.successor = userName(d.successor);
      break;
    case "archive.listed":
    case "archive.exported":
    case "search.queried":
      vars.filters = filterList(d);
      break;
    default:
      break;
  }
  let text = pt(key, vars);
  if (entry.action === "conversation.assigned" && d.rule) {
    text += pt("say_rule", { rule: label("rule_", String(d.rule).replace(/ /g, "_")) });
  }
  return text;
}

function auditRow(entry) {
  const actor = entry.actor.id === null ? pt("system_actor") : entry.actor.name;
  const object = entry.object_id
    ? `${label("obj_", entry.object_type)} #${entry.object_id}`
    : label("obj_", entry.object_type);
  const said = sentence(entry, object);
  // The raw details stay one hover away: the sentence is for reading, the codes for checking.
  const details = said === null ? detailItems(entry)
    : h("span", { class: "audit-sentence", title: JSON.stringify(entry.details || {}) }, said);
  return h("tr", { class: "audit-row", dataset: { auditId: String(entry.id), action: entry.action } },
    h("td", { class: "audit-time" },
      h("time", { datetime: entry.created_at, title: entry.created_at }, fullTime(entry.created_at))),
    h("td", { class: "audit-actor" }, actor),
    h("td", { class: "audit-action" }, h("span", { title: entry.action }, label("act_", entry.action))),
    h("td", { class: "audit-object" }, object),
    h("td", { class: "audit-details" }, details));
}

function filters() {
  return {
    action: el("f-action").value,
    actor_id: el("f-actor").value,
    object_type: el("f-object-type").value,
    object_id: el("f-object-id").value.trim(),
  };
}

async function run() {
  state = { ...state, params: filters(), cursor: null, token: state.token + 1 };
  fill(rowsEl, h("tr", { class: "empty-row" }, h("td", { colspan: "5", class: "muted" }, pt("loading"))));
  await loadPage(true);
}

async function loadPage(first) {
  const token = state.token;
  state.loading = true;
  moreButton.disabled = true;
  try {
    const data = await api(`/api/v1/audit${query({ ...state.params, cursor: state.cursor, limit: PAGE })}`);
    if (token !== state.token) return;
    if (first) rowsEl.replaceChildren();
    for (const entry of data.items) rowsEl.append(auditRow(entry));
    if (first && !data.items.length) {
      rowsEl.append(h("tr", { class: "empty-row" }, h("td", { colspan: "5", class: "muted" }, pt("empty"))));
    }
    state.cursor = data.next_cursor;
    moreButton.hidden = !data.next_cursor;
  } catch (err) {
    if (first) rowsEl.replaceChildren();
    toast(pt("error", { detail: err.message }), "error");
  } finally {
    state.loading = false;
    moreButton.disabled = false;
  }
}

function fillActors(items) {
  const select = el("f-actor");
  const sorted = [...items].sort((a, b) => Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
  for (const u of sorted) {
    select.append(h("option", { value: String(u.id) }, u.active ? u.name : `${u.name}${pt("inactive_suffix")}`));
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
form.addEventListener("reset", () => setTimeout(run, 0));
for (const id of ["f-action", "f-actor", "f-object-type", "f-object-id"]) {
  el(id).addEventListener("change", () => run());
}
moreButton.addEventListener("click", () => {
  if (!state.loading && state.cursor) loadPage(false);
});

async function start() {
  const [userPage, channelPage] = await Promise.all([
    api("/api/v1/users?limit=200"),
    api("/api/v1/channels?limit=200"),
  ]);
  userNames = new Map(userPage.items.map((u) => [u.id, u.name]));
  channelNames = new Map(channelPage.items.map((c) => [c.id, c.name]));
  fillActors(userPage.items);
  await run();
}

start().catch((err) => toast(pt("error", { detail: err.message }), "error"));
