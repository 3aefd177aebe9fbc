import WebSocket from "ws";

export type Frame = Record<string, unknown> & { op: string };

/**
 * A test WebSocket client: records every frame and lets a test wait for the
 * next frame that matches, with a deadline (no sleeps).
 */
export class TestSocket {
  readonly frames: Frame[] = [];
  private readonly waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(frame)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  static async connect(
    url: string,
    token?: string,
    options: WebSocket.ClientOptions = {},
  ): Promise<TestSocket> {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const ws = new WebSocket(url, { headers, ...options });
    const socket = new TestSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_request, response) =>
        reject(new Error(`upgrade refused: ${response.statusCode}`)),
      );
    });
    return socket;
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Sends a request and waits for its ok or error reply (matched by id). */
  async request(frame: Record<string, unknown> & { id: string | number }, timeoutMs = 5000): Promise<Frame> {
    this.send(frame);
    return this.waitFor(
      (reply) => reply.id === frame.id && (reply.op === "ok" || reply.op === "error"),
      timeoutMs,
    );
  }

  /** The first frame, received before or after this call, that matches. */
  waitFor(match: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(
          new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`),
        );
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (frame: Frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits until `count` frames match, returning the first `count`. */
  async collect(match: (frame: Frame) => boolean, count: number, timeoutMs = 10_000): Promise<Frame[]> {
    let seen = 0;
    // The count-th match is the frame for which the running count reaches `count`.
    const counting = (frame: Frame) => match(frame) && ++seen >= count;
    seen = 0;
    const already = this.frames.filter(match);
    if (already.length >= count) return already.slice(0, count);
    seen = already.length;
    await this.waitForNew(counting, timeoutMs).catch(() => {
      throw new Error(
        `expected ${count} matching frames within ${timeoutMs} ms, got ${this.frames.filter(match).length}`,
      );
    });
    return this.frames.filter(match).slice(0, count);
  }

  private waitForNew(match: (frame: Frame) => boolean, timeoutMs: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error("timeout"));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (frame: Frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      };
      this.waiters.push(waiter);
    });
  }

  messagesFor(sub: string): Frame[] {
    return this.frames.filter((frame) => frame.op === "message" && frame.sub === sub);
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}
