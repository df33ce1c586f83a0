// Huiliu website chat widget. Served by GET /widget/{id}.js inside
// `(function (CONFIG, CSS) { ... })(settings, stylesheet)`, so nothing here leaks out
// but `window.Huiliu`. Rules: no framework, no innerHTML (every text, the customer's
// and the agent's, goes in through textContent), styles in an open shadow root.
"use strict";

if (window.Huiliu && window.Huiliu.version) return; // the snippet pasted twice

const CH = CONFIG.channel;
const BASE = CONFIG.base;
const PREFIX = "huiliu:" + CH + ":";
// The site's language first (its greeting and pages are in it), then the browser's:
// a Chinese shop visited from an English browser must not get a half-English widget.
const ZH = /^zh/i.test(document.documentElement.lang || navigator.language || "");
// The words come from the server's catalog (app/i18n, section "widget").
const T = ZH ? CONFIG.texts.zh : CONFIG.texts.en;

// --- storage: localStorage, else a cookie for the token, else memory --------------

const memory = {};
function load(key) {
  try {
    const v = localStorage.getItem(PREFIX + key);
    if (v !== null) return v;
  } catch (e) { /* storage disabled: fall through */ }
  if (key === "token") {
    const m = document.cookie.match(new RegExp("(?:^|; )huiliu_" + CH + "=([^;]*)"));
    if (m) return decodeURIComponent(m[1]);
  }
  return key in memory ? memory[key] : null;
}
function save(key, value) {
  memory[key] = value;
  try {
    if (value === null) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, value);
    return;
  } catch (e) { /* fall back below */ }
  if (key === "token") {
    const age = value === null ? 0 : 31536000;
    document.cookie = "huiliu_" + CH + "=" + encodeURIComponent(value || "") +
      "; path=/; max-age=" + age + "; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }
}
function loadJSON(key, fallback) {
  try { return JSON.parse(load(key)) || fallback; } catch (e) { return fallback; }
}

// --- state -------------------------------------------------------------------------

const messages = new Map(); // id -> message from the server
let outbox = loadJSON("outbox", []); // [{echo_id, text}] not yet acknowledged, in order
const failed = new Map(); // echo_id -> reason, refused for good
let seenId = Number(load("seen") || 0); // newest agent message the visitor has seen
let firstSync = load("seen") === null; // a new device: the history it loads is not "unread"
let lastNotified = Number(load("last") || 0); // newest message passed to on("message")
let readUpTo = 0;
let profile = loadJSON("profile", null); // pre-chat answers until the server saved them
let formDone = load("form") === "1";
let identity = null; // identify() payload, sent with every hello
let agentsOnline = true;
let known = {};
let agent = null;
let isOpen = false;
const listeners = [];

// --- DOM -----------------------------------------------------------------------------

function h(tag, attrs, kids) {
  const el = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k === "text") el.textContent = attrs[k];
    else if (k === "class") el.className = attrs[k];
    else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
    else if (attrs[k] === true) el.setAttribute(k, "");
    else if (attrs[k] !== false && attrs[k] != null) el.setAttribute(k, attrs[k]);
  }
  for (const kid of kids || []) if (kid) el.append(kid);
  return el;
}
function icon(d) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}
const ICON_CHAT = "M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1L4 21.5l4.6-2.2c1.1.3 2.2.5 3.4.5 5.5 0 10-3.8 10-8.5S17.5 3 12 3z";
const ICON_IMAGE = "M21 19V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2zM8.5 13.5l2.5 3 3.5-4.5 4.5 6H5l3.5-4.5z";
const ICON_SEND = "M2 21l21-9L2 3v7l15 2-15 2z";

const host = document.createElement("huiliu-widget");
host.id = "huiliu-widget";
const root = host.attachShadow({ mode: "open" });
host.style.setProperty("--hl-color", CONFIG.color);
try { // constructable stylesheets are not blocked by the host page's style-src CSP
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [sheet];
} catch (e) {
  root.append(h("style", { text: CSS }));
}

const badge = h("span", { class: "badge", hidden: true });
const launcher = h("button", { class: "launcher", type: "button", "aria-label": T.open,
  onclick: () => (isOpen ? api.close() : api.open()) }, [icon(ICON_CHAT), badge]);
