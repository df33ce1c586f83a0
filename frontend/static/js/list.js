// The conversation list: tabs Mine / Unassigned / All, filters by status and channel,
// and live upserts that keep it ordered by the last message.

import { api, query } from "./api.js";
import { avatar, channelIcon, contactHint, fill, h, timeEl } from "./dom.js";
import { preview, t } from "./i18n.js";

const TABS = ["mine", "unassigned", "all"];
const STATUSES = ["open", "pending", "resolved", "all"];
const SORTS = ["latest", "waiting"];
const SLA_POLL_MS = 30000;
const PAGE = 50;

function newer(a, b) {
  const diff = new Date(b.last_message_at) - new Date(a.last_message_at);
  return diff !== 0 ? diff : b.id - a.id;
}

// "Waiting longest": not yet answered first, then the oldest (as sort=waiting on the API).
function waitingLonger(a, b) {
  const answered = Number(Boolean(a.first_response_at)) - Number(Boolean(b.first_response_at));
  if (answered) return answered;
  const diff = new Date(a.created_at) - new Date(b.created_at);
  return diff !== 0 ? diff : a.id - b.id;
}

export class ConversationList {
  constructor(root, { me, onOpen, onChange }) {
    this.root = root;
    this.me = me;
    this.onOpen = onOpen;
    this.onChange = onChange;
    this.items = new Map();
    this.inFlight = new Set(); // one map per list request waiting for its answer
    this.rows = new Map();
    this.sigs = new Map();
    this.selected = null;
    this.nextCursor = null;
    this.channels = [];
    const saved = JSON.parse(localStorage.getItem("huiliu.filters") || "{}");
    this.filters = {
      tab: TABS.includes(saved.tab) ? saved.tab : "all",
      status: STATUSES.includes(saved.status) ? saved.status : "open",
      channel: "",
      sort: SORTS.includes(saved.sort) ? saved.sort : "latest",
    };
    this.build();
    setInterval(() => this.render(), SLA_POLL_MS); // a wait passes its target as time goes by
    if (me.role === "supervisor" || me.role === "admin") this.pollOverdue();
  }

  /** Overdue first responses over all the channels a supervisor sees (the list's header). */
  pollOverdue() {
    const refresh = () => api("/api/v1/service/overdue").then(({ count }) => {
      this.overdueCount.hidden = count === 0;
      this.overdueCount.textContent = t("sla_count", { n: count });
    }).catch(() => {});
    this.refreshOverdue = () => { clearTimeout(this.overdueTimer); this.overdueTimer = setTimeout(refresh, 500); };
    refresh();
    setInterval(refresh, SLA_POLL_MS);
  }

  /** Past its first-response deadline: the channel's target counted in its business hours
   * from when the conversation opened (`first_response_due_at`, computed by the server). */
  overdue(c) {
    if (c.status === "resolved" || c.first_response_at || !c.first_response_due_at) return false;
    return Date.now() > new Date(c.first_response_due_at).getTime();
  }

  build() {
    this.tabs = h("div", { class: "tabs", role: "tablist" },
      TABS.map((tab) => h("button", {
        type: "button", role: "tab", class: "tab", dataset: { tab },
        onclick: () => this.setFilter({ tab }),
      }, t(`tab_${tab}`))));
    this.statusSelect = h("select", { class: "filter-status", "aria-label": t("status_all"),
      onchange: (e) => this.setFilter({ status: e.target.value }) },
      STATUSES.map((s) => h("option", { value: s }, t(`status_${s}`))));
    this.channelSelect = h("select", { class: "filter-channel", "aria-label": t("all_channels"),
      onchange: (e) => this.setFilter({ channel: e.target.value }) },
      h("option", { value: "" }, t("all_channels")));
    // Supervisors watch the unassigned queue: how many wait, and the longest wait.
    this.queueBar = h("div", { class: "queue-bar", id: "queue-bar", role: "status", hidden: true });
    this.sortSelect = h("select", { class: "filter-sort", "aria-label": t("sort_label"),
      onchange: (e) => this.setFilter({ sort: e.target.value }) },
      SORTS.map((s) => h("option", { value: s }, t(`sort_${s}`))));
    this.overdueCount = h("span", { class: "badge badge-warn sla-count", hidden: true, role: "status" });
    this.list = h("ol", { class: "conv-list", id: "conv-list" });
    this.empty = h("p", { class: "empty muted", hidden: true }, t("empty_list"));
    this.more = h("button", { type: "button", class: "btn btn-ghost load-more", hidden: true,
      onclick: () => this.loadMore() }, t("load_more"));
    fill(this.root,
      this.tabs,
      this.queueBar,
      h("div", { class: "filters" }, this.statusSelect, this.channelSelect, this.sortSelect, this.overdueCount),
      h("div", { class: "conv-scroll" }, this.list, this.empty, this.more));
    this.syncControls();
  }

