// Building the page safely: elements with textContent only (never innerHTML), links only
// to http(s), attachment URLs only on our own origin; times shown relative.

import { lang, t } from "./i18n.js";

/**
 * h("div", {class: "x", onclick: fn}, "text", child) -> HTMLElement.
 * Strings always become text nodes, so customer text can never turn into markup.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "href" || key === "src") {
      if (typeof value !== "string" || !/^(https?:|\/(?!\/)|blob:|#)/i.test(value)) continue;
      el.setAttribute(key, value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replace `el`'s children; null, undefined and false children are skipped. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An absolute http(s) URL from customer content, normalised; anything else is null. */
export function externalUrl(raw) {
  if (typeof raw !== "string" || !/^https?:\/\//i.test(raw.trim())) return null;
  try {
    const url = new URL(raw.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A URL the server gave for an attachment: only a path on our own origin. */
export function ownUrl(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//")) return null;
  try {
    const url = new URL(raw, location.origin);
    return url.origin === location.origin ? url.pathname + url.search : null;
  } catch {
    return null;
  }
}

/** An image URL (avatars): our own paths or http(s). */
export function imageUrl(raw) {
  return ownUrl(raw) || externalUrl(raw);
}

export function link(href, text, cls = "") {
  const safe = externalUrl(href);
  if (!safe) return document.createTextNode(text);
  return h("a", { href: safe, target: "_blank", rel: "noopener noreferrer nofollow", class: cls }, text);
}

const URL_RE = /https?:\/\/[^\s<>"'，。！？；、（）【】「」]+/gi;

/** Text with its http(s) URLs as links; everything else stays text. */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const match of String(text).matchAll(URL_RE)) {
    let url = match[0];
    const trailing = url.match(/[.,;:!?)\]]+$/);
    if (trailing) url = url.slice(0, -trailing[0].length);
    frag.append(String(text).slice(last, match.index));
    frag.append(link(url, url));
    last = match.index + url.length;
  }
  frag.append(String(text).slice(last));
  return frag;
}

export function channelIcon(type, name = "") {
  const known = ["wechat", "douyin", "webchat", "wecom"].includes(type) ? type : "generic";
  return h("img", {
    class: "channel-icon",
    src: `/static/img/ch-${known}.svg`,
    alt: name || type,
    title: name || type,
    width: 16,
    height: 16,
  });
}

export function initial(name) {
  const first = [...String(name || "?").trim()][0] || "?";
  return first.toUpperCase();
}

export function avatar(name, url, cls = "avatar") {
  const src = imageUrl(url);
  const letter = () => h("span", { class: `${cls} avatar-letter`, "aria-hidden": "true" }, initial(name));
  if (!src) return letter();
  // A platform's image host may refuse us or be gone: the initial stands in, not a broken image.
  const img = h("img", { class: cls, src, alt: "", referrerpolicy: "no-referrer" });
  img.addEventListener("error", () => img.replaceWith(letter()), { once: true });
  return img;
}

export function relTime(iso, now = Date.now()) {
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return "";
  const minutes = Math.floor((now - then) / 60000);
  if (minutes < 1) return t("just_now");
  if (minutes < 60) return t("minutes_ago", { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return t("hours_ago", { n: hours });
  const days = Math.floor(hours / 24);
  if (days === 1) return t("yesterday");
  if (days < 7) return t("days_ago", { n: days });
  return new Date(iso).toLocaleDateString(lang);
}

export function fullTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString(lang);
}

export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString(lang, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A <time> that the page's ticker keeps relative ("3 分钟前"). */
export function timeEl(iso, cls = "") {
  return h("time", { datetime: iso, title: fullTime(iso), class: `rel ${cls}`.trim() }, relTime(iso));
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time.rel")) el.textContent = relTime(el.dateTime, now);
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "info" ? 2500 : 6000); // errors and alerts stay longer
}

/** Beside a made-up name ("客户 er01"): the phone's last digits, else the customer's id
 * on the channel, then the last order's number and date, so two such customers can be
 * told apart. Plain text (callers add it as a text node). Null for real names. */
export function contactHint(contact, channelName) {
  if (!contact?.generated_name) return null;
  let hint;
  if (contact.phone) hint = t("phone_tail", { tail: contact.phone.replace(/\D/g, "").slice(-4) });
  else {
    const id = String(contact.external_id || "");
    hint = `${channelName} · ${id.length > 10 ? `…${id.slice(-10)}` : id}`;
  }
  const order = contact.last_order;
  if (order?.order_no) {
    hint += ` · ${t("last_order_hint", { order_no: order.order_no, date: order.ordered_at || "" })}`;
  }
  return hint;
}
