// Uploading a data file from the chat page: drop it on the zone or choose it, watch DuckDB load it
// (the upload API's progress events), and the new data source is chosen in the picker.
// Self-contained: it only adds an option to #data-source-select and selects it.

import { credentials } from "./api.js";

const UPLOAD_URL = "/api/v1/data-sources/uploads";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** SSE frames of a fetch response body: yields {event, data} as they arrive. */
async function* frames(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

function describe(progress) {
  if (progress.stage === "received") return `Received ${progress.files.map((f) => f.name).join(", ")}; loading…`;
  if (progress.stage === "reading") return `Reading ${progress.file}: ${progress.rows.toLocaleString()} rows…`;
  if (progress.stage === "loading") return `Loading ${progress.file} as table ${progress.table}: ${Math.round(progress.percent)}%`;
  if (progress.stage === "loaded") return `Loaded ${progress.table}: ${progress.rows.toLocaleString()} rows`;
  return "Loading…";
}

async function upload(files, ui) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  const headers = { Accept: "text/event-stream" };
  if (credentials.apiKey) headers.Authorization = `Bearer ${credentials.apiKey}`;
  else headers["X-CSRFToken"] = csrfToken();
  ui.zone.classList.add("busy");
  ui.progress.hidden = false;
  ui.progress.removeAttribute("value");
  ui.status.classList.remove("error-text");
  ui.status.textContent = `Uploading ${files.length === 1 ? files[0].name : `${files.length} files`}…`;
  try {
    const response = await fetch(UPLOAD_URL, { method: "POST", headers, body: form, credentials: "same-origin" });
    if (!response.ok || !(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail || `${response.status} ${response.statusText}`);
    }
    for await (const { event, data } of frames(response)) {
      if (event === "progress") {
        ui.status.textContent = describe(data);
        if (data.stage === "loading") ui.progress.value = data.percent;
      } else if (event === "error") {
        throw new Error(data.detail);
      } else if (event === "done") {
        added(data, ui);
        return;
      }
    }
    throw new Error("the upload stopped before it finished; nothing was created");
  } catch (error) {
    ui.status.textContent = `Upload failed: ${error.message}`;
    ui.status.classList.add("error-text");
  } finally {
    ui.zone.classList.remove("busy");
    ui.progress.hidden = true;
  }
}

function added(source, ui) {
  const select = document.getElementById("data-source-select");
  if (select) {
    const option = document.createElement("option");
    option.value = source.id;
    option.textContent = `${source.name} (${source.engine})`;
    select.append(option);
    select.value = source.id;
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }
  const tables = source.tables.map((t) => `${t.name} (${t.rows.toLocaleString()} rows)`).join(", ");
  ui.status.textContent = `Ready: ${tables}. Ask a question about it, e.g. “What's in this file?”`;
}

function start() {
  const zone = document.getElementById("upload-zone");
  const input = document.getElementById("upload-input");
  if (!zone || !input) return;
  const ui = { zone, progress: document.getElementById("upload-progress"), status: document.getElementById("upload-status") };
  input.addEventListener("change", () => {
    if (input.files.length) upload([...input.files], ui).finally(() => (input.value = ""));
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) upload([...event.dataTransfer.files], ui);
  });
}

start();