const avatar = h("div", { class: "avatar" });
const title = h("div", { class: "title", text: CONFIG.title });
const dot = h("span", { class: "dot" });
const status = h("span", { text: T.connecting });
const notice = h("div", { class: "notice", role: "status", hidden: true });
const log = h("div", { class: "log", role: "log", "aria-live": "polite" });
const typing = h("div", { class: "typing", hidden: true });
const form = h("form", { class: "form", hidden: true, novalidate: true });
const textarea = h("textarea", { rows: "1", placeholder: T.placeholder, "aria-label": T.placeholder,
  maxlength: String(CONFIG.maxChars) });
const fileInput = h("input", { type: "file", accept: CONFIG.imageTypes.join(","), hidden: true });
const composer = h("div", { class: "composer" }, [
  h("button", { class: "icon", type: "button", title: T.image, "aria-label": T.image,
    onclick: () => fileInput.click() }, [icon(ICON_IMAGE)]),
  textarea,
  h("button", { class: "icon send", type: "button", title: T.send, "aria-label": T.send,
    onclick: sendTyped }, [icon(ICON_SEND)]),
  fileInput,
]);
const panel = h("section", { class: "panel", role: "dialog", "aria-label": CONFIG.title, hidden: true }, [
  h("header", {}, [avatar, h("div", { class: "who" }, [title, h("div", { class: "sub" }, [dot, status])]),
    h("button", { class: "x", type: "button", "aria-label": T.close, text: "×", onclick: () => api.close() })]),
  notice, log, typing, form, composer, h("div", { class: "brand", text: T.brand }),
]);
root.append(panel, launcher);

function mount() { if (!host.isConnected) document.body.append(host); }
if (document.body) mount();
else document.addEventListener("DOMContentLoaded", mount);

// --- rendering ----------------------------------------------------------------------

const rows = new Map(); // message id or "e:"+echo_id -> row element
const greeting = h("div", { class: "msg agent" }, [h("div", { class: "bubble", text: CONFIG.greeting || T.greeting })]);
log.append(greeting);

