// The conversation pane: the contact's whole history across conversations and channels
// (earlier ones collapsible), live message updates, actions, presence and the composer.

import { api } from "./api.js";
import { avatar, channelIcon, contactHint, fill, h, shortTime, toast } from "./dom.js";
import { t } from "./i18n.js";
import { renderMessage } from "./message.js";

const PAGE = 50;
const TYPING_EVERY_MS = 3000; // how often "typing" is repeated while the agent types
const TYPING_IDLE_MS = 5000; // back to "viewing" after this long without a key
const TYPING_STALE_MS = 8000; // someone else's "typing" without news is dropped

export class Thread {
  constructor(root, { me, composer, sidebar, live, panes, onChanged }) {
    Object.assign(this, { root, me, composer, sidebar, live, panes, onChanged });
    this.users = [];
    this.conv = null;
    this.contact = null;
    this.sections = new Map();
    this.others = new Map();
    this.openToken = 0;
    this.lastTyping = 0;
    this.empty();
  }

  empty() {
    fill(this.root, h("div", { class: "thread-empty muted" }, t("pick_conversation")));
  }

  get id() {
    return this.conv?.id ?? null;
  }

  async open(id) {
    const token = ++this.openToken;
    if (this.conv && this.conv.id !== id) this.live.send({ type: "presence", conversation_id: this.conv.id, state: "idle" });
    const conv = await api(`/api/v1/conversations/${id}`);
    const [contact, notes] = await Promise.all([
      api(`/api/v1/contacts/${conv.contact.id}`),
      api(`/api/v1/contacts/${conv.contact.id}/notes`),
    ]);
    if (token !== this.openToken) return;
    this.conv = conv;
    this.contact = contact;
    this.others.clear();
    this.sections.clear();
    this.build();
    this.sidebar.render(contact, notes, conv.id);
    await this.loadSection(conv.id);
    this.scrollToBottom();
    this.announce("viewing");
    if (conv.unread_count > 0) this.markRead();
  }

  build() {
    this.header = h("header", { class: "thread-header" });
    this.presenceLine = h("div", { class: "presence", role: "status", hidden: true });
    this.history = h("div", { class: "history", id: "history" });
    this.customerTyping = h("div", { class: "customer-typing", id: "customer-typing", role: "status", hidden: true });
    clearTimeout(this.customerTypingTimer);
    this.composer.setConversation(this.conv);
    fill(this.root, this.header, this.presenceLine, this.history, this.customerTyping, this.composer.el);
    this.renderHeader();
    const convs = [...this.contact.conversations];
    if (!convs.some((c) => c.id === this.conv.id)) convs.push(this.conv);
    convs.sort((a, b) => new Date(a.created_at) - new Date(b.created_at) || a.id - b.id);
    for (const c of convs) this.history.append(this.section(c));
  }

  renderHeader() {
    const c = this.conv;
    const name = c.contact.name || t("no_name");
    const assign = h("select", { class: "assign-select", id: "assign-select", "aria-label": t("assignee"),
      onchange: (e) => this.assign(e.target.value ? Number(e.target.value) : null) },
      h("option", { value: "" }, t("unassigned")),
      this.assignable().map((u) => h("option", { value: String(u.id) }, u.id === this.me.id ? `${u.name}${t("me_suffix")}` : u.name)));
    assign.value = c.assignee ? String(c.assignee.id) : "";
    const actions = [];
    if (c.assignee?.id !== this.me.id) actions.push(this.button(t("assign_me"), () => this.assign(this.me.id), "assign-me"));
    if (c.status === "open") actions.push(this.button(t("mark_pending"), () => this.setStatus("pending"), "pending-button"));
    if (c.status !== "resolved") actions.push(this.button(t("resolve"), () => this.setStatus("resolved"), "resolve-button", "btn-primary"));
    if (c.status !== "open") actions.push(this.button(t("reopen"), () => this.setStatus("open"), "reopen-button"));
    fill(this.header,
      h("button", { type: "button", class: "btn btn-ghost btn-small back-button", onclick: () => this.panes.show("list") }, "‹ ", t("back")),
      avatar(name, c.contact.avatar_url),
      h("div", { class: "thread-title" },
        h("h2", { id: "thread-name" }, name),
        contactHint(c.contact, c.channel.name)
          ? h("div", { class: "thread-hint muted", id: "thread-hint" }, contactHint(c.contact, c.channel.name)) : null,
        h("div", { class: "thread-sub muted" }, channelIcon(c.channel.type, c.channel.name), c.channel.name, " · ",
          h("span", { class: `badge badge-${c.status}`, id: "thread-status", dataset: { status: c.status } }, t(`status_${c.status}`)),
          c.csat ? h("span", { class: "badge csat-badge", id: "thread-csat", title: c.csat.comment || "" },
            " ", t("csat_badge", { score: c.csat.score, agent: c.csat.agent?.name || "" })) : null)),
      h("div", { class: "thread-actions" }, assign, actions,
        h("button", { type: "button", class: "btn btn-ghost btn-small contact-toggle", onclick: () => this.panes.toggleContact() }, t("contact_info"))));
  }

