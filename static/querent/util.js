// Small DOM and data helpers shared by the chat page's modules.

/** Create an element: el("div", {class: "x", dataset: {seq: 3}, onclick: fn}, child, "text", ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function escapeHtml(text) {
  return String(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** A number from a cell value: numbers, numeric strings, "$1,234.50", "12%"; otherwise null. */
export function toNumber(value) {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "boolean" || value === null || value === undefined) return null;
  const text = String(value).trim().replace(/^[$€£¥]/, "").replace(/,/g, "").replace(/%$/, "");
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return null;
  const number = Number(text);
  return Number.isFinite(number) ? number : null;
}

/** Column names of row dicts, in order of first appearance. */
export function columnsOf(rows) {
  const seen = new Set();
  for (const row of rows) {
    if (row && typeof row === "object") for (const key of Object.keys(row)) seen.add(key);
  }
  return [...seen];
}

/** Columns whose non-empty values are all numbers (and at least one is). */
export function numericColumns(rows, columns = columnsOf(rows)) {
  return columns.filter((column) => {
    let numbers = 0;
    for (const row of rows) {
      const value = row?.[column];
      if (value === null || value === undefined || value === "") continue;
      if (toNumber(value) === null) return false;
      numbers += 1;
    }
    return numbers > 0;
  });
}

export function cellText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** RFC 4180 CSV. Text that a spreadsheet would run as a formula gets a leading quote mark. */
export function toCsv(columns, rows) {
  const quote = (value) => {
    let text = cellText(value);
    if (typeof value === "string" && /^[=+@\t\r-]/.test(text) && toNumber(text) === null) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replaceAll('"', '""') + '"' : text;
  };
  const lines = [columns.map(quote).join(",")];
  for (const row of rows) lines.push(columns.map((c) => quote(row?.[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}

export function downloadText(filename, text, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function safeFilename(name) {
  return (String(name || "table").replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, "") || "table").slice(0, 80);
}

export function formatWhen(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date();
  return date.toDateString() === today.toDateString()
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { month: "short", day: "numeric" });
}