function time(iso) {
  const d = iso ? new Date(iso) : new Date();
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}
function mediaUrl(url) { // only our own signed links
  return typeof url === "string" && url.indexOf("/widget/" + CH + "/media/") === 0 ? BASE + url : null;
}
function renderBubble(text, attachments) {
  const bubble = h("div", { class: "bubble" });
  for (const att of attachments || []) {
    const src = att.kind === "image" && mediaUrl(att.url);
    if (src) bubble.append(h("img", { src: src, alt: T.picture, loading: "lazy", referrerpolicy: "no-referrer" }));
    else if (att.kind === "image") bubble.append(h("span", { text: T.picture }));
    else if (att.kind === "file") {
      const href = mediaUrl(att.url);
      const label = "📄 " + (att.file_name || T.file);
      bubble.append(href ? h("a", { class: "file", href: href, download: att.file_name || "", rel: "noopener", text: label })
        : h("span", { text: label }));
    }
  }
  if (text) bubble.append(h("span", { text: text }));
  return bubble;
}
function place(row, id) { // in id order; pending rows (not yet stored) stay last
  for (const el of log.children) {
    if (el === row) continue;
    if (el.dataset.echo || (el.dataset.id && Number(el.dataset.id) > id)) {
      log.insertBefore(row, el);
      return;
    }
  }
  log.append(row);
}
function renderSurvey(m) {
  // The CSAT survey: 1-5 buttons, an optional comment, sent as one message ("4 很好"),
  // which the product records on the rated conversation (one answer: then it closes).
  if (!m.survey || !m.survey.scores || !m.survey.scores.length) return null;
  const key = "rated:" + m.id;
  if (load(key)) return h("div", { class: "survey done", text: T.survey_thanks });
  let score = 0;
  const comment = h("input", { class: "survey-comment", type: "text", maxlength: "200",
    placeholder: T.survey_comment, hidden: true });
  const submit = h("button", { type: "button", class: "primary survey-submit", text: T.survey_submit, hidden: true });
  const buttons = m.survey.scores.map((n) => h("button", { type: "button", class: "survey-score",
    "data-score": String(n), title: T["survey_" + n] || String(n), text: String(n),
    onclick: (ev) => {
      score = n;
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === ev.currentTarget));
      comment.hidden = false; submit.hidden = false; comment.focus();
    } }));
  const box = h("div", { class: "survey" }, [h("div", { class: "survey-scores" }, buttons), comment, submit]);
  submit.addEventListener("click", () => {
    if (!score) return;
    const note = comment.value.trim().replace(/\s+/g, " ").slice(0, 200);
    queueText(note ? score + " " + note : String(score));
    save(key, "1");
    box.replaceWith(h("div", { class: "survey done", text: T.survey_thanks }));
  });
  return box;
}
function renderMessage(m) {
  const mine = m.from === "visitor";
  const row = h("div", { class: "msg " + (mine ? "visitor" : "agent"), "data-id": String(m.id) }, [
    !mine && m.name ? h("div", { class: "name", text: m.name }) : null,
    renderBubble(m.text, m.attachments),
    mine ? null : renderSurvey(m),
    h("div", { class: "meta", text: time(m.created_at) }),
  ]);
  for (const key of [m.id, "e:" + m.echo_id]) {
    const old = rows.get(key);
    if (old) { old.remove(); rows.delete(key); }
  }
  if (m.echo_id) failed.delete(m.echo_id);
  rows.set(m.id, row);
  place(row, m.id);
}
function renderPending(item) {
  const row = h("div", { class: "msg visitor pending", "data-echo": item.echo_id }, [
    renderBubble(item.text, item.image ? [{ kind: "image" }] : []),
    h("div", { class: "meta" }),
  ]);
  const old = rows.get("e:" + item.echo_id);
  rows.set("e:" + item.echo_id, row);
  if (old) old.replaceWith(row); else log.append(row);
}
function refreshStatuses() {
  // One status line: under the visitor's newest message (plus every pending or failed one).
  let last = null;
  for (const [key, row] of rows) {
    if (typeof key === "number" && messages.get(key).from === "visitor") {
      row.lastChild.textContent = time(messages.get(key).created_at);
      if (!last || key > last) last = key;
    }
  }
  if (last) rows.get(last).lastChild.textContent += " · " + (last <= readUpTo ? T.read : T.delivered);
  for (const [key, row] of rows) {
    if (typeof key !== "number") {
      const echo = key.slice(2);
      row.classList.toggle("failed", failed.has(echo));
      row.lastChild.textContent = failed.has(echo) ? T.failed + ": " + failed.get(echo)
        : ready ? T.sending : T.waiting;
    }
  }
}
function scrollDown() { log.scrollTop = log.scrollHeight; }

function updateHeader() {
  avatar.textContent = "";
  if (agent && agent.avatar_url) avatar.append(h("img", { src: agent.avatar_url, alt: "", referrerpolicy: "no-referrer" }));
  else avatar.textContent = ((agent && agent.name) || CONFIG.title || "?").trim().charAt(0).toUpperCase();
  dot.classList.toggle("on", agentsOnline);
  status.textContent = !ready && !everReady ? T.connecting : agent && agent.name ? agent.name
    : agentsOnline ? T.online : T.away;
}
function updateBadge() {
  let unread = 0;
  for (const m of messages.values()) if (m.from === "agent" && m.id > seenId) unread++;
  badge.hidden = unread === 0 || (isOpen && !document.hidden);
  badge.textContent = unread > 9 ? "9+" : String(unread);
}
function markSeen() {
  if (!isOpen || document.hidden) return;
  let newest = seenId;
  for (const m of messages.values()) if (m.from === "agent" && m.id > newest) newest = m.id;
  if (newest > seenId) {
    seenId = newest;
    save("seen", String(seenId));
    send({ type: "seen", message_id: seenId });
  }
  updateBadge();
}
function showNotice(text) { notice.textContent = text || ""; notice.hidden = !text; }

