// Renders a thread's event stream. Each event becomes exactly one element carrying `data-seq`
// (streamed deltas are folded into the message they build, listed in its `data-delta-seqs`), so
// what is on screen can be checked against the event log.

import { missingArtifact, renderArtifact, TableView } from "./artifacts.js";
import { renderMarkdown } from "./markdown.js";
import { el } from "./util.js";

const DECIDED_TEXT = {
  APPROVED: "Approved — the statement runs now.",
  DENIED: "Denied — the statement was not run.",
  TIMED_OUT: "Nobody decided in time — the statement was not run.",
  CANCELLED: "Cancelled — the statement was not run.",
};

/** Streamed text as plain text; artifact tags (whole or still arriving) become a short marker. */
export function streamingView(text) {
  let shown = text.replace(/<artifact\b[^>]*>/gi, (tag) => {
    const id = tag.match(/identifier\s*=\s*['"]([^'"]*)['"]/i);
    return `[${id ? id[1] : "artifact"}]`;
  });
  const open = shown.lastIndexOf("<");
  if (open >= 0 && !shown.includes(">", open)) {
    const tail = shown.slice(open + 1).toLowerCase();
    if ("artifact".startsWith(tail) || tail.startsWith("artifact")) shown = shown.slice(0, open);
  }
  return shown;
}

export class Conversation {
  /**
   * @param {HTMLElement} container
   * @param {{decide: (confirmationId: string, approve: boolean) => Promise<void>, needQuestion: (runId: string) => void}} hooks
   */
  constructor(container, hooks) {
    this.container = container;
    this.hooks = hooks;
    this.reset({});
  }

  reset(questions) {
    this.container.replaceChildren();
    this.turns = new Map();
    this.questions = { ...questions };
    this.artifacts = new Map();
    this.pendingQuestion = null;
  }

  /** True while the newest run has not finished. */
  get active() {
    const last = [...this.turns.values()].pop();
    return Boolean(last && !last.finished);
  }

  setQuestions(questions) {
    Object.assign(this.questions, questions);
    for (const [runId, turn] of this.turns) {
      if (turn.awaitingQuestion && this.questions[runId]) this.fillQuestion(turn, this.questions[runId]);
    }
  }

  showPendingQuestion(text) {
    this.pendingQuestion = text;
  }

  handle(message) {
    const { event, seq, run_id: runId } = message;
    const data = message.data || {};
    const follow = this.atEnd(); // measured before this event grows the page
    const turn = this.turnFor(runId || "none");
    const handler = {
      start: () => this.onStart(turn, seq, runId),
      assistant_delta: () => this.onDelta(turn, seq, data),
      assistant_response_message: () => this.onAssistantMessage(turn, seq, data),
      tool_response_message: () => this.onToolResponse(turn, seq, data),
      user_confirmation: () => this.onConfirmation(turn, seq, data),
      confirmation_decided: () => this.onDecided(turn, seq, data),
      error: () => this.onEnd(turn, seq, data, true),
      finish: () => this.onEnd(turn, seq, data, false),
      run_retry: () => this.notice(turn, seq, `The worker running this stopped; retrying (attempt ${data.attempt ?? "?"}).`),
      llm_retry: () => this.notice(turn, seq, `The model did not answer (${data.reason || "error"}); trying again in ${Number(data.delay || 0).toFixed(1)} s.`),
      run_cancelled: () => this.notice(turn, seq, "The run was stopped."),
    }[event];
    if (handler) handler();
    else this.notice(turn, seq, `(${event})`);
    if (follow) this.scrollToEnd();
  }

  turnFor(runId) {
    let turn = this.turns.get(runId);
    if (!turn) {
      turn = { runId, finished: false, streaming: null, calls: new Map(), element: el("section", { class: "turn", dataset: { runId } }) };
      this.turns.set(runId, turn);
      this.container.append(turn.element);
    }
    return turn;
  }