  button(label, onclick, id, extra = "") {
    return h("button", { type: "button", class: `btn btn-small ${extra}`.trim(), id, onclick }, label);
  }

  assignable() {
    const channel = this.conv.channel.id;
    const users = this.users.filter((u) => u.active && (!u.channel_ids || u.channel_ids.includes(channel)));
    users.sort((a, b) => (a.id === this.me.id ? -1 : b.id === this.me.id ? 1 : a.name.localeCompare(b.name)));
    return users;
  }

  section(c) {
    const current = c.id === this.conv.id;
    const list = h("ol", { class: "messages", dataset: { conversation: String(c.id) } });
    const more = h("button", { type: "button", class: "btn btn-ghost btn-small load-earlier", hidden: true }, t("load_earlier"));
    const summary = h("summary", { class: "section-summary" });
    const details = h("details", { class: `conv-section${current ? " current" : ""}`, dataset: { id: String(c.id) } },
      summary, more, list);
    details.open = current;
    const state = { c, details, summary, list, more, loaded: false, cursor: null, items: new Map() };
    this.sections.set(c.id, state);
    this.renderSummary(state);
    more.addEventListener("click", () => this.loadSection(c.id, state.cursor));
    details.addEventListener("toggle", () => {
      if (details.open && !state.loaded) this.loadSection(c.id);
    });
    return details;
  }

  renderSummary(state) {
    const c = state.c;
    const label = c.id === this.conv.id
      ? `${t("current_conversation")} · #${c.id}`
      : t("earlier_conversation", { id: c.id, channel: c.channel.name, status: t(`status_${c.status}`), date: shortTime(c.created_at) });
    state.summary.replaceChildren(channelIcon(c.channel.type, c.channel.name), h("span", {}, label));
  }

