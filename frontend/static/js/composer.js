// The reply box: Enter sends, Shift+Enter breaks the line, a private-note toggle, `/` for
// canned replies, image upload where the channel can send images, and the reply window.

import { h, toast } from "./dom.js";
import { t } from "./i18n.js";

const IMAGE_ACCEPT = "image/png,image/jpeg,image/gif";
// PDF and Office documents (what app/media/uploads.py accepts), up to 3 MB.
const FILE_ACCEPT = ".pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx";

function windowLeft(iso) {
  if (!iso) return null;
  return new Date(iso).getTime() - Date.now();
}

function duration(ms) {
  const minutes = Math.max(1, Math.floor(ms / 60000));
  const hours = Math.floor(minutes / 60);
  return hours ? t("hours_minutes", { h: hours, m: minutes % 60 }) : t("minutes_only", { m: minutes });
}

export class Composer {
  constructor({ canned, imageTypes, fileTypes, onSend, onImage, onTyping }) {
    this.canned = canned;
    this.imageTypes = imageTypes;
    this.fileTypes = fileTypes || [];
    this.onSend = onSend;
    this.onImage = onImage;
    this.onTyping = onTyping;
    this.conversation = null;
    this.picks = [];
    this.pickIndex = 0;
    this.sending = false;
    this.build();
  }

  build() {
    this.notice = h("div", { class: "composer-notice", hidden: true });
    this.popup = h("ul", { class: "canned-popup", role: "listbox", hidden: true });
    this.text = h("textarea", { class: "composer-text", id: "reply-text", rows: 3, maxlength: 4000,
      "aria-label": t("send") });
    this.privateBox = h("input", { type: "checkbox", id: "private-toggle" });
    this.file = h("input", { type: "file", accept: IMAGE_ACCEPT, hidden: true, id: "attach-input" });
    this.imageButton = h("button", { type: "button", class: "btn btn-ghost btn-small attach-image", hidden: true,
      title: t("attach_image"), onclick: () => this.file.click() }, t("attach_image"));
    // Where the platform takes no images or files, say so instead of hiding the button silently.
    this.mediaNote = h("span", { class: "muted media-note", id: "media-note", hidden: true });
    this.sendButton = h("button", { type: "submit", class: "btn btn-primary", id: "send-button" }, t("send"));
    this.el = h("form", { class: "composer", id: "composer" },
      this.notice, this.popup, this.text,
      h("div", { class: "composer-bar" },
        h("label", { class: "note-toggle", title: t("private_note_hint") }, this.privateBox, t("private_note")),
        h("button", { type: "button", class: "btn btn-ghost btn-small", title: t("canned"),
          onclick: () => this.startCanned() }, "/ ", t("canned")),
        h("button", { type: "button", class: "btn btn-ghost btn-small link-like canned-manage",
          onclick: () => this.canned.openManager() }, t("canned_manage")),
        this.imageButton, this.file, this.mediaNote,
        h("span", { class: "spacer" }),
        this.sendButton));
    this.el.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    this.text.addEventListener("keydown", (e) => this.keydown(e));
    this.text.addEventListener("input", () => {
      this.updateCanned();
      if (this.text.value.trim()) this.onTyping();
    });
    this.privateBox.addEventListener("change", () => this.refresh());
    this.file.addEventListener("change", () => this.upload());
  }

  setConversation(conversation) {
    const changed = this.conversation?.id !== conversation.id;
    this.conversation = conversation;
    if (changed) {
      this.text.value = "";
      this.privateBox.checked = !this.canReply();
      this.closeCanned();
    }
    this.refresh();
  }

  canReply() {
    const c = this.conversation;
    if (!c || c.contact_unreachable) return false;
    const left = windowLeft(c.reply_window_expires_at);
    return left === null || left > 0;
  }