function receive(m) {
  const isNew = !messages.has(m.id);
  messages.set(m.id, m);
  renderMessage(m);
  if (m.from === "agent") typing.hidden = true;
  if (isNew && m.from === "agent" && m.id > lastNotified) {
    lastNotified = m.id;
    save("last", String(m.id));
    const copy = { id: m.id, text: m.text, from: m.from, name: m.name, content_type: m.content_type,
      created_at: m.created_at, attachments: (m.attachments || []).map((a) => ({ kind: a.kind, url: mediaUrl(a.url), file_name: a.file_name })) };
    for (const fn of listeners) { try { fn(copy); } catch (e) { console.error(e); } }
  }
}

// --- forms: pre-chat, and the offline form when nobody is online ------------------------

function fieldsToAsk() {
  if (formDone || messages.size || outbox.length) return [];
  const has = (name) => known[name] || (identity && identity[name]);
  const fields = CONFIG.prechat.filter((f) => !has(f.name));
  if (fields.length) return fields;
  if (!agentsOnline && !has("email")) return [{ name: "name", required: false }, { name: "email", required: true }];
  return [];
}
function renderForm() {
  const fields = fieldsToAsk();
  form.hidden = !fields.length;
  composer.hidden = !!fields.length;
  if (!fields.length) return;
  form.textContent = "";
  const offline = !CONFIG.prechat.length || !agentsOnline;
  form.append(h("p", { text: offline && !agentsOnline ? CONFIG.offline || T.offline : T.prechat }));
  for (const f of fields) {
    const type = f.name === "email" ? "email" : f.name === "phone" ? "tel" : "text";
    form.append(h("label", {}, [
      h("span", { text: T[f.name] + (f.required ? " (" + T.required + ")" : "") }),
      h("input", { name: f.name, type: type, required: f.required, maxlength: f.name === "email" ? "254" : "100",
        autocomplete: f.name === "phone" ? "tel" : f.name }),
    ]));
  }
  form.append(h("button", { class: "primary", type: "submit", text: T.start }));
}
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const fields = {};
  for (const input of form.querySelectorAll("input")) {
    input.value = input.value.trim();
    if (!input.checkValidity()) { input.reportValidity(); return; }
    if (input.value) fields[input.name] = input.value;
  }
  profile = fields;
  formDone = true;
  save("profile", JSON.stringify(profile));
  save("form", "1");
  send({ type: "prechat", fields: profile });
  renderForm();
  textarea.focus();
});

// --- the connection ---------------------------------------------------------------

let ws = null;
let ready = false;
let everReady = false;
let attempt = 0;
let retryTimer = null;
let inflight = null;
let inflightTimer = null;
let lastFrameAt = 0;
let stopped = false;
let agentTypingTimer = null;
let sentWithHello = [null, null]; // identify() and pre-chat answers as of the last hello

function send(frame) {
  if (ws && ws.readyState === 1 && (ready || frame.type === "hello")) {
    ws.send(JSON.stringify(frame));
    return true;
  }
  return false;
}
function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (stopped || (ws && ws.readyState <= 1)) return;
  const socket = new WebSocket(BASE.replace(/^http/, "ws") + "/widget/" + CH + "/ws");
  ws = socket;
  socket.onopen = () => {
    lastFrameAt = Date.now();
    let last = 0;
    for (const id of messages.keys()) if (id > last) last = id;
    const hello = { type: "hello", token: load("token"), last_message_id: last };
    if (identity) hello.identify = identity;
    if (profile) hello.profile = profile;
    sentWithHello = [identity, profile];
    socket.send(JSON.stringify(hello));
  };
  socket.onmessage = (ev) => {
    lastFrameAt = Date.now();
    let frame;
    try { frame = JSON.parse(ev.data); } catch (e) { return; }
    onFrame(frame);
  };
  socket.onclose = (ev) => {
    if (ws !== socket) return;
    ws = null;
    ready = false;
    inflight = null;
    clearTimeout(inflightTimer);
    if (ev.code === 4403 || ev.code === 4404) { // refused for good: this site, this channel
      stopped = true;
      showNotice(T.unavailable);
      return;
    }
    showNotice(T.reconnecting);
    refreshStatuses();
    updateHeader();
    // Exponential backoff with equal jitter: 1-2 s, 2-4 s, ... up to 15-30 s; longer when rate limited.
    const base = Math.min(30000, 2000 * Math.pow(2, attempt++));
    let delay = base / 2 + Math.random() * base / 2;
    if (ev.code === 4429) delay = Math.max(delay, 10000 + Math.random() * 5000);
    retryTimer = setTimeout(connect, delay);
  };
}
function reconnectNow() {
  if (!ws && !stopped) { attempt = 0; connect(); }
}
window.addEventListener("online", reconnectNow);
document.addEventListener("visibilitychange", () => { if (!document.hidden) { reconnectNow(); markSeen(); } });
setInterval(() => { // heartbeat both ways; a silent socket is a dead one
  if (!ws || ws.readyState !== 1) return;
  if (Date.now() - lastFrameAt > 65000) ws.close();
  else send({ type: "ping" });
}, 25000);

