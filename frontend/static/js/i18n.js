// The page's words, in its language: the server renders its sections of the catalog
// (app/i18n/zh-CN.json, en.json) into a JSON data block, read here once (a data block,
// not a script: the CSP allows none inline). `t("key", {n: 3})`.

const block = document.getElementById("page-texts");
const dict = block ? JSON.parse(block.textContent || "{}") : {};

export const lang = document.documentElement.lang === "en" ? "en" : "zh-CN";

export function t(key, vars = {}) {
  const text = typeof dict[key] === "string" ? dict[key] : key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Fill `data-i18n` (text) and `data-i18n-title` (tooltip) elements under `root`. */
export function applyI18n(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

// As app/i18n.preview: these types keep their text after the label.
const LABEL_AND_TEXT = new Set(["voice", "location", "link"]);

/**
 * A conversation's preview line in this page's language: the last message's text, the
 * label of its type (`preview_image`…), or both. Items without a type (older events) carry
 * the server's preview.
 */
export function preview(c) {
  const type = c.last_message_type;
  if (!type) return c.last_message_preview || "";
  const text = (c.last_message_text || "").trim();
  const key = "preview_" + type;
  const label = typeof dict[key] === "string" ? dict[key] : "";
  const body = label && text && LABEL_AND_TEXT.has(type) ? label + " " + text : text || label;
  return body.slice(0, 120);
}