  /** The reply window notice and what the send button may do, now. */
  refresh() {
    const c = this.conversation;
    if (!c) return;
    const isPrivate = this.privateBox.checked;
    const left = windowLeft(c.reply_window_expires_at);
    let notice = "";
    let level = "info";
    if (c.contact_unreachable) [notice, level] = [t("unreachable"), "warn"];
    else if (left !== null && left <= 0) [notice, level] = [t("window_closed"), "warn"];
    else if (left !== null) notice = t("window_open", { left: duration(left) });
    this.notice.textContent = notice;
    this.notice.hidden = !notice;
    this.notice.className = `composer-notice notice-${level}`;
    this.el.classList.toggle("is-private", isPrivate);
    this.text.placeholder = isPrivate ? t("note_placeholder") : t("reply_placeholder");
    this.sendButton.textContent = isPrivate ? t("add_note") : t("send");
    this.sendButton.disabled = this.sending || (!isPrivate && !this.canReply());
    const images = this.imageTypes.includes(c.channel.type);
    const files = (this.fileTypes || []).includes(c.channel.type);
    this.file.accept = files ? `${IMAGE_ACCEPT},${FILE_ACCEPT}` : IMAGE_ACCEPT;
    const label = files ? t("attach_file") : t("attach_image");
    this.imageButton.textContent = label;
    this.imageButton.title = label;
    this.imageButton.hidden = !(images && (isPrivate || this.canReply()));
    const note = !images ? t("no_media", { channel: c.channel.name }) : !files ? t("no_files", { channel: c.channel.name }) : "";
    this.mediaNote.textContent = note;
    this.mediaNote.title = note;
    this.mediaNote.hidden = !note || isPrivate;
  }

  focus() {
    this.text.focus();
  }

  keydown(e) {
    if (!this.popup.hidden) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const step = e.key === "ArrowDown" ? 1 : -1;
        this.pickIndex = (this.pickIndex + step + this.picks.length) % Math.max(1, this.picks.length);
        this.renderPopup();
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && this.picks.length) {
        e.preventDefault();
        this.pick(this.picks[this.pickIndex]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.closeCanned();
        return;
      }
    }
    // isComposing: Enter also confirms a Chinese IME candidate; that must not send.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      this.send();
    } else if (e.key === "Escape") {
      this.text.blur();
    }
  }

  async send() {
    const content = this.text.value.trim();
    if (!content || this.sending || this.sendButton.disabled) return;
    this.sending = true;
    this.refresh();
    try {
      await this.onSend(content, this.privateBox.checked);
      this.text.value = "";
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    } finally {
      this.sending = false;
      this.refresh();
      this.text.focus();
    }
  }

  async upload() {
    const file = this.file.files?.[0];
    this.file.value = "";
    if (!file) return;
    this.sending = true;
    this.refresh();
    toast(t("uploading"));
    try {
      await this.onImage(file, this.privateBox.checked);
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
    } finally {
      this.sending = false;
      this.refresh();
    }
  }

  startCanned() {
    if (!this.text.value.startsWith("/")) this.text.value = `/${this.text.value}`;
    this.text.focus();
    this.updateCanned();
  }

  updateCanned() {
    const value = this.text.value;
    if (!value.startsWith("/") || value.includes("\n")) {
      this.closeCanned();
      return;
    }
    this.picks = this.canned.filter(value.slice(1));
    this.pickIndex = 0;
    this.renderPopup();
  }

  renderPopup() {
    const items = this.picks.map((item, i) => h("li", {
      role: "option", class: `canned-pick${i === this.pickIndex ? " active" : ""}`,
      "aria-selected": String(i === this.pickIndex),
      onmousedown: (e) => {
        e.preventDefault();
        this.pick(item);
      },
    },
    h("span", { class: "canned-shortcut" }, `/${item.shortcut}`),
    h("span", { class: `badge ${item.shared ? "badge-shared" : "badge-personal"}` },
      item.shared ? t("canned_shared") : t("canned_personal")),
    h("span", { class: "canned-preview" }, item.content)));
    if (!items.length) items.push(h("li", { class: "canned-empty muted" }, t("canned_none")));
    this.popup.replaceChildren(...items);
    this.popup.hidden = false;
    this.popup.querySelector(".active")?.scrollIntoView({ block: "nearest" });
  }

  pick(item) {
    this.text.value = item.content;
    this.closeCanned();
    this.text.focus();
  }

  closeCanned() {
    this.popup.hidden = true;
    this.picks = [];
  }
}
