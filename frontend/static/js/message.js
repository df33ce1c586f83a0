// One message as a chat bubble: by direction, private notes set apart, every content
// type rendered (text, image, voice, video, file, location, link, event), delivery status.

import { fill, fullTime, h, link, linkify, ownUrl, shortTime } from "./dom.js";
import { t } from "./i18n.js";

function kindOf(m) {
  if (m.content_type === "event") return "event";
  if (m.private) return "note";
  return m.direction === "inbound" ? "in" : "out";
}

function sizeText(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function attachmentView(att, kind) {
  const name = String(att.file_name || t(kind) || t("file"));
  if (att.status === "failed") {
    return h("div", { class: "att att-failed" }, t("attachment_failed", { reason: String(att.error || "") }));
  }
  const url = att.status === "ready" ? ownUrl(att.url) : null;
  if (!url) return h("div", { class: "att att-pending" }, t("attachment_pending"), " ", h("span", { class: "att-name" }, name));
  if (kind === "image") {
    return h("a", { class: "att att-image", href: url, target: "_blank", rel: "noopener" },
      h("img", { src: url, alt: name, loading: "lazy" }));
  }
  if (kind === "voice") return h("audio", { class: "att att-voice", controls: true, preload: "none", src: url });
  if (kind === "video") return h("video", { class: "att att-video", controls: true, preload: "metadata", src: url });
  return h("a", { class: "att att-file", href: url, download: name, rel: "noopener" },
    h("span", { class: "att-icon", "aria-hidden": "true" }),
    h("span", { class: "att-name" }, name),
    h("span", { class: "att-size" }, sizeText(att.size)));
}

function locationView(m) {
  const x = m.extra || {};
  const lat = Number(x.latitude);
  const lng = Number(x.longitude);
  const label = String(x.label || m.content || t("location"));
  const box = h("div", { class: "location" },
    h("span", { class: "location-pin", "aria-hidden": "true" }),
    h("span", { class: "location-label" }, label));
  if (Number.isFinite(lat) && Number.isFinite(lng)) {
    box.append(h("span", { class: "location-coords" }, `${lat.toFixed(5)}, ${lng.toFixed(5)}`));
    box.append(link(`https://uri.amap.com/marker?position=${lng},${lat}`, t("open_map"), "location-map"));
  }
  return box;
}

function linkView(m) {
  const x = m.extra || {};
  const title = String(x.title || m.content || x.url || t("link"));
  return h("div", { class: "link-card" },
    h("div", { class: "link-title" }, link(String(x.url || ""), title)),
    x.description ? h("div", { class: "link-desc" }, String(x.description)) : null,
    x.url ? h("div", { class: "link-url" }, String(x.url)) : null);
}

function body(m) {
  const parts = [];
  const type = m.content_type;
  if (type === "location") return [locationView(m)];
  if (type === "link") return [linkView(m)];
  for (const att of m.attachments || []) {
    const kind = ["image", "voice", "video"].includes(att.kind) ? att.kind : "file";
    parts.push(attachmentView(att, kind));
  }
  if (type === "unsupported" && !m.content) parts.push(h("span", { class: "muted" }, t("unsupported")));
  if (m.content) parts.push(h("div", { class: "msg-text" }, linkify(m.content)));
  if (!parts.length && ["image", "voice", "video", "file"].includes(type)) {
    parts.push(h("span", { class: "muted" }, `[${t(type)}]`));
  }
  return parts;
}

function statusView(m, onRetry) {
  const status = m.delivery_status;
  if (m.direction !== "outbound" || m.private || !status || status === "received") return null;
  const box = h("div", { class: `msg-status status-${status}` },
    h("span", { class: "status-text" }, t(`status_${status}`)));
  // uncertain: the platform may have delivered it (no idempotency key); the agent decides.
  if (status === "failed" || status === "uncertain") {
    if (m.error) box.append(h("span", { class: "status-reason" }, t("failed_reason", { reason: m.error })));
    box.append(h("button", { type: "button", class: "btn btn-small btn-retry", onclick: () => onRetry(m) }, t("retry")));
  }
  return box;
}

function senderName(m, me) {
  if (m.sender?.type === "user" && m.sender.id === me.id) return t("you");
  return m.sender?.name || (m.direction === "outbound" ? "—" : t("no_name"));
}

/** The <li> for one message; `render` again and replaceWith to update it. */
/** Short on screen ("15:02"); on paper the full date and time, since a printed
 * transcript is kept for years (the stylesheet picks one). */
function msgTime(iso) {
  return h("time", { datetime: iso, title: fullTime(iso) },
    h("span", { class: "time-screen" }, shortTime(iso)),
    h("span", { class: "time-print" }, fullTime(iso)));
}

export function renderMessage(m, { me, onRetry }) {
  const kind = kindOf(m);
  const li = h("li", {
    class: `msg msg-${kind}`,
    dataset: { id: String(m.id), status: m.delivery_status || "" },
  });
  if (kind === "event") {
    fill(li, h("div", { class: "msg-event-text" }, String(m.content || t("event_generic", { name: m.extra?.event || "" })),
      " · ", msgTime(m.created_at)));
    return li;
  }
  fill(li,
    h("div", { class: "msg-meta" },
      kind === "note" ? h("span", { class: "note-flag" }, t("private_note")) : null,
      h("span", { class: "msg-sender" }, senderName(m, me)),
      msgTime(m.sent_at || m.created_at)),
    h("div", { class: "msg-bubble" }, body(m)),
    statusView(m, onRetry),
  );
  return li;
}
