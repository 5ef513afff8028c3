// Documents on the chat page: attach files to the open conversation (POST /ingest with the thread as
// the target), show the upload's progress (bytes sent, then the server's parsing and storing
// stages from /ui/uploads/<id>), and list the documents the conversation's answers can draw on.
// Self-contained: it reads the open thread from window.querent and touches only #documents.

import { api, credentials } from "./api.js";

const $ = (id) => document.getElementById(id);

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function currentThread() {
  return (window.querent && window.querent.threadId) || null;
}

function setStatus(text, isError = false) {
  const status = $("document-status");
  status.textContent = text;
  status.classList.toggle("error-text", isError);
}

function showProgress(percent) {
  const bar = $("document-progress");
  bar.hidden = percent === null;
  if (percent !== null) bar.value = Math.max(0, Math.min(100, percent));
}

async function refreshList() {
  const list = $("document-list");
  const threadId = currentThread();
  list.replaceChildren();
  if (!threadId) return;
  let documents = [];
  try {
    documents = await api("GET", `/ui/threads/${threadId}/documents`);
  } catch {
    return; // the thread list shows connection problems; the list stays empty
  }
  if (threadId !== currentThread()) return;
  for (const doc of documents) {
    const item = document.createElement("li");
    item.className = "document-item";
    item.dataset.documentId = doc.document_id;
    item.textContent = `${doc.title} · ${doc.kind} · ${doc.chunks} passage${doc.chunks === 1 ? "" : "s"}`;
    item.title = doc.scope === "assistant" ? "from the assistant" : "attached to this conversation";
    list.append(item);
  }
}

function send(form, uploadId, onProgress) {
  // XMLHttpRequest, not fetch: only it reports the bytes sent while a large file goes up.
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/ingest");
    request.setRequestHeader("Accept", "application/json");
    if (credentials.apiKey) request.setRequestHeader("Authorization", `Bearer ${credentials.apiKey}`);
    else request.setRequestHeader("X-CSRFToken", csrfToken());
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      resolve({ ok: request.status >= 200 && request.status < 300, status: request.status, body });
    };
    request.onerror = () => resolve({ ok: false, status: 0, body: null });
    request.send(form);
  });
}

async function upload(files) {
  const threadId = currentThread();
  if (!threadId) {
    setStatus("Ask a first question to start the conversation, then attach documents to it.", true);
    return;
  }
  const uploadId = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const form = new FormData();
  form.append("config", JSON.stringify({ configurable: { thread_id: threadId } }));
  form.append("upload_id", uploadId);
  for (const file of files) form.append("files", file);
  const names = [...files].map((f) => f.name).join(", ");
  setStatus(`Uploading ${names}…`);
  showProgress(0);
  let sent = false;
  let finished = false; // a poll answered after the upload's own answer must not overwrite it
  const poll = setInterval(async () => {
    if (!sent || finished) return;
    try {
      const progress = await api("GET", `/ui/uploads/${uploadId}`);
      if (progress.total && !finished) {
        setStatus(`${progress.stage === "parsing" ? "Reading" : "Indexing"} ${names}: ${progress.done} of ${progress.total}`);
        showProgress(50 + (50 * progress.done) / progress.total);
      }
    } catch {
      /* the upload's own answer says what happened */
    }
  }, 300);
  const result = await send(form, uploadId, (fraction) => {
    showProgress(50 * fraction);
    if (fraction >= 1) {
      sent = true;
      setStatus(`Reading ${names}…`);
    }
  });
  finished = true;
  clearInterval(poll);
  showProgress(null);
  if (result.ok) {
    const count = result.body.length;
    setStatus(`Attached ${count} document${count === 1 ? "" : "s"}: answers in this conversation can use ${count === 1 ? "it" : "them"}.`);
    await refreshList();
  } else {
    const detail = (result.body && result.body.detail) || (result.status ? `upload failed (${result.status})` : "Querent cannot be reached.");
    setStatus(`Not attached: ${detail}`, true);
  }
}

export function initDocuments() {
  const input = $("document-files");
  if (!input) return;
  input.addEventListener("change", async () => {
    if (input.files.length) await upload(input.files);
    input.value = "";
  });
  // The app changes the hash when another conversation opens.
  window.addEventListener("hashchange", () => {
    setStatus("");
    setTimeout(refreshList, 100); // after the app has opened the conversation
  });
  refreshList();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initDocuments);
else initDocuments();
