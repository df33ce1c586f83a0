// The /archive and /admin pages' words come from the same catalog block as the inbox's
// (./i18n.js); `pt("key", {n: 3})`.

import { t as pt } from "./i18n.js";

export { pt };

/**
 * The search API's highlight: customer text, HTML-escaped, with <mark>…</mark> around the
 * matches. Split on the two tags only and build text nodes, so nothing in it can become
 * markup; the entities the server added are turned back into the characters they stand for.
 */
export function highlighted(escaped) {
  const frag = document.createDocumentFragment();
  const parts = String(escaped).split(/(<mark>|<\/mark>)/);
  let marked = false;
  let mark = null;
  for (const part of parts) {
    if (part === "<mark>") {
      marked = true;
      mark = document.createElement("mark");
      frag.append(mark);
    } else if (part === "</mark>") {
      marked = false;
    } else if (part) {
      const node = document.createTextNode(unescapeHtml(part));
      (marked && mark ? mark : frag).append(node);
    }
  }
  return frag;
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };

export function unescapeHtml(text) {
  return text.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (m) => ENTITIES[m]);
}