  setChannels(channels) {
    this.channels = channels;
    const select = this.channelSelect;
    // fill() flattens: replaceChildren would turn an array into one text node.
    fill(select, h("option", { value: "" }, t("all_channels")),
      channels.map((c) => h("option", { value: String(c.id) }, c.name)));
    select.value = this.filters.channel;
  }

  /** Fetch the queue summary again (supervisors and admins; debounced for event bursts). */
  refreshQueue() {
    if (this.me.role === "agent") return;
    clearTimeout(this.queueTimer);
    this.queueTimer = setTimeout(async () => {
      try {
        this.queue = { ...(await api("/api/v1/queue")), fetchedAt: Date.now() };
      } catch {
        return; // the next event or tick tries again
      }
      this.renderQueue();
    }, 300);
  }

  renderQueue() {
    const q = this.queue;
    if (!q) return;
    const parts = [t("queue_waiting", { n: q.waiting })];
    if (q.longest_wait_seconds !== null) {
      const seconds = q.longest_wait_seconds + (Date.now() - q.fetchedAt) / 1000;
      const minutes = Math.floor(seconds / 60);
      const wait = minutes >= 60
        ? t("hours_minutes", { h: Math.floor(minutes / 60), m: minutes % 60 })
        : t("minutes_only", { m: minutes });
      parts.push(t("queue_longest", { wait }));
    }
    parts.push(t("queue_online", { n: q.agents_online }));
    this.queueBar.textContent = parts.join(" · ");
    this.queueBar.classList.toggle("queue-alert", q.waiting > 0 && q.longest_wait_seconds >= 600);
    this.queueBar.dataset.waiting = String(q.waiting);
    this.queueBar.hidden = false;
  }

  syncControls() {
    for (const button of this.tabs.children) {
      button.setAttribute("aria-selected", String(button.dataset.tab === this.filters.tab));
    }
    this.statusSelect.value = this.filters.status;
    this.channelSelect.value = this.filters.channel;
    this.sortSelect.value = this.filters.sort;
  }

  setFilter(change) {
    Object.assign(this.filters, change);
    localStorage.setItem("huiliu.filters", JSON.stringify({ tab: this.filters.tab, status: this.filters.status, sort: this.filters.sort }));
    this.syncControls();
    this.load();
  }

  params(cursor) {
    const assignee = { mine: "me", unassigned: "none", all: "" }[this.filters.tab];
    const sort = this.filters.sort === "waiting" ? "waiting" : undefined;
    return query({ status: this.filters.status, assignee, channel_id: this.filters.channel, cursor, limit: PAGE, sort });
  }

  /** Each load supersedes the ones before it: filters changed in quick succession send
   * several requests, and a slower, older answer must not replace the newer one's list.
   * A conversation changed while a request was in flight (an event, or this agent's own
   * action) may be older in the answer than on screen: the server read it whenever it did.
   * Those changes are applied again over the answer; a later change still arrives as its
   * own event, so the list never keeps a stale row (an unassigned one left under Mine). */
  async load() {
    const generation = (this.generation = (this.generation || 0) + 1);
    const data = await this.fetchPage(this.params());
    if (generation !== this.generation) return;
    this.items.clear();
    this.merge(data);
  }

  async loadMore() {
    if (!this.nextCursor) return;
    const generation = this.generation;
    const data = await this.fetchPage(this.params(this.nextCursor));
    if (generation !== this.generation) return; // the filters changed meanwhile
    this.merge(data);
  }

  /** One page, with every conversation upserted while it was in flight (`changed`). */
  async fetchPage(params) {
    const changed = new Map();
    this.inFlight.add(changed);
    try {
      return { page: await api(`/api/v1/conversations${params}`), changed };
    } finally {
      this.inFlight.delete(changed);
    }
  }

