// The data source's context on the chat page: show and run its scan (tables, row counts, status),
// and save a query that ran in the conversation as a golden SQL (the question of its turn with
// it), so later questions get it as a verified example. Self-contained: it touches #context-panel
// and the "Save as golden SQL" buttons the conversation draws under each SQL statement.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
let polling = null;

function selectedSource() {
  return $("data-source-select").value || null;
}

function showScan(scan) {
  const done = scan.tables_done + scan.tables_failed;
  const progress = scan.tables_total ? ` (${done} of ${scan.tables_total} tables)` : "";
  const labels = { NONE: "Not scanned yet", QUEUED: "Scan queued", RUNNING: "Scanning", DONE: "Scanned", FAILED: "Scanned, some tables failed" };
  $("scan-status").textContent = `${scan.name}: ${labels[scan.status] || scan.status}${progress}${scan.error ? ` — ${scan.error}` : ""}`;
  const list = $("scan-tables");
  list.replaceChildren(...scan.tables.map((t) => {
    const item = document.createElement("li");
    item.textContent = `${t.table_name} · ${t.status.toLowerCase()}${t.row_count === null ? "" : ` · ${t.row_count} rows`}${t.error_message ? ` · ${t.error_message}` : ""}`;
    return item;
  }));
  clearTimeout(polling);
  if (scan.status === "QUEUED" || scan.status === "RUNNING") polling = setTimeout(loadScan, 1000);
}

async function loadScan() {
  const source = selectedSource();
  $("scan-run").disabled = !source;
  if (!source) {
    $("scan-status").textContent = "Choose a data source above to see or run its scan.";
    $("scan-tables").replaceChildren();
    return;
  }
  try {
    showScan(await api("GET", `/ui/data-sources/${source}/scan`));
  } catch (error) {
    $("scan-status").textContent = `Could not read the scan: ${error.message}`;
  }
}

async function runScan() {
  const source = selectedSource();
  if (!source) return;
  $("scan-run").disabled = true;
  try {
    showScan(await api("POST", `/ui/data-sources/${source}/scan`));
  } catch (error) {
    $("scan-status").textContent = `Could not start the scan: ${error.message}`;
  } finally {
    $("scan-run").disabled = false;
  }
}

async function saveGolden(button) {
  const threadId = window.querent && window.querent.threadId;
  const turn = button.closest("section.turn");
  const question = turn?.querySelector(".msg.user")?.textContent.trim() || "";
  if (!threadId || !question) return;
  button.disabled = true;
  try {
    await api("POST", `/ui/threads/${threadId}/golden-sqls`, { sql: button.dataset.sql, question });
    button.textContent = "Saved as golden SQL ✓";
  } catch (error) {
    button.textContent = `Not saved: ${error.message}`;
    button.disabled = false;
  }
}

$("context-panel").addEventListener("toggle", () => { if ($("context-panel").open) loadScan(); });
$("data-source-select").addEventListener("change", () => { if ($("context-panel").open) loadScan(); });
$("scan-run").addEventListener("click", runScan);
document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button.save-golden");
  if (button) saveGolden(button);
});
