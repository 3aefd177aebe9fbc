import type { History } from "./history.ts";
import { type Frame, LiveSocket } from "./live-socket.ts";

export interface ReaderOptions {
  name: string;
  token: string;
  live: () => string[];
  startIndex: number;
  history: History;
}

const RESUBSCRIBE_DELAY_MS = 250;

/**
 * A WebSocket reader subscribed to a fixed set of queues or topics. When its
 * socket closes it reconnects to another live node (LiveSocket) and
 * subscribes to all of them again; when the server ends one subscription —
 * an `error` frame naming its `sub` and no request id — it subscribes to that
 * one again on the same socket. Subclasses say how to subscribe and what to
 * do with a message.
 */
export abstract class Resubscriber {
  protected readonly socket: LiveSocket;
  /** sub → target, for the socket that is open now. */
  private subs = new Map<string, string>();
  /** Request id → target, for subscribes awaiting their reply. */
  private pending = new Map<string, string>();
  /** Other requests whose replies only need to be told apart from subscription ends (see request()). */
  /** Requests sent and not answered yet, with what to do with the reply. */
  private unanswered = new Map<string, (reply: Frame) => void>();
  private nextRequest = 0;

  constructor(
    protected readonly options: ReaderOptions,
    private readonly targets: readonly string[],
  ) {
    this.socket = new LiveSocket(
      options.name,
      options.token,
      options.live,
      options.startIndex,
      { opened: () => this.opened(), frame: (frame, url) => this.frame(frame, url) },
      (text) => this.note(text),
    );
  }

  start(): Promise<void> {
    return this.socket.start();
  }

  stop(): Promise<void> {
    return this.socket.stop();
  }

  /** Subscribed to every target on the socket open now. */
  get ready(): boolean {
    return this.subs.size === this.targets.length;
  }

  protected abstract subscribeFrame(target: string, id: string): Record<string, unknown>;

  protected abstract message(frame: Frame, url: string): void;

  /**
   * Sends a request (an ack) with an id. Without one, a failed ack's error
   * frame names only its `sub` and looks exactly like the end of that
   * subscription; with one it is told apart (the message simply comes again).
   */
  protected request(frame: Record<string, unknown>, onReply: (reply: Frame) => void = () => {}): void {
    const id = `r${this.nextRequest++}`;
    this.unanswered.set(id, onReply);
    this.socket.send({ ...frame, id });
  }

  private note(text: string): void {
    this.options.history.notes.push(`${new Date().toISOString()} ${text}`);
  }

  private opened(): void {
    this.subs = new Map();
    this.pending = new Map();
    this.unanswered = new Map();
    for (const target of this.targets) this.subscribe(target);
  }

  private subscribe(target: string): void {
    const id = `s${this.nextRequest++}`;
    this.pending.set(id, target);
    this.socket.send(this.subscribeFrame(target, id));
  }

  private resubscribeLater(target: string, why: string): void {
    this.note(`${this.options.name}: ${target} ${why}`);
    const socket = this.socket.socket;
    setTimeout(() => {
      if (this.socket.isCurrent(socket)) this.subscribe(target);
    }, RESUBSCRIBE_DELAY_MS);
  }

  private frame(frame: Frame, url: string): void {
    const id = frame.id === undefined ? undefined : String(frame.id);
    if (frame.op === "message") {
      this.message(frame, url);
    } else if (id !== undefined && this.unanswered.has(id)) {
      // An ack's reply (ok or error): the request's own handler reads it.
      const onReply = this.unanswered.get(id) as (reply: Frame) => void;
      this.unanswered.delete(id);
      onReply(frame);
    } else if (frame.op === "ok" && id !== undefined && this.pending.has(id)) {
      this.subs.set(String(frame.sub), this.pending.get(id) as string);
      this.pending.delete(id);
    } else if (frame.op === "error" && id !== undefined && this.pending.has(id)) {
      const target = this.pending.get(id) as string;
      this.pending.delete(id);
      this.resubscribeLater(target, `subscribe refused (${String(frame.reason)})`);
    } else if (frame.op === "ended" && this.subs.has(String(frame.sub))) {
      const target = this.subs.get(String(frame.sub)) as string;
      this.subs.delete(String(frame.sub));
      this.resubscribeLater(target, `subscription ended (${String(frame.reason)})`);
    }
  }
}