  onStart(turn, seq, runId) {
    const bubble = el("div", { class: "msg user", dataset: { seq } });
    turn.element.prepend(bubble);
    turn.userBubble = bubble;
    const known = this.questions[runId];
    if (known) this.fillQuestion(turn, known);
    else if (this.pendingQuestion !== null) {
      this.fillQuestion(turn, [this.pendingQuestion]);
      this.questions[runId] = [this.pendingQuestion];
      this.pendingQuestion = null;
    } else {
      turn.awaitingQuestion = true;
      bubble.append(el("span", { class: "muted" }, "…"));
      this.hooks.needQuestion(runId);
    }
  }

  fillQuestion(turn, texts) {
    turn.awaitingQuestion = false;
    turn.userBubble.replaceChildren(...texts.map((text) => el("p", {}, text)));
  }

  onDelta(turn, seq, data) {
    if (!turn.streaming) {
      turn.streaming = el("div", { class: "step assistant streaming", dataset: { deltaSeqs: "" } }, el("div", { class: "bubble" }));
      turn.streamedText = "";
      turn.element.append(turn.streaming);
    }
    const step = turn.streaming;
    step.dataset.deltaSeqs = step.dataset.deltaSeqs ? `${step.dataset.deltaSeqs},${seq}` : String(seq);
    turn.streamedText += data.text || "";
    step.querySelector(".bubble").textContent = streamingView(turn.streamedText);
  }

  onAssistantMessage(turn, seq, data) {
    const step = turn.streaming || el("div", { class: "step assistant" });
    turn.streaming = null;
    step.classList.remove("streaming");
    step.dataset.seq = seq;
    step.replaceChildren();
    if (data.text) step.append(el("div", { class: "bubble" }, renderMarkdown(data.text, (attrs) => this.referencedArtifact(turn, attrs))));
    for (const call of data.tool_calls || []) step.append(this.toolCallBlock(turn, call));
    if (!step.isConnected) turn.element.append(step);
  }

  toolCallBlock(turn, call) {
    const input = call.input || {};
    const python = typeof input.python_code === "string";
    const search = call.name === "retrieval" && typeof input.query === "string"; // a look-up in the documents
    const code = python ? input.python_code : search ? input.query : JSON.stringify(input, null, 2);
    const label = python ? "Python" : search ? "Documents" : "Tool";
    const detail = search ? ` · “${code}”` : ` · ${code.split("\n").length} lines`;
    const block = el("div", { class: "tool-call", dataset: { callId: call.call_id || "" } },
      el("details", { class: "code" },
        el("summary", {}, el("span", { class: "tag" }, label), ` ${call.name || "tool"}`, el("span", { class: "muted" }, detail)),
        el("pre", {}, el("code", {}, code))),
      el("div", { class: "tool-running" }, "Running…"));
    turn.calls.set(call.call_id, block);
    return block;
  }

  onToolResponse(turn, seq, data) {
    const output = data.output || {};
    const result = el("div", { class: "tool-result", dataset: { seq } });
    const statements = Array.isArray(output.sql_statements) ? output.sql_statements : [];
    if (statements.length) {
      const details = el("details", { class: "sql" },
        el("summary", {}, el("span", { class: "tag" }, "SQL"), ` ${statements.length} statement${statements.length === 1 ? "" : "s"}`));
      for (const statement of statements) {
        const rows = Array.isArray(statement.result) ? statement.result : [];
        details.append(el("div", { class: "sql-statement" },
          el("pre", { class: "sql-text" }, el("code", {}, String(statement.sql || "").trim())),
          el("button", { class: "link small save-golden", type: "button", dataset: { sql: String(statement.sql || "").trim() } }, "Save as golden SQL"),
          rows.length ? new TableView(rows, "query_result", null).element : el("p", { class: "muted" }, "No rows.")));
      }
      result.append(details);
    }
    if (output.output) result.append(el("pre", { class: "output" }, output.output));
    if (output.error) result.append(el("div", { class: "error-box", role: "alert" }, el("strong", {}, "The code failed"), el("pre", {}, output.error)));
    for (const artifact of output.modified_artifacts || []) {
      this.artifacts.set(artifact.identifier, artifact);
      const label = `${artifact.artifact_type === "chart" ? "Chart" : artifact.artifact_type === "table" ? "Table" : "Text"}: ${artifact.title || artifact.identifier}`;
      result.append(el("details", { class: "tool-artifact", open: true, dataset: { artifactWrap: artifact.identifier } },
        el("summary", {}, label), renderArtifact(artifact)));
    }
    const block = turn.calls.get(data.call_id);
    if (block) {
      block.querySelector(".tool-running")?.remove();
      block.append(result);
    } else {
      turn.element.append(result);
    }
  }

