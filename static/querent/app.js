// The chat page: sign-in, the thread list, the new-chat form, and one open thread streamed over
// its websocket. The event log on the server is the truth; this page only renders it.

import { api, ApiError, credentials, threadSocketUrl } from "./api.js";
import { Conversation } from "./conversation.js";
import { ThreadSocket } from "./socket.js";
import { el, formatWhen } from "./util.js";

const $ = (id) => document.getElementById(id);
const THREAD_HASH = /^#\/t\/([0-9a-f-]{36})$/i;
const SESSION_LABEL = { bi: "BI session", julep: "Julep session" };
const STATUS_TEXT = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", closed: "Offline" };

class App {
  constructor() {
    this.threadId = null;
    this.socket = null;
    this.threads = [];
    this.options = { assistants: [], data_sources: [] };
    this.queuedQuestion = null; // a first question waiting for its new thread's socket to open
    this.conversation = new Conversation($("conversation"), {
      decide: (id, approve) => this.decide(id, approve),
      needQuestion: () => this.refreshQuestions(),
    });
  }

  // --- sign-in ----------------------------------------------------------------------------

  async start() {
    this.wireStaticControls();
    if (!credentials.apiKey && document.body.dataset.signedIn === "no") {
      this.showSignIn(""); // nothing to ask the server yet: it would only answer 401
      return;
    }
    try {
      this.me = await api("GET", "/ui/me");
    } catch (error) {
      if (credentials.apiKey && error.status === 401) {
        credentials.apiKey = "";
        this.showSignIn("That API key was not accepted (invalid or revoked).");
      } else {
        this.showSignIn(error.status === 401 || error.status === 403 ? "" : error.message);
      }
      return;
    }
    $("signin").hidden = true;
    $("app").hidden = false;
    const how = { api_key: "API key", session: "signed in", dev: "development mode", jwt: "token" }[this.me.source] || this.me.source;
    $("whoami").textContent = `${this.me.user_id} · ${how}`;
    $("sign-out-item").hidden = this.me.source === "dev"; // development auth signs everyone in as someone
    await Promise.all([this.loadOptions(), this.loadThreads()]);
    window.addEventListener("hashchange", () => this.route());
    this.route();
  }

  showSignIn(message) {
    $("app").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
  }

  async useApiKey(event) {
    event.preventDefault();
    const key = $("apikey").value.trim();
    if (!key) return;
    credentials.apiKey = key;
    $("apikey").value = "";
    $("signin-error").textContent = "";
    await this.start();
  }

  signOut() {
    this.leaveThread();
    if (credentials.apiKey) {
      credentials.apiKey = "";
      location.hash = "";
      location.reload();
    } else {
      $("logout-form").submit();
    }
  }

  wireStaticControls() {
    if (this.wired) return;
    this.wired = true;
    $("apikey-form").addEventListener("submit", (event) => this.useApiKey(event));
    $("sign-out").addEventListener("click", () => this.signOut());
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    $("question").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    $("stop").addEventListener("click", () => this.stop());
    $("new-chat").addEventListener("click", () => {
      location.hash = "";
      this.closeSidebar();
    });
    $("menu-toggle").addEventListener("click", () => document.body.classList.toggle("sidebar-open"));
    $("scrim").addEventListener("click", () => this.closeSidebar());
    $("banner-close").addEventListener("click", () => this.hideBanner());
    for (const chip of document.querySelectorAll("[data-example]")) {
      chip.addEventListener("click", () => {
        $("question").value = chip.dataset.example;
        $("question").focus();
      });
    }
  }

  closeSidebar() {
    document.body.classList.remove("sidebar-open");
  }

  // --- banner -----------------------------------------------------------------------------

  showBanner(message, kind = "error") {
    $("banner-text").textContent = message;
    $("banner").className = `banner ${kind}`;
    $("banner").hidden = false;
  }

  hideBanner() {
    $("banner").hidden = true;
  }

  // --- sidebar: options and threads -------------------------------------------------------

  async loadOptions() {
    try {
      this.options = await api("GET", "/ui/options");
    } catch (error) {
      this.showBanner(`Could not load assistants and data sources: ${error.message}`);
      return;
    }
    const assistant = $("assistant-select");
    assistant.replaceChildren(el("option", { value: "" }, "Default assistant"),
      ...this.options.assistants.map((a) => el("option", { value: a.id }, a.name + (a.public && !a.mine ? " (shared)" : ""))));
    const source = $("data-source-select");
    source.replaceChildren(el("option", { value: "" }, "The assistant's own data source"),
      ...this.options.data_sources.map((d) => el("option", { value: d.id }, `${d.name} (${d.engine})`)));
  }

