// The contact sidebar: identities on every channel, attributes, editable notes and tags,
// and the customer's other conversations.

import { api } from "./api.js";
import { avatar, channelIcon, clear, fill, h, timeEl, toast } from "./dom.js";
import { preview, t } from "./i18n.js";
import { crmBlock } from "./sidebar-crm.js";

function attributeValue(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export class Sidebar {
  constructor(root, { onOpen, onClose }) {
    this.root = root;
    this.onOpen = onOpen;
    this.onClose = onClose;
    this.contact = null;
    this.tags = [];
    this.suggestions = [];
  }

  clear() {
    this.contact = null;
    clear(this.root);
  }

  async loadSuggestions() {
    try {
      this.suggestions = (await api("/api/v1/contact-tags")).items;
    } catch {
      this.suggestions = [];
    }
  }

  /** Render `contact` (GET /contacts/{id}) with its notes and tags, `currentId` marked. */
  render(contact, notes, currentId) {
    const keepDraft = this.contact?.id === contact.id && this.notes && this.notes.value !== this.savedNotes;
    const draft = keepDraft ? this.notes.value : null;
    this.contact = contact;
    this.tags = notes.tags;
    this.savedNotes = notes.notes;
    const name = contact.name || t("no_name");
    fill(this.root,
      h("div", { class: "contact-head" },
        h("button", { type: "button", class: "btn btn-ghost btn-small contact-close", onclick: () => this.onClose() }, "×"),
        avatar(name, contact.avatar_url, "avatar avatar-large"),
        h("div", {},
          h("h2", { class: "contact-name" }, name),
          contact.phone ? h("div", { class: "muted" }, `${t("phone")} ${contact.phone}`) : null,
          contact.email ? h("div", { class: "muted" }, `${t("email")} ${contact.email}`) : null)),
      this.section(t("identities"), h("ul", { class: "identities" }, contact.identities.map((i) =>
        h("li", {},
          channelIcon(i.channel.type, i.channel.name),
          h("span", { class: "identity-channel" }, i.channel.name),
          h("span", { class: "identity-name" }, i.name || ""),
          h("code", { class: "identity-id", title: i.external_id }, i.external_id),
          i.unreachable ? h("span", { class: "badge badge-warn" }, t("unreachable_short")) : null)))),
      contact.open_tasks ? crmBlock(contact) : null, // owner, tasks, orders
      this.section(t("profile"), this.profileEditor(contact)),
      this.section(t("tags"), this.tagEditor()),
      this.section(t("notes"), this.notesEditor(draft)),
      this.section(t("previous_conversations"), this.conversations(contact, currentId)));
  }

  section(title, content) {
    return h("section", { class: "contact-section" }, h("h3", {}, title), content);
  }

  /** Name, phone, email and free attributes, edited in place and saved together. */
  profileEditor(contact) {
    const field = (label, input) => h("label", { class: "profile-field" }, h("span", { class: "muted" }, label), input);
    const name = h("input", { id: "profile-name", maxlength: 200, required: true, value: contact.name || "" });
    const phone = h("input", { id: "profile-phone", type: "tel", maxlength: 50, value: contact.phone || "" });
    const email = h("input", { id: "profile-email", type: "email", maxlength: 254, value: contact.email || "" });
    const original = contact.attributes || {};
    const rows = h("ul", { class: "attribute-rows" });
    const addRow = (key = "", value = "") => {
      const row = h("li", { class: "attribute-row" },
        h("input", { class: "attr-key", maxlength: 50, placeholder: t("attribute_name"), value: key, "aria-label": t("attribute_name") }),
        h("input", { class: "attr-value", maxlength: 500, placeholder: t("attribute_value"), value, "aria-label": t("attribute_value") }),
        h("button", { type: "button", class: "tag-remove attr-remove", "aria-label": t("remove_attribute"),
          onclick: () => row.remove() }, "×"));
      rows.append(row);
      return row;
    };
    for (const [key, value] of Object.entries(original)) addRow(key, attributeValue(value));
    const state = h("span", { class: "muted profile-state", role: "status" });
    const form = h("form", { class: "profile-form", id: "profile-form" },
      field(t("name"), name), field(t("phone"), phone), field(t("email"), email),
      h("div", { class: "muted profile-label" }, t("attributes")), rows,
      h("div", { class: "form-actions" },
        h("button", { type: "button", class: "btn btn-ghost btn-small", id: "attr-add",
          onclick: () => addRow().querySelector("input").focus() }, t("add_attribute")),
        state,
        h("button", { type: "submit", class: "btn btn-small", id: "profile-save" }, t("save"))));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const attributes = {};
      for (const row of rows.children) {
        const key = row.querySelector(".attr-key").value.trim();
        const text = row.querySelector(".attr-value").value;
        if (!key) continue;
        // Untouched values keep their type (a number stays a number).
        attributes[key] = key in original && attributeValue(original[key]) === text ? original[key] : text;
      }
      this.saveProfile({ name: name.value, phone: phone.value, email: email.value, attributes }, state);
    });
    return form;
  }

  async saveProfile(body, state) {
    const contact = this.contact;
    try {
      const out = await api(`/api/v1/contacts/${contact.id}`, { method: "PATCH", body });
      if (this.contact?.id !== contact.id) return;
      Object.assign(contact, { name: out.name, phone: out.phone, email: out.email, attributes: out.attributes });
      const head = this.root.querySelector(".contact-name");
      if (head) head.textContent = out.name || t("no_name");
      state.textContent = t("saved");
    } catch (err) {
      state.textContent = "";
      toast(t("error", { detail: err.message }), "error");
    }
  }

  tagEditor() {
    const listId = "tag-suggestions";
    const input = h("input", { class: "tag-input", placeholder: t("add_tag"), maxlength: 30, list: listId });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) {
        e.preventDefault();
        const tag = input.value.trim();
        if (tag) this.saveTags([...this.tags, tag]);
      }
    });
    return h("div", { class: "tags" },
      h("ul", { class: "tag-list" }, this.tags.map((tag) => h("li", { class: "tag" },
        h("span", {}, tag),
        h("button", { type: "button", class: "tag-remove", "aria-label": t("remove_tag", { tag }),
          onclick: () => this.saveTags(this.tags.filter((x) => x !== tag)) }, "×")))),
      input,
      h("datalist", { id: listId }, this.suggestions.filter((s) => !this.tags.includes(s))
        .map((s) => h("option", { value: s }))));
  }

  notesEditor(draft) {
    this.notes = h("textarea", { class: "notes", rows: 5, maxlength: 5000, placeholder: t("notes_placeholder") });
    this.notes.value = draft ?? this.savedNotes;
    const state = h("span", { class: "muted notes-state" });
    const save = h("button", { type: "button", class: "btn btn-small", onclick: () => this.saveNotes(state) }, t("save"));
    this.notes.addEventListener("blur", () => {
      if (this.notes.value !== this.savedNotes) this.saveNotes(state);
    });
    return h("div", { class: "notes-box" }, this.notes, h("div", { class: "form-actions" }, state, save));
  }

  conversations(contact, currentId) {
    const others = contact.conversations.filter((c) => c.id !== currentId);
    if (!others.length) return h("p", { class: "muted" }, t("no_previous"));
    return h("ul", { class: "contact-conversations" }, others.map((c) => h("li", {},
      h("button", { type: "button", class: "link-button", onclick: () => this.onOpen(c.id) },
        channelIcon(c.channel.type, c.channel.name),
        h("span", {}, `#${c.id}`),
        h("span", { class: `badge badge-${c.status}` }, t(`status_${c.status}`)),
        h("span", { class: "contact-conv-preview" }, preview(c)),
        timeEl(c.last_message_at)))));
  }

  async saveNotes(state) {
    const contact = this.contact;
    const value = this.notes.value;
    try {
      const out = await api(`/api/v1/contacts/${contact.id}`, { method: "PATCH", body: { notes: value } });
      if (this.contact?.id !== contact.id) return;
      this.savedNotes = out.notes;
      state.textContent = t("saved");
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    }
  }

  async saveTags(tags) {
    const contact = this.contact;
    try {
      const out = await api(`/api/v1/contacts/${contact.id}`, { method: "PATCH", body: { tags } });
      if (this.contact?.id !== contact.id) return;
      this.tags = out.tags;
      const old = this.root.querySelector(".tags");
      const fresh = this.tagEditor();
      old?.replaceWith(fresh);
      fresh.querySelector("input")?.focus();
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    }
  }
}