  referencedArtifact(turn, attrs) {
    const artifact = this.artifacts.get(attrs.identifier);
    if (!artifact) return missingArtifact(attrs);
    // Shown in the answer: fold the copy in the tool output above so it is not on screen twice.
    for (const wrap of turn.element.querySelectorAll("details.tool-artifact")) {
      if (wrap.dataset.artifactWrap === attrs.identifier) {
        wrap.open = false;
        wrap.classList.add("shown-below");
      }
    }
    const card = renderArtifact(artifact);
    if (attrs.warning) card.append(el("p", { class: "artifact-warning" }, attrs.warning));
    return card;
  }

  onConfirmation(turn, seq, data) {
    const id = data.confirmation_id;
    const approve = el("button", { type: "button", class: "btn approve" }, "Approve");
    const deny = el("button", { type: "button", class: "btn deny" }, "Deny");
    const status = el("div", { class: "confirm-status", role: "status" });
    const buttons = el("div", { class: "confirm-buttons" }, approve, deny);
    const card = el("div", { class: "confirm pending", dataset: { seq, confirmationId: id } },
      el("div", { class: "confirm-title" }, "This changes data. Run exactly this SQL?"),
      el("pre", { class: "sql-text" }, el("code", {}, data.message || "")),
      buttons, status);
    const decide = async (yes) => {
      approve.disabled = deny.disabled = true;
      status.textContent = yes ? "Approving…" : "Denying…";
      try {
        await this.hooks.decide(id, yes);
      } catch (error) {
        approve.disabled = deny.disabled = false;
        status.textContent = error.message;
        status.classList.add("error-text");
      }
    };
    approve.addEventListener("click", () => decide(true));
    deny.addEventListener("click", () => decide(false));
    const running = [...turn.calls.values()].reverse().find((block) => block.querySelector(".tool-running"));
    if (running) running.insertBefore(card, running.querySelector(".tool-running"));
    else turn.element.append(card);
  }

  onDecided(turn, seq, data) {
    const card = this.container.querySelector(`.confirm[data-confirmation-id="${CSS.escape(data.confirmation_id || "")}"]`);
    const line = el("div", { class: `decided decided-${String(data.status || "").toLowerCase()}`, dataset: { seq } }, DECIDED_TEXT[data.status] || `Decision: ${data.status}`);
    if (!card) {
      turn.element.append(line);
      return;
    }
    card.classList.remove("pending");
    card.classList.add(`status-${String(data.status || "").toLowerCase()}`);
    card.querySelector(".confirm-buttons")?.remove();
    card.querySelector(".confirm-status").textContent = "";
    card.append(line);
  }

  onEnd(turn, seq, data, failed) {
    turn.finished = true;
    turn.streaming = null;
    for (const running of turn.element.querySelectorAll(".tool-running")) running.textContent = "Not finished.";
    for (const card of turn.element.querySelectorAll(".confirm.pending")) {
      card.classList.remove("pending");
      card.querySelector(".confirm-buttons")?.remove();
      card.querySelector(".confirm-status").textContent = "No longer waiting for a decision.";
    }
    if (failed) {
      turn.element.append(el("div", { class: "error-box run-error", role: "alert", dataset: { seq } }, el("strong", {}, "Error: "), data.message || "The run failed."));
    } else {
      turn.element.append(el("div", { class: "turn-end", dataset: { seq } }, "Done"));
    }
  }

  notice(turn, seq, text) {
    turn.element.append(el("div", { class: "notice", dataset: { seq } }, text));
  }

  get scroller() {
    return this.container.closest(".scroll-area") || this.container;
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Whether the reader is at the end: only then does new output scroll the page for them. */
  atEnd() {
    const scroller = this.scroller;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  }
}