function onFrame(f) {
  switch (f.type) {
    case "welcome":
      save("token", f.token);
      agentsOnline = !!f.agents_online;
      known = f.known || {};
      break;
    case "ready":
      ready = everReady = true;
      attempt = 0;
      showNotice("");
      if (firstSync) {
        firstSync = false;
        for (const m of messages.values()) if (m.from === "agent" && m.id > seenId) seenId = m.id;
        save("seen", String(seenId));
      }
      // Given while the hello was on its way: send them now.
      if (identity && identity !== sentWithHello[0]) send(Object.assign({ type: "identify" }, identity));
      if (profile && profile !== sentWithHello[1]) send({ type: "prechat", fields: profile });
      renderForm();
      pump();
      break;
    case "message":
      receive(f.message);
      break;
    case "ack":
      if (f.message) receive(f.message);
      if (inflight && inflight.echo_id === f.echo_id) {
        outbox.shift();
        save("outbox", JSON.stringify(outbox));
        inflight = null;
        clearTimeout(inflightTimer);
        pump();
      }
      break;
    case "error":
      if (f.echo_id && inflight && inflight.echo_id === f.echo_id) {
        inflight = null;
        clearTimeout(inflightTimer);
        if (f.code === 429 || f.code >= 500) { // nothing stored: keep it queued, send again later
          if (f.code === 429) showNotice(T.tooFast);
          holdUntil = Date.now() + 1000 * Math.max(1, f.retry_after || 3);
          setTimeout(() => { showNotice(""); pump(); }, holdUntil - Date.now());
        } else { // refused for good (too long, malformed): keep it visible, stop retrying it
          failed.set(outbox.shift().echo_id, f.detail || "");
          save("outbox", JSON.stringify(outbox));
          pump();
        }
      }
      break;
    case "typing":
      typing.textContent = (f.name || T.agent) + T.typing;
      typing.hidden = !f.typing;
      clearTimeout(agentTypingTimer);
      if (f.typing) agentTypingTimer = setTimeout(() => { typing.hidden = true; }, 6000);
      break;
    case "read":
      readUpTo = Math.max(readUpTo, f.up_to || 0);
      break;
    case "agent":
      agent = { name: f.name, avatar_url: typeof f.avatar_url === "string" && /^https:\/\//.test(f.avatar_url) ? f.avatar_url : null };
      break;
    case "heartbeat":
      agentsOnline = !!f.agents_online;
      break;
    case "prechat":
      if (f.saved) { profile = null; save("profile", null); }
      break;
    case "identified":
      save("token", f.token);
      known = f.known || {};
      if (f.reset) { // another person's history: start from theirs
        messages.clear();
        for (const [key, row] of rows) if (typeof key === "number") { row.remove(); rows.delete(key); }
        readUpTo = 0;
        agent = null;
      }
      break;
  }
  updateHeader();
  updateBadge();
  refreshStatuses();
  if (isOpen) { markSeen(); scrollDown(); }
}

// --- sending -------------------------------------------------------------------------

function echoId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
let holdUntil = 0; // told to slow down (429) until then
function pump() { // one message in flight at a time, so they arrive in the order typed
  if (!ready || inflight || !outbox.length || Date.now() < holdUntil) return;
  inflight = outbox[0];
  send({ type: "message", echo_id: inflight.echo_id, text: inflight.text });
  clearTimeout(inflightTimer);
  inflightTimer = setTimeout(() => { if (ws) ws.close(); }, 15000); // no answer: reconnect, resend
}
function queueText(text) {
  const item = { echo_id: echoId(), text: text.slice(0, CONFIG.maxChars) };
  outbox.push(item);
  save("outbox", JSON.stringify(outbox));
  renderPending(item);
  refreshStatuses();
  scrollDown();
  pump();
}
function sendTyped() {
  const text = textarea.value.trim();
  if (!text) return;
  const item = { echo_id: echoId(), text: text.slice(0, CONFIG.maxChars) };
  outbox.push(item);
  save("outbox", JSON.stringify(outbox));
  textarea.value = "";
  autosize();
  renderPending(item);
  refreshStatuses();
  scrollDown();
  stopTyping();
  pump();
}
let typingSent = 0;
let typingTimer = null;
function stopTyping() {
  clearTimeout(typingTimer);
  if (typingSent) { typingSent = 0; send({ type: "typing", typing: false }); }
}
function autosize() {
  textarea.style.height = "auto";
  textarea.style.height = Math.min(textarea.scrollHeight + 2, 120) + "px";
}
textarea.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { // not while an IME composes
    ev.preventDefault();
    sendTyped();
  }
});
textarea.addEventListener("input", () => {
  autosize();
  if (Date.now() - typingSent > 3000 && textarea.value.trim()) {
    typingSent = Date.now();
    send({ type: "typing", typing: true });
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 4000);
});

