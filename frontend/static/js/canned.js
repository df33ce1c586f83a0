// 快捷回复: the team's shared replies and the agent's own, picked with `/` in the reply
// box and managed in a dialog on the same page.

import { api } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { t } from "./i18n.js";

export class CannedReplies {
  constructor(dialog, me) {
    this.dialog = dialog;
    this.me = me;
    this.items = [];
    this.editing = null;
  }

  async load() {
    this.items = (await api("/api/v1/canned-replies")).items;
  }

  /** Matches for what follows the `/`: shortcut prefix first, then anywhere in the text. */
  filter(q) {
    const needle = q.trim().toLowerCase();
    if (!needle) return this.items.slice(0, 50);
    const starts = [];
    const contains = [];
    for (const item of this.items) {
      const shortcut = item.shortcut.toLowerCase();
      if (shortcut.startsWith(needle)) starts.push(item);
      else if (shortcut.includes(needle) || item.content.toLowerCase().includes(needle)) contains.push(item);
    }
    return [...starts, ...contains].slice(0, 50);
  }

  openManager() {
    this.editing = null;
    this.renderManager();
    if (!this.dialog.open) this.dialog.showModal();
  }

  renderManager() {
    const list = h("ul", { class: "canned-manage-list" },
      this.items.length ? this.items.map((item) => this.manageRow(item)) : h("li", { class: "muted" }, t("canned_none")));
    fill(this.dialog,
      h("div", { class: "dialog-head" },
        h("h2", {}, t("canned_manage")),
        h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: () => this.dialog.close() }, t("close"))),
      list,
      this.form());
  }

  manageRow(item) {
    const del = h("button", { type: "button", class: "btn btn-small btn-danger-ghost" }, t("canned_delete"));
    del.addEventListener("click", async () => {
      if (!del.dataset.armed) {
        del.dataset.armed = "1";
        del.textContent = t("canned_delete_confirm", { name: item.shortcut });
        return;
      }
      try {
        await api(`/api/v1/canned-replies/${item.id}`, { method: "DELETE" });
        await this.load();
        this.renderManager();
      } catch (err) {
        toast(t("error", { detail: err.message }), "error");
      }
    });
    return h("li", { class: "canned-row" },
      h("div", { class: "canned-row-head" },
        h("span", { class: "canned-shortcut" }, `/${item.shortcut}`),
        h("span", { class: `badge ${item.shared ? "badge-shared" : "badge-personal"}` },
          item.shared ? t("canned_shared") : t("canned_personal")),
        item.editable ? h("span", { class: "canned-row-actions" },
          h("button", { type: "button", class: "btn btn-small btn-ghost", onclick: () => {
            this.editing = item;
            this.renderManager();
          } }, t("canned_edit")),
          del) : null),
      h("div", { class: "canned-content" }, item.content));
  }

  form() {
    const item = this.editing;
    const shortcut = h("input", { name: "shortcut", required: true, maxlength: 50, value: item?.shortcut || "",
      placeholder: t("canned_shortcut") });
    const content = h("textarea", { name: "content", required: true, maxlength: 4000, rows: 3,
      placeholder: t("canned_content") });
    content.value = item?.content || "";
    const mayShare = this.me.role === "admin" || this.me.role === "supervisor";
    const shared = h("input", { type: "checkbox", name: "shared", disabled: !mayShare || Boolean(item) });
    shared.checked = Boolean(item?.shared);
    const form = h("form", { class: "canned-form" },
      h("h3", {}, item ? `${t("canned_edit")} /${item.shortcut}` : t("canned_add")),
      h("label", {}, t("canned_shortcut"), shortcut),
      h("label", {}, t("canned_content"), content),
      h("label", { class: "check" }, shared, t("canned_shared_check")),
      h("div", { class: "form-actions" },
        item ? h("button", { type: "button", class: "btn btn-ghost", onclick: () => {
          this.editing = null;
          this.renderManager();
        } }, t("cancel")) : null,
        h("button", { type: "submit", class: "btn btn-primary" }, t("save"))));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { shortcut: shortcut.value, content: content.value };
      try {
        if (item) await api(`/api/v1/canned-replies/${item.id}`, { method: "PATCH", body });
        else await api("/api/v1/canned-replies", { method: "POST", body: { ...body, shared: shared.checked } });
        this.editing = null;
        await this.load();
        this.renderManager();
        toast(t("saved"));
      } catch (err) {
        toast(t("error", { detail: err.message }), "error");
      }
    });
    return form;
  }
}
