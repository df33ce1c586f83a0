// The admins' page: members (add, edit role and channels, deactivate with a successor,
// reactivate) and channels
// (webhook URL, re-authorization state, archive/unarchive). Every change asks first.

import { api } from "./api.js";
import { channelIcon, fill, h, toast } from "./dom.js";
import { pt } from "./archive-texts.js";
import { serviceButton } from "./admin-service.js";

const root = document.getElementById("app");
const meId = Number(root.dataset.userId);
const publicUrl = root.dataset.publicUrl || location.origin;
const dialog = document.getElementById("admin-dialog");
const usersEl = document.getElementById("users");
const channelsEl = document.getElementById("channels");

let users = [];
let channels = [];

function channelNames(ids) {
  if (!ids) return pt("every_channel");
  const names = new Map(channels.map((c) => [c.id, c.name]));
  return ids.map((id) => names.get(id) || `#${id}`).join("、");
}

function userRow(u) {
  // Nobody deactivates themselves here: the last admin would lock everyone out.
  const edit = h("button", { type: "button", class: "btn btn-small edit-user", onclick: () => editUser(u) }, pt("edit_user"));
  const action = u.id === meId ? null : u.active
    ? h("button", { type: "button", class: "btn btn-small btn-danger-ghost deactivate",
        onclick: () => confirmDeactivate(u) }, pt("deactivate"))
    : h("button", { type: "button", class: "btn btn-small reactivate", onclick: () => confirmReactivate(u) }, pt("reactivate"));
  return h("tr", { class: u.active ? "user-row" : "user-row inactive", dataset: { userId: String(u.id) } },
    h("td", {}, u.name, u.id === meId ? pt("me_suffix") : ""),
    h("td", { class: "muted" }, u.email),
    h("td", {}, pt(`role_${u.role}`)),
    h("td", {}, h("span", { class: `badge user-state ${u.active ? "badge-open" : "badge-warn"}` },
      u.active ? pt("is_active") : pt("is_inactive"))),
    h("td", {}, channelNames(u.channel_ids)),
    h("td", { class: "row-actions" }, edit, " ", action));
}

function channelRow(c) {
  const url = `${publicUrl}/webhooks/${encodeURIComponent(c.type)}/${c.id}`;
  let status = h("span", { class: "badge badge-open" }, pt("channel_ok"));
  if (c.archived) status = h("span", { class: "badge" }, pt("archived"));
  else if (c.needs_reauthorization) {
    status = h("span", { class: "badge badge-warn", title: c.status_reason || "" }, pt("needs_reauth"));
  }
  return h("tr", { class: "channel-row", dataset: { channelId: String(c.id) } },
    h("td", { class: "channel-name" }, channelIcon(c.type, c.name), " ", c.name),
    h("td", {}, h("code", {}, c.type)),
    h("td", {}, h("code", { class: "webhook-url" }, url)),
    h("td", {}, status, c.needs_reauthorization && c.status_reason
      ? h("div", { class: "muted status-reason-text" }, c.status_reason) : null,
      c.needs_reauthorization && c.type === "douyin" && !c.archived
        ? h("button", { type: "button", class: "btn btn-small btn-primary reauthorize", onclick: () => reauthorize(c) }, pt("reauthorize"))
        : null),
    h("td", {}, serviceButton(c), " ", c.archived
      ? h("button", { type: "button", class: "btn btn-small unarchive", onclick: () => confirmChannel(c, false) }, pt("unarchive"))
      : h("button", { type: "button", class: "btn btn-small btn-danger-ghost archive", onclick: () => confirmChannel(c, true) }, pt("archive"))));
}

function render() {
  fill(usersEl, users.map(userRow));
  fill(channelsEl, channels.map(channelRow));
}

