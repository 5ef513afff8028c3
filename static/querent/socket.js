// One thread's websocket: resumes after the last seq it saw, reconnects with backoff, never
// delivers an event twice (the server replays from `after`; seqs are also checked here).

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_NOT_FOUND = 4404;

export class ThreadSocket {
  /**
   * @param {string} threadId
   * @param {number} after  last seq already rendered (0 for a fresh view)
   * @param {(threadId: string, after: number) => string} urlFor
   * @param {{onEvent, onControl, onStatus, onFatal}} handlers
   */
  constructor(threadId, after, urlFor, handlers) {
    this.threadId = threadId;
    this.lastSeq = after;
    this.urlFor = urlFor;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.closed = false;
    this.timer = null;
    this.opened = 0;
    this.waiting = []; // requests awaiting their one reply (ack or error), in send order
    this.connect();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    if (this.closed) return;
    this.handlers.onStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.urlFor(this.threadId, this.lastSeq));
    this.ws = ws;
    ws.onopen = () => {
      this.opened += 1;
      this.handlers.onStatus("live");
    };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failWaiting("The connection dropped before Querent answered; check the thread and try again.");
      if (this.closed) return;
      if (event.code === CLOSE_UNAUTHENTICATED || event.code === CLOSE_NOT_FOUND) {
        this.closed = true;
        this.handlers.onStatus("closed");
        this.handlers.onFatal(event.code === CLOSE_NOT_FOUND ? "not_found" : "unauthenticated");
        return;
      }
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
      this.attempt += 1;
      this.handlers.onStatus("reconnecting");
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (message && typeof message.seq === "number" && message.event) {
      this.attempt = 0; // the server is answering: the next drop starts the backoff again
      if (message.seq <= this.lastSeq) return; // already rendered: a replay overlap
      this.lastSeq = message.seq;
      this.handlers.onEvent(message);
      return;
    }
    if (!message || !message.type || message.type === "keepalive") return;
    if ((message.type === "ack" || message.type === "error") && this.waiting.length) {
      const request = this.waiting.shift();
      if (message.type === "ack") request.resolve(message);
      else request.reject(new Error(message.message || "Querent refused the request."));
      return;
    }
    this.handlers.onControl(message);
  }

  /** Send a request; resolves on the server's ack, rejects with its error message. */
  request(payload) {
    return new Promise((resolve, reject) => {
      if (!this.send(payload)) {
        reject(new Error("Not connected to Querent right now; reconnecting…"));
        return;
      }
      this.waiting.push({ resolve, reject });
    });
  }

  failWaiting(reason) {
    const waiting = this.waiting;
    this.waiting = [];
    for (const request of waiting) request.reject(new Error(reason));
  }

  /** Send a client message; false when the socket is not open (the caller says so to the person). */
  send(payload) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(payload));
    return true;
  }

  close() {
    this.closed = true;
    this.failWaiting("Left the thread.");
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "leaving thread");
    }
  }
}
