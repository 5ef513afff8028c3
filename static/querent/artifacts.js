// Artifact cards: tables (sortable, paged, CSV download, chart toggle), charts and text.

import { CHART_TYPES, renderChart } from "./chart.js";
import { renderMarkdown } from "./markdown.js";
import { cellText, columnsOf, downloadText, el, numericColumns, safeFilename, toCsv, toNumber } from "./util.js";

export const PAGE_SIZE = 25;

/** A card for an artifact {identifier, title, artifact_type, data}. */
export function renderArtifact(artifact) {
  const type = artifact.artifact_type;
  const card = el("figure", { class: `artifact artifact-${type}`, dataset: { artifact: artifact.identifier } });
  const caption = el("figcaption", { class: "artifact-head" }, el("span", { class: "artifact-title" }, artifact.title || artifact.identifier));
  card.append(caption);
  if (type === "table") {
    const rows = Array.isArray(artifact.data) ? artifact.data.filter((row) => row && typeof row === "object") : [];
    card.append(new TableView(rows, artifact.title || artifact.identifier, caption).element);
  } else if (type === "chart") {
    card.append(el("div", { class: "chart-box" }, renderChart({ title: artifact.title, ...(artifact.data || {}) })));
    const rows = artifact.data && Array.isArray(artifact.data.rows) ? artifact.data.rows : [];
    if (rows.length) {
      const details = el("details", { class: "chart-data" }, el("summary", {}, `Data (${rows.length} rows)`));
      details.append(new TableView(rows, artifact.title || artifact.identifier, null).element);
      card.append(details);
    }
  } else {
    card.append(renderMarkdown(typeof artifact.data === "string" ? artifact.data : JSON.stringify(artifact.data, null, 2), missingArtifact));
  }
  return card;
}

export function missingArtifact(attrs) {
  return el("p", { class: "artifact-missing" }, `Artifact '${attrs.identifier || "?"}' is not available.`);
}

/** A table of row dicts: click a header to sort, page through large ones, download, draw as chart. */
export class TableView {
  constructor(rows, title, toolbarHost) {
    this.rows = rows;
    this.title = title;
    this.columns = columnsOf(rows);
    this.numeric = new Set(numericColumns(rows, this.columns));
    this.sort = null; // {column, direction: 1|-1}
    this.page = 0;
    this.chartMode = false;
    this.element = el("div", { class: "table-view" });
    this.toolbar = el("div", { class: "table-tools" });
    (toolbarHost || this.element).append(this.toolbar);
    this.body = el("div", { class: "table-body" });
    this.element.append(this.body);
    this.buildToolbar();
    this.render();
  }

  buildToolbar() {
    this.toolbar.append(el("span", { class: "row-count" }, `${this.rows.length} row${this.rows.length === 1 ? "" : "s"}`));
    this.toolbar.append(el("button", { type: "button", class: "btn small", onclick: () => this.download(), title: "Download as CSV" }, "CSV"));
    if (this.numeric.size && this.columns.length > 1) {
      this.chartButton = el("button", { type: "button", class: "btn small chart-toggle", onclick: () => this.toggleChart() }, "Chart");
      this.toolbar.append(this.chartButton);
    }
  }

  sortedRows() {
    if (!this.sort) return this.rows;
    const { column, direction } = this.sort;
    const numeric = this.numeric.has(column);
    const key = (row) => (numeric ? toNumber(row[column]) : cellText(row[column]).toLowerCase());
    return [...this.rows].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      if (x === y) return 0;
      if (x === null || x === "") return 1; // empty cells last either way
      if (y === null || y === "") return -1;
      return (x < y ? -1 : 1) * direction;
    });
  }

  setSort(column) {
    const direction = this.sort && this.sort.column === column ? -this.sort.direction : 1;
    this.sort = { column, direction };
    this.page = 0;
    this.render();
  }

  download() {
    downloadText(`${safeFilename(this.title)}.csv`, toCsv(this.columns, this.sortedRows()));
  }

  toggleChart() {
    this.chartMode = !this.chartMode;
    this.chartButton.textContent = this.chartMode ? "Table" : "Chart";
    this.render();
  }

  render() {
    this.body.replaceChildren(this.chartMode ? this.renderChartPanel() : this.renderTable());
  }

  renderTable() {
    if (!this.rows.length) return el("p", { class: "muted" }, "No rows.");
    const pages = Math.max(1, Math.ceil(this.rows.length / PAGE_SIZE));
    this.page = Math.min(this.page, pages - 1);
    const start = this.page * PAGE_SIZE;
    const visible = this.sortedRows().slice(start, start + PAGE_SIZE);
    const head = el("tr", {}, this.columns.map((column) => {
      const sorted = this.sort && this.sort.column === column;
      const arrow = sorted ? (this.sort.direction === 1 ? " ▲" : " ▼") : "";
      return el("th", {
        class: this.numeric.has(column) ? "num" : null,
        "aria-sort": sorted ? (this.sort.direction === 1 ? "ascending" : "descending") : "none",
      }, el("button", { type: "button", class: "sort", onclick: () => this.setSort(column) }, column + arrow));
    }));
    const body = visible.map((row) => el("tr", {}, this.columns.map((column) => {
      const value = row[column];
      const empty = value === null || value === undefined;
      return el("td", { class: [this.numeric.has(column) ? "num" : "", empty ? "null" : ""].join(" ").trim() || null }, empty ? "—" : cellText(value));
    })));
    const wrapper = el("div", {}, el("div", { class: "table-scroll" }, el("table", { class: "data" }, el("thead", {}, head), el("tbody", {}, body))));
    if (pages > 1) {
      wrapper.append(el("div", { class: "pager" },
        el("button", { type: "button", class: "btn small", disabled: this.page === 0, onclick: () => { this.page -= 1; this.render(); } }, "‹ Prev"),
        el("span", { class: "page-info" }, `Rows ${start + 1}–${start + visible.length} of ${this.rows.length}`),
        el("button", { type: "button", class: "btn small", disabled: this.page >= pages - 1, onclick: () => { this.page += 1; this.render(); } }, "Next ›"),
      ));
    }
    return wrapper;
  }

  renderChartPanel() {
    const numeric = this.columns.filter((c) => this.numeric.has(c));
    this.chartSpec = this.chartSpec || {
      type: "bar",
      x: this.columns.find((c) => !this.numeric.has(c)) || this.columns[0],
      y: numeric.find((c) => c !== (this.columns.find((x) => !this.numeric.has(x)) || this.columns[0])) || numeric[0],
    };
    const select = (name, options, value) => el("label", {}, name + " ",
      el("select", { onchange: (event) => { this.chartSpec[name] = event.target.value; this.render(); } },
        options.map((option) => el("option", { value: option, selected: option === value }, option))));
    const controls = el("div", { class: "chart-controls" },
      select("type", CHART_TYPES, this.chartSpec.type), select("x", this.columns, this.chartSpec.x), select("y", numeric, this.chartSpec.y));
    return el("div", {}, controls, el("div", { class: "chart-box" }, renderChart({ ...this.chartSpec, rows: this.sortedRows() })));
  }
}
