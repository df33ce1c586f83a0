// WS /api/v1/events: live events resumed by `seq` after any disconnect, with backoff.
//
// The page was rendered at some `seq`; the socket always asks for everything after the
// last seq it saw, so nothing is missed across reconnects or a server restart. A
// `resync` frame means the log no longer reaches back that far: refetch everything.

const MAX_DELAY_MS = 10000;
// The server sends a heartbeat every 30 s; silence for longer means a dead connection.
const SILENCE_MS = 75000;

export class Live {
  constructor({ seq, onEvent, onPresence, onVisitorTyping, onResync, onState, onOpen }) {
    this.seq = Number.isFinite(seq) ? seq : null;
    this.onEvent = onEvent;
    this.onPresence = onPresence;
    this.onVisitorTyping = onVisitorTyping;
    this.onResync = onResync;
    this.onState = onState;
    this.onOpen = onOpen;
    this.attempts = 0;
    this.ws = null;
    this.timer = null;
    this.watchdog = null;
    addEventListener("online", () => this.reconnectNow());
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.seq === null ? "" : `?since=${this.seq}`;
    return `${proto}//${location.host}/api/v1/events${since}`;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      const wasDown = this.attempts > 0;
      this.attempts = 0;
      this.onState("open", { wasDown });
      this.kick();
      this.onOpen?.();
    });
    ws.addEventListener("message", (e) => {
      if (this.ws !== ws) return;
      this.kick();
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      this.handle(frame);
    });
    ws.addEventListener("close", (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.watchdog);
      if (e.code === 4401) {
        this.onState("unauthorized");
        return;
      }
      this.schedule();
    });
  }

  handle(frame) {
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "presence") {
      this.onPresence(frame.data || {});
      return;
    }
    if (frame.type === "visitor.typing") {
      // Ephemeral like presence: no seq, never replayed.
      this.onVisitorTyping?.(frame.data || {});
      return;
    }
    if (frame.type === "heartbeat") {
      if (this.seq === null && Number.isFinite(frame.seq)) this.seq = frame.seq;
      return;
    }
    if (frame.type === "resync") {
      this.seq = frame.seq;
      this.onResync();
      return;
    }
    if (!Number.isFinite(frame.seq) || (this.seq !== null && frame.seq <= this.seq)) return;
    this.seq = frame.seq;
    this.onEvent(frame);
  }

  kick() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.ws?.close(), SILENCE_MS);
  }

  schedule() {
    this.attempts += 1;
    this.onState("reconnecting", { attempts: this.attempts });
    // 0.5 s, 1 s, 2 s ... capped at 10 s, with jitter so a restarted server is not stampeded.
    const base = Math.min(MAX_DELAY_MS, 500 * 2 ** (this.attempts - 1));
    this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }

  reconnectNow() {
    if (this.ws || !this.timer) return;
    this.connect();
  }

  get isOpen() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  send(frame) {
    if (this.isOpen) this.ws.send(JSON.stringify(frame));
  }
}