/** A modal asking to confirm; resolves with the form's data, or null when cancelled. */
function ask(title, body, { extra = null, confirm = pt("confirm"), danger = false } = {}) {
  return new Promise((resolve) => {
    const formEl = h("form", { method: "dialog", class: "canned-form confirm-form" },
      h("div", { class: "dialog-head" }, h("h2", {}, title)),
      h("p", {}, body),
      extra,
      h("div", { class: "form-actions" },
        h("button", { type: "button", class: "btn", value: "cancel", onclick: () => dialog.close("cancel") }, pt("cancel")),
        h("button", { type: "submit", class: danger ? "btn btn-primary btn-danger" : "btn btn-primary", value: "ok", id: "dialog-confirm" }, confirm)));
    fill(dialog, formEl);
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? new FormData(formEl) : null);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function confirmDeactivate(u) {
  const select = h("select", { name: "reassign_to", id: "reassign-to" },
    h("option", { value: "" }, pt("reassign_auto")),
    users.filter((o) => o.active && o.id !== u.id).map((o) => h("option", { value: String(o.id) }, o.name)));
  const workload = h("p", { class: "muted", id: "workload" });
  const extra = h("div", {}, workload, h("label", {}, pt("reassign_to"), select));
  api(`/api/v1/users/${u.id}/workload`)
    .then((w) => { workload.textContent = pt("workload", w); })
    .catch(() => {});
  const data = await ask(pt("deactivate_title", { name: u.name }), pt("deactivate_body"),
    { extra, confirm: pt("confirm_deactivate"), danger: true });
  if (!data) return;
  const to = data.get("reassign_to");
  try {
    const result = await api(`/api/v1/users/${u.id}/deactivate`, {
      method: "POST", body: { reassign_to: to ? Number(to) : null },
    });
    replaceUser(result.user);
    toast(pt("deactivated", { name: u.name, n: result.handovers.length }));
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

async function confirmReactivate(u) {
  if (!(await ask(pt("reactivate_title", { name: u.name }), pt("reactivate_body")))) return;
  try {
    replaceUser(await api(`/api/v1/users/${u.id}/reactivate`, { method: "POST" }));
    toast(pt("reactivated", { name: u.name }));
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

async function confirmChannel(c, archive) {
  const title = pt(archive ? "archive_title_q" : "unarchive_title_q", { name: c.name });
  const body = pt(archive ? "archive_body" : "unarchive_body");
  if (!(await ask(title, body, { danger: archive }))) return;
  try {
    const updated = await api(`/api/v1/channels/${c.id}/${archive ? "archive" : "unarchive"}`, { method: "POST" });
    channels = channels.map((x) => (x.id === updated.id ? updated : x));
    render();
    toast(pt("done"));
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

/** The fields of a member's form; `u` null for a new member. */
function memberFields(u) {
  const field = (label, control) => h("label", { class: "form-field" }, label, control);
  const roles = ["agent", "supervisor", "admin"].map((r) =>
    h("option", { value: r, selected: u ? u.role === r : r === "agent" }, pt(`role_${r}`)));
  const limited = new Set((u && u.channel_ids) || []);
  const boxes = channels.filter((c) => !c.archived || limited.has(c.id)).map((c) =>
    h("label", { class: "check" },
      h("input", { type: "checkbox", name: "channel_ids", value: String(c.id), checked: limited.has(c.id) }),
      " ", c.name));
  return h("div", { class: "member-fields" },
    field(pt("name"), h("input", { name: "name", required: true, maxlength: "100", value: u ? u.name : "", id: "member-name" })),
    u ? null : field(pt("email"), h("input", { name: "email", type: "email", required: true, maxlength: "254", id: "member-email" })),
    u && u.id === meId ? null : field(pt("role"), h("select", { name: "role", id: "member-role" }, roles)),
    u ? null : field(pt("password_optional"), h("input", { name: "password", type: "password", minlength: "8", maxlength: "200", autocomplete: "new-password", id: "member-password" })),
    h("fieldset", { class: "form-field channel-boxes" }, h("legend", {}, pt("channels_limit")), boxes));
}

function channelIdsOf(data) {
  return data.getAll("channel_ids").map(Number);
}

async function addUser() {
  const data = await ask(pt("add_user_title"), "", { extra: memberFields(null), confirm: pt("add_user") });
  if (!data) return;
  const ids = channelIdsOf(data);
  try {
    const created = await api("/api/v1/users", {
      method: "POST",
      body: {
        name: data.get("name"), email: data.get("email"), role: data.get("role"),
        password: data.get("password") || null, channel_ids: ids.length ? ids : null,
      },
    });
    const { password, ...user } = created;
    users = [...users, user];
    render();
    toast(pt("user_created", { name: user.name }));
    if (password) {
      await ask(pt("initial_password_title", { name: user.name }), pt("initial_password_body"),
        { extra: h("p", {}, h("code", { id: "initial-password", class: "initial-password" }, password)), confirm: pt("done") });
    }
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

async function editUser(u) {
  const data = await ask(pt("edit_user_title", { name: u.name }), "", { extra: memberFields(u), confirm: pt("confirm") });
  if (!data) return;
  const ids = channelIdsOf(data);
  const body = ids.length ? { name: data.get("name"), channel_ids: ids } : { name: data.get("name"), every_channel: true };
  if (data.get("role")) body.role = data.get("role");
  try {
    replaceUser(await api(`/api/v1/users/${u.id}`, { method: "PATCH", body }));
    toast(pt("saved"));
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

function replaceUser(updated) {
  users = users.map((x) => (x.id === updated.id ? updated : x));
  render();
}

// --- adding a channel, renewing a Douyin grant ---------------------------------------

// Each platform's options, named as `huiliu channel create` and the platform's console
// name them: [option, required, input type].
const SETUP = {
  wechat: [["app_id", true, "text"], ["app_secret", true, "password"], ["token", true, "text"], ["aes_key", false, "text"]],
  wecom: [["corp_id", true, "text"], ["secret", true, "password"], ["token", true, "text"], ["aes_key", true, "text"],
    ["open_kfid", false, "text"], ["welcome_message", false, "text"]],
  douyin: [["client_key", true, "text"], ["client_secret", true, "password"], ["open_id", true, "text"],
    ["access_token", true, "password"], ["refresh_token", true, "password"]],
  webchat: [["allowed_origin", false, "text"]],
};

function setupFields(type) {
  return SETUP[type].map(([name, required, kind]) => h("label", { class: "form-field" },
    required ? name : `${name}${pt("optional")}`,
    h("input", { name: `cfg_${name}`, id: `cfg-${name}`, type: kind, required, maxlength: "500",
      autocomplete: kind === "password" ? "new-password" : "off",
      placeholder: name === "allowed_origin" ? "https://shop.example.com" : null })));
}

async function addChannel() {
  const typeSelect = h("select", { name: "type", id: "channel-type" },
    Object.keys(SETUP).map((type) => h("option", { value: type }, pt(`type_${type}`))));
  const fields = h("div", { class: "member-fields", id: "channel-fields" }, setupFields("wechat"));
  typeSelect.addEventListener("change", () => fill(fields, setupFields(typeSelect.value)));
  const extra = h("div", { class: "member-fields" },
    h("label", { class: "form-field" }, pt("channel_type"), typeSelect),
    h("label", { class: "form-field" }, pt("channel_name"),
      h("input", { name: "name", id: "channel-name", required: true, maxlength: "100" })),
    fields);
  const data = await ask(pt("add_channel_title"), "", { extra, confirm: pt("add_channel") });
  if (!data) return;
  const type = data.get("type");
  const config = {};
  for (const [name] of SETUP[type]) {
    const value = String(data.get(`cfg_${name}`) || "").trim();
    if (!value) continue;
    // Lists (several origins, several kf accounts) are typed separated by spaces or commas.
    config[name] = ["allowed_origin", "open_kfid"].includes(name) ? value.split(/[\s,]+/).filter(Boolean) : value;
  }
  let created;
  try {
    created = await api("/api/v1/channels", { method: "POST", body: { type, name: data.get("name"), config } });
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
    return;
  }
  channels = (await api("/api/v1/channels?limit=200")).items.sort((a, b) => a.id - b.id);
  render();
  const paste = created.webhook_url
    ? [h("p", {}, pt("webhook_paste")), h("code", { class: "webhook-url", id: "created-webhook" }, created.webhook_url)]
    : [h("p", {}, pt("embed_paste")), h("code", { class: "webhook-url", id: "created-snippet" }, created.embed_snippet || ""),
      created.identity_secret ? [h("p", {}, pt("identity_secret_label")),
        h("code", { class: "webhook-url", id: "created-secret" }, created.identity_secret)] : null];
  await ask(pt("channel_created_title", { name: created.name }), "",
    { extra: h("div", { class: "setup-steps" }, paste, h("p", { class: "muted", id: "setup-steps" }, pt(`steps_${type}`))),
      confirm: pt("done") });
}

async function reauthorize(c) {
  const field = (name) => h("label", { class: "form-field" }, name,
    h("input", { name, id: `reauth-${name}`, type: "password", required: true, maxlength: "500", autocomplete: "off" }));
  const extra = h("div", { class: "member-fields" }, field("access_token"), field("refresh_token"));
  const data = await ask(pt("reauthorize_title", { name: c.name }), pt("reauthorize_body"), { extra, confirm: pt("reauthorize") });
  if (!data) return;
  try {
    const updated = await api(`/api/v1/channels/${c.id}/reauthorize`, {
      method: "POST", body: { access_token: data.get("access_token"), refresh_token: data.get("refresh_token") },
    });
    channels = channels.map((x) => (x.id === updated.id ? updated : x));
    render();
    toast(pt("reauthorized"));
  } catch (err) {
    toast(pt("error", { detail: err.message }), "error");
  }
}

document.getElementById("add-user").addEventListener("click", () => addUser());
document.getElementById("add-channel").addEventListener("click", () => addChannel());

async function start() {
  const [userPage, channelPage] = await Promise.all([
    api("/api/v1/users?limit=200"),
    api("/api/v1/channels?limit=200"),
  ]);
  users = userPage.items.sort((a, b) => Number(b.active) - Number(a.active) || a.id - b.id);
  channels = channelPage.items.sort((a, b) => a.id - b.id);
  render();
}

start().catch((err) => toast(pt("error", { detail: err.message }), "error"));