  async loadSection(id, cursor = null) {
    const state = this.sections.get(id);
    if (!state) return;
    const page = await api(`/api/v1/conversations/${id}/messages?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (this.sections.get(id) !== state) return;
    state.loaded = true;
    state.cursor = page.next_cursor;
    state.more.hidden = !page.next_cursor;
    for (const m of page.items) this.upsert(m, { keep: true });
  }

  /** Show a message if its conversation is on screen; `keep` never overwrites (REST data may be older than an event). */
  upsert(m, { keep = false } = {}) {
    const state = this.sections.get(m.conversation_id);
    if (!state || !state.loaded) return false;
    const old = state.items.get(m.id);
    if (old && keep) return true;
    const li = renderMessage(m, { me: this.me, onRetry: (msg) => this.retry(msg) });
    state.items.set(m.id, li);
    if (old) {
      old.replaceWith(li);
      return true;
    }
    const after = [...state.list.children].find((el) => Number(el.dataset.id) > m.id);
    state.list.insertBefore(li, after || null);
    return true;
  }

  nearBottom() {
    return this.history.scrollHeight - this.history.scrollTop - this.history.clientHeight < 120;
  }

  scrollToBottom() {
    this.history.scrollTop = this.history.scrollHeight;
  }

  // --- live events -------------------------------------------------------------------

  onMessage(m, created) {
    const stick = this.history && this.nearBottom();
    const shown = this.upsert(m);
    if (created && m.conversation_id === this.id && m.direction === "inbound") this.showCustomerTyping(false);
    if (shown && created && stick) this.scrollToBottom();
    if (shown && created && m.conversation_id === this.id && m.direction === "inbound" && !document.hidden) {
      this.markReadSoon();
    }
  }

  onConversation(c) {
    if (!this.conv) return;
    if (c.id === this.conv.id) {
      this.conv = c;
      this.renderHeader();
      this.composer.setConversation(c);
    }
    const state = this.sections.get(c.id);
    if (state) {
      state.c = c;
      this.renderSummary(state);
    } else if (c.contact.id === this.contact?.id) {
      this.addSection(c);
    }
  }

  addSection(c) {
    this.contact.conversations.push(c);
    this.history.append(this.section(c));
    const state = this.sections.get(c.id);
    state.details.open = true;
    this.loadSection(c.id).then(() => this.scrollToBottom());
  }

  onPresence(data) {
    if (!this.conv || data.conversation_id !== this.conv.id || data.user?.id === this.me.id) return;
    if (data.state === "idle") this.others.delete(data.user.id);
    else this.others.set(data.user.id, { name: String(data.user.name || ""), state: data.state, at: Date.now() });
    this.renderPresence();
  }

  /** The customer is typing (the widget says so; other platforms do not tell us). */
  onCustomerTyping(data) {
    if (!this.conv || data.conversation_id !== this.conv.id) return;
    this.showCustomerTyping(Boolean(data.typing));
  }

  showCustomerTyping(typing) {
    clearTimeout(this.customerTypingTimer);
    const name = this.conv.contact.name || t("no_name");
    this.customerTyping.textContent = typing ? t("customer_typing", { name }) : "";
    this.customerTyping.hidden = !typing;
    // Without news (a closed tab sends no "stopped"), the line goes after a while.
    if (typing) this.customerTypingTimer = setTimeout(() => this.showCustomerTyping(false), TYPING_STALE_MS);
  }

  renderPresence() {
    const now = Date.now();
    const typing = [];
    const viewing = [];
    for (const other of this.others.values()) {
      if (other.state === "typing" && now - other.at < TYPING_STALE_MS) typing.push(other.name);
      else viewing.push(other.name);
    }
    const sep = t("presence_sep");
    const parts = [];
    if (typing.length) parts.push(t("typing", { names: typing.join(sep) }));
    if (viewing.length) parts.push(t("viewing", { names: viewing.join(sep) }));
    this.presenceLine.textContent = parts.join(" · ");
    this.presenceLine.hidden = !parts.length;
    this.presenceLine.classList.toggle("is-typing", typing.length > 0);
  }

  announce(state) {
    if (this.conv) this.live.send({ type: "presence", conversation_id: this.conv.id, state });
  }

  typing() {
    const now = Date.now();
    if (now - this.lastTyping > TYPING_EVERY_MS) {
      this.lastTyping = now;
      this.announce("typing");
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => {
      this.lastTyping = 0;
      this.announce("viewing");
    }, TYPING_IDLE_MS);
  }

  // --- actions -----------------------------------------------------------------------

  async run(action) {
    try {
      return await action();
    } catch (err) {
      toast(t("error", { detail: err.message }), "error");
      if (this.conv) this.renderHeader();
      return null;
    }
  }

  async assign(userId) {
    const c = await this.run(() => api(`/api/v1/conversations/${this.id}/assignment`, { method: "POST", body: { assignee_id: userId } }));
    if (c) this.onConversationChanged(c);
  }

  async setStatus(status) {
    if (!this.conv) return;
    const c = await this.run(() => api(`/api/v1/conversations/${this.id}/status`, { method: "POST", body: { status } }));
    if (c) this.onConversationChanged(c);
  }

  /** A REST answer may be older than an event already applied (events are ordered, REST
   * answers race them): while the live stream is up it brings the change; else apply it. */
  onConversationChanged(c) {
    if (this.live.isOpen) return;
    this.onConversation(c);
    this.onChanged?.(c);
  }

  async send(content, isPrivate) {
    const id = this.id;
    const m = await api(`/api/v1/conversations/${id}/messages`, { method: "POST", body: { content, private: isPrivate } });
    this.upsert(m, { keep: true });
    this.scrollToBottom();
    this.announce("viewing");
  }

  async sendImage(file, isPrivate) {
    const form = new FormData();
    form.append("file", file);
    form.append("private", isPrivate ? "true" : "false");
    const m = await api(`/api/v1/conversations/${this.id}/attachments`, { method: "POST", form });
    this.upsert(m, { keep: true });
    this.scrollToBottom();
  }

  async retry(m) {
    const out = await this.run(() => api(`/api/v1/conversations/${m.conversation_id}/messages/${m.id}/retry`, { method: "POST" }));
    if (out && !this.live.isOpen) this.upsert(out);
  }

  markReadSoon() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.markRead(), 400);
  }

  async markRead() {
    if (!this.conv) return;
    const id = this.conv.id;
    await api(`/api/v1/conversations/${id}/read`, { method: "POST" }).catch(() => null);
  }

  tick() {
    if (this.conv) {
      this.composer.refresh();
      if (this.others.size) this.renderPresence();
    }
  }
}