  merge({ page, changed }) {
    for (const c of page.items) this.items.set(c.id, c);
    for (const c of changed.values()) this.place(c);
    this.nextCursor = page.next_cursor;
    this.render();
  }

  matches(c) {
    const f = this.filters;
    if (f.status !== "all" && c.status !== f.status) return false;
    if (f.channel && String(c.channel.id) !== f.channel) return false;
    if (f.tab === "mine") return c.assignee?.id === this.me.id;
    if (f.tab === "unassigned") return !c.assignee;
    return true;
  }

  /** A conversation as an event shows it: added, updated, moved or dropped. */
  upsert(c) {
    for (const changed of this.inFlight) changed.set(c.id, c);
    this.place(c);
    this.render();
    this.refreshOverdue?.();
  }

  place(c) {
    if (this.matches(c)) this.items.set(c.id, c);
    else this.items.delete(c.id);
  }

  get(id) {
    return this.items.get(id);
  }

  ordered() {
    return [...this.items.values()].sort(this.filters.sort === "waiting" ? waitingLonger : newer);
  }

  render() {
    const ordered = this.ordered();
    const keep = new Set(ordered.map((c) => c.id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.remove();
        this.rows.delete(id);
        this.sigs.delete(id);
      }
    }
    ordered.forEach((c, index) => {
      const sig = JSON.stringify(c) + this.overdue(c);
      const old = this.rows.get(c.id);
      let row = old;
      if (!old || this.sigs.get(c.id) !== sig) {
        row = this.row(c);
        if (old) old.replaceWith(row);
        this.rows.set(c.id, row);
        this.sigs.set(c.id, sig);
      }
      if (this.list.children[index] !== row) this.list.insertBefore(row, this.list.children[index] || null);
    });
    this.empty.hidden = ordered.length > 0;
    this.more.hidden = !this.nextCursor;
    this.onChange?.(ordered);
  }

  row(c) {
    const name = c.contact.name || t("no_name");
    const unread = c.unread_count > 0;
    const hint = contactHint(c.contact, c.channel.name);
    const late = this.overdue(c);
    return h("li", { class: `conv-item${unread ? " unread" : ""}${late ? " overdue" : ""}${c.id === this.selected ? " selected" : ""}`,
      dataset: { id: String(c.id), status: c.status } },
      h("button", { type: "button", class: "conv-button", onclick: () => this.onOpen(c.id),
        "aria-current": c.id === this.selected ? "true" : null },
        avatar(name, c.contact.avatar_url),
        h("span", { class: "conv-main" },
          h("span", { class: "conv-top" },
            channelIcon(c.channel.type, c.channel.name),
            h("span", { class: "conv-name" }, name),
            hint ? h("span", { class: "conv-hint muted", title: c.contact.external_id }, hint) : null,
            timeEl(c.last_message_at, "conv-time")),
          h("span", { class: "conv-bottom" },
            h("span", { class: "conv-preview" }, preview(c) || "\u00a0"),
            c.status !== "open" ? h("span", { class: `badge badge-${c.status}` }, t(`status_${c.status}`)) : null,
            late ? h("span", { class: "badge badge-warn sla-overdue", title: t("sla_overdue_title") }, t("sla_overdue")) : null,
            unread ? h("span", { class: "unread-badge", "aria-label": String(c.unread_count) },
              c.unread_count > 99 ? "99+" : String(c.unread_count)) : null),
          h("span", { class: "conv-assignee muted" }, c.assignee ? c.assignee.name : t("unassigned")))));
  }

  select(id) {
    this.selected = id;
    for (const [rowId, row] of this.rows) {
      row.classList.toggle("selected", rowId === id);
      row.firstChild.toggleAttribute("aria-current", rowId === id);
    }
    this.rows.get(id)?.scrollIntoView({ block: "nearest" });
  }

  /** The id `step` places after the selected one (j/k). */
  neighbour(step) {
    const ids = this.ordered().map((c) => c.id);
    if (!ids.length) return null;
    const at = ids.indexOf(this.selected);
    if (at === -1) return ids[0];
    return ids[Math.min(ids.length - 1, Math.max(0, at + step))];
  }
}