  async loadThreads() {
    try {
      this.threads = await api("GET", "/ui/threads");
    } catch (error) {
      this.showBanner(`Could not load your threads: ${error.message}`);
      return;
    }
    const current = this.threads.find((t) => t.thread_id === this.threadId);
    if (current) $("thread-title").textContent = current.name || "Untitled";
    this.renderThreadList();
  }

  renderThreadList() {
    const list = $("thread-list");
    if (!this.threads.length) {
      list.replaceChildren(el("p", { class: "muted empty" }, "No conversations yet."));
      return;
    }
    // Chats first; threads that BI and Julep sessions run on are listed apart, under their dialect.
    const chats = this.threads.filter((t) => !t.session_dialect);
    const sessions = this.threads.filter((t) => t.session_dialect);
    const section = (title, threads, kind) => threads.length
      ? [el("h2", { class: "thread-group", dataset: { group: kind } }, title), ...threads.map((thread) => this.threadItem(thread))] : [];
    list.replaceChildren(...section("Chats", chats, "chats"), ...section("BI and Julep sessions", sessions, "sessions"));
  }

  threadItem(thread) {
    const current = thread.thread_id === this.threadId;
    const open = el("a", { class: "thread-open", href: `#/t/${thread.thread_id}`, onclick: () => this.closeSidebar() },
      el("span", { class: "thread-name" }, thread.name || "Untitled"),
      el("span", { class: "thread-meta" }, [thread.active ? el("span", { class: "dot live", title: "running" }) : null,
        thread.session_dialect ? `${SESSION_LABEL[thread.session_dialect] || thread.session_dialect} · ` : "",
        thread.assistant_name || "", thread.data_source_name ? ` · ${thread.data_source_name}` : "", ` · ${formatWhen(thread.updated_at)}`]));
    const item = el("div", { class: `thread-item${current ? " current" : ""}`, dataset: { threadId: thread.thread_id } }, open,
      el("div", { class: "thread-actions" },
        el("button", { type: "button", class: "icon-btn rename", title: "Rename", "aria-label": "Rename", onclick: () => this.startRename(item, thread) }, "✎"),
        el("button", { type: "button", class: "icon-btn delete", title: "Delete", "aria-label": "Delete", onclick: () => this.askDelete(item, thread) }, "✕")));
    return item;
  }