fileInput.addEventListener("change", () => {
  const file = fileInput.files && fileInput.files[0];
  fileInput.value = "";
  if (!file) return;
  if (file.size > CONFIG.maxImage) { showNotice(T.tooBig); return; }
  if (CONFIG.imageTypes.indexOf(file.type) < 0) { showNotice(T.badType); return; }
  const token = load("token");
  if (!token || !ready) { showNotice(T.waiting); return; }
  const item = { echo_id: echoId(), text: "", image: true };
  renderPending(item);
  rows.get("e:" + item.echo_id).lastChild.textContent = T.uploading;
  scrollDown();
  const body = new FormData();
  body.append("token", token);
  body.append("echo_id", item.echo_id);
  body.append("file", file);
  fetch(BASE + "/widget/" + CH + "/upload", { method: "POST", body: body, credentials: "omit" })
    .then((r) => r.json().then((data) => ({ ok: r.ok, status: r.status, data: data })))
    .then((res) => {
      if (!res.ok) throw new Error(res.status === 429 ? T.tooFast : (res.data && res.data.detail) || "");
      receive(res.data.message);
      refreshStatuses();
    })
    .catch((err) => {
      failed.set(item.echo_id, (err && err.message) || T.uploadFailed);
      refreshStatuses();
    });
});

// --- the public API (CONTRACT section 7) --------------------------------------------

const api = {
  version: 1,
  open() {
    isOpen = true;
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    renderForm();
    scrollDown();
    markSeen();
    (form.hidden ? textarea : form.querySelector("input") || textarea).focus();
  },
  close() {
    isOpen = false;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    updateBadge();
  },
  identify(user) {
    if (!user || typeof user !== "object") return;
    identity = {};
    for (const k of ["id", "hmac", "name", "email", "phone"]) {
      if (user[k] != null) identity[k] = String(user[k]);
    }
    send(Object.assign({ type: "identify" }, identity));
  },
  on(event, fn) {
    if (event === "message" && typeof fn === "function") listeners.push(fn);
  },
  // Forget this visitor (a shared computer after the site's logout).
  reset() {
    save("token", null);
    save("outbox", null);
    save("profile", null);
    save("form", null);
    save("seen", null);
    save("last", null);
    location.reload();
  },
};

// Calls queued before the script loaded: window.Huiliu = {q: [["open"], ...]}.
const queued = (window.Huiliu && Array.isArray(window.Huiliu.q)) ? window.Huiliu.q : [];
window.Huiliu = Object.freeze(api);
for (const call of outbox) renderPending(call);
updateHeader();
refreshStatuses();
connect();
for (const call of queued) {
  if (Array.isArray(call) && typeof api[call[0]] === "function") api[call[0]].apply(null, call.slice(1));
}
window.dispatchEvent(new Event("huiliu:ready"));
