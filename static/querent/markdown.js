// A small, safe markdown subset for model answers: everything is HTML-escaped first, then only
// the tags produced here are added. `<artifact identifier='x' />` becomes the artifact itself.

import { el, escapeHtml } from "./util.js";

const ARTIFACT_TAG = /<artifact\b([^>]*?)\/?>(?:\s*<\/artifact>)?/gi;
const ATTRIBUTE = /([\w-]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/g;
const MARK = "\u0000";

export function parseArtifactTag(attributeText) {
  const attrs = {};
  for (const match of attributeText.matchAll(ATTRIBUTE)) attrs[match[1]] = match[2] ?? match[3] ?? "";
  return attrs;
}

/** Identifiers of the artifacts a text references, in order. */
export function artifactReferences(text) {
  return [...String(text || "").matchAll(ARTIFACT_TAG)].map((m) => parseArtifactTag(m[1]).identifier).filter(Boolean);
}

/**
 * Render `text` into a container element.
 * @param {(attrs: object) => Node} renderArtifact  called for each artifact reference
 */
export function renderMarkdown(text, renderArtifact) {
  const artifacts = [];
  const source = String(text || "").replace(ARTIFACT_TAG, (_, attrText) => {
    artifacts.push(parseArtifactTag(attrText));
    return `\n${MARK}A${artifacts.length - 1}${MARK}\n`;
  });
  const container = el("div", { class: "md" });
  const html = blocksToHtml(source.split(/\r?\n/));
  container.innerHTML = html;
  for (const slot of container.querySelectorAll("[data-artifact-slot]")) {
    const attrs = artifacts[Number(slot.dataset.artifactSlot)];
    slot.replaceWith(renderArtifact(attrs));
  }
  return container;
}

function blocksToHtml(lines) {
  const out = [];
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const slot = line.trim().match(new RegExp(`^${MARK}A(\\d+)${MARK}$`));
    if (slot) {
      flush();
      out.push(`<div data-artifact-slot="${slot[1]}"></div>`);
      continue;
    }
    if (/^\s*```/.test(line)) {
      flush();
      const language = line.trim().slice(3).trim();
      const code = [];
      for (i += 1; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      out.push(`<pre class="code"${language ? ` data-language="${escapeHtml(language)}"` : ""}><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flush();
      const level = Math.min(6, heading[1].length + 2);
      out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      continue;
    }
    if (isTableStart(lines, i)) {
      flush();
      const rows = [];
      for (; i < lines.length && /^\s*\|/.test(lines[i]); i++) rows.push(lines[i]);
      i -= 1;
      out.push(tableHtml(rows));
      continue;
    }
    const listKind = listItemKind(line);
    if (listKind) {
      flush();
      const items = [];
      for (; i < lines.length && listItemKind(lines[i]) === listKind; i++) {
        items.push(lines[i].replace(/^\s*(?:[-*+]|\d+[.)])\s+/, ""));
      }
      i -= 1;
      const tag = listKind === "ol" ? "ol" : "ul";
      out.push(`<${tag}>${items.map((item) => `<li>${inline(item)}</li>`).join("")}</${tag}>`);
      continue;
    }
    if (/^\s*>\s?/.test(line)) {
      flush();
      const quoted = [];
      for (; i < lines.length && /^\s*>\s?/.test(lines[i]); i++) quoted.push(lines[i].replace(/^\s*>\s?/, ""));
      i -= 1;
      out.push(`<blockquote>${quoted.map(inline).join("<br>")}</blockquote>`);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      out.push("<hr>");
      continue;
    }
    if (!line.trim()) {
      flush();
      continue;
    }
    paragraph.push(line);
  }
  flush();
  return out.join("");
}

function listItemKind(line) {
  if (/^\s*[-*+]\s+/.test(line)) return "ul";
  if (/^\s*\d+[.)]\s+/.test(line)) return "ol";
  return null;
}

function isTableStart(lines, i) {
  return /^\s*\|/.test(lines[i]) && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1]);
}

function splitRow(row) {
  return row.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => cell.trim());
}

function tableHtml(rows) {
  const [head, , ...body] = rows;
  const header = splitRow(head).map((cell) => `<th>${inline(cell)}</th>`).join("");
  const bodyHtml = body.map((row) => `<tr>${splitRow(row).map((cell) => `<td>${inline(cell)}</td>`).join("")}</tr>`).join("");
  return `<div class="table-scroll"><table class="md-table"><thead><tr>${header}</tr></thead><tbody>${bodyHtml}</tbody></table></div>`;
}

/** Inline markup on one escaped line: `code`, **bold**, *italic*, [text](http...). */
function inline(text) {
  const codes = [];
  let html = escapeHtml(text).replace(/`([^`]+)`/g, (_, code) => {
    codes.push(code);
    return `${MARK}C${codes.length - 1}${MARK}`;
  });
  html = html
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/__([^_]+)__/g, "<strong>$1</strong>")
    .replace(/(^|[^*\w])\*([^*\s][^*]*?)\*(?!\w)/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_([^_\s][^_]*?)_(?!\w)/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\(((?:https?:\/\/|\/)[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
  return html.replace(new RegExp(`${MARK}C(\\d+)${MARK}`, "g"), (_, n) => `<code>${codes[Number(n)]}</code>`);
}