  startRename(item, thread) {
    const input = el("input", { class: "rename-input", value: thread.name || "", maxlength: 300, "aria-label": "New name" });
    const form = el("form", { class: "rename-form" }, input);
    const finish = () => this.renderThreadList();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) return finish();
      try {
        const updated = await api("PATCH", `/ui/threads/${thread.thread_id}`, { name });
        Object.assign(thread, updated);
        if (thread.thread_id === this.threadId) $("thread-title").textContent = updated.name;
      } catch (error) {
        this.showBanner(`Rename failed: ${error.message}`);
      }
      finish();
    });
    input.addEventListener("keydown", (event) => event.key === "Escape" && finish());
    item.replaceChildren(form);
    input.focus();
    input.select();
  }

  askDelete(item, thread) {
    const yes = el("button", { type: "button", class: "btn small danger confirm-delete" }, "Delete");
    const no = el("button", { type: "button", class: "btn small" }, "Keep");
    item.replaceChildren(el("div", { class: "delete-ask" }, el("span", {}, `Delete “${thread.name || "Untitled"}”?`), yes, no));
    no.addEventListener("click", () => this.renderThreadList());
    yes.addEventListener("click", async () => {
      try {
        await api("DELETE", `/ui/threads/${thread.thread_id}`);
        this.threads = this.threads.filter((t) => t.thread_id !== thread.thread_id);
        if (thread.thread_id === this.threadId) location.hash = "";
      } catch (error) {
        this.showBanner(`Delete failed: ${error.message}`);
      }
      this.renderThreadList();
    });
  }

  scheduleThreadRefresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.loadThreads(), 300);
  }

  // --- routing ----------------------------------------------------------------------------

  route() {
    const match = location.hash.match(THREAD_HASH);
    const id = match ? match[1].toLowerCase() : null;
    if (id === this.threadId && id !== null) return;
    if (id) this.openThread(id);
    else this.showNewChat();
  }

  leaveThread() {
    if (this.socket) this.socket.close();
    this.socket = null;
    this.threadId = null;
  }

  showNewChat() {
    this.leaveThread();
    this.conversation.reset({});
    $("thread-title").textContent = "New chat";
    $("new-chat-panel").hidden = false;
    this.setConnection(null);
    this.updateComposer();
    this.renderThreadList();
  }

  async openThread(id) {
    this.leaveThread();
    this.threadId = id;
    this.hideBanner();
    $("new-chat-panel").hidden = true;
    this.conversation.reset({});
    this.renderThreadList();
    let detail;
    try {
      detail = await api("GET", `/ui/threads/${id}`);
    } catch (error) {
      if (this.threadId !== id) return;
      this.threadId = null;
      this.showBanner(error.status === 404 ? "That conversation does not exist (or is not yours)." : `Could not open the conversation: ${error.message}`);
      location.hash = "";
      return;
    }
    if (this.threadId !== id) return; // another thread was opened meanwhile
    $("thread-title").textContent = detail.name || "Untitled";
    this.conversation.reset(detail.questions);
    this.socket = new ThreadSocket(id, 0, threadSocketUrl, {
      onEvent: (message) => this.onEvent(message),
      onControl: (message) => this.onControl(message),
      onStatus: (status) => this.onSocketStatus(status),
      onFatal: (reason) => this.onSocketFatal(reason),
    });
    this.updateComposer();
  }

  async refreshQuestions() {
    const id = this.threadId;
    try {
      const detail = await api("GET", `/ui/threads/${id}`);
      if (this.threadId === id) this.conversation.setQuestions(detail.questions);
    } catch {
      // The bubble keeps its placeholder; the answer below it is still shown.
    }
  }

  // --- the socket -------------------------------------------------------------------------

  onEvent(message) {
    this.conversation.handle(message);
    if (["start", "finish", "error"].includes(message.event)) {
      this.updateComposer();
      // A first question names the thread: show that at once; later changes can wait a moment.
      const listed = this.threads.find((t) => t.thread_id === this.threadId);
      if (message.event === "start" && !(listed && listed.name)) this.loadThreads();
      else this.scheduleThreadRefresh();
    }
  }

  onControl(message) {
    if (message.type === "error") this.showBanner(message.message);
  }

  onSocketStatus(status) {
    this.setConnection(status);
    if (status === "live" && this.queuedQuestion !== null) {
      const question = this.queuedQuestion;
      this.queuedQuestion = null;
      this.ask(question);
    }
    this.updateComposer();
  }

  onSocketFatal(reason) {
    if (reason === "unauthenticated") {
      this.showSignIn("Your sign-in has ended; sign in again.");
      return;
    }
    this.showBanner("That conversation no longer exists.");
    location.hash = "";
    this.loadThreads();
  }

  setConnection(status) {
    const indicator = $("conn-status");
    indicator.dataset.status = status || "";
    indicator.textContent = status ? STATUS_TEXT[status] : "";
  }

  // --- asking, stopping, deciding ---------------------------------------------------------

  updateComposer() {
    const running = this.conversation.active;
    const connected = this.threadId === null || (this.socket && this.socket.isOpen);
    $("send").disabled = running || !connected;
    $("stop").hidden = !running;
    $("question").placeholder = running ? "Wait for the answer, or stop it…" : "Ask a question about your data";
  }

  async send() {
    const question = $("question").value.trim();
    if (!question || this.conversation.active) return;
    if (this.threadId === null) {
      $("send").disabled = true;
      let thread;
      try {
        thread = await api("POST", "/ui/threads", {
          assistant_id: $("assistant-select").value || null,
          data_source_id: $("data-source-select").value || null,
        });
      } catch (error) {
        this.showBanner(`Could not start a conversation: ${error.message}`);
        this.updateComposer();
        return;
      }
      $("question").value = "";
      this.queuedQuestion = question;
      this.threads.unshift(thread);
      location.hash = `#/t/${thread.thread_id}`; // route() opens it; the question goes once it is live
      return;
    }
    $("question").value = "";
    this.ask(question);
  }

  async ask(question) {
    this.conversation.showPendingQuestion(question);
    this.conversation.scrollToEnd();
    try {
      await this.socket.request({ type: "message", message: question });
    } catch (error) {
      this.conversation.showPendingQuestion(null);
      if (!$("question").value) $("question").value = question;
      this.showBanner(error.message);
    }
    this.updateComposer();
  }

  async stop() {
    try {
      await this.socket.request({ type: "cancel" });
    } catch (error) {
      this.showBanner(`Could not stop: ${error.message}`);
    }
  }

  /** Approve or deny over the socket; when it is down, over HTTP (the decision must not wait). */
  async decide(confirmationId, approve) {
    const payload = { type: "confirm", confirmation_id: confirmationId, confirm: approve };
    if (this.socket && this.socket.isOpen) {
      await this.socket.request(payload);
      return;
    }
    await api("POST", `/threads/${this.threadId}/user_confirmation`, { confirmation_id: confirmationId, confirm: approve });
  }
}

const app = new App();
window.querent = app; // for the browser console and the end-to-end tests
app.start().catch((error) => {
  const message = error instanceof ApiError ? error.message : `The page failed to start: ${error.message}`;
  document.body.prepend(el("p", { class: "fatal" }, message));
});
