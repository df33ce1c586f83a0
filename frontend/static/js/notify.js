// Optional desktop notifications and the unread count in the tab title.

import { t } from "./i18n.js";

const KEY = "huiliu.notify";

export class Notifier {
  constructor(button, { onClick }) {
    this.button = button;
    this.onClick = onClick;
    this.supported = "Notification" in window;
    if (!this.supported) return;
    button.hidden = false;
    button.addEventListener("click", () => this.toggle());
    this.render();
  }

  get enabled() {
    return this.supported && Notification.permission === "granted" && localStorage.getItem(KEY) === "on";
  }

  async toggle() {
    if (this.enabled) localStorage.setItem(KEY, "off");
    else {
      const permission = await Notification.requestPermission();
      if (permission === "granted") localStorage.setItem(KEY, "on");
    }
    this.render();
  }

  render() {
    const blocked = Notification.permission === "denied";
    this.button.textContent = blocked ? t("notify_blocked") : this.enabled ? t("notify_on") : t("notify_off");
    this.button.disabled = blocked;
    this.button.setAttribute("aria-pressed", String(this.enabled));
  }

  /** A customer wrote while the page is in the background: say so (plain text only). */
  message(m, name) {
    if (!this.enabled || !document.hidden) return;
    if (m.direction !== "inbound" || m.private || m.content_type === "event") return;
    const note = new Notification(t("new_message_from", { name }), {
      body: String(m.content || "").slice(0, 120),
      tag: `conversation-${m.conversation_id}`,
      icon: "/static/img/logo.svg",
    });
    note.addEventListener("click", () => {
      window.focus();
      this.onClick(m.conversation_id);
      note.close();
    });
  }
}

export function setTitle(unread) {
  const base = `${t("brand")} · ${t("title")}`;
  document.title = unread > 0 ? `(${unread}) ${base}` : base;
}
